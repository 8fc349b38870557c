package dlib

import (
	"fmt"
	"io"
	"math"
	"os"
)

// NumParts is the number of landmarks of dlib's 5-point face model. In dlib's order (see the
// model's mean shape and get_face_chip_details), for an upright face: part 0 is the outer and
// part 1 the inner corner of the eye on the image's right (the subject's left eye), part 2 the
// outer and part 3 the inner corner of the eye on the image's left, and part 4 the bottom of
// the nose, between the nostrils.
const NumParts = 5

// ShapePredictor is dlib's shape_predictor (image_processing/shape_predictor.h): a cascade of
// regression-tree forests (Kazemi and Sullivan, 2014) over pixel-difference features. Only
// 5-landmark models are accepted. It is safe for concurrent use.
type ShapePredictor struct {
	initial   [2 * NumParts]float32
	cascades  []cascade
	maxPixels int
}

// cascade is one level: its feature pixels, encoded as an anchor landmark and an offset in
// the normalised shape space, and its trees, all of the same depth.
type cascade struct {
	anchor  []int32
	dx, dy  []float32
	nsplits int       // splits per tree; leaves per tree is nsplits+1
	splits  []split   // ntrees*nsplits, breadth first (children of i are 2i+1, 2i+2)
	leaves  []float32 // ntrees*(nsplits+1)*2*NumParts
}

// split sends a tree walk left when feature idx1 minus feature idx2 exceeds the threshold.
// Features are whole intensities, so for the difference d, d > thresh exactly when
// d > floor(thresh): the threshold is kept as that integer, clamped to [-256, 255] (the
// differences lie in [-255, 255]), which lets the walk run without branches.
type split struct {
	idx1, idx2 uint16
	thresh     int16
}

func newSplit(i1, i2 int64, thresh float32) split {
	t := math.Floor(float64(thresh))
	switch {
	case math.IsNaN(t) || t > 255:
		t = 255 // never left, as dlib's comparison with NaN
	case t < -256:
		t = -256
	}
	return split{uint16(i1), uint16(i2), int16(t)}
}

// LoadShapePredictor reads a shape predictor file such as shape_predictor_5_face_landmarks.dat.
func LoadShapePredictor(path string) (*ShapePredictor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sp, err := ReadShapePredictor(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sp, nil
}

// Sizes above these are not dlib shape predictors, so a wrong file fails fast instead of
// allocating.
const (
	maxCascades = 1000
	maxTrees    = 100000
	maxSplits   = 1 << 16
	maxPixels   = 1 << 16
)

// ReadShapePredictor decodes dlib's serialisation of a shape_predictor (version 1: the initial
// shape, the forests, then the feature pixels' anchors and offsets). It refuses other dlib
// files, damaged or truncated ones, and models with other than 5 landmarks.
func ReadShapePredictor(r io.Reader) (*ShapePredictor, error) {
	sp, err := readShapePredictor(NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("not a dlib 5-point shape predictor: %w", err)
	}
	return sp, nil
}

func readShapePredictor(d *Reader) (*ShapePredictor, error) {
	if err := d.Version("shape_predictor", 1); err != nil {
		return nil, err
	}
	sp := &ShapePredictor{}
	init, err := readColumn(d, maxSplits)
	if err != nil {
		return nil, err
	}
	if len(init) != 2*NumParts {
		return nil, fmt.Errorf("dlib: the initial shape has %d values; the 5-point model has %d", len(init), 2*NumParts)
	}
	copy(sp.initial[:], init)

	n, err := d.Uint(maxCascades)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("dlib: the model has no cascades")
	}
	sp.cascades = make([]cascade, n)
	for i := range sp.cascades {
		if err := readForest(d, &sp.cascades[i]); err != nil {
			return nil, fmt.Errorf("cascade %d: %w", i, err)
		}
	}

	if m, err := d.Uint(maxCascades); err != nil {
		return nil, err
	} else if m != n {
		return nil, fmt.Errorf("dlib: %d anchor lists for %d cascades", m, n)
	}
	for i := range sp.cascades {
		c := &sp.cascades[i]
		m, err := d.Uint(maxPixels)
		if err != nil {
			return nil, err
		}
		c.anchor = make([]int32, m)
		for j := range c.anchor {
			a, err := d.Uint(NumParts - 1)
			if err != nil {
				return nil, err
			}
			c.anchor[j] = int32(a)
		}
	}

	if m, err := d.Uint(maxCascades); err != nil {
		return nil, err
	} else if m != n {
		return nil, fmt.Errorf("dlib: %d offset lists for %d cascades", m, n)
	}
	for i := range sp.cascades {
		c := &sp.cascades[i]
		m, err := d.Uint(maxPixels)
		if err != nil {
			return nil, err
		}
		if int(m) != len(c.anchor) {
			return nil, fmt.Errorf("dlib: cascade %d has %d offsets for %d anchors", i, m, len(c.anchor))
		}
		c.dx = make([]float32, m)
		c.dy = make([]float32, m)
		for j := range c.dx {
			if c.dx[j], err = d.Float32(); err != nil {
				return nil, err
			}
			if c.dy[j], err = d.Float32(); err != nil {
				return nil, err
			}
		}
		for _, s := range c.splits {
			if int(s.idx1) >= len(c.anchor) || int(s.idx2) >= len(c.anchor) {
				return nil, fmt.Errorf("dlib: cascade %d: a split reads feature pixel %d of %d", i, max(s.idx1, s.idx2), len(c.anchor))
			}
		}
		sp.maxPixels = max(sp.maxPixels, len(c.anchor))
	}
	return sp, nil
}

// readColumn reads a matrix<float,0,1>.
func readColumn(d *Reader, limit int64) ([]float32, error) {
	nr, err := d.Int()
	if err != nil {
		return nil, err
	}
	nc, err := d.Int()
	if err != nil {
		return nil, err
	}
	// dlib writes the dimensions negated (its newer format) but reads either sign.
	nr, nc = abs64(nr), abs64(nc)
	if nc != 1 || nr > limit {
		return nil, fmt.Errorf("dlib: at byte %d: a %dx%d matrix where a column vector was expected", d.Offset(), nr, nc)
	}
	v := make([]float32, nr)
	for i := range v {
		if v[i], err = d.Float32(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// readForest reads a std::vector<regression_tree>: each tree is its splits (idx1, idx2,
// thresh) then its leaf vectors.
func readForest(d *Reader, c *cascade) error {
	ntrees, err := d.Uint(maxTrees)
	if err != nil {
		return err
	}
	c.nsplits = -1
	for t := int64(0); t < ntrees; t++ {
		ns, err := d.Uint(maxSplits)
		if err != nil {
			return err
		}
		if c.nsplits < 0 {
			c.nsplits = int(ns)
		} else if int(ns) != c.nsplits {
			return fmt.Errorf("dlib: tree %d has %d splits, tree 0 has %d", t, ns, c.nsplits)
		}
		for i := int64(0); i < ns; i++ {
			i1, err := d.Uint(maxPixels - 1)
			if err != nil {
				return err
			}
			i2, err := d.Uint(maxPixels - 1)
			if err != nil {
				return err
			}
			th, err := d.Float32()
			if err != nil {
				return err
			}
			c.splits = append(c.splits, newSplit(i1, i2, th))
		}
		nl, err := d.Uint(maxSplits + 1)
		if err != nil {
			return err
		}
		// dlib's tree walk needs a full tree: a power of two leaves, one more than splits.
		if nl != ns+1 || nl&(nl-1) != 0 {
			return fmt.Errorf("dlib: tree %d has %d leaves for %d splits", t, nl, ns)
		}
		for i := int64(0); i < nl; i++ {
			v, err := readColumn(d, 2*NumParts)
			if err != nil {
				return err
			}
			if len(v) != 2*NumParts {
				return fmt.Errorf("dlib: tree %d: a leaf of %d values for %d landmarks", t, len(v), NumParts)
			}
			c.leaves = append(c.leaves, v...)
		}
	}
	if c.nsplits < 0 {
		c.nsplits = 0
	}
	return nil
}

// Cascades and Trees describe the model's size (for logs and tests).
func (sp *ShapePredictor) Cascades() int { return len(sp.cascades) }

// Trees is the total number of regression trees.
func (sp *ShapePredictor) Trees() int {
	n := 0
	for i := range sp.cascades {
		n += len(sp.cascades[i].leaves) / ((sp.cascades[i].nsplits + 1) * 2 * NumParts)
	}
	return n
}

// Predict returns the 5 landmarks of the face in box exactly as dlib's
// shape_predictor::operator() returns them: dlib points are integers (long), each coordinate
// rounded as floor(v+0.5), so every X and Y here is a whole number. Feature pixels are read as
// dlib's get_pixel_intensity of an rgb_pixel: (R+G+B)/3 truncated; pixels outside the image
// read 0. It does not allocate when the model has at most 1024 feature pixels per cascade
// (dlib's have 500).
func (sp *ShapePredictor) Predict(img *Image, box Rect) [NumParts]Point {
	p := sp.PredictUnrounded(img, box)
	for i := range p {
		p[i] = Point{math.Floor(p[i].X + 0.5), math.Floor(p[i].Y + 0.5)}
	}
	return p
}

// PredictUnrounded is Predict without the final rounding to whole pixels: the cascade's shape
// mapped into the image as dlib maps it, before dlib stores it in integer points.
func (sp *ShapePredictor) PredictUnrounded(img *Image, box Rect) [NumParts]Point {
	var p [NumParts]Point
	s := sp.shape(img, box)
	for i := range p {
		x, y := unnormalize(box, s[2*i], s[2*i+1])
		p[i] = Point{x, y}
	}
	return p
}

// shape runs the cascade and returns the shape in the box's normalised space, where the box's
// top-left corner is (0,0) and its bottom-right corner (1,1).
func (sp *ShapePredictor) shape(img *Image, box Rect) [2 * NumParts]float32 {
	if err := img.check(); err != nil {
		panic(err)
	}
	cur := sp.initial
	var stack [1024]int32
	feats := stack[:]
	if sp.maxPixels > len(stack) {
		feats = make([]int32, sp.maxPixels)
	}
	var leafStack [1024]int32
	u := unnormalizer(box)
	for ci := range sp.cascades {
		c := &sp.cascades[ci]
		// The transform from the mean shape to the current one, in single precision as dlib
		// casts it (matrix_cast<float>).
		a, b := similarity(&sp.initial, &cur)
		m00, m01, m10, m11 := float32(a), float32(-b), float32(b), float32(a)
		f := feats[:len(c.anchor)]
		for i := range f {
			an := c.anchor[i]
			dx, dy := c.dx[i], c.dy[i]
			// float32() on each product stops the compiler fusing a multiply-add: dlib
			// rounds each step to float.
			px := float32(float32(m00*dx)+float32(m01*dy)) + cur[2*an]
			py := float32(float32(m10*dx)+float32(m11*dy)) + cur[2*an+1]
			x, y := u.apply(float64(px), float64(py))
			ix, iy := int(math.Floor(x+0.5)), int(math.Floor(y+0.5))
			if ix >= 0 && iy >= 0 && ix < img.W && iy < img.H {
				o := 3 * (iy*img.W + ix)
				f[i] = int32((uint(img.Pix[o]) + uint(img.Pix[o+1]) + uint(img.Pix[o+2])) / 3)
			} else {
				f[i] = 0
			}
		}
		ns := c.nsplits
		nl := ns + 1
		stride := nl * 2 * NumParts
		ntrees := len(c.leaves) / stride
		leafs := leafStack[:0]
		// Walk every tree first and add the leaves after: the walks do not depend on each
		// other, so the processor overlaps them, and the leaf loads then have known addresses.
		for t := 0; t < ntrees; t++ {
			sp := c.splits[t*ns : t*ns+ns]
			j := 0
			for j < ns {
				s := &sp[j]
				// Left (2j+1) when the difference exceeds the threshold, else right (2j+2),
				// without a branch: which child is taken is unpredictable.
				j = 2*j + 2 + int((int32(s.thresh)-(f[s.idx1]-f[s.idx2]))>>31)
			}
			leafs = append(leafs, int32(t*stride+(j-ns)*2*NumParts))
		}
		// dlib adds the leaves in tree order; float addition is not associative, so keep it.
		for _, o := range leafs {
			leaf := (*[2 * NumParts]float32)(c.leaves[o : o+2*NumParts])
			for k := range cur {
				cur[k] += leaf[k]
			}
		}
	}
	return cur
}

// similarity is dlib's find_similarity_transform (Umeyama) from one shape to another, in
// double precision. In 2-D the least-squares rotation and scale has a closed form: the
// matrix [[a,-b],[b,a]]. dlib gets the same matrix through an SVD; the two differ only in the
// last bits, which the cast to float hides.
func similarity(from, to *[2 * NumParts]float32) (a, b float64) {
	const n = NumParts
	var mfx, mfy, mtx, mty float64
	for i := 0; i < n; i++ {
		mfx += float64(from[2*i])
		mfy += float64(from[2*i+1])
		mtx += float64(to[2*i])
		mty += float64(to[2*i+1])
	}
	mfx, mfy, mtx, mty = mfx/n, mfy/n, mtx/n, mty/n
	var sigma, c00, c01, c10, c11 float64
	for i := 0; i < n; i++ {
		fx, fy := float64(from[2*i])-mfx, float64(from[2*i+1])-mfy
		tx, ty := float64(to[2*i])-mtx, float64(to[2*i+1])-mty
		sigma += fx*fx + fy*fy
		c00 += tx * fx
		c01 += tx * fy
		c10 += ty * fx
		c11 += ty * fy
	}
	if sigma == 0 {
		return 1, 0
	}
	return (c00 + c11) / sigma, (c10 - c01) / sigma
}

// affine is dlib's point_transform_affine: (x,y) -> m*(x,y) + b.
type affine struct{ m00, m01, m10, m11, bx, by float64 }

// apply evaluates m*p+b in dlib's order: row sums from the left, then the offset.
func (t *affine) apply(x, y float64) (float64, float64) {
	return float64(float64(t.m00*x)+float64(t.m01*y)) + t.bx,
		float64(float64(t.m10*x)+float64(t.m11*y)) + t.by
}

// unitSquarePinv is pinv of the matrix of the unit square's corners (0,0), (1,0), (1,1) over a
// row of ones, as dlib 19.24 computes it (through LAPACK's SVD). dlib's unnormalizing_tform
// multiplies the box's corners by it, and its few last-bit errors decide how points that
// land exactly half way between pixels round; the exact inverse would round some of those
// the other way.
var unitSquarePinv = [3][3]float64{
	{-0x1.0000000000001p+0, -0x1.8p-51, 0x1.0000000000002p+0},
	{0x1.ffffffffffffep-1, -0x1.ffffffffffffcp-1, 0x1p-53},
	{0x1p-54, 0x1.ffffffffffffep-1, 0x1p-54},
}

// unnormalizer is dlib's unnormalizing_tform(box): find_affine_transform from (0,0), (1,0),
// (1,1) to the box's top-left, top-right and bottom-right corners, i.e. Q*pinv(P).
func unnormalizer(box Rect) affine {
	l, t, r, b := float64(box.Left), float64(box.Top), float64(box.Right), float64(box.Bottom)
	q := [2][3]float64{{l, r, r}, {t, t, b}}
	return affineFromPinv(&q, &unitSquarePinv)
}

// affineFromPinv multiplies the 2x3 target points by a 3x3 pseudo-inverse, summing in dlib's
// order, and splits the product into matrix and offset.
func affineFromPinv(q *[2][3]float64, pi *[3][3]float64) affine {
	var m [2][3]float64
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			s := float64(q[i][0] * pi[0][j])
			s += float64(q[i][1] * pi[1][j])
			s += float64(q[i][2] * pi[2][j])
			m[i][j] = s
		}
	}
	return affine{m[0][0], m[0][1], m[1][0], m[1][1], m[0][2], m[1][2]}
}

func unnormalize(box Rect, x, y float32) (float64, float64) {
	u := unnormalizer(box)
	return u.apply(float64(x), float64(y))
}
