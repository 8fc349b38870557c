package dlib

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

var (
	shapeModelOnce sync.Once
	shapeModel     *ShapePredictor
	shapeModelErr  error
)

// loadShapeModel reads dlib's 5-point model once for all tests.
func loadShapeModel(t testing.TB) *ShapePredictor {
	t.Helper()
	path := filepath.Join(testenv.DlibModels(t), "shape_predictor_5_face_landmarks.dat")
	shapeModelOnce.Do(func() { shapeModel, shapeModelErr = LoadShapePredictor(path) })
	if shapeModelErr != nil {
		t.Fatal(shapeModelErr)
	}
	return shapeModel
}

// goldenImage is the image a golden face was found in: the JPEG decoded as the generator
// decoded it, enlarged by pixel replication when the face has an imageScale.
func goldenImage(t testing.TB, f goldenFace) *Image {
	t.Helper()
	w, h, rgb := loadGoldenJPEG(t, filepath.Join(testenv.TestFaces(t), f.Image))
	n := f.ImageScale
	if n <= 1 {
		return &Image{W: w, H: h, Pix: rgb}
	}
	img := &Image{W: w * n, H: h * n, Pix: make([]uint8, 3*w*n*h*n)}
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			copy(img.Pix[3*(y*img.W+x):3*(y*img.W+x)+3], rgb[3*((y/n)*w+x/n):])
		}
	}
	return img
}

func goldenName(i int, f goldenFace) string {
	return fmt.Sprintf("%02d_%s_x%d", i, strings.TrimSuffix(filepath.Base(f.Image), ".jpg"), f.ImageScale)
}

func goldenBox(f goldenFace) Rect { return Rect{f.Box[0], f.Box[1], f.Box[2], f.Box[3]} }

func goldenParts(f goldenFace) [NumParts]Point {
	var p [NumParts]Point
	for i, q := range f.Parts {
		p[i] = Point{float64(q[0]), float64(q[1])}
	}
	return p
}

// TestShapePredictorMatchesDlib runs the predictor on dlib's HOG boxes and wants dlib's
// integer landmarks exactly.
func TestShapePredictorMatchesDlib(t *testing.T) {
	sp := loadShapeModel(t)
	g := loadGolden(t)
	exact, maxDev := 0, 0.0
	for i, f := range g.Faces {
		t.Run(goldenName(i, f), func(t *testing.T) {
			img := goldenImage(t, f)
			got := sp.Predict(img, goldenBox(f))
			want := goldenParts(f)
			unrounded := sp.PredictUnrounded(img, goldenBox(f))
			for k := range got {
				d := math.Max(math.Abs(got[k].X-want[k].X), math.Abs(got[k].Y-want[k].Y))
				maxDev = math.Max(maxDev, d)
				if d == 0 {
					exact++
				} else {
					t.Errorf("part %d: got %v, dlib %v", k, got[k], want[k])
				}
				if r := (Point{math.Floor(unrounded[k].X + 0.5), math.Floor(unrounded[k].Y + 0.5)}); r != got[k] {
					t.Errorf("part %d: unrounded %v does not round to %v", k, unrounded[k], got[k])
				}
			}
		})
	}
	t.Logf("%d faces: %d of %d landmarks identical to dlib's, max deviation %g px", len(g.Faces), exact, NumParts*len(g.Faces), maxDev)
}

// TestShapePredictorPartOrder checks the documented order on the mean shape: 0/1 the eye
// with the larger x (outer corner first), 2/3 the other eye (outer first), 4 the nose, lowest.
func TestShapePredictorPartOrder(t *testing.T) {
	sp := loadShapeModel(t)
	s := sp.initial
	x := func(i int) float32 { return s[2*i] }
	y := func(i int) float32 { return s[2*i+1] }
	if !(x(0) > x(1) && x(1) > x(4) && x(4) > x(3) && x(3) > x(2)) {
		t.Errorf("mean shape x order: %v", s)
	}
	for i := 0; i < 4; i++ {
		if y(i) >= y(4) {
			t.Errorf("part %d is not above the nose: %v", i, s)
		}
	}
	if sp.Cascades() != 15 || sp.Trees() != 7500 {
		t.Errorf("model: %d cascades, %d trees; dlib's 5-point model has 15 and 7500", sp.Cascades(), sp.Trees())
	}
}

// TestReadShapePredictorRefusesOtherFiles wants a clear error, not a panic or a model, for
// anything but a complete 5-point shape predictor.
func TestReadShapePredictorRefusesOtherFiles(t *testing.T) {
	dir := testenv.DlibModels(t)
	model, err := os.ReadFile(filepath.Join(dir, "shape_predictor_5_face_landmarks.dat"))
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := os.ReadFile(filepath.Join(dir, "dlib_face_recognition_resnet_model_v1.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadShapePredictor(bytes.NewReader(model)); err != nil {
		t.Fatalf("the model itself: %v", err)
	}
	version2 := append([]byte{0x01, 0x02}, model[2:]...)
	sixParts := bytes.Clone(model)
	// The initial shape's row count follows the version (01 01) as a negated integer (81 0a).
	if !bytes.HasPrefix(sixParts, []byte{0x01, 0x01, 0x81, 0x0a}) {
		t.Fatalf("unexpected model header % x", sixParts[:4])
	}
	sixParts[3] = 0x0c
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "unexpected end of file"},
		{"face ResNet", string(resnet[:1<<20]), "not a dlib 5-point shape predictor"},
		{"text", "hello, world", "not a dlib 5-point shape predictor"},
		{"version 2", string(version2), "version 2 is not supported"},
		{"six landmarks", string(sixParts), "initial shape has 12 values"},
		{"cut in the forests", string(model[:len(model)/2]), "unexpected end of file"},
		{"cut in the offsets", string(model[:len(model)-7]), "unexpected end of file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ReadShapePredictor(strings.NewReader(tc.data))
			if err == nil {
				t.Fatalf("accepted (%d cascades)", sp.Cascades())
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if _, err := LoadShapePredictor(filepath.Join(dir, "dlib_face_recognition_resnet_model_v1.dat")); err == nil ||
		!strings.Contains(err.Error(), "dlib_face_recognition_resnet_model_v1.dat") {
		t.Fatalf("LoadShapePredictor of the ResNet: %v", err)
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	sp := loadShapeModel(t)
	f := loadGolden(t).Faces[0]
	img := goldenImage(t, f)
	if n := testing.AllocsPerRun(20, func() { sp.Predict(img, goldenBox(f)) }); n != 0 {
		t.Fatalf("%v allocations per Predict", n)
	}
}

func BenchmarkShapePredictor(b *testing.B) {
	sp := loadShapeModel(b)
	f := loadGolden(b).Faces[0]
	img := goldenImage(b, f)
	box := goldenBox(f)
	b.ReportAllocs()
	for b.Loop() {
		sp.Predict(img, box)
	}
}
