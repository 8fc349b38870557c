package dlib

import "fmt"

// Image is an 8-bit RGB image, pixels interleaved row by row: Pix[3*(y*W+x)+c] for channel c
// (0 red, 1 green, 2 blue). It is what dlib's array2d<rgb_pixel> holds.
type Image struct {
	W, H int
	Pix  []uint8
}

func (m *Image) check() error {
	if m == nil || m.W < 0 || m.H < 0 || len(m.Pix) < 3*m.W*m.H {
		return fmt.Errorf("dlib: image is not %dx%d RGB", m.W, m.H)
	}
	return nil
}

// Point is a position in image coordinates: pixel (x, y) is at the centre of that pixel, as in
// dlib (so integer points name pixels).
type Point struct{ X, Y float64 }

// Rect is dlib's rectangle: integer coordinates (dlib uses long), Right and Bottom inclusive,
// so the width is Right-Left+1. The shape predictor maps its unit square onto
// (Left,Top)-(Right,Bottom).
type Rect struct{ Left, Top, Right, Bottom int }
