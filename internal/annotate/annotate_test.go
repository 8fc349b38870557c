package annotate

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"testing"
)

var grey = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}

func canvas(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(grey), image.Point{}, draw.Src)
	return img
}

func TestPixelRect(t *testing.T) {
	size := image.Pt(200, 100)
	for _, tc := range []struct {
		name string
		box  Box
		want image.Rectangle
		ok   bool
	}{
		{"inside", Box{Left: 0.25, Top: 0.2, Width: 0.5, Height: 0.6}, image.Rect(50, 20, 150, 80), true},
		{"whole image", Box{Width: 1, Height: 1}, image.Rect(0, 0, 200, 100), true},
		{"rounded", Box{Left: 0.1234, Top: 0.0049, Width: 0.1, Height: 0.1}, image.Rect(25, 0, 45, 10), true},
		{"cut off at the left and top", Box{Left: -0.1, Top: -0.2, Width: 0.3, Height: 0.4}, image.Rect(0, 0, 40, 20), true},
		{"cut off at the right and bottom", Box{Left: 0.9, Top: 0.9, Width: 0.3, Height: 0.3}, image.Rect(180, 90, 200, 100), true},
		{"outside", Box{Left: 1.1, Top: 0.2, Width: 0.1, Height: 0.1}, image.Rectangle{}, false},
		{"empty", Box{Left: 0.5, Top: 0.5}, image.Rectangle{}, false},
		{"not a number", Box{Left: math.NaN(), Width: 0.5, Height: 0.5}, image.Rectangle{}, false},
		{"huge", Box{Left: -1e300, Top: 0, Width: 1e301, Height: 1}, image.Rect(0, 0, 200, 100), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PixelRect(tc.box, size)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("PixelRect(%+v) = %v, %v; want %v, %v", tc.box, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestStyle(t *testing.T) {
	for _, tc := range []struct {
		w, h        int
		line, scale int
	}{
		{8, 8, 1, 1},
		{150, 150, 2, 1},
		{500, 332, 2, 1},
		{1986, 1545, 6, 4},
		{4000, 3000, 12, 8},
	} {
		if got := styleFor(image.Pt(tc.w, tc.h)); got != (style{line: tc.line, scale: tc.scale}) {
			t.Errorf("%dx%d: %+v, want line %d scale %d", tc.w, tc.h, got, tc.line, tc.scale)
		}
	}
}

// TestDrawBoxEdges draws one box without a label and reads the pixels at its edges: the
// frame's outer edge is the box's, it is the style's width thick, and nothing else changed.
func TestDrawBoxEdges(t *testing.T) {
	box := Box{Left: 0.25, Top: 0.2, Width: 0.5, Height: 0.6}
	for _, tc := range []struct {
		name string
		w, h int
	}{
		{"tiny", 12, 10},
		{"crop", 150, 150},
		{"photo", 500, 332},
		{"huge", 4000, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := canvas(tc.w, tc.h)
			out := Draw(src, []Mark{{Box: box, Color: Searched}})
			if out.Bounds() != src.Bounds() {
				t.Fatalf("the result is %v, the image %v", out.Bounds(), src.Bounds())
			}
			r, _ := PixelRect(box, src.Bounds().Size())
			line := styleFor(src.Bounds().Size()).line
			midX, midY := (r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2
			for _, p := range []struct {
				what string
				x, y int
				want color.RGBA
			}{
				{"left edge", r.Min.X, midY, Searched},
				{"left edge, inner", r.Min.X + line - 1, midY, Searched},
				{"inside the left edge", r.Min.X + line, midY, grey},
				{"left of the box", r.Min.X - 1, midY, grey},
				{"right edge", r.Max.X - 1, midY, Searched},
				{"right of the box", r.Max.X, midY, grey},
				{"top edge", midX, r.Min.Y, Searched},
				{"above the box", midX, r.Min.Y - 1, grey},
				{"bottom edge", midX, r.Max.Y - 1, Searched},
				{"below the box", midX, r.Max.Y, grey},
				{"top left corner", r.Min.X, r.Min.Y, Searched},
				{"bottom right corner", r.Max.X - 1, r.Max.Y - 1, Searched},
			} {
				if p.what == "inside the left edge" && 2*line >= r.Dx() {
					continue // a tiny box is all frame
				}
				if got := out.RGBAAt(p.x, p.y); got != p.want {
					t.Errorf("%s (%d,%d): %v, want %v", p.what, p.x, p.y, got, p.want)
				}
			}
			if src.RGBAAt(r.Min.X, midY) != grey {
				t.Error("Draw changed the image it was given")
			}
		})
	}
}

// TestDrawSubImage draws on an image whose bounds do not start at 0,0 (a SubImage): the
// ratios are of its own width and height.
func TestDrawSubImage(t *testing.T) {
	sub := canvas(300, 200).SubImage(image.Rect(100, 100, 300, 200))
	out := Draw(sub, []Mark{{Box: Box{Left: 0.25, Top: 0.2, Width: 0.5, Height: 0.6}, Color: Other}})
	if out.Bounds() != image.Rect(0, 0, 200, 100) || out.RGBAAt(50, 50) != Other || out.RGBAAt(49, 50) != grey {
		t.Fatalf("bounds %v, left edge %v, left of it %v", out.Bounds(), out.RGBAAt(50, 50), out.RGBAAt(49, 50))
	}
}

// TestLabels places labels where the box leaves room and checks that every one is whole
// inside the image, drawn in the box's colour with text on it.
func TestLabels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w, h  int
		box   Box
		text  string
		where string // above, inside: where the label's top is, relative to the box's
		short bool   // the text is shortened to fit
		none  bool   // no room for any label
	}{
		{name: "above", w: 500, h: 332, box: Box{Left: 0.3, Top: 0.4, Width: 0.2, Height: 0.3}, text: "alice 99.1%", where: "above"},
		{name: "at the top edge: inside", w: 500, h: 332, box: Box{Left: 0.3, Top: 0, Width: 0.2, Height: 0.3}, text: "alice 99.1%", where: "inside"},
		{name: "at the right edge: moved left", w: 500, h: 332, box: Box{Left: 0.9, Top: 0.5, Width: 0.1, Height: 0.1}, text: "FACE_NOT_LARGEST", where: "above"},
		{name: "crop, whole-image box", w: 150, h: 150, box: Box{Width: 1, Height: 1}, text: "John_Schneider 99.9%", where: "inside"},
		{name: "narrow: shortened", w: 60, h: 60, box: Box{Left: 0.1, Top: 0.5, Width: 0.5, Height: 0.5}, text: "John_Schneider 99.9%", where: "above", short: true},
		{name: "huge", w: 4000, h: 3000, box: Box{Left: 0.7, Top: 0.02, Width: 0.29, Height: 0.4}, text: "John_Schneider 99.9%", where: "inside"},
		{name: "huge, long text: smaller font", w: 4000, h: 3000, box: Box{Left: 0.1, Top: 0.5, Width: 0.2, Height: 0.2}, text: strings.Repeat("LOW_FACE_QUALITY ", 5), where: "above"},
		{name: "tiny: none", w: 12, h: 10, box: Box{Width: 1, Height: 1}, text: "alice", none: true},
		{name: "no text: none", w: 500, h: 332, box: Box{Width: 0.5, Height: 0.5}, none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := image.Pt(tc.w, tc.h)
			box, _ := PixelRect(tc.box, size)
			l, ok := styleFor(size).label(box, tc.text, size)
			if ok == tc.none {
				t.Fatalf("label placed: %v, want %v", ok, !tc.none)
			}
			if tc.none {
				return
			}
			if !l.rect.In(image.Rect(0, 0, tc.w, tc.h)) {
				t.Fatalf("label %v is not inside the %dx%d image", l.rect, tc.w, tc.h)
			}
			switch tc.where {
			case "above":
				if l.rect.Max.Y != box.Min.Y {
					t.Errorf("label %v is not just above the box %v", l.rect, box)
				}
			case "inside":
				if l.rect.Min.Y < box.Min.Y || l.rect.Max.Y > box.Max.Y {
					t.Errorf("label %v is not inside the box %v", l.rect, box)
				}
			}
			if got := strings.HasSuffix(l.text, "..") && len(l.text) < len(tc.text); got != tc.short {
				t.Errorf("label text %q from %q: shortened %v, want %v", l.text, tc.text, got, tc.short)
			}

			out := Draw(canvas(tc.w, tc.h), []Mark{{Box: tc.box, Label: tc.text, Color: Searched}})
			if got := out.RGBAAt(l.rect.Min.X, l.rect.Min.Y); got != Searched {
				t.Errorf("the label's corner is %v, want the box's colour", got)
			}
			black := 0
			for y := l.rect.Min.Y; y < l.rect.Max.Y; y++ {
				for x := l.rect.Min.X; x < l.rect.Max.X; x++ {
					if out.RGBAAt(x, y) == (color.RGBA{A: 0xff}) {
						black++
					}
				}
			}
			if black == 0 {
				t.Error("the label has no text")
			}
		})
	}
}
