package face

import (
	"fmt"
	"math"
	"path/filepath"
)

// faceDetector finds face boxes. Each worker owns one, so implementations need not be safe
// for concurrent use.
type faceDetector interface {
	// detect appends the faces in img, in image pixels and after non-maximum suppression, to out.
	detect(img *rgbImage, st *stageStats, out []detection) ([]detection, error)
	destroy()
}

// ultraFaceDetector runs an UltraFace network over the whole image and, for large images,
// over tiles (detectionRegions).
type ultraFaceDetector struct {
	net       *net
	spec      *ModelSpec
	scratch   []int32
	confirmed []detection
}

func newUltraFaceDetector(dir string, spec *ModelSpec, threads int) (*ultraFaceDetector, error) {
	n, err := newNet(filepath.Join(dir, spec.File), 3, spec.InputHeight, spec.InputWidth, threads, 2)
	if err != nil {
		return nil, err
	}
	// UltraFace's outputs are scores [1,N,2] and boxes [1,N,4], in either order.
	if shape := n.outs[0].GetShape(); shape[len(shape)-1] == 4 {
		n.outs[0], n.outs[1] = n.outs[1], n.outs[0]
	}
	if s, b := n.outs[0].GetShape(), n.outs[1].GetShape(); s[len(s)-1] != 2 || b[len(b)-1] != 4 || s.FlattenedSize()*2 != b.FlattenedSize() {
		n.destroy()
		return nil, fmt.Errorf("outputs %v and %v are not UltraFace's [1,N,2] and [1,N,4]", s, b)
	}
	return &ultraFaceDetector{net: n, spec: spec}, nil
}

func (d *ultraFaceDetector) detect(img *rgbImage, st *stageStats, out []detection) ([]detection, error) {
	s := d.spec
	first := len(out)
	pass := func(r region) error {
		fillTensor(d.net.in.GetData(), img, r.x, r.y, r.w, r.h, s.InputWidth, s.InputHeight, s, &d.scratch)
		if err := d.net.run(&st.detectInfer); err != nil {
			return err
		}
		st.detectRuns++
		out = decodeUltraFace(d.net.outs[0].GetData(), d.net.outs[1].GetData(), r, img.W, img.H, s.InputWidth, s.InputHeight, s.ScoreThreshold, out)
		return nil
	}
	for _, r := range detectionRegions(img.W, img.H, s.InputWidth, s.InputHeight) {
		if err := pass(r); err != nil {
			return nil, err
		}
	}
	if len(out) == first {
		if err := pass(paddedRegion(img.W, img.H, 0.25)); err != nil {
			return nil, err
		}
	}
	return nms(out, s.NMSIoU), nil
}

func (d *ultraFaceDetector) destroy() { d.net.destroy() }

// confirm runs the detector again on det's surroundings, framed so that det is about a
// quarter of the view's width (a size the network sees well), and reports the best score of
// a box there that overlaps det (IoU 0.4 or more).
func (d *ultraFaceDetector) confirm(img *rgbImage, det detection, st *stageStats) (float32, error) {
	s := d.spec
	side := float64(max(det.x2-det.x1, det.y2-det.y1))
	cx, cy := float64(det.x1+det.x2)/2, float64(det.y1+det.y2)/2
	rw := confirmZoom * side
	rh := rw * float64(s.InputHeight) / float64(s.InputWidth)
	r := region{cx - rw/2, cy - rh/2, rw, rh, 0}
	fillTensor(d.net.in.GetData(), img, r.x, r.y, r.w, r.h, s.InputWidth, s.InputHeight, s, &d.scratch)
	if err := d.net.run(&st.detectInfer); err != nil {
		return 0, err
	}
	st.detectRuns++
	// As a whole-image pass: nothing is dropped for touching the view's edges.
	d.confirmed = decodeUltraFace(d.net.outs[0].GetData(), d.net.outs[1].GetData(), r, int(math.Ceil(rw)), int(math.Ceil(rh)), s.InputWidth, s.InputHeight, confirmScore, d.confirmed[:0])
	var best float32
	for _, c := range d.confirmed {
		if iou(c, det) >= 0.4 && c.score > best {
			best = c.score
		}
	}
	return best, nil
}

// confirmZoom: the view is this many times the candidate's side wide.
const confirmZoom = 4

// confirmScore is the lowest score confirm considers.
const confirmScore = 0.3
