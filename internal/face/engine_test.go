package face

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

func TestSamePersonScoresAboveThreshold(t *testing.T) {
	for _, e := range packEngines(t) {
		t.Run(e.FaceModelVersion(), func(t *testing.T) { testSamePerson(t, e) })
	}
}

func testSamePerson(t *testing.T, e *Engine) {
	ctx := context.Background()
	j := johns(t)
	ps := people(j)
	embed := func(path string) []float32 {
		t.Helper()
		r, err := e.SearchImage(ctx, readFile(t, path), SearchOptions{})
		if err != nil || r.Face == nil {
			t.Fatalf("%s: face %v, err %v", path, r != nil && r.Face != nil, err)
		}
		return r.Face.Embedding
	}
	thr := e.CosineAtSimilarity(80)
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same person, crops 1 and 2", j[ps[0]][0], j[ps[0]][1], true},
		{"same person, crops 3 and 10", j[ps[1]][2], j[ps[1]][9], true},
		{"same person, crops 1 and 11", j[ps[4]][0], j[ps[4]][10], true},
		{"different people 0/1", j[ps[0]][0], j[ps[1]][0], false},
		{"different people 2/3", j[ps[2]][5], j[ps[3]][5], false},
		{"different people 4/0", j[ps[4]][3], j[ps[0]][7], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := embed(tt.a), embed(tt.b)
			c := Cosine(a, b)
			sim := e.Similarity(c)
			if tt.same && sim < 80 {
				t.Errorf("same person: cosine %.3f similarity %.1f < 80", c, sim)
			}
			if !tt.same && c >= thr {
				t.Errorf("different people: cosine %.3f similarity %.1f >= 80", c, sim)
			}
		})
	}
}

func TestEmbeddingShape(t *testing.T) {
	tests := []struct {
		engine    *Engine
		version   string
		dimension int
	}{
		{testEngine(t), "faceplugin-1.0", 512},
		{dlibEngine(t), "dlib-blazeface-1.0", 128},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) { testEmbeddingShape(t, tt.engine, tt.version, tt.dimension) })
	}
}

func testEmbeddingShape(t *testing.T, e *Engine, version string, dimension int) {
	j := johns(t)
	r, err := e.IndexImage(context.Background(), readFile(t, j[people(j)[0]][0]), IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Faces) != 1 || len(r.Unindexed) != 0 {
		t.Fatalf("want one indexed face in a face crop, got %d (+%d unindexed)", len(r.Faces), len(r.Unindexed))
	}
	f := r.Faces[0]
	if len(f.Embedding) != e.Dimension() || e.Dimension() != dimension {
		t.Fatalf("embedding has %d values, Dimension %d", len(f.Embedding), e.Dimension())
	}
	var n float64
	for _, v := range f.Embedding {
		n += float64(v) * float64(v)
	}
	if math.Abs(n-1) > 1e-4 {
		t.Errorf("embedding norm² %v, want 1", n)
	}
	d := f.Detail
	if d.Confidence < 90 || d.Confidence > 100 {
		t.Errorf("confidence %v", d.Confidence)
	}
	bb := d.BoundingBox
	if bb.Width < 0.4 || bb.Height < 0.4 || bb.Left < -0.1 || bb.Top < -0.1 || bb.Left+bb.Width > 1.1 {
		t.Errorf("bounding box %+v does not look like a face filling a crop", bb)
	}
	if len(d.Landmarks) != 5 || d.Landmarks[0].X >= d.Landmarks[1].X || d.Landmarks[2].Y >= d.Landmarks[3].Y {
		t.Errorf("landmarks %+v: want eyes left to right above the mouth", d.Landmarks)
	}
	if e.FaceModelVersion() != version {
		t.Errorf("FaceModelVersion %q", e.FaceModelVersion())
	}
}

func TestIndexImageMaxFacesAndOrder(t *testing.T) {
	e := testEngine(t)
	img := readFile(t, photoPath(t, "2008_004176.jpg")) // 7 annotated faces
	all, err := e.IndexImage(context.Background(), img, IndexOptions{QualityFilter: QualityNone})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Faces) != 7 {
		t.Fatalf("found %d faces, the photo has 7", len(all.Faces))
	}
	for i := 1; i < len(all.Faces); i++ {
		a, b := all.Faces[i-1].Detail.BoundingBox, all.Faces[i].Detail.BoundingBox
		if a.Width*a.Height < b.Width*b.Height {
			t.Errorf("face %d is larger than face %d: not sorted largest first", i, i-1)
		}
	}
	tests := []struct {
		maxFaces, indexed int
	}{{1, 1}, {3, 3}, {7, 7}, {0, 7}, {500, 7}}
	for _, tt := range tests {
		r, err := e.IndexImage(context.Background(), img, IndexOptions{MaxFaces: tt.maxFaces, QualityFilter: QualityNone})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Faces) != tt.indexed || len(r.Unindexed) != 7-tt.indexed {
			t.Errorf("MaxFaces %d: %d indexed, %d unindexed", tt.maxFaces, len(r.Faces), len(r.Unindexed))
		}
		for _, u := range r.Unindexed {
			if len(u.Reasons) != 1 || u.Reasons[0] != ReasonExceedsMaxFaces {
				t.Errorf("MaxFaces %d: reasons %v", tt.maxFaces, u.Reasons)
			}
		}
		for i, f := range r.Faces { // the largest are the ones indexed
			if f.Detail.BoundingBox != all.Faces[i].Detail.BoundingBox {
				t.Errorf("MaxFaces %d: face %d is not the %d-th largest", tt.maxFaces, i, i)
			}
		}
	}
}

func TestSearchImageLargestFace(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	r, err := e.SearchImage(ctx, readFile(t, photoPath(t, "2008_002470.jpg")), SearchOptions{}) // 6 faces
	if err != nil {
		t.Fatal(err)
	}
	if r.Face == nil || len(r.Unsearched) != 5 {
		t.Fatalf("face %v, %d unsearched; want the largest and 5 others", r.Face != nil, len(r.Unsearched))
	}
	area := func(b BoundingBox) float32 { return b.Width * b.Height }
	for _, u := range r.Unsearched {
		if len(u.Reasons) != 1 || u.Reasons[0] != ReasonFaceNotLargest {
			t.Errorf("reasons %v, want FACE_NOT_LARGEST", u.Reasons)
		}
		if area(u.Detail.BoundingBox) > area(r.Face.Detail.BoundingBox) {
			t.Errorf("an unsearched face is larger than the searched one")
		}
	}
	// The dlib annotation's largest face is at left 274, top 181, 52x53 in a 500x332 photo.
	bb := r.Face.Detail.BoundingBox
	cx, cy := (bb.Left+bb.Width/2)*500, (bb.Top+bb.Height/2)*332
	if math.Abs(float64(cx-300)) > 15 || math.Abs(float64(cy-207)) > 15 {
		t.Errorf("largest face centred at %.0f,%.0f, want about 300,207", cx, cy)
	}

	// No face: no error, no Face (SearchUsersByImage answers empty matches).
	blank := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range blank.Pix {
		blank.Pix[i] = uint8(i % 251)
	}
	r, err = e.SearchImage(ctx, facetest.JPEG(blank, 90), SearchOptions{})
	if err != nil || r.Face != nil || len(r.Unsearched) != 0 {
		t.Fatalf("blank image: face %v, unsearched %d, err %v", r != nil && r.Face != nil, len(r.Unsearched), err)
	}
}

func TestQualityFilter(t *testing.T) {
	e := testEngine(t)
	j := johns(t)
	crop := loadRGBA(t, j[people(j)[0]][0])
	dark := facetest.ToRGBA(crop)
	for i := range dark.Pix {
		if i%4 != 3 {
			dark.Pix[i] /= 4
		}
	}
	scene := facetest.Solid(640, 480, color.RGBA{90, 110, 130, 255})
	facetest.Paste(scene, loadRGBA(t, j[people(j)[1]][0]), 300, 200, 44) // a face box of about 35 px
	tests := []struct {
		name   string
		img    []byte
		filter QualityFilter
		want   []Reason // nil: indexed
	}{
		{"clean, default AUTO", facetest.JPEG(crop, 95), "", nil},
		{"clean, HIGH", facetest.JPEG(crop, 95), QualityHigh, nil},
		{"blurred, HIGH", facetest.JPEG(facetest.Blur(crop, 2.5), 95), QualityHigh, []Reason{ReasonLowSharpness}},
		{"blurred, NONE", facetest.JPEG(facetest.Blur(crop, 2.5), 95), QualityNone, nil},
		{"dark, MEDIUM", facetest.JPEG(dark, 95), QualityMedium, []Reason{ReasonLowBrightness}},
		{"dark, NONE", facetest.JPEG(dark, 95), QualityNone, nil},
		{"small, HIGH", facetest.JPEG(scene, 95), QualityHigh, []Reason{ReasonSmallBoundingBox}},
		{"small, LOW", facetest.JPEG(scene, 95), QualityLow, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.IndexImage(context.Background(), tt.img, IndexOptions{QualityFilter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Faces)+len(r.Unindexed) != 1 {
				t.Fatalf("found %d faces, want 1", len(r.Faces)+len(r.Unindexed))
			}
			if tt.want == nil {
				if len(r.Faces) != 1 {
					t.Fatalf("not indexed: %v (quality %+v pose %+v)", r.Unindexed[0].Reasons, r.Unindexed[0].Detail.Quality, r.Unindexed[0].Detail.Pose)
				}
				return
			}
			if len(r.Faces) != 0 {
				t.Fatalf("indexed (quality %+v); want refused with %v", r.Faces[0].Detail.Quality, tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range r.Unindexed[0].Reasons {
					found = found || g == w
				}
				if !found {
					t.Errorf("reasons %v lack %s (quality %+v)", r.Unindexed[0].Reasons, w, r.Unindexed[0].Detail.Quality)
				}
			}
		})
	}
	// For search the default is NONE, and a refused largest face leaves Face nil.
	r, err := e.SearchImage(context.Background(), facetest.JPEG(facetest.Blur(crop, 2.5), 95), SearchOptions{QualityFilter: QualityHigh})
	if err != nil || r.Face != nil || len(r.Unsearched) != 1 {
		t.Fatalf("search with HIGH on a blurred face: face %v, %d unsearched, err %v", r != nil && r.Face != nil, len(r.Unsearched), err)
	}
}

func TestEXIFOrientedImages(t *testing.T) {
	e := testEngine(t)
	j := johns(t)
	path := j[people(j)[2]][3]
	upright := loadRGBA(t, path)
	ref, err := e.SearchImage(context.Background(), facetest.JPEG(upright, 95), SearchOptions{})
	if err != nil || ref.Face == nil {
		t.Fatalf("upright: %v", err)
	}
	cw := func(m *image.RGBA) *image.RGBA {
		return facetest.Rotate90CCW(facetest.Rotate90CCW(facetest.Rotate90CCW(m)))
	}
	tests := []struct {
		orientation uint16
		stored      *image.RGBA // what the camera wrote, so that the EXIF tag makes it upright
		want        OrientationCorrection
	}{
		{1, upright, Rotate0},
		{3, facetest.Rotate90CCW(facetest.Rotate90CCW(upright)), Rotate180},
		{6, facetest.Rotate90CCW(upright), Rotate90},
		{8, cw(upright), Rotate270},
	}
	for _, tt := range tests {
		r, err := e.SearchImage(context.Background(), facetest.WithEXIFOrientation(facetest.JPEG(tt.stored, 95), tt.orientation), SearchOptions{})
		if err != nil || r.Face == nil {
			t.Fatalf("orientation %d: face %v, err %v", tt.orientation, r != nil && r.Face != nil, err)
		}
		if r.OrientationCorrection != tt.want {
			t.Errorf("orientation %d: OrientationCorrection %q, want %q", tt.orientation, r.OrientationCorrection, tt.want)
		}
		if c := Cosine(r.Face.Embedding, ref.Face.Embedding); c < 0.95 {
			t.Errorf("orientation %d: cosine to the upright image %.3f, want the same face", tt.orientation, c)
		}
		a, b := r.Face.Detail.BoundingBox, ref.Face.Detail.BoundingBox
		if math.Abs(float64(a.Left-b.Left)) > 0.03 || math.Abs(float64(a.Top-b.Top)) > 0.03 {
			t.Errorf("orientation %d: box %+v, upright %+v", tt.orientation, a, b)
		}
	}
}

func TestSmallFaceInLargePhoto(t *testing.T) {
	e := testEngine(t)
	j := johns(t)
	// A plain scene, so the only face is the pasted one.
	scene := facetest.Solid(1920, 1080, color.RGBA{120, 130, 110, 255})
	tests := []struct{ x, y int }{{100, 100}, {955, 500}, {1700, 900}, {620, 440}} // the last straddles tile borders
	for i, tt := range tests {
		s := facetest.ToRGBA(scene)
		facetest.Paste(s, loadRGBA(t, j[people(j)[i%5]][i]), tt.x, tt.y, 50) // ~40 px face box
		r, err := e.IndexImage(context.Background(), facetest.JPEG(s, 90), IndexOptions{QualityFilter: QualityNone})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Faces) != 1 {
			t.Fatalf("at %d,%d: %d faces, want 1", tt.x, tt.y, len(r.Faces))
		}
		bb := r.Faces[0].Detail.BoundingBox
		cx, cy := (bb.Left+bb.Width/2)*1920, (bb.Top+bb.Height/2)*1080
		if math.Abs(float64(cx)-float64(tt.x+25)) > 12 || math.Abs(float64(cy)-float64(tt.y+25)) > 12 {
			t.Errorf("at %d,%d: face centred at %.0f,%.0f", tt.x, tt.y, cx, cy)
		}
	}
}

func TestParameterErrors(t *testing.T) {
	e := testEngine(t)
	j := johns(t)
	img := readFile(t, j[people(j)[0]][0])
	ctx := context.Background()
	_, err := e.IndexImage(ctx, img, IndexOptions{MaxFaces: -1})
	if errs.CodeOf(err) != errs.InvalidParameter {
		t.Errorf("MaxFaces -1: %v", err)
	}
	_, err = e.IndexImage(ctx, img, IndexOptions{QualityFilter: "BEST"})
	if errs.CodeOf(err) != errs.InvalidParameter {
		t.Errorf("QualityFilter BEST: %v", err)
	}
	_, err = e.SearchImage(ctx, []byte("GIF89a"), SearchOptions{})
	if errs.CodeOf(err) != errs.InvalidImageFormat {
		t.Errorf("GIF: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err = e.SearchImage(cctx, img, SearchOptions{}); !errors.Is(err, context.Canceled) || errs.As(err) != nil {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestConcurrentUseMatchesSequential(t *testing.T) {
	// The dlib pack's workers share one shape predictor: it must be safe to run at once.
	for _, pack := range []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)} {
		m, err := LoadManifest(pack)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(m.FaceModelVersion, func(t *testing.T) { testConcurrentUse(t, pack) })
	}
}

func testConcurrentUse(t *testing.T, pack string) {
	lib := testenv.ONNXRuntimeLibrary(t)
	// A second engine in the same process: the runtime is initialised once and shared.
	e, err := NewEngine(EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 2, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	j := johns(t)
	var imgs [][]byte
	for _, p := range people(j) {
		imgs = append(imgs, readFile(t, j[p][0]), readFile(t, j[p][5]))
	}
	want := make([][]float32, len(imgs))
	for i, b := range imgs {
		r, err := e.SearchImage(context.Background(), b, SearchOptions{})
		if err != nil || r.Face == nil {
			t.Fatal(err)
		}
		want[i] = r.Face.Embedding
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(imgs))
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range imgs {
				i := (k + g) % len(imgs)
				r, err := e.SearchImage(context.Background(), imgs[i], SearchOptions{})
				if err != nil || r.Face == nil {
					errs <- err
					continue
				}
				if c := Cosine(r.Face.Embedding, want[i]); c < 0.9999 {
					errs <- errors.New("concurrent embedding differs from sequential")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e.Close() // twice is fine
	if _, err := e.SearchImage(context.Background(), imgs[0], SearchOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	// The shared engine still works after another engine closed.
	if _, err := testEngine(t).SearchImage(context.Background(), imgs[0], SearchOptions{}); err != nil {
		t.Error(err)
	}
}

func TestSimilarityCalibration(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		cosine, sim float32
	}{{-1, 0}, {0.3, 50}, {0.45, 80}, {0.7, 99}, {1, 100}, {2, 100}, {-3, 0}}
	for _, tt := range tests {
		if got := e.Similarity(tt.cosine); math.Abs(float64(got-tt.sim)) > 1e-4 {
			t.Errorf("Similarity(%v) = %v, want %v", tt.cosine, got, tt.sim)
		}
	}
	prev := float32(-1)
	for s := float32(0); s <= 100; s += 0.5 {
		c := e.CosineAtSimilarity(s)
		if c < prev {
			t.Fatalf("CosineAtSimilarity not monotone at %v", s)
		}
		prev = c
		if back := e.Similarity(c); math.Abs(float64(back-s)) > 1e-3 {
			t.Errorf("Similarity(CosineAtSimilarity(%v)) = %v", s, back)
		}
	}
}

// TestMoreThan100Faces checks Rekognition's limits on a crowd: IndexImage embeds at most
// 100 faces (the rest EXCEEDS_MAX_FACES), DetectImage reports the 100 largest and SearchImage marks faces past the 100th with
// EXCEEDS_MAX_FACES as well as FACE_NOT_LARGEST.
func TestMoreThan100Faces(t *testing.T) {
	e := testEngine(t)
	j := johns(t)
	ps := people(j)
	scene := facetest.Solid(1920, 1080, color.RGBA{100, 100, 100, 255})
	n := 0
	for row := 0; row < 10; row++ {
		for col := 0; col < 12; col++ {
			crop := loadRGBA(t, j[ps[n%len(ps)]][n%11])
			size := 80 + (n%7)*2 // distinct sizes, so "largest first" has an answer
			facetest.Paste(scene, crop, 20+col*158, 10+row*106, size)
			n++
		}
	}
	data := facetest.JPEG(scene, 92)
	ir, err := e.IndexImage(context.Background(), data, IndexOptions{QualityFilter: QualityNone, MaxFaces: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := len(ir.Faces) + len(ir.Unindexed)
	if found < 110 {
		t.Fatalf("found %d of %d faces", found, n)
	}
	if len(ir.Faces) != MaxIndexFaces {
		t.Errorf("indexed %d faces, want %d", len(ir.Faces), MaxIndexFaces)
	}
	for _, u := range ir.Unindexed {
		if len(u.Reasons) != 1 || u.Reasons[0] != ReasonExceedsMaxFaces {
			t.Fatalf("unindexed reasons %v", u.Reasons)
		}
	}
	dr, err := e.DetectImage(context.Background(), data, DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.Faces) != MaxDetectFaces {
		t.Errorf("DetectImage reported %d faces, want the %d largest", len(dr.Faces), MaxDetectFaces)
	}
	sr, err := e.SearchImage(context.Background(), data, SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Face == nil || len(sr.Unsearched) != found-1 {
		t.Fatalf("search: face %v, %d unsearched of %d found", sr.Face != nil, len(sr.Unsearched), found)
	}
	for i, u := range sr.Unsearched {
		exceeds := len(u.Reasons) == 2 && u.Reasons[1] == ReasonExceedsMaxFaces
		if u.Reasons[0] != ReasonFaceNotLargest || exceeds != (i+1 >= 100) {
			t.Fatalf("unsearched face %d (the %d-th largest): reasons %v", i, i+2, u.Reasons)
		}
	}
}

// TestLabelledPhotosScaledUp runs dlib's labelled photos scaled to 2000 px wide, where the
// tiles zoom in on faces of 150-500 px (issue 16): every labelled face is found and the
// largest face, the one search uses, is a labelled one.
func TestLabelledPhotosScaledUp(t *testing.T) {
	e := testEngine(t)
	type box struct{ x, y, w, h float64 }
	labels := map[string][]box{}
	for _, f := range []string{"training.xml", "testing.xml"} {
		images, err := facetest.ReadLabels(photoPath(t, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range images {
			for _, b := range im.Boxes {
				labels[im.File] = append(labels[im.File], box{b.Left, b.Top, b.Width, b.Height})
			}
		}
	}
	if len(labels) < 5 {
		t.Fatalf("%d labelled photos", len(labels))
	}
	for name, want := range labels {
		m := loadRGBA(t, photoPath(t, name))
		f := 2000 / float64(m.Bounds().Dx())
		big := facetest.Scale(m, f)
		r, err := e.DetectImage(context.Background(), facetest.JPEG(big, 92), DetectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		W, H := float64(big.Bounds().Dx()), float64(big.Bounds().Dy())
		label := func(d FaceDetail) int {
			cx := (float64(d.BoundingBox.Left) + float64(d.BoundingBox.Width)/2) * W / f
			cy := (float64(d.BoundingBox.Top) + float64(d.BoundingBox.Height)/2) * H / f
			for i, b := range want {
				if cx > b.x && cx < b.x+b.w && cy > b.y && cy < b.y+b.h {
					return i
				}
			}
			return -1
		}
		found := map[int]bool{}
		for _, d := range r.Faces {
			if i := label(d); i >= 0 {
				found[i] = true
			}
		}
		if len(found) != len(want) {
			t.Errorf("%s at %.0fx%.0f: found %d of %d labelled faces", name, W, H, len(found), len(want))
		}
		if len(r.Faces) > 0 && label(r.Faces[0]) < 0 {
			b := r.Faces[0].BoundingBox
			t.Errorf("%s at %.0fx%.0f: the largest face, %.0fx%.0f px at %.0f,%.0f (confidence %.1f), is no labelled face",
				name, W, H, float64(b.Width)*W, float64(b.Height)*H, float64(b.Left)*W, float64(b.Top)*H, r.Faces[0].Confidence)
		}
	}
}

// TestWebPSearchedAsItsJPEG: a WebP of a labelled face, lossless or lossy, gives the face
// its JPEG gives, for every pack (WebP goes beyond Rekognition, which refuses it).
func TestWebPSearchedAsItsJPEG(t *testing.T) {
	j := johns(t)
	var crops []string
	for _, p := range people(j)[:3] {
		crops = append(crops, j[p][0])
	}
	for _, e := range packEngines(t) {
		t.Run(e.FaceModelVersion(), func(t *testing.T) {
			lowest := float32(1)
			for _, crop := range crops {
				jr, err := e.SearchImage(context.Background(), readFile(t, crop), SearchOptions{})
				if err != nil || jr.Face == nil {
					t.Fatalf("%s as JPEG: face %v, err %v", crop, jr != nil && jr.Face != nil, err)
				}
				for _, options := range [][]string{{"-lossless"}, {"-q", "90"}} {
					data := webpOf(t, loadRGBA(t, crop), options...)
					wr, err := e.SearchImage(context.Background(), data, SearchOptions{})
					if err != nil || wr.Face == nil {
						t.Fatalf("%s as WebP %v: face %v, err %v", crop, options, wr != nil && wr.Face != nil, err)
					}
					c := Cosine(jr.Face.Embedding, wr.Face.Embedding)
					if c < 0.99 {
						t.Errorf("%s as WebP %v: cosine %.4f to its JPEG's face, want at least 0.99", crop, options, c)
					}
					lowest = min(lowest, c)
				}
			}
			t.Logf("lowest cosine to the JPEG's face: %.4f", lowest)
		})
	}
}
