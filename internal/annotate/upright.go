package annotate

import (
	"image"
	"image/draw"
)

// Upright turns img clockwise by degrees (0, 90, 180 or 270; anything else is 0), as
// Rekognition's OrientationCorrection ROTATE_<degrees> says the engine turned a JPEG by its
// EXIF orientation: the boxes refer to the turned image, so they are drawn on it.
func Upright(img image.Image, degrees int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	var dst *image.RGBA
	var at func(x, y int) (int, int) // the source pixel of the destination's x, y
	switch degrees {
	case 90:
		dst = image.NewRGBA(image.Rect(0, 0, h, w))
		at = func(x, y int) (int, int) { return y, h - 1 - x }
	case 180:
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
		at = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 270:
		dst = image.NewRGBA(image.Rect(0, 0, h, w))
		at = func(x, y int) (int, int) { return w - 1 - y, x }
	default:
		return src
	}
	db := dst.Bounds()
	for y := 0; y < db.Dy(); y++ {
		for x := 0; x < db.Dx(); x++ {
			sx, sy := at(x, y)
			dst.SetRGBA(x, y, src.RGBAAt(sx, sy))
		}
	}
	return dst
}
