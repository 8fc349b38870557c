package dlib

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func goldenChipDetails(f goldenFace) ChipDetails {
	return ChipDetails(f.Chip)
}

// readChipPNG reads a golden chip as interleaved RGB.
func readChipPNG(t testing.TB, name string) (w, h int, rgb []uint8) {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := m.Bounds()
	rgba, ok := m.(*image.NRGBA)
	if !ok {
		rgba = image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				rgba.Set(x, y, m.At(x, y))
			}
		}
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			p := rgba.Pix[y*rgba.Stride+4*x:]
			rgb = append(rgb, p[0], p[1], p[2])
		}
	}
	return b.Dx(), b.Dy(), rgb
}

// TestFaceChipDetailsMatchesDlib computes get_face_chip_details from dlib's landmarks.
func TestFaceChipDetailsMatchesDlib(t *testing.T) {
	g := loadGolden(t)
	worst := 0.0
	for i, f := range g.Faces {
		got := FaceChipDetails(goldenParts(f), 150, 0.25)
		want := goldenChipDetails(f)
		if got.Rows != want.Rows || got.Cols != want.Cols {
			t.Errorf("%s: %dx%d, dlib %dx%d", goldenName(i, f), got.Cols, got.Rows, want.Cols, want.Rows)
		}
		for _, d := range [][2]float64{{got.Left, want.Left}, {got.Top, want.Top}, {got.Right, want.Right}, {got.Bottom, want.Bottom}, {got.Angle, want.Angle}} {
			e := math.Abs(d[0] - d[1])
			worst = math.Max(worst, e)
			if e > 1e-6 {
				t.Errorf("%s: %+v, dlib %+v", goldenName(i, f), got, want)
				break
			}
		}
	}
	t.Logf("%d faces: chip details within %.3g of dlib's", len(g.Faces), worst)
}

// TestExtractChipMatchesDlib cuts each face's chip from dlib's chip details and compares it
// with the chip dlib cut, pixel by pixel. The sample positions are dlib's to the last bit
// (see chip150Pinv), so the chips are expected to be identical, pyramid levels included.
func TestExtractChipMatchesDlib(t *testing.T) {
	g := loadGolden(t)
	levels := map[int]int{}
	total, differing, worst := 0, 0, 0
	for i, f := range g.Faces {
		t.Run(goldenName(i, f), func(t *testing.T) {
			img := goldenImage(t, f)
			d := goldenChipDetails(f)
			if pl := planChip(img.W, img.H, d); pl.level != f.ChipPyramidLevel {
				t.Errorf("pyramid level %d, dlib used %d", pl.level, f.ChipPyramidLevel)
			}
			levels[f.ChipPyramidLevel]++
			w, h, want := readChipPNG(t, f.ChipFile)
			if w != d.Cols || h != d.Rows {
				t.Fatalf("golden chip is %dx%d", w, h)
			}
			got := make([]uint8, 3*d.Rows*d.Cols)
			ExtractChip(img, d, got)
			n, m := 0, 0
			for k := range got {
				e := int(got[k]) - int(want[k])
				if e != 0 {
					n++
					m = max(m, e, -e)
				}
			}
			total += len(got)
			differing += n
			worst = max(worst, m)
			if n != 0 {
				t.Errorf("%d of %d samples differ from dlib's chip, by at most %d (pyramid level %d)", n, len(got), m, f.ChipPyramidLevel)
			}
		})
	}
	t.Logf("%d chips (pyramid levels used: %v): %d of %d samples differ, max abs diff %d", len(g.Faces), levels, differing, total, worst)
}

// TestExtractChipEdgeCases: a face cut by the image border gets black outside; a region
// entirely outside the image gives a black chip; an unrotated 1:1 region is a plain copy.
func TestExtractChipEdgeCases(t *testing.T) {
	img := &Image{W: 40, H: 30, Pix: make([]uint8, 3*40*30)}
	for i := range img.Pix {
		img.Pix[i] = uint8(1 + i%250)
	}
	chip := make([]uint8, 3*10*10)

	ExtractChip(img, ChipDetails{Left: 35, Top: 25, Right: 44, Bottom: 34, Rows: 10, Cols: 10}, chip)
	for r := 0; r < 10; r++ {
		for c := 0; c < 10; c++ {
			inside := 35+c < 40 && 25+r < 30
			p := chip[3*(r*10+c):]
			if inside && (p[0] != img.Pix[3*((25+r)*40+35+c)]) || !inside && (p[0]|p[1]|p[2]) != 0 {
				t.Fatalf("copy path: pixel (%d,%d) = %v", c, r, p[:3])
			}
		}
	}

	for i := range chip {
		chip[i] = 7
	}
	ExtractChip(img, ChipDetails{Left: 500, Top: 500, Right: 600, Bottom: 600, Angle: 0.3, Rows: 10, Cols: 10}, chip)
	for i, v := range chip {
		if v != 0 {
			t.Fatalf("outside the image: sample %d = %d", i, v)
		}
	}
}

func BenchmarkExtractChip(b *testing.B) {
	g := loadGolden(b)
	for _, level := range []int{-1, 0, 1} {
		var f *goldenFace
		for i := range g.Faces {
			if g.Faces[i].ChipPyramidLevel == level {
				f = &g.Faces[i]
				break
			}
		}
		if f == nil {
			continue
		}
		img := goldenImage(b, *f)
		d := goldenChipDetails(*f)
		dst := make([]uint8, 3*d.Rows*d.Cols)
		name := map[int]string{-1: "bilinear", 0: "pyramid1", 1: "pyramid2"}[level]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ExtractChip(img, d, dst)
			}
		})
	}
}
