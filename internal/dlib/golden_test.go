package dlib

import (
	"encoding/json"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// Test helpers for the golden data that dlib 19.24's own C++ code produced
// (testdata/golden, made by hack/make-dlib-golden.sh; see testdata/golden/README.md).

// goldenSet is testdata/golden/golden.json.
type goldenSet struct {
	DlibVersion string       `json:"dlibVersion"`
	Faces       []goldenFace `json:"faces"`
	HogBoxes    []goldenHOG  `json:"hogBoxes"`
}

// goldenFace is one face through dlib's whole pipeline.
type goldenFace struct {
	Image      string `json:"image"`      // JPEG path relative to the test-face directory
	ImageScale int    `json:"imageScale"` // 1, or the pixel replication factor applied after decoding
	Person     string `json:"person"`     // the John's name; empty for faces/*.jpg
	// Box is the HOG detection given to the shape predictor, dlib rectangle
	// [left, top, right, bottom] (right and bottom inclusive), in the coordinates of the
	// (scaled) image.
	Box      [4]int     `json:"box"`
	Score    float64    `json:"score"`    // HOG detection confidence
	Detector int        `json:"detector"` // which of the 5 HOG filters fired (weight_index)
	Parts    [5][2]int  `json:"parts"`    // the shape predictor's 5 points, as dlib returns them
	Chip     goldenChip `json:"chip"`     // get_face_chip_details(shape, 150, 0.25)
	// ChipPyramidLevel is the pyramid level extract_image_chip used: -1 bilinear from the
	// image itself, k >= 0 bilinear from pyramid_down<2> level k+1.
	ChipPyramidLevel  int       `json:"chipPyramidLevel"`
	ChipFile          string    `json:"chipFile"`          // the extracted 150x150 chip, relative to testdata/golden
	DescriptorFromPNG bool      `json:"descriptorFromPNG"` // the descriptor is of the chip as re-read from ChipFile
	Descriptor        []float32 `json:"descriptor"`        // the net's 128 outputs, not normalised
}

// goldenChip is dlib's chip_details.
type goldenChip struct {
	Left   float64 `json:"left"`
	Top    float64 `json:"top"`
	Right  float64 `json:"right"`
	Bottom float64 `json:"bottom"`
	Angle  float64 `json:"angle"`
	Rows   int     `json:"rows"`
	Cols   int     `json:"cols"`
}

// goldenHOG is what dlib's get_frontal_face_detector() finds in one unscaled image.
type goldenHOG struct {
	Image           string    `json:"image"`
	Width           int       `json:"width"`
	Height          int       `json:"height"`
	Boxes           [][4]int  `json:"boxes"` // on the image as it is
	Scores          []float64 `json:"scores"`
	BoxesUpsampled  [][4]int  `json:"boxesUpsampled"` // on pyramid_up(image), mapped back
	ScoresUpsampled []float64 `json:"scoresUpsampled"`
}

// loadGolden reads testdata/golden/golden.json.
func loadGolden(t testing.TB) goldenSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenSet
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("golden.json: %v", err)
	}
	if len(g.Faces) == 0 || len(g.HogBoxes) == 0 {
		t.Fatalf("golden.json: %d faces, %d HOG entries", len(g.Faces), len(g.HogBoxes))
	}
	for i, f := range g.Faces {
		if len(f.Descriptor) != 128 || f.ImageScale < 1 {
			t.Fatalf("golden.json: face %d (%s): %d descriptor values, imageScale %d", i, f.Image, len(f.Descriptor), f.ImageScale)
		}
	}
	return g
}

// loadGoldenJPEG decodes a JPEG exactly as hack/dlib-reference/topng did before handing it to
// dlib: Go's image/jpeg, drawn with draw.Src onto an *image.RGBA, alpha dropped. rgb holds
// w*h interleaved R, G, B bytes, row-major. Keep this identical to topng's decodeJPEG.
func loadGoldenJPEG(t testing.TB, path string) (w, h int, rgb []uint8) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	w, h = b.Dx(), b.Dy()
	rgb = make([]uint8, 0, w*h*3)
	for y := 0; y < h; y++ {
		row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+w*4]
		for x := 0; x < w; x++ {
			rgb = append(rgb, row[x*4], row[x*4+1], row[x*4+2])
		}
	}
	return w, h, rgb
}
