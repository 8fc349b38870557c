package face

import (
	"math"
	"testing"
)

func TestFitSimilarityRecoversTransform(t *testing.T) {
	tests := []struct {
		name          string
		scale, angle  float64
		tx, ty, noise float64
	}{
		{"identity", 1, 0, 0, 0, 0},
		{"shrink and shift", 0.4, 0, -30, 12, 0},
		{"rotate 15 degrees", 1.3, 15, 5, -7, 0},
		{"rotate -40 degrees", 0.8, -40, 100, 50, 0},
		{"noisy points", 0.5, 10, 3, 4, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := tt.angle * math.Pi / 180
			a, b := tt.scale*math.Cos(th), tt.scale*math.Sin(th)
			var src [5]point
			// Pick the source points so the known transform maps them onto the template,
			// with a deterministic perturbation for the noisy case.
			want := similarity{a: a, b: b, tx: tt.tx, ty: tt.ty}
			for i, q := range arcfaceTemplate {
				p := want.invert(q)
				p.X += tt.noise * float64(i%2*2-1)
				p.Y += tt.noise * float64((i/2)%2*2-1)
				src[i] = p
			}
			got := fitSimilarity(src, arcfaceTemplate)
			tol := 1e-9 + tt.noise*0.1
			if math.Abs(got.a-a) > tol || math.Abs(got.b-b) > tol || math.Abs(got.tx-tt.tx) > 100*tol || math.Abs(got.ty-tt.ty) > 100*tol {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestEstimatePose(t *testing.T) {
	frontal := arcfaceTemplate
	turned := frontal
	turned[2].X += 14 // nose towards the image-right eye
	rolled := [5]point{}
	for i, p := range frontal {
		th := 20 * math.Pi / 180
		rolled[i] = point{math.Cos(th)*p.X - math.Sin(th)*p.Y, math.Sin(th)*p.X + math.Cos(th)*p.Y}
	}
	tests := []struct {
		name                string
		pts                 [5]point
		roll, yaw, pitchTol float64
	}{
		{"frontal", frontal, 0, 0, 5},
		{"rolled 20", rolled, 20, 0, 5},
		{"turned", turned, 0, 53, 5},
	}
	for _, tt := range tests {
		p := estimatePose(tt.pts)
		if math.Abs(float64(p.Roll)-tt.roll) > 1 || math.Abs(float64(p.Yaw)-tt.yaw) > 5 || math.Abs(float64(p.Pitch)) > tt.pitchTol {
			t.Errorf("%s: %+v, want roll %v yaw %v", tt.name, p, tt.roll, tt.yaw)
		}
	}
}

func TestDetectionRegions(t *testing.T) {
	tests := []struct {
		w, h, regions int
	}{
		{640, 480, 1},
		{800, 600, 1},
		{150, 150, 1},
		{1920, 1080, 1 + 4*3},
		{4000, 3000, 1 + 8*8},
	}
	for _, tt := range tests {
		rs := detectionRegions(tt.w, tt.h, 320, 240)
		if len(rs) != tt.regions {
			t.Errorf("%dx%d: %d regions, want %d", tt.w, tt.h, len(rs), tt.regions)
		}
		// Every 100x100 square (bigger than any face the tiles are for, within the overlap)
		// must lie wholly inside some tile, or the edge rule would drop it everywhere.
		if len(rs) == 1 {
			continue
		}
		for y := 0; y+100 <= tt.h; y += 37 {
			for x := 0; x+100 <= tt.w; x += 37 {
				ok := false
				for _, r := range rs[1:] {
					ok = ok || (float64(x) >= r.x && float64(y) >= r.y && float64(x+96) <= r.x+r.w && float64(y+96) <= r.y+r.h)
				}
				if !ok {
					t.Fatalf("%dx%d: a 96 px face at %d,%d is in no tile", tt.w, tt.h, x, y)
				}
			}
		}
	}
}

func TestNMS(t *testing.T) {
	d := func(x1, y1, x2, y2, s float32) detection { return detection{x1: x1, y1: y1, x2: x2, y2: y2, score: s} }
	tests := []struct {
		name string
		in   []detection
		want int
	}{
		{"disjoint", []detection{d(0, 0, 10, 10, .9), d(20, 20, 30, 30, .8)}, 2},
		{"overlapping", []detection{d(0, 0, 10, 10, .9), d(1, 1, 11, 11, .8)}, 1},
		{"nested", []detection{d(0, 0, 40, 40, .9), d(10, 10, 25, 25, .95)}, 1},
		{"touching", []detection{d(0, 0, 10, 10, .9), d(10, 0, 20, 10, .9)}, 2},
	}
	for _, tt := range tests {
		if got := nms(tt.in, 0.3); len(got) != tt.want {
			t.Errorf("%s: kept %d, want %d", tt.name, len(got), tt.want)
		}
	}
}

// TestTilesReportOnlySmallFaces: a tile drops a box the whole-image pass is trusted to find
// (issue 16: tiles, zoomed in, reported shirts and background as large faces) and keeps a
// small one; the whole-image pass keeps both.
func TestTilesReportOnlySmallFaces(t *testing.T) {
	const w, h = 2000, 1500 // whole-image pass: 6.25 image px per input px
	rs := detectionRegions(w, h, 320, 240)
	if rs[0].maxArea != 0 {
		t.Fatalf("the whole-image pass has a size limit %v", rs[0].maxArea)
	}
	tile := rs[len(rs)/2]
	if tile.maxArea == 0 {
		t.Fatal("a tile has no size limit")
	}
	// Two boxes in the tile's middle, in the tile's 0..1 coordinates: 250 px square (40
	// input px for the whole-image pass) and 60 px square (under 10).
	box := func(side float64) []float32 {
		cx, cy := 0.5, 0.5
		hw, hh := side/2/tile.w, side/2/tile.h
		return []float32{float32(cx - hw), float32(cy - hh), float32(cx + hw), float32(cy + hh)}
	}
	scores := []float32{0.01, 0.99, 0.01, 0.99}
	boxes := append(box(250), box(60)...)
	got := decodeUltraFace(scores, boxes, tile, w, h, 320, 240, 0.6, nil)
	if len(got) != 1 || got[0].x2-got[0].x1 > 70 {
		t.Fatalf("tile kept %+v, want only the 60 px face", got)
	}
	if !got[0].verify {
		t.Error("a tile's face is not marked for the landmark check")
	}
	// The whole-image pass keeps both; only the small one (40x30 px, 5.5 input px) is
	// marked for the landmark check, not the 400x375 one (62 input px).
	whole := region{0, 0, w, h, 0}
	wb := []float32{0.3, 0.3, 0.5, 0.55, 0.45, 0.45, 0.47, 0.47}
	got = decodeUltraFace(scores, wb, whole, w, h, 320, 240, 0.6, nil)
	if len(got) != 2 {
		t.Fatalf("whole-image pass kept %d boxes, want 2", len(got))
	}
	if got[0].verify || !got[1].verify {
		t.Errorf("verify marks: large %v, small %v; want false, true", got[0].verify, got[1].verify)
	}
}
