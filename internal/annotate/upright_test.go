package annotate

import (
	"image"
	"image/color"
	"testing"
)

// TestUpright turns a 3x2 image whose pixels are numbered and reads where they went:
//
//	0 1 2
//	3 4 5
func TestUpright(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := 0; i < 6; i++ {
		src.SetRGBA(i%3, i/3, color.RGBA{R: uint8(i), A: 0xff})
	}
	for _, tc := range []struct {
		degrees int
		want    [][]uint8 // rows
	}{
		{0, [][]uint8{{0, 1, 2}, {3, 4, 5}}},
		{90, [][]uint8{{3, 0}, {4, 1}, {5, 2}}},
		{180, [][]uint8{{5, 4, 3}, {2, 1, 0}}},
		{270, [][]uint8{{2, 5}, {1, 4}, {0, 3}}},
		{45, [][]uint8{{0, 1, 2}, {3, 4, 5}}},
	} {
		got := Upright(src, tc.degrees)
		if got.Bounds() != image.Rect(0, 0, len(tc.want[0]), len(tc.want)) {
			t.Errorf("%d degrees: bounds %v", tc.degrees, got.Bounds())
			continue
		}
		for y, row := range tc.want {
			for x, v := range row {
				if p := got.RGBAAt(x, y).R; p != v {
					t.Errorf("%d degrees: pixel %d,%d is %d, want %d", tc.degrees, x, y, p, v)
				}
			}
		}
	}
}
