package face

import (
	"context"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestNoLargeFalseFacesInLargeImages is issue 16's failure: in upper-body and group photos
// of 2000-4000 px, the detector's tiles, which see the image zoomed in, took shirts and
// collars under a face, and busy or dark backgrounds beside it, for faces larger than the
// real ones, and search ("largest face first") used a false face. Scenes are composed from
// the labelled crops on procedural shirts, necks and backgrounds (facetest.Scene), at full
// size or drawn small and scaled up as the photos were; photos are crops of
// dlib's labelled example photos around a person, scaled up to 2000-3000 px. In each,
// every real face is found, the largest detection is a real face, and no detection as
// large as the smallest real one lies where no face is.
func TestNoLargeFalseFacesInLargeImages(t *testing.T) {
	e := testEngine(t)
	type scene struct {
		w, h, people, face, drawnAt int // drawnAt > 1: drawn that many times smaller, then scaled up
		backdrop                    facetest.Backdrop
		seed                        uint64
	}
	scenes := []scene{
		{2000, 1333, 3, 220, 1, facetest.Wall, 3},
		{2000, 1333, 3, 220, 1, facetest.Foil, 6},
		{2000, 1333, 3, 220, 4, facetest.Streamers, 9},
		{3000, 2000, 4, 240, 1, facetest.Wall, 1},
		{3000, 2000, 4, 240, 1, facetest.Streamers, 6},
		{4000, 3000, 4, 300, 1, facetest.Wall, 10},
		{4000, 3000, 4, 300, 1, facetest.DarkPanels, 11},
		{4000, 3000, 5, 260, 5, facetest.Foil, 11},
	}
	photos := []struct {
		file  string
		crop  image.Rectangle
		width int
	}{
		{"2008_004176.jpg", image.Rect(76, 185, 372, 407), 2000},
		{"2008_004176.jpg", image.Rect(39, 160, 409, 438), 2000},
		{"2008_004176.jpg", image.Rect(0, 15, 444, 348), 3000},
	}
	for _, sc := range scenes {
		name := fmt.Sprintf("%dx%d, %d faces of %d px drawn at 1:%d, %v, seed %d", sc.w, sc.h, sc.people, sc.face, sc.drawnAt, sc.backdrop, sc.seed)
		t.Run(name, func(t *testing.T) {
			img, faces := groupScene(t, sc.w, sc.h, sc.people, sc.face, sc.drawnAt, sc.backdrop, sc.seed)
			checkLargestFaceIsReal(t, e, img, faces)
		})
	}
	labels := map[string][]facetest.LabelledBox{}
	for _, f := range []string{"training.xml", "testing.xml"} {
		images, err := facetest.ReadLabels(photoPath(t, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range images {
			labels[im.File] = im.Boxes
		}
	}
	for _, p := range photos {
		t.Run(fmt.Sprintf("%s %v at %d px", p.file, p.crop, p.width), func(t *testing.T) {
			m := loadRGBA(t, photoPath(t, p.file))
			f := float64(p.width) / float64(p.crop.Dx())
			img := facetest.Scale(m.SubImage(p.crop), f)
			var faces []image.Rectangle
			for _, b := range labels[p.file] {
				r := image.Rect(int(b.Left), int(b.Top), int(b.Left+b.Width), int(b.Top+b.Height))
				if r.In(p.crop) {
					r = r.Sub(p.crop.Min)
					faces = append(faces, image.Rect(int(float64(r.Min.X)*f), int(float64(r.Min.Y)*f), int(float64(r.Max.X)*f), int(float64(r.Max.Y)*f)))
				}
			}
			if len(faces) == 0 {
				t.Fatalf("no labelled face inside %v", p.crop)
			}
			checkLargestFaceIsReal(t, e, img, faces)
		})
	}
}

// checkLargestFaceIsReal detects the faces of img and checks them against where the real
// faces are: a detection is of a real face when its centre is inside one's box and its
// area is within a quarter to four times the box's; any other is a false face.
func checkLargestFaceIsReal(t *testing.T, e *Engine, img *image.RGBA, faces []image.Rectangle) {
	t.Helper()
	r, err := e.DetectImage(context.Background(), facetest.JPEG(img, 92), DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	W, H := float64(img.Rect.Dx()), float64(img.Rect.Dy())
	box := func(d FaceDetail) (image.Rectangle, float64) {
		b := d.BoundingBox
		x, y, w, h := float64(b.Left)*W, float64(b.Top)*H, float64(b.Width)*W, float64(b.Height)*H
		return image.Rect(int(x), int(y), int(x+w), int(y+h)), w * h
	}
	realFace := func(d FaceDetail) int {
		rb, area := box(d)
		c := image.Pt((rb.Min.X+rb.Max.X)/2, (rb.Min.Y+rb.Max.Y)/2)
		for i, f := range faces {
			fa := float64(f.Dx() * f.Dy())
			if c.In(f) && area >= fa/4 && area <= 4*fa {
				return i
			}
		}
		return -1
	}
	// A face's size is its largest detection's; a smaller one on it (a part of the face) is
	// neither a false face nor the face's size.
	size := map[int]float64{}
	for _, d := range r.Faces {
		if i := realFace(d); i >= 0 {
			_, a := box(d)
			size[i] = max(size[i], a)
		}
	}
	smallestReal := math.Inf(1)
	for _, a := range size {
		smallestReal = min(smallestReal, a)
	}
	for i, f := range faces {
		if size[i] == 0 {
			t.Errorf("the face at %v was not found", f)
		}
	}
	if len(r.Faces) > 0 && realFace(r.Faces[0]) < 0 {
		b, _ := box(r.Faces[0])
		t.Errorf("the largest face, %v (confidence %.1f), is no real face", b, r.Faces[0].Confidence)
	}
	for _, d := range r.Faces {
		b, a := box(d)
		switch {
		case realFace(d) >= 0:
		case a >= smallestReal:
			t.Errorf("a false face %v (confidence %.1f) is as large as the smallest real one", b, d.Confidence)
		case e.m.Landmarks.Type == Landmarks68:
			// Its candidates are verified (verify): none may be left, of any size.
			t.Errorf("a false face %v (confidence %.1f)", b, d.Confidence)
		}
	}
}

// groupScene is a w x h scene of n people seen from the chest up (facetest.Scene), their
// face crops of face px spread across it, drawn drawnAt times smaller and scaled up when
// drawnAt > 1; it returns the image and where the faces are.
func groupScene(t *testing.T, w, h, n, face, drawnAt int, backdrop facetest.Backdrop, seed uint64) (*image.RGBA, []image.Rectangle) {
	t.Helper()
	j := johns(t)
	ps := people(j)
	sw, sh, fs := w/drawnAt, h/drawnAt, face/drawnAt
	var figures []facetest.Figure
	var faces []image.Rectangle
	slot := sw / n
	for i := 0; i < n; i++ {
		// Evenly spread, each moved a little by the seed, in the upper half.
		x := slot*i + (slot-fs)/2 + int(seed*7+uint64(i)*13)%max(1, slot/4) - slot/8
		y := sh/6 + int(seed*11+uint64(i)*29)%max(1, sh/5)
		p := ps[(int(seed)+i)%len(ps)]
		crop := loadRGBA(t, j[p][(int(seed)*3+i)%len(j[p])])
		figures = append(figures, facetest.Figure{Face: crop, X: x, Y: y, Size: fs})
		faces = append(faces, image.Rect(x*drawnAt, y*drawnAt, (x+fs)*drawnAt, (y+fs)*drawnAt))
	}
	m := facetest.Scene(sw, sh, backdrop, figures, seed)
	if drawnAt > 1 {
		m = facetest.Resize(m, w, h)
	}
	return m, faces
}

// A face cropped tightly, forehead and chin cut by the frame (ID photos, avatars, face
// libraries' crops), is found: the detectors miss such faces whole unless they are given
// room around them (paddedRegion). Each labelled face is cut to its middle, from the
// eyebrows to the lips, and scaled back to 150 px.
func TestTightCropsAreFound(t *testing.T) {
	for _, pack := range []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)} {
		e := sharedEngine(t, pack)
		t.Run(e.FaceModelVersion(), func(t *testing.T) {
			j := johns(t)
			var missed []string
			n := 0
			for _, p := range people(j) {
				for _, f := range j[p] {
					m := loadRGBA(t, f)
					w, h := m.Rect.Dx(), m.Rect.Dy()
					crop := image.Rect(w*22/100, h*30/100, w*78/100, h*80/100).Add(m.Rect.Min)
					img := facetest.Resize(m.SubImage(crop), 150, 150*crop.Dy()/crop.Dx())
					r, err := e.DetectImage(context.Background(), facetest.JPEG(img, 92), DetectOptions{})
					if err != nil {
						t.Fatal(err)
					}
					n++
					if len(r.Faces) == 0 {
						missed = append(missed, filepath.Base(f))
					}
				}
			}
			// When this was written, without room around the faces UltraFace missed 47 of
			// the 55 and BlazeFace 39; with it, 2 and 5.
			allowed := n / 20
			if e.m.Detector.Type == DetectorBlazeFace {
				allowed = n / 10
			}
			if len(missed) > allowed {
				t.Errorf("no face found in %d of %d tight crops (at most %d allowed): %v", len(missed), n, allowed, missed)
			}
		})
	}
}
