package face

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
)

// BlazeFace (MediaPipe's face detector) as converted to ONNX by PINTO0309 and keijiro:
// input [1,S,S,3] RGB in [-1,1]; outputs the scores [1,512,1] and [1,384,1] and the
// regressors [1,512,16] and [1,384,16] of the two anchor grids (16x16x2 and 8x8x6). The
// 128 "front" model is MediaPipe's short-range detector, the 256 "back" model its
// back-camera one; both decode the same way, relative to the input size.

// blazeKeypoint indexes detection.kps. Right and left are the subject's: on an unmirrored
// photo of a frontal face the right eye is on the image's left.
const (
	blazeRightEye = iota
	blazeLeftEye
	blazeNoseTip
	blazeMouth
	blazeRightEar // tragion
	blazeLeftEar
)

// anchor is an SSD anchor centre in input-normalised coordinates; BlazeFace uses a fixed
// anchor size of 1, so the regressors carry the box size themselves.
type anchor struct{ x, y float32 }

// ssdAnchors follows MediaPipe's SsdAnchorsCalculator for the face detectors: one aspect
// ratio (1) plus the interpolated-scale anchor per layer, consecutive layers with the same
// stride sharing one grid, anchor offset 0.5, fixed anchor size.
func ssdAnchors(inputSize int, strides []int) []anchor {
	var out []anchor
	for l := 0; l < len(strides); {
		perCell := 0
		last := l
		for last < len(strides) && strides[last] == strides[l] {
			perCell += 2
			last++
		}
		n := int(math.Ceil(float64(inputSize) / float64(strides[l])))
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				a := anchor{float32((float64(x) + 0.5) / float64(n)), float32((float64(y) + 0.5) / float64(n))}
				for k := 0; k < perCell; k++ {
					out = append(out, a)
				}
			}
		}
		l = last
	}
	return out
}

// blazeStrides are MediaPipe's options per input size: short range (128) and back/full
// range (256). Both give the same 896 normalised anchors.
func blazeStrides(inputSize int) ([]int, error) {
	switch inputSize {
	case 128:
		return []int{8, 16, 16, 16}, nil
	case 256:
		return []int{16, 32, 32, 32}, nil
	}
	return nil, fmt.Errorf("BlazeFace input size %d: want 128 or 256", inputSize)
}

// blazeRaw is one anchor's decoded output in input-normalised coordinates.
type blazeRaw struct {
	cx, cy, w, h float32
	kps          [6][2]float32
	score        float32
}

func sigmoid(x float32) float32 {
	// MediaPipe clips the logit to ±100 before the sigmoid.
	x = max(-100, min(100, x))
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// decodeBlaze decodes the anchors whose score passes thr, as MediaPipe's
// TensorsToDetectionsCalculator does with x/y/w/h scales equal to the input size.
func decodeBlaze(scores, regs []float32, anchors []anchor, inputSize int, thr float32, out []blazeRaw) []blazeRaw {
	inv := 1 / float32(inputSize)
	for i, a := range anchors {
		s := sigmoid(scores[i])
		if s < thr {
			continue
		}
		r := regs[16*i : 16*i+16]
		d := blazeRaw{cx: a.x + r[0]*inv, cy: a.y + r[1]*inv, w: r[2] * inv, h: r[3] * inv, score: s}
		if d.w <= 0 || d.h <= 0 {
			continue
		}
		for k := 0; k < 6; k++ {
			d.kps[k] = [2]float32{a.x + r[4+2*k]*inv, a.y + r[5+2*k]*inv}
		}
		out = append(out, d)
	}
	return out
}

// Partial faces. Near the score threshold BlazeFace also frames part of a face beside the
// face itself (a box half off a 150 px crop, over one eye and an ear) and the gap between
// two neighbouring faces; both overlap the real faces too little for IoU to catch them.
const (
	// blazeWeakScore: a box scoring under it that shares more than blazeWeakShare of its
	// area with a better face is dropped. Measured: the partial boxes score 0.45-0.6,
	// real faces touching a neighbour 0.7 and more.
	blazeWeakScore = 0.7
	blazeWeakShare = 0.3
	// blazeStraddleShare: a box sharing more than this of its area with each of two better
	// faces sits between them, whatever its score.
	blazeStraddleShare = 0.2
	// blazeBlendScore: boxes under it are absorbed into a better face's group but leave its
	// box and keypoints alone. Blending the 0.55-0.6 anchors too moved the boxes of some
	// JPEG-damaged crops enough to cost the embedding (genuine cosine 0.93 -> 0.88).
	blazeBlendScore = 0.6
)

// weightedNMS is MediaPipe's WEIGHTED non-maximum suppression: the best remaining box
// takes every box overlapping it by more than thr (IoU), and its box and keypoints become
// the score-weighted mean of the group (of its members scoring blazeBlendScore or more);
// its score stays the group's best. A box mostly
// inside a better one is absorbed too: tiles at another scale can frame a face part. A
// weak box partly over a better face and a box straddling two are dropped (blazeWeakScore).
// ds is reordered.
func weightedNMS(ds []detection, thr float32) []detection {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].score > ds[j].score })
	used := make([]bool, len(ds))
	var keep []detection
	for i, d := range ds {
		if used[i] {
			continue
		}
		var sw float32
		var acc detection
		for j := i; j < len(ds); j++ {
			if used[j] {
				continue
			}
			o := ds[j]
			if j != i && iou(d, o) <= thr && containment(d, o) <= 0.7 {
				continue
			}
			used[j] = true
			if j != i && o.score < blazeBlendScore {
				continue // absorbed, not blended
			}
			w := o.score
			sw += w
			acc.x1 += w * o.x1
			acc.y1 += w * o.y1
			acc.x2 += w * o.x2
			acc.y2 += w * o.y2
			for k := range acc.kps {
				acc.kps[k].X += float64(w) * o.kps[k].X
				acc.kps[k].Y += float64(w) * o.kps[k].Y
			}
		}
		acc.x1, acc.y1, acc.x2, acc.y2 = acc.x1/sw, acc.y1/sw, acc.x2/sw, acc.y2/sw
		for k := range acc.kps {
			acc.kps[k].X /= float64(sw)
			acc.kps[k].Y /= float64(sw)
		}
		acc.score = d.score
		// Blending moves a box: one grouped around a neighbouring seed can end up on a
		// kept face (or a face part inside it), so it is checked against those again.
		dup, weak, straddles := false, acc.score < blazeWeakScore, 0
		for _, k := range keep {
			c := containment(acc, k)
			if iou(acc, k) > thr || c > 0.7 || (weak && c > blazeWeakShare) {
				dup = true
				break
			}
			if c > blazeStraddleShare {
				straddles++
			}
		}
		if !dup && straddles < 2 {
			keep = append(keep, acc)
		}
	}
	return keep
}

// blazeFaceDetector runs one BlazeFace model over the whole image and, for images large
// enough to hide small faces, over overlapping square tiles. It is not safe for concurrent
// use (it owns one session).
type blazeFaceDetector struct {
	n        *net
	size     int
	anchors  []anchor
	thr, nms float32
	scores   [2][]float32 // the two grids' outputs, in anchor order
	regs     [2][]float32
	planar   []float32 // fillTensor's planar output before interleaving
	scratch  []int32
	raw      []blazeRaw
	dets     []detection
	minFace  float64 // smallest face side (image pixels) the tiles are for; 0: no tiles
}

// blazeRGB normalises 0..255 RGB to [-1,1].
var blazeRGB = ModelSpec{ColorOrder: "RGB", Mean: []float32{127.5, 127.5, 127.5}, Scale: 1 / 127.5}

func newBlazeFaceDetector(modelPath string, inputSize int, threads int, scoreThreshold, nmsIoU float32) (*blazeFaceDetector, error) {
	strides, err := blazeStrides(inputSize)
	if err != nil {
		return nil, err
	}
	// newNet checks [1,c,h,w]; passing (h, w, 3) as (c, h, w) checks NHWC [1,h,w,3].
	n, err := newNet(modelPath, inputSize, inputSize, 3, threads, 4)
	if err != nil {
		return nil, err
	}
	d := &blazeFaceDetector{n: n, size: inputSize, anchors: ssdAnchors(inputSize, strides), thr: scoreThreshold, nms: nmsIoU,
		minFace: blazeMinFace}
	// Outputs are scores [1,N,1] and regressors [1,N,16] for N = 512 and 384, in whatever
	// order the file lists them.
	var grid [2]int // how many anchors each output set has been given
	for _, o := range n.outs {
		sh := o.GetShape()
		if len(sh) != 3 || sh[0] != 1 {
			n.destroy()
			return nil, fmt.Errorf("%s: output shape %v, want [1,N,1] or [1,N,16]", filepath.Base(modelPath), sh)
		}
		g := -1
		switch sh[1] {
		case 512:
			g = 0
		case 384:
			g = 1
		}
		switch {
		case g >= 0 && sh[2] == 1 && d.scores[g] == nil:
			d.scores[g] = o.GetData()
			grid[g]++
		case g >= 0 && sh[2] == 16 && d.regs[g] == nil:
			d.regs[g] = o.GetData()
			grid[g]++
		default:
			n.destroy()
			return nil, fmt.Errorf("%s: unexpected output shape %v", filepath.Base(modelPath), sh)
		}
	}
	if grid != [2]int{2, 2} || len(d.anchors) != 896 {
		n.destroy()
		return nil, fmt.Errorf("%s: outputs are not BlazeFace's 512+384 anchors", filepath.Base(modelPath))
	}
	return d, nil
}

func (d *blazeFaceDetector) destroy() {
	if d.n != nil {
		d.n.destroy()
		d.n = nil
	}
}

// blazeMinFace is the smallest face side in image pixels that the tiles are there for in
// an image up to 1920 px; larger images scale it up, as Rekognition's minimum face size
// (40 px at 1920x1080) does, which bounds the tile count.
const blazeMinFace = 32

// blazeReach is the smallest face box, in input pixels, each model finds reliably (measured
// with the 55 johns faces pasted at shrinking sizes on a blurred photo): the 256 model
// scores 36 of them 0.6 or more at 18 px, 49 at 20 and all from 24; the 128 model has a
// short range. Tiles are placed so that a minFace face is at least this large in one: at
// 12 px a blurred or JPEG-damaged 37 px face in a 500 px photo (19 px in the whole-image
// pass) was often missed, and 40 px faces in 1080p (15 px in their tile) were.
func blazeReach(inputSize int) float64 {
	if inputSize >= 256 {
		return 18
	}
	return 20
}

// regions is the whole image plus, when the whole-image pass shrinks a minFace face below
// the model's reach, levels of overlapping square tiles, each finer than the one before,
// down to the scale where minFace is within reach. A level's tiles overlap by more than the
// smallest face the coarser level finds, so any face is whole in some tile of some level.
func (d *blazeFaceDetector) regions(w, h int) []region {
	rs := []region{{0, 0, float64(w), float64(h), 0}}
	if d.minFace <= 0 {
		return rs
	}
	prev := math.Max(float64(w), float64(h)) / float64(d.size)
	for _, s := range d.levels(w, h) {
		side := float64(d.size) * s
		overlap := blazeOverlap * blazeReach(d.size) * prev
		for _, y := range tileStarts(float64(h), side, overlap) {
			for _, x := range tileStarts(float64(w), side, overlap) {
				rs = append(rs, region{x, y, math.Min(side, float64(w)), math.Min(side, float64(h)), 0})
			}
		}
		prev = s
	}
	return rs
}

// blazeOverlap: a level's tiles overlap by this times the smallest face (reach) the
// coarser level finds, a margin over the measured reach.
const blazeOverlap = 1.2

// levels returns the scales (image pixels per input pixel) of the tile levels, coarsest
// first, ending at the one where minFace is within reach; none if the whole-image pass
// reaches it. Each level's scale is at least 2*reach/size of the coarser one, so the
// overlap stays within half a tile. Within that rule the levels are chosen for the fewest
// passes: on a 1920x1080 image an intermediate level of 2x2 tiles lets the finest level
// overlap less and drop a row (1+4+15 passes rather than 1+24 with the finest level
// alone), with the same margin over the model's reach for every face size.
func (d *blazeFaceDetector) levels(w, h int) []float64 {
	W, H := float64(w), float64(h)
	long := math.Max(W, H)
	size, reach := float64(d.size), blazeReach(d.size)
	minFace := d.minFace * math.Max(1, long/1920)
	s0, finest := long/size, minFace/reach
	if s0 <= finest {
		return nil
	}
	ratio := size / 2 / reach
	// Candidate scales: finest, then 1% steps up to (not including) the whole image's,
	// which is the last entry. best[i] is the fewest passes of the levels finer than c[i],
	// next[i] the level after c[i] on that path.
	c := []float64{finest}
	for s := finest * 1.01; s < s0; s *= 1.01 {
		c = append(c, s)
	}
	c = append(c, s0)
	n := len(c)
	best, next := make([]int, n), make([]int, n)
	for i := 1; i < n; i++ {
		best[i] = math.MaxInt
		overlap := blazeOverlap * reach * c[i]
		for j := 0; j < i; j++ {
			side := size * c[j]
			if c[j] < c[i]/ratio || side <= overlap {
				continue
			}
			cost := tileCount(W, side, overlap) * tileCount(H, side, overlap)
			if j > 0 {
				cost += best[j]
			}
			if cost < best[i] {
				best[i], next[i] = cost, j
			}
		}
	}
	var out []float64
	for i := n - 1; i > 0; {
		i = next[i]
		out = append(out, c[i])
	}
	return out
}

// tileCount is len(tileStarts(size, tile, overlap)).
func tileCount(size, tile, overlap float64) int {
	if size <= tile {
		return 1
	}
	return int(math.Ceil((size - overlap) / (tile - overlap)))
}

// detect finds faces in img: boxes and keypoints in image pixels after weighted NMS over
// all regions, appended to out.
func (d *blazeFaceDetector) detect(img *rgbImage, st *stageStats, out []detection) ([]detection, error) {
	d.dets = d.dets[:0]
	rs := d.regions(img.W, img.H)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		sx, sy, ox, oy := d.fill(img, r)
		if err := d.n.run(&st.detectInfer); err != nil {
			return out, fmt.Errorf("detector: %w", err)
		}
		st.detectRuns++
		d.raw = d.raw[:0]
		d.raw = decodeBlaze(d.scores[0], d.regs[0], d.anchors[:512], d.size, d.thr, d.raw)
		d.raw = decodeBlaze(d.scores[1], d.regs[1], d.anchors[512:], d.size, d.thr, d.raw)
		d.dets = blazeToImage(d.raw, r, img.W, img.H, float64(d.size), sx, sy, ox, oy, d.dets)
		if i == len(rs)-1 && len(d.dets) == 0 && r.w <= float64(img.W) {
			rs = append(rs, paddedRegion(img.W, img.H, 0.5))
		}
	}
	return append(out, weightedNMS(d.dets, d.nms)...), nil
}

// fill letterboxes region r into the input as MediaPipe does: the aspect ratio is kept, the
// content centred and the rest black. It returns how many image pixels one input pixel
// covers and where the content starts in the input (input pixels).
func (d *blazeFaceDetector) fill(img *rgbImage, r region) (sx, sy, ox, oy float64) {
	s := float64(d.size)
	k := math.Max(r.w, r.h) / s
	nw := max(1, min(d.size, int(math.Round(r.w/k))))
	nh := max(1, min(d.size, int(math.Round(r.h/k))))
	x0, y0 := (d.size-nw)/2, (d.size-nh)/2
	if cap(d.planar) < 3*nw*nh {
		d.planar = make([]float32, 3*d.size*d.size)
	}
	p := d.planar[:3*nw*nh]
	fillTensor(p, img, r.x, r.y, r.w, r.h, nw, nh, &blazeRGB, &d.scratch)
	dst := d.n.in.GetData()
	for i := range dst {
		dst[i] = -1
	}
	plane := nw * nh
	for y := 0; y < nh; y++ {
		row := dst[3*((y0+y)*d.size+x0):]
		src := y * nw
		for x := 0; x < nw; x++ {
			row[3*x] = p[src+x]
			row[3*x+1] = p[plane+src+x]
			row[3*x+2] = p[2*plane+src+x]
		}
	}
	return r.w / float64(nw), r.h / float64(nh), float64(x0), float64(y0)
}

// blazeToImage maps decoded boxes from the letterboxed input of region r to image pixels.
// In a tile, a box reaching an inner edge is dropped: the face is cut there and whole in a
// neighbour tile or in the whole-image pass.
func blazeToImage(raw []blazeRaw, r region, imgW, imgH int, size, sx, sy, ox, oy float64, out []detection) []detection {
	tile := r.w < float64(imgW) || r.h < float64(imgH)
	const edge = 2
	X := func(u float32) float32 { return float32(r.x + (float64(u)*size-ox)*sx) }
	Y := func(v float32) float32 { return float32(r.y + (float64(v)*size-oy)*sy) }
	for _, b := range raw {
		det := detection{
			x1: X(b.cx - b.w/2), y1: Y(b.cy - b.h/2), x2: X(b.cx + b.w/2), y2: Y(b.cy + b.h/2),
			score: b.score,
		}
		if tile && ((r.x > 0 && float64(det.x1) < r.x+edge) || (r.y > 0 && float64(det.y1) < r.y+edge) ||
			(r.x+r.w < float64(imgW) && float64(det.x2) > r.x+r.w-edge) ||
			(r.y+r.h < float64(imgH) && float64(det.y2) > r.y+r.h-edge)) {
			continue
		}
		for k, p := range b.kps {
			det.kps[k] = point{float64(X(p[0])), float64(Y(p[1]))}
		}
		out = append(out, det)
	}
	return out
}
