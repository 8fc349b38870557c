package dlib

import (
	"fmt"
	"math"
	"sync"
)

// ChipDetails is dlib's chip_details: the region of the source image a chip is cut from (a
// drectangle, Right and Bottom inclusive, so its width is Right-Left+1), rotated by Angle
// radians about its centre, and the chip's size in pixels.
type ChipDetails struct {
	Left, Top, Right, Bottom float64
	Angle                    float64
	Rows, Cols               int
}

// faceChipMean is dlib's mean 5-point face (get_face_chip_details), in the unit square, in the
// predictor's part order.
var faceChipMean = [NumParts]Point{
	{0.8595674595992, 0.2134981538014},
	{0.6460604764104, 0.2289674387677},
	{0.1205750620789, 0.2137274526848},
	{0.3340850613712, 0.2290642403242},
	{0.4901123135679, 0.6277975316475},
}

// FaceChipDetails is dlib's get_face_chip_details(det, size, padding) for a 5-point detection:
// the similarity transform that maps the mean face, padded by padding of its width on every
// side, onto the landmarks, expressed as a rotated rectangle and a size x size chip. dlib's face
// recognition ResNet wants size 150 and padding 0.25.
func FaceChipDetails(parts [NumParts]Point, size int, padding float64) ChipDetails {
	var from, to [NumParts]Point
	for i, p := range faceChipMean {
		from[i] = Point{(padding + p.X) / (2*padding + 1) * float64(size), (padding + p.Y) / (2*padding + 1) * float64(size)}
		to[i] = parts[i]
	}
	t := similarityTransform(&from, &to)
	// The scale and rotation are what the transform does to (1,0); the translation is the
	// rectangle's centre.
	px, py := t.m00, t.m10
	scale := math.Sqrt(px*px + py*py)
	cx, cy := t.apply(float64(size)/2, float64(size)/2)
	// dlib's centered_drect: width-1 and height-1 either side of the centre.
	w := float64(size)*scale - 1
	h := float64(size)*scale - 1
	return ChipDetails{
		Left: cx - w/2, Top: cy - h/2, Right: cx + w/2, Bottom: cy + h/2,
		Angle: math.Atan2(py, px),
		Rows:  size, Cols: size,
	}
}

// similarityTransform is find_similarity_transform between point lists in closed form (see
// similarity).
func similarityTransform(from, to *[NumParts]Point) affine {
	const n = NumParts
	var mfx, mfy, mtx, mty float64
	for i := 0; i < n; i++ {
		mfx += from[i].X
		mfy += from[i].Y
		mtx += to[i].X
		mty += to[i].Y
	}
	mfx, mfy, mtx, mty = mfx/n, mfy/n, mtx/n, mty/n
	var sigma, c00, c01, c10, c11 float64
	for i := 0; i < n; i++ {
		fx, fy := from[i].X-mfx, from[i].Y-mfy
		tx, ty := to[i].X-mtx, to[i].Y-mty
		sigma += fx*fx + fy*fy
		c00 += tx * fx
		c01 += tx * fy
		c10 += ty * fx
		c11 += ty * fy
	}
	a, b := 1.0, 0.0
	if sigma != 0 {
		a, b = (c00+c11)/sigma, (c10-c01)/sigma
	}
	return affine{
		m00: a, m01: -b, m10: b, m11: a,
		bx: mtx - (float64(a*mfx) + float64(-b*mfy)),
		by: mty - (float64(b*mfx) + float64(a*mfy)),
	}
}

// drect is dlib's drectangle.
type drect struct{ l, t, r, b float64 }

func (d drect) empty() bool { return d.t > d.b || d.l > d.r }

func (d drect) area() float64 {
	if d.empty() {
		return 0
	}
	return (d.r - d.l + 1) * (d.b - d.t + 1)
}

func (d drect) center() (float64, float64) { return (d.l + d.r) / 2, (d.t + d.b) / 2 }

// down is pyramid_down<2>::rect_down: each corner p becomes p/2 - (1.25, 0.75).
func (d drect) down() drect {
	return drect{d.l/2 - 1.25, d.t/2 - 0.75, d.r/2 - 1.25, d.b/2 - 0.75}
}

// irect is dlib's rectangle (long coordinates, inclusive).
type irect struct{ l, t, r, b int }

func (r irect) empty() bool { return r.t > r.b || r.l > r.r }

// round is drectangle's conversion to rectangle.
func (d drect) round() irect {
	return irect{int(math.Floor(d.l + 0.5)), int(math.Floor(d.t + 0.5)), int(math.Floor(d.r + 0.5)), int(math.Floor(d.b + 0.5))}
}

// rotator is dlib's point_rotator / rotate_point.
type rotator struct{ sin, cos float64 }

func newRotator(angle float64) rotator { return rotator{math.Sin(angle), math.Cos(angle)} }

func (q rotator) about(cx, cy, x, y float64) (float64, float64) {
	x, y = x-cx, y-cy
	return float64(q.cos*x) - float64(q.sin*y) + cx, float64(q.sin*x) + float64(q.cos*y) + cy
}

// view is a window on an interleaved RGB buffer.
type view struct {
	pix    []uint8
	stride int // bytes per row
	w, h   int
}

func (v view) at(x, y int) []uint8 { o := y*v.stride + 3*x; return v.pix[o : o+3 : o+3] }

// ExtractChip is dlib's extract_image_chip(img, d, chip) with bilinear interpolation: it
// writes the d.Rows x d.Cols chip, interleaved RGB, into dst (which must hold 3*Rows*Cols
// bytes). Like dlib, when the region is much larger than the chip it first builds
// pyramid_down<2> levels of the region's neighbourhood and samples the level whose scale is
// nearest above the chip's; samples whose 2x2 neighbourhood leaves the image are black.
func ExtractChip(img *Image, d ChipDetails, dst []uint8) {
	if err := img.check(); err != nil {
		panic(err)
	}
	if d.Rows <= 0 || d.Cols <= 0 || len(dst) < 3*d.Rows*d.Cols {
		panic(fmt.Sprintf("dlib: ExtractChip: %d bytes for a %dx%d chip", len(dst), d.Cols, d.Rows))
	}
	dst = dst[:3*d.Rows*d.Cols]
	src := view{img.Pix, 3 * img.W, img.W, img.H}
	loc := drect{d.Left, d.Top, d.Right, d.Bottom}
	if d.Angle == 0 && float64(d.Rows) == loc.b-loc.t+1 && float64(d.Cols) == loc.r-loc.l+1 {
		// dlib's fast path: a plain copy, black outside the image.
		copyChip(src, loc.round(), d, dst)
		return
	}

	pl := planChip(img.W, img.H, d)
	var in view
	if !pl.bb.empty() {
		in = view{img.Pix[pl.bb.t*src.stride+3*pl.bb.l:], src.stride, pl.bb.r - pl.bb.l + 1, pl.bb.b - pl.bb.t + 1}
	}
	var sc *chipScratch
	if pl.level >= 0 {
		sc = scratchPool.Get().(*chipScratch)
		defer scratchPool.Put(sc)
		for i := 0; i <= pl.level; i++ {
			in = pyramidDown(in, &sc.tmp, &sc.level[i%2])
		}
	}
	transformBilinear(in, pl.tform, d.Rows, d.Cols, dst)
}

// chipPlan is how extract_image_chip cuts a rotated or scaled chip: the crop of the image
// it works in (bb), the pyramid_down<2> level of that crop it samples (-1: the crop itself,
// k: k+1 halvings) and the transform from chip pixels to that level's pixels.
type chipPlan struct {
	bb    irect
	level int
	tform affine
}

func planChip(w, h int, d ChipDetails) chipPlan {
	loc := drect{d.Left, d.Top, d.Right, d.Bottom}
	size := float64(d.Rows * d.Cols)
	depth := 0
	grow := 2.0
	for r := loc.down(); r.area() > size; r = r.down() {
		depth++
		// Each level halves the image; dlib keeps a border of 2 pixels for the filter.
		grow = grow*2 + 2
	}
	rot := newRotator(d.Angle)
	cx, cy := loc.center()
	rr := drect{0, 0, -1, -1}
	for _, c := range [4][2]float64{{loc.l, loc.t}, {loc.r, loc.t}, {loc.l, loc.b}, {loc.r, loc.b}} {
		x, y := rot.about(cx, cy, c[0], c[1])
		if rr.empty() {
			rr = drect{x, y, x, y}
		} else {
			rr = drect{math.Min(rr.l, x), math.Min(rr.t, y), math.Max(rr.r, x), math.Max(rr.b, y)}
		}
	}
	g := drect{
		math.Max(rr.l-grow, 0), math.Max(rr.t-grow, 0),
		math.Min(rr.r+grow, float64(w-1)), math.Min(rr.b+grow, float64(h-1)),
	}
	pl := chipPlan{bb: irect{0, 0, -1, -1}, level: -1}
	if gi := g.round(); !gi.empty() {
		pl.bb = gi
	}

	rect := drect{loc.l - float64(pl.bb.l), loc.t - float64(pl.bb.t), loc.r - float64(pl.bb.l), loc.b - float64(pl.bb.t)}
	for rect.down().area() > size {
		pl.level++
		rect = rect.down()
	}
	// dlib built depth levels; the translated rectangle cannot need more.
	pl.level = min(pl.level, depth-1)

	cx, cy = rect.center()
	ax, ay := rot.about(cx, cy, rect.l, rect.t)
	bx, by := rot.about(cx, cy, rect.r, rect.t)
	qx, qy := rot.about(cx, cy, rect.l, rect.b)
	q := [2][3]float64{{ax, bx, qx}, {ay, by, qy}}
	pi := chipCornersPinv(d.Rows, d.Cols)
	pl.tform = affineFromPinv(&q, &pi)
	return pl
}

// chipScratch holds the pyramid's buffers between calls.
type chipScratch struct {
	tmp   []uint16
	level [2][]uint8
}

var scratchPool = sync.Pool{New: func() any { return new(chipScratch) }}

// chip150Pinv is pinv of the 150x150 chip's corners (0,0), (149,0), (0,149) over a row of
// ones as dlib 19.24 computes it (LAPACK's SVD). With it the chip's sample positions match
// dlib's to the last bit; the exact inverse differs in the last bits, which moves some
// samples that fall on whole pixel values across the truncation to 8 bits.
var chip150Pinv = [3][3]float64{
	{-0x1.b7d6c3dda3389p-8, -0x1.b7d6c3dda338bp-8, 0x1.ffffffffffffdp-1},
	{0x1.b7d6c3dda338bp-8, 0x1.6cap-63, 0},
	{-0x1.f0f8p-61, 0x1.b7d6c3dda338dp-8, 0x1.62ap-56},
}

// chipCornersPinv is the inverse of [[0, cols-1, 0], [0, 0, rows-1], [1, 1, 1]].
func chipCornersPinv(rows, cols int) [3][3]float64 {
	if rows == 150 && cols == 150 {
		return chip150Pinv
	}
	w, h := float64(max(cols-1, 1)), float64(max(rows-1, 1))
	return [3][3]float64{
		{-1 / w, -1 / h, 1},
		{1 / w, 0, 0},
		{0, 1 / h, 0},
	}
}

// transformBilinear is dlib's transform_image with interpolate_bilinear and a black
// background: chip pixel (c, r) samples in at t(c, r).
func transformBilinear(in view, t affine, rows, cols int, dst []uint8) {
	o := 0
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			x, y := t.apply(float64(c), float64(r))
			fl, ft := math.Floor(x), math.Floor(y)
			// The comparison happens in float64 so positions far outside cannot overflow int.
			if fl >= 0 && ft >= 0 && fl+1 < float64(in.w) && ft+1 < float64(in.h) {
				left, top := int(fl), int(ft)
				lr, tb := x-fl, y-ft
				p := in.pix[top*in.stride+3*left:]
				p2 := in.pix[(top+1)*in.stride+3*left:]
				for k := 0; k < 3; k++ {
					tl, tr := float64(p[k]), float64(p[3+k])
					bl, br := float64(p2[k]), float64(p2[3+k])
					// dlib's expression, rounded step by step and truncated to 8 bits.
					top := float64((1 - tb) * float64(float64((1-lr)*tl)+float64(lr*tr)))
					bot := float64(tb * float64(float64((1-lr)*bl)+float64(lr*br)))
					dst[o+k] = uint8(top + bot)
				}
			} else {
				dst[o], dst[o+1], dst[o+2] = 0, 0, 0
			}
			o += 3
		}
	}
}

// copyChip is dlib's basic_extract_image_chip: the pixels of loc, black outside the image.
func copyChip(src view, loc irect, d ChipDetails, dst []uint8) {
	clear(dst)
	for r := 0; r < d.Rows; r++ {
		y := loc.t + r
		if y < 0 || y >= src.h {
			continue
		}
		for c := 0; c < d.Cols; c++ {
			x := loc.l + c
			if x < 0 || x >= src.w {
				continue
			}
			copy(dst[3*(r*d.Cols+c):3*(r*d.Cols+c)+3], src.at(x, y))
		}
	}
}

// pyramidDown is dlib's pyramid_down<2> for RGB images: a separable [1 4 6 4 1] filter in
// 16-bit integers, keeping every other row and column, and dividing by 256 (truncating). The
// output is (h-3)/2 x (w-3)/2; inputs of 8 pixels or fewer either way give an empty image.
func pyramidDown(in view, tmpBuf *[]uint16, outBuf *[]uint8) view {
	if in.h <= 8 || in.w <= 8 {
		return view{}
	}
	tw := (in.w - 3) / 2
	ow, oh := tw, (in.h-3)/2
	tmp := grow(tmpBuf, in.h*tw*3)
	for r := 0; r < in.h; r++ {
		row := in.pix[r*in.stride:]
		t := tmp[r*tw*3:]
		for c := 0; c < tw; c++ {
			p := row[6*c : 6*c+15]
			for k := 0; k < 3; k++ {
				t[3*c+k] = uint16(p[k]) + 4*uint16(p[3+k]) + 6*uint16(p[6+k]) + 4*uint16(p[9+k]) + uint16(p[12+k])
			}
		}
	}
	out := view{grow(outBuf, oh*ow*3), 3 * ow, ow, oh}
	n := tw * 3
	dr := 0
	for r := 2; r < in.h-2; r += 2 {
		a, b, c, d, e := tmp[(r-2)*n:], tmp[(r-1)*n:], tmp[r*n:], tmp[(r+1)*n:], tmp[(r+2)*n:]
		o := out.pix[dr*out.stride:]
		for i := 0; i < n; i++ {
			// dlib sums in int and stores into uint16 before dividing; the sum fits.
			s := uint16(uint32(a[i]) + 4*uint32(b[i]) + 6*uint32(c[i]) + 4*uint32(d[i]) + uint32(e[i]))
			o[i] = uint8(s / 256)
		}
		dr++
	}
	return out
}

// grow returns (*buf)[:n], reallocating when it is too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	*buf = (*buf)[:n]
	return *buf
}
