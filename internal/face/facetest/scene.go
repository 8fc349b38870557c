package facetest

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// Backdrop is what a scene shows behind the people in it.
type Backdrop int

const (
	// Wall is a smooth two-colour gradient, as a lit wall or a studio background.
	Wall Backdrop = iota
	// Streamers is the wall hung with many thin wavy ribbons and bunting in bright colours:
	// busy, high-contrast texture at every scale.
	Streamers
	// DarkPanels is the wall with large near-black areas (doorways, furniture, dark
	// clothes of people out of frame) that reach up to the faces' sides.
	DarkPanels
	// Foil is a crumpled metallic curtain: folds and specular glints at every scale.
	Foil
)

func (b Backdrop) String() string {
	switch b {
	case Wall:
		return "wall"
	case Streamers:
		return "streamers"
	case DarkPanels:
		return "dark panels"
	case Foil:
		return "foil"
	}
	return fmt.Sprintf("Backdrop(%d)", int(b))
}

// Figure is a face crop shown as a person seen from the chest up: the crop pasted at
// (X, Y) as a Size x Size square inside an oval, with hair behind it, a neck and a torso
// in a shirt (and jacket) below it, down to the scene's bottom edge.
type Figure struct {
	Face       image.Image
	X, Y, Size int
}

// Scene draws a w x h scene of figures in front of backdrop, deterministic in seed: the
// upper-body photos of issue 16, where the detector took smooth shirts, necks and busy
// backgrounds under and beside the faces for larger faces. Only the face crops are faces;
// everything else is drawn so as to look like clothes, skin and walls at a distance.
func Scene(w, h int, backdrop Backdrop, figures []Figure, seed uint64) *image.RGBA {
	rnd := rand.New(rand.NewPCG(seed, 16))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	top, bottom := mutedColour(rnd), mutedColour(rnd)
	fillFunc(m, m.Rect, func(x, y int) color.RGBA {
		return mix(top, bottom, float64(y)/float64(h)+0.08*math.Sin(float64(x)/float64(w)*5))
	})
	switch backdrop {
	case Streamers:
		drawStreamers(m, rnd, max(w, h)/60)
	case DarkPanels:
		for _, f := range figures {
			// Dark areas that reach to both sides of the face, at head height.
			dark := color.RGBA{uint8(10 + rnd.IntN(25)), uint8(10 + rnd.IntN(20)), uint8(10 + rnd.IntN(25)), 255}
			side := f.Size * (6 + rnd.IntN(6)) / 10
			y0 := f.Y - f.Size/2 - rnd.IntN(f.Size/2+1)
			fillFunc(m, image.Rect(f.X-side-f.Size/3, y0, f.X+f.Size/8, h), func(int, int) color.RGBA { return dark })
			fillFunc(m, image.Rect(f.X+f.Size*7/8, y0, f.X+f.Size+side, y0+2*f.Size), func(int, int) color.RGBA { return dark })
		}
	case Foil:
		n := newNoise(rnd, float64(max(w, h))/40)
		base := brightColour(rnd)
		fillFunc(m, m.Rect, func(x, y int) color.RGBA { return crumpled(base, n, x, y) })
	}
	for _, f := range figures {
		drawFigure(m, f, rnd)
	}
	return m
}

// crumpled shades c as cloth or foil folded by n: dark creases, bright glints.
func crumpled(c color.RGBA, n *noise, x, y int) color.RGBA {
	v := n.at(float64(x), float64(y))
	glint := math.Pow(math.Abs(math.Sin(9*v)), 8)
	return shade(c, 0.35+0.75*v+0.9*glint)
}

// noise is value noise of a few octaves, smooth at the given scale, in 0..1.
type noise struct {
	scale float64
	grid  [64][64]float64
}

func newNoise(rnd *rand.Rand, scale float64) *noise {
	n := &noise{scale: scale}
	for i := range n.grid {
		for j := range n.grid[i] {
			n.grid[i][j] = rnd.Float64()
		}
	}
	return n
}

func (n *noise) at(x, y float64) float64 {
	v, amp, sum := 0.0, 1.0, 0.0
	for o := 0; o < 3; o++ {
		v += amp * n.octave(x/n.scale*float64(int(1)<<o)+float64(17*o), y/n.scale*float64(int(1)<<o)+float64(31*o))
		sum += amp
		amp /= 2
	}
	return v / sum
}

func (n *noise) octave(x, y float64) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	g := func(i, j float64) float64 { return n.grid[int(i)&63][int(j)&63] }
	a := g(x0, y0)*(1-fx) + g(x0+1, y0)*fx
	b := g(x0, y0+1)*(1-fx) + g(x0+1, y0+1)*fx
	return a*(1-fy) + b*fy
}

// drawFigure draws hair, neck, torso and then the face, in that order (each over the last).
func drawFigure(m *image.RGBA, f Figure, rnd *rand.Rand) {
	s := float64(f.Size)
	cx, cy := float64(f.X)+s/2, float64(f.Y)+s/2
	face := Resize(f.Face, f.Size, f.Size)
	skin := meanColour(face, image.Rect(f.Size*3/8, f.Size*5/8, f.Size*5/8, f.Size*3/4))
	hair := color.RGBA{uint8(20 + rnd.IntN(90)), uint8(15 + rnd.IntN(60)), uint8(10 + rnd.IntN(40)), 255}
	fillEllipse(m, cx, cy-0.12*s, 0.58*s, 0.6*s, func(int, int) color.RGBA { return hair })
	// Neck: a skin-coloured column, darker at its sides and in the chin's shadow.
	neckW, neckTop, neckBottom := 0.42*s, cy+0.25*s, cy+0.85*s
	fillFunc(m, image.Rect(int(cx-neckW/2), int(neckTop), int(cx+neckW/2), int(neckBottom)), func(x, y int) color.RGBA {
		u := (float64(x) - cx) / (neckW / 2)
		v := (float64(y) - neckTop) / (neckBottom - neckTop)
		return shade(skin, 0.65+0.35*(1-u*u)*math.Min(1, 0.4+v))
	})
	// Torso: shoulders as the top of a wide rounded rectangle; the shirt lit from one side.
	shirt, jacket := brightColour(rnd), mutedColour(rnd)
	jacket = shade(jacket, 0.5)
	withJacket, pattern := rnd.IntN(2) == 0, rnd.IntN(3)
	folds := newNoise(rnd, s/3)
	light := rnd.Float64()*2 - 1
	halfW := (1.1 + 0.35*rnd.Float64()) * s
	shoulder := cy + 0.75*s
	h := m.Rect.Dy()
	fillFunc(m, image.Rect(int(cx-halfW), int(shoulder), int(cx+halfW), h), func(x, y int) color.RGBA {
		dx, dy := (float64(x)-cx)/halfW, (float64(y)-shoulder)/(0.45*s)
		if dy < 1 && dx*dx+(1-dy)*(1-dy)*0.35 > 1 { // rounded shoulders
			return m.RGBAAt(x, y)
		}
		lit := 0.75 + 0.25*dx*light - 0.1*math.Min(1, dy/6)
		// The collar opens on skin in a V below the neck.
		vDepth := (float64(y) - shoulder) / (0.55 * s)
		if math.Abs(float64(x)-cx) < neckW/2*(1-vDepth) {
			return shade(skin, 0.9)
		}
		if withJacket && math.Abs(float64(x)-cx) > neckW/2*(1.1+1.6*math.Min(1, vDepth)) {
			return shade(crumpled(jacket, folds, x, y), lit)
		}
		c := shirt
		switch pattern {
		case 1: // checks
			if ((x/int(0.18*s+1))+(y/int(0.18*s+1)))%2 == 0 {
				c = shade(shirt, 0.6)
			}
		case 2: // creased
			c = crumpled(shirt, folds, x, y)
		}
		return shade(c, lit)
	})
	// The face crop, faded into what is behind it at the oval's edge.
	pasteOval(m, face, f.X, f.Y)
}

// drawStreamers hangs thin wavy ribbons across the scene and strings of bunting.
func drawStreamers(m *image.RGBA, rnd *rand.Rand, width int) {
	w, h := float64(m.Rect.Dx()), float64(m.Rect.Dy())
	for i := 0; i < 60; i++ {
		c := brightColour(rnd)
		x0, amp, period := rnd.Float64()*w, (0.02+0.06*rnd.Float64())*w, (0.1+0.3*rnd.Float64())*h
		tilt := (rnd.Float64() - 0.5) * 0.6
		ww := float64(width) * (0.4 + rnd.Float64())
		for y := 0.0; y < h; y++ {
			x := x0 + tilt*y + amp*math.Sin(y/period*2*math.Pi)
			fillFunc(m, image.Rect(int(x-ww/2), int(y), int(x+ww/2)+1, int(y)+1), func(int, int) color.RGBA { return c })
		}
	}
	for i := 0; i < 4; i++ {
		y0, sag := (0.05+0.3*rnd.Float64())*h, (0.05+0.1*rnd.Float64())*h
		tri := float64(width) * 4
		for x := 0.0; x+tri < w; x += tri * 1.2 {
			c := brightColour(rnd)
			y := y0 + sag*math.Sin(x/w*math.Pi)
			fillFunc(m, image.Rect(int(x), int(y), int(x+tri), int(y+1.5*tri)), func(px, py int) color.RGBA {
				if math.Abs(float64(px)-x-tri/2) > tri/2*(1-(float64(py)-y)/(1.5*tri)) {
					return m.RGBAAt(px, py)
				}
				return c
			})
		}
	}
}

// pasteOval draws src at (x, y) inside an ellipse inscribed in its square, blended over a
// band of a tenth of its size at the edge.
func pasteOval(dst *image.RGBA, src *image.RGBA, x, y int) {
	n := src.Rect.Dx()
	r := float64(n) / 2
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			if !(image.Point{x + i, y + j}.In(dst.Rect)) {
				continue
			}
			dx, dy := (float64(i)+0.5-r)/(0.92*r), (float64(j)+0.5-r)/r
			a := math.Min(1, math.Max(0, (1-math.Sqrt(dx*dx+dy*dy))*10))
			if a == 0 {
				continue
			}
			dst.SetRGBA(x+i, y+j, mix(dst.RGBAAt(x+i, y+j), src.RGBAAt(i, j), a))
		}
	}
}

func fillFunc(m *image.RGBA, r image.Rectangle, f func(x, y int) color.RGBA) {
	r = r.Intersect(m.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			m.SetRGBA(x, y, f(x, y))
		}
	}
}

func fillEllipse(m *image.RGBA, cx, cy, rx, ry float64, f func(x, y int) color.RGBA) {
	r := image.Rect(int(cx-rx), int(cy-ry), int(cx+rx)+1, int(cy+ry)+1)
	fillFunc(m, r, func(x, y int) color.RGBA {
		dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
		if dx*dx+dy*dy > 1 {
			return m.RGBAAt(x, y)
		}
		return f(x, y)
	})
}

func meanColour(m *image.RGBA, r image.Rectangle) color.RGBA {
	var s [3]int
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := m.RGBAAt(x, y)
			s[0], s[1], s[2] = s[0]+int(c.R), s[1]+int(c.G), s[2]+int(c.B)
			n++
		}
	}
	n = max(n, 1)
	return color.RGBA{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n), 255}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	t = math.Min(1, math.Max(0, t))
	l := func(p, q uint8) uint8 { return uint8(math.Round(float64(p)*(1-t) + float64(q)*t)) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

func shade(c color.RGBA, f float64) color.RGBA {
	s := func(v uint8) uint8 { return uint8(math.Min(255, math.Max(0, float64(v)*f))) }
	return color.RGBA{s(c.R), s(c.G), s(c.B), 255}
}

func mutedColour(rnd *rand.Rand) color.RGBA {
	return color.RGBA{uint8(70 + rnd.IntN(130)), uint8(70 + rnd.IntN(130)), uint8(70 + rnd.IntN(130)), 255}
}

func brightColour(rnd *rand.Rand) color.RGBA {
	c := [3]uint8{uint8(rnd.IntN(80)), uint8(rnd.IntN(256)), uint8(180 + rnd.IntN(76))}
	rnd.Shuffle(3, func(i, j int) { c[i], c[j] = c[j], c[i] })
	return color.RGBA{c[0], c[1], c[2], 255}
}
