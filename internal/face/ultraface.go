package face

import (
	"fmt"
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
	net     *net
	spec    *ModelSpec
	scratch []int32
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
	for _, r := range detectionRegions(img.W, img.H, s.InputWidth, s.InputHeight) {
		fillTensor(d.net.in.GetData(), img, r.x, r.y, r.w, r.h, s.InputWidth, s.InputHeight, s, &d.scratch)
		if err := d.net.run(&st.detectInfer); err != nil {
			return nil, err
		}
		st.detectRuns++
		out = decodeUltraFace(d.net.outs[0].GetData(), d.net.outs[1].GetData(), r, img.W, img.H, s.ScoreThreshold, out)
	}
	return nms(out, s.NMSIoU), nil
}

func (d *ultraFaceDetector) destroy() { d.net.destroy() }
