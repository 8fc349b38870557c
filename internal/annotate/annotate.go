package annotate

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Box is a rectangle in ratios of the image's width and height, as Rekognition's
// BoundingBox: it may reach past the image's edges, where a face is cut off.
type Box struct {
	Left, Top, Width, Height float64
}

// Mark is a box to draw and the text to write by it (none when Label is empty).
type Mark struct {
	Box   Box
	Label string
	Color color.RGBA
}

var (
	// Searched is the colour of the face that a search used.
	Searched = color.RGBA{R: 0x00, G: 0xc8, B: 0x53, A: 0xff}
	// Other is the colour of every other face.
	Other = color.RGBA{R: 0xff, G: 0x91, B: 0x00, A: 0xff}
)

// The one font: X11's 7x13 fixed, pure Go and always there. It is scaled up by whole
// pixels on large images, so that a label stays readable on a 12-megapixel photo.
var face = basicfont.Face7x13

// Draw returns a copy of img with every mark drawn, later marks over earlier ones; img is
// not changed. Boxes and labels are clipped to the image, and labels are moved (and, on a
// narrow image, shortened) so that they are whole inside it.
func Draw(img image.Image, marks []Mark) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	st := styleFor(out.Bounds().Size())
	for _, m := range marks {
		box, ok := PixelRect(m.Box, out.Bounds().Size())
		if !ok {
			continue
		}
		drawFrame(out, box, st.line, m.Color)
		if l, ok := st.label(box, m.Label, out.Bounds().Size()); ok {
			drawLabel(out, l, m.Color)
		}
	}
	return out
}

// PixelRect is the box in pixels of an image of the given size, clipped to it; false when
// nothing of it is inside the image (or a ratio is not a number).
func PixelRect(b Box, size image.Point) (image.Rectangle, bool) {
	for _, v := range []float64{b.Left, b.Top, b.Width, b.Height} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return image.Rectangle{}, false
		}
	}
	w, h := float64(size.X), float64(size.Y)
	// Clamped before the conversion to int, which is undefined for huge values.
	px := func(v, n float64) int { return int(math.Round(math.Max(-1, math.Min(2, v)) * n)) }
	r := image.Rect(px(b.Left, w), px(b.Top, h), px(b.Left+b.Width, w), px(b.Top+b.Height, h))
	r = r.Intersect(image.Rect(0, 0, size.X, size.Y))
	return r, !r.Empty()
}

// style is what grows with the image: the frame's line width and the font's scale.
type style struct {
	line, scale int
}

func styleFor(size image.Point) style {
	short := min(size.X, size.Y)
	line := int(math.Round(float64(short) / 250))
	if line < 2 {
		// 2 pixels from a small photo up (a 150-pixel crop): 1 is lost in a busy background.
		line = 1
		if short >= 40 {
			line = 2
		}
	}
	return style{line: line, scale: max(1, short/360)}
}

// label is a placed label: its rectangle in the image, its text and the font's scale.
type label struct {
	rect  image.Rectangle
	text  string
	scale int
}

// label places text by box: just above it, or inside its top where there is no room
// above, moved left to stay inside the image. Much wider than its box, it is drawn smaller
// (down to half the style's scale), so that a crowd of small faces is not buried under its
// labels; too wide for the image, smaller still, then shortened; false when not even a few
// letters fit.
func (s style) label(box image.Rectangle, text string, size image.Point) (label, bool) {
	text = printable(text)
	if text == "" {
		return label{}, false
	}
	scale := s.scale
	width := func(n, scale int) int { return n*face.Advance*scale + 2*scale }
	for scale > max(1, s.scale/2) && width(len(text), scale) > box.Dx()*3/2 {
		scale--
	}
	for scale > 1 && width(len(text), scale) > size.X {
		scale--
	}
	if width(len(text), scale) > size.X {
		n := (size.X - 2*scale) / (face.Advance * scale)
		if n < 3 {
			return label{}, false
		}
		text = text[:n-2] + ".."
	}
	w, h := width(len(text), scale), face.Height*scale+2*scale
	if h > size.Y {
		return label{}, false
	}
	x := min(box.Min.X, size.X-w)
	y := box.Min.Y - h
	if y < 0 {
		y = min(box.Min.Y, size.Y-h)
	}
	return label{rect: image.Rect(x, y, x+w, y+h), text: text, scale: scale}, true
}

// printable keeps what the font has (ASCII); UserIds and reasons are ASCII anyway.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// drawFrame strokes the box's edges inwards, so that its outer edge is the box's.
func drawFrame(dst *image.RGBA, r image.Rectangle, line int, c color.RGBA) {
	src := image.NewUniform(c)
	for _, edge := range []image.Rectangle{
		image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+line),
		image.Rect(r.Min.X, r.Max.Y-line, r.Max.X, r.Max.Y),
		image.Rect(r.Min.X, r.Min.Y, r.Min.X+line, r.Max.Y),
		image.Rect(r.Max.X-line, r.Min.Y, r.Max.X, r.Max.Y),
	} {
		draw.Draw(dst, edge.Intersect(r), src, image.Point{}, draw.Src)
	}
}

// drawLabel fills the label's rectangle with the box's colour and writes its text in black
// or white, whichever reads better on it.
func drawLabel(dst *image.RGBA, l label, bg color.RGBA) {
	draw.Draw(dst, l.rect, image.NewUniform(bg), image.Point{}, draw.Src)
	fg := color.RGBA{A: 0xff}
	if 0.2126*float64(bg.R)+0.7152*float64(bg.G)+0.0722*float64(bg.B) < 128 {
		fg = color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	}
	// The text at the font's size, then copied up by whole pixels.
	mask := image.NewAlpha(image.Rect(0, 0, len(l.text)*face.Advance, face.Height))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(l.text)
	origin := l.rect.Min.Add(image.Pt(l.scale, l.scale))
	mb := mask.Bounds()
	for y := 0; y < mb.Dy()*l.scale; y++ {
		for x := 0; x < mb.Dx()*l.scale; x++ {
			if mask.AlphaAt(x/l.scale, y/l.scale).A >= 0x80 {
				dst.SetRGBA(origin.X+x, origin.Y+y, fg)
			}
		}
	}
}
