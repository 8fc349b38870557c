package face

import (
	"image"
	"testing"
)

func TestCropGeometry(t *testing.T) {
	rects := []struct {
		name   string
		w, h   int
		box    BoundingBox
		margin float32
		want   image.Rectangle
		ok     bool
	}{
		{"centred, no margin", 200, 100, BoundingBox{Left: 0.25, Top: 0.2, Width: 0.5, Height: 0.6}, 0, image.Rect(50, 20, 150, 80), true},
		{"margin on each side", 200, 100, BoundingBox{Left: 0.25, Top: 0.2, Width: 0.5, Height: 0.6}, 0.1, image.Rect(40, 14, 160, 86), true},
		{"clipped at the border", 100, 100, BoundingBox{Left: -0.1, Top: 0.8, Width: 0.3, Height: 0.4}, 0, image.Rect(0, 80, 20, 100), true},
		{"outside", 100, 100, BoundingBox{Left: 1.2, Top: 0.1, Width: 0.1, Height: 0.1}, 0.25, image.Rectangle{}, false},
	}
	for _, tc := range rects {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cropRect(tc.w, tc.h, tc.box, tc.margin)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("cropRect = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	sizes := []struct{ w, h, max, ww, wh int }{
		{100, 50, 256, 100, 50},
		{512, 256, 256, 256, 128},
		{300, 900, 256, 85, 256},
		{5000, 1, 256, 256, 1},
	}
	for _, tc := range sizes {
		if w, h := cropSize(tc.w, tc.h, tc.max); w != tc.ww || h != tc.wh {
			t.Errorf("cropSize(%d, %d, %d) = %dx%d, want %dx%d", tc.w, tc.h, tc.max, w, h, tc.ww, tc.wh)
		}
	}
}
