// Package facetest makes test images for the face engine's tests, benchmarks and
// evaluation: scaled, blurred, rotated and recompressed copies of real photos, JPEGs with
// an EXIF orientation, and faces pasted into large scenes. It only transforms pixels; it
// never decides what a face is.
package facetest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"os"

	xdraw "golang.org/x/image/draw"
)

// Load decodes a JPEG or PNG file.
func Load(path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return nil, err
	}
	return ToRGBA(m), nil
}

// ToRGBA copies m into a new RGBA image with origin (0,0).
func ToRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), m, b.Min, draw.Src)
	return out
}

// Scale resizes m by factor with a Catmull-Rom filter (a good camera-like downscale).
func Scale(m image.Image, factor float64) *image.RGBA {
	b := m.Bounds()
	w := max(1, int(math.Round(float64(b.Dx())*factor)))
	h := max(1, int(math.Round(float64(b.Dy())*factor)))
	return Resize(m, w, h)
}

// Resize resizes m to w x h.
func Resize(m image.Image, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(out, out.Bounds(), m, m.Bounds(), draw.Src, nil)
	return out
}

// Blur applies a Gaussian blur with standard deviation sigma pixels.
func Blur(m image.Image, sigma float64) *image.RGBA {
	src := ToRGBA(m)
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var s float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	tmp := image.NewRGBA(src.Rect)
	out := image.NewRGBA(src.Rect)
	pass := func(dst, from *image.RGBA, dx, dy int) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var acc [3]float64
				for i, kv := range k {
					xx := min(max(x+(i-r)*dx, 0), w-1)
					yy := min(max(y+(i-r)*dy, 0), h-1)
					o := from.PixOffset(xx, yy)
					for c := 0; c < 3; c++ {
						acc[c] += kv * float64(from.Pix[o+c])
					}
				}
				o := dst.PixOffset(x, y)
				for c := 0; c < 3; c++ {
					dst.Pix[o+c] = uint8(math.Round(acc[c]))
				}
				dst.Pix[o+3] = 255
			}
		}
	}
	pass(tmp, src, 1, 0)
	pass(out, tmp, 0, 1)
	return out
}

// Rotate turns m by deg degrees counter-clockwise about its centre, keeping its size
// (corners come in black), with bilinear sampling.
func Rotate(m image.Image, deg float64) *image.RGBA {
	src := ToRGBA(m)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	out := image.NewRGBA(src.Rect)
	th := deg * math.Pi / 180
	c, s := math.Cos(th), math.Sin(th)
	cx, cy := float64(w-1)/2, float64(h-1)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Inverse map: image y grows downwards, so counter-clockwise on screen is this.
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := c*dx - s*dy + cx
			sy := s*dx + c*dy + cy
			out.SetRGBA(x, y, sampleBilinear(src, sx, sy))
		}
	}
	return out
}

// RotatePoint maps a point of the original image to where Rotate(m, deg) puts it.
func RotatePoint(x, y float64, w, h int, deg float64) (float64, float64) {
	th := deg * math.Pi / 180
	c, s := math.Cos(th), math.Sin(th)
	cx, cy := float64(w-1)/2, float64(h-1)/2
	dx, dy := x-cx, y-cy
	return c*dx + s*dy + cx, -s*dx + c*dy + cy
}

func sampleBilinear(m *image.RGBA, fx, fy float64) color.RGBA {
	x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
	ax, ay := fx-float64(x0), fy-float64(y0)
	var acc [3]float64
	for _, p := range [4]struct {
		x, y int
		w    float64
	}{{x0, y0, (1 - ax) * (1 - ay)}, {x0 + 1, y0, ax * (1 - ay)}, {x0, y0 + 1, (1 - ax) * ay}, {x0 + 1, y0 + 1, ax * ay}} {
		if !(image.Point{p.x, p.y}.In(m.Rect)) {
			continue
		}
		o := m.PixOffset(p.x, p.y)
		for c := 0; c < 3; c++ {
			acc[c] += p.w * float64(m.Pix[o+c])
		}
	}
	return color.RGBA{uint8(math.Round(acc[0])), uint8(math.Round(acc[1])), uint8(math.Round(acc[2])), 255}
}

// Rotate90CCW turns m a quarter counter-clockwise. Stored this way with EXIF orientation
// 6 ("rotate 90 clockwise to display"), the file displays as m.
func Rotate90CCW(m image.Image) *image.RGBA {
	src := ToRGBA(m)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.SetRGBA(y, w-1-x, src.RGBAAt(x, y))
		}
	}
	return out
}

// JPEG encodes m at quality q.
func JPEG(m image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // encoding to memory only fails on a programming error
	}
	return buf.Bytes()
}

// WithEXIFOrientation inserts an EXIF APP1 segment holding Orientation o into a JPEG.
func WithEXIFOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("II*\x00\x08\x00\x00\x00") // little endian, IFD0 at offset 8
	tiff = binary.LittleEndian.AppendUint16(tiff, 1)
	tiff = binary.LittleEndian.AppendUint16(tiff, 0x0112)
	tiff = binary.LittleEndian.AppendUint16(tiff, 3) // SHORT
	tiff = binary.LittleEndian.AppendUint32(tiff, 1)
	tiff = binary.LittleEndian.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0)
	tiff = binary.LittleEndian.AppendUint32(tiff, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// Canvas makes a w x h scene from a photo stretched to fill it: a real-looking background.
func Canvas(background image.Image, w, h int) *image.RGBA {
	return Resize(background, w, h)
}

// Paste draws face scaled to size x size pixels with its top-left corner at (x, y).
func Paste(dst *image.RGBA, face image.Image, x, y, size int) {
	f := Resize(face, size, size)
	draw.Draw(dst, image.Rect(x, y, x+size, y+size), f, image.Point{}, draw.Src)
}

// Solid is a w x h image of one colour, a scene with nothing in it.
func Solid(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(m, m.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return m
}
