package face

import (
	"math"
	"sort"
)

// A detector's candidate is a face only if the landmark step finds a face in it. On a face,
// the landmark networks track the features: move the box a little and the eyes, nose and
// mouth stay where they are in the image. On what is not a face (an ear, a shirt's print, a
// patch of background the tiles of a large photo mistake for a face at 0.6-0.99), there are
// no features to track, and the points follow the box. landmarkDrift measures that: the
// landmark step is run again on the box moved right, left and down by landmarkShift of its
// size, and the drift is the median, over the three, of the points' mean movement divided
// by the box's.
//
// Measured with faceplugin-1.0's 68-point net: on real faces 0.03-0.28 in group photos of
// 600-4000 px (profiles up to 70 degrees of yaw included), up to 0.57 on the labelled
// example photos' 16-50 px faces blurred or downscaled; on the false faces of the group
// photos at 2000-4000 px and of synthetic group scenes, 0.51-1.6 (maxLandmarkDrift).
// Moving the box up is left out: cutting the chin makes the net redraw the jaw on real
// faces too (0.2-1.1).
//
// dlib's 5-point regression trees are not checked: they hold still on large frontal faces
// (0.00-0.09) but drift 1.0-2.5 on real faces under 90 px (at shifts of 0.06 and 0.15
// alike), as much as on false faces (1.6-2.2), so no limit separates them.
const landmarkShift = 0.15

// maxLandmarkDrift is the drift above which a candidate of a landmark68 pack is not a face:
// for the whole-image pass's small candidates, between the real faces' highest (0.57, small
// and blurred) and the false faces' lowest (0.75); for a tile's, where real faces drifted
// at most 0.25 (the 55 labelled faces at 40 px in 1080p scenes, the synthetic group scenes)
// and false ones from 0.51 (an ear at 4000 px, a shirt's print), lower.
func maxLandmarkDrift(tile bool) float64 {
	if tile {
		return 0.4
	}
	return 0.66
}

// checksLandmarkDrift tells whether a landmark step's drift separates faces from the rest.
func checksLandmarkDrift(landmarks string) bool { return landmarks == Landmarks68 }

// landmarkDrift is the drift of f's 68 landmarks on det (base holds those of det itself).
func (w *worker) landmarkDrift(img *rgbImage, det detection, base *shape68, m *Manifest, st *stageStats) (float64, error) {
	bw, bh := float64(det.x2-det.x1), float64(det.y2-det.y1)
	var drifts [3]float64
	for i, sh := range [3][2]float64{{landmarkShift, 0}, {-landmarkShift, 0}, {0, landmarkShift}} {
		dx, dy := sh[0]*bw, sh[1]*bh
		moved := det
		moved.x1, moved.x2 = det.x1+float32(dx), det.x2+float32(dx)
		moved.y1, moved.y2 = det.y1+float32(dy), det.y2+float32(dy)
		var sum float64
		var p shape68
		if err := w.landmarks(img, moved, m, st, &p); err != nil {
			return 0, err
		}
		for k := 0; k < len(p); k += 2 {
			sum += math.Hypot(p[k]-base[k], p[k+1]-base[k+1])
		}
		drifts[i] = sum / float64(len(p)/2) / math.Hypot(dx, dy)
	}
	sort.Float64s(drifts[:])
	return drifts[1], nil
}

// confirmer is a detector that can look again at a candidate, framed for it alone.
type confirmer interface {
	confirm(img *rgbImage, det detection, st *stageStats) (float32, error)
}

// minConfirm is the score a tile candidate's second look must give it. Real faces found in
// tiles scored 0.99-1.00 (the 55 labelled faces at 40 px in 1080p scenes, the synthetic
// group scenes of TestNoLargeFalseFacesInLargeImages); false faces that the landmarks let
// through 0.00-0.70 (a shirt's print at drift 0.51: 0.44).
const minConfirm = 0.9

// verify tells whether a candidate marked for it (detection.verify) is a face: its
// landmarks hold (landmarkDrift) and, for a tile's candidate with a detector that can, a
// second look confirms it. Small faces of the whole-image pass get no second look: blurred
// 30-40 px faces of 500 px photos, zoomed in, scored under minConfirm (10 of 43 lost).
func (w *worker) verify(img *rgbImage, det detection, base *shape68, m *Manifest, st *stageStats) (bool, error) {
	drift, err := w.landmarkDrift(img, det, base, m, st)
	if err != nil || drift > maxLandmarkDrift(det.tile) {
		return false, err
	}
	c, ok := w.det.(confirmer)
	if !ok || !det.tile {
		return true, nil
	}
	score, err := c.confirm(img, det, st)
	return score >= minConfirm, err
}
