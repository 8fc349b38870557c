package face

import (
	"math"

	"github.com/facesearch/facesearch-operator/internal/dlib"
)

// dlibParts runs dlib's 5-point shape predictor on the detector's box, mapped to the framing
// of the boxes it was trained on (dlib's own detectors), and returns dlib's parts.
func (e *Engine) dlibParts(img *rgbImage, det detection) [5]point {
	l := &e.m.Landmarks
	cx, cy := float64(det.x1+det.x2)/2, float64(det.y1+det.y2)/2
	w, h := float64(det.x2-det.x1)*l.BoxScale, float64(det.y2-det.y1)*l.BoxScale
	cy += l.BoxShiftY * h
	// dlib's rectangles are inclusive integer pixels.
	box := dlib.Rect{
		Left: int(math.Round(cx - w/2)), Top: int(math.Round(cy - h/2)),
		Right: int(math.Round(cx+w/2)) - 1, Bottom: int(math.Round(cy+h/2)) - 1,
	}
	parts := e.shapes.Predict(&dlib.Image{W: img.W, H: img.H, Pix: img.Pix}, box)
	var out [5]point
	for i, p := range parts {
		out[i] = point{p.X, p.Y}
	}
	return out
}

// fromDlibParts turns dlib's parts (two corners of each eye, the bottom of the nose) into the
// five points the rest of the engine reports and uses for pose and quality: eye centres,
// nose tip and mouth corners, placed where the ArcFace template has them relative to the
// eyes. dlib's nose point sits below the tip (0.773 eye distances below the eye line on
// dlib's mean face, the tip 0.571 on the template): used as it is, it reads as the head
// tilted down, about -31 degrees of pitch on the frontal labelled faces. So the tip is taken
// on the line from the eyes' midpoint to dlib's nose, 0.571/0.773 of the way, which keeps
// the sideways offset that yaw is measured from. BlazeFace's own keypoints are too coarse
// for this (they stray up to 10 px from dlib's eyes on a 150 px crop).
func fromDlibParts(p [5]point) [5]point {
	mid := func(a, b point) point { return point{(a.X + b.X) / 2, (a.Y + b.Y) / 2} }
	le, re := mid(p[0], p[1]), mid(p[2], p[3])
	if le.X > re.X {
		le, re = re, le
	}
	v := point{re.X - le.X, re.Y - le.Y}
	eyes := mid(le, re)
	const tip = 0.571 / 0.773
	nose := point{eyes.X + tip*(p[4].X-eyes.X), eyes.Y + tip*(p[4].Y-eyes.Y)}
	// The mouth's centre is 1.154 eye distances below the eyes, across the eye line; its
	// corners 0.83 eye distances apart.
	mouth := point{eyes.X - 1.154*v.Y, eyes.Y + 1.154*v.X}
	const half = 0.414
	return [5]point{le, re, nose,
		{mouth.X - half*v.X, mouth.Y - half*v.Y},
		{mouth.X + half*v.X, mouth.Y + half*v.Y}}
}

// dlibChip extracts dlib's face chip for parts into chip (interleaved RGB) and writes it to
// the embedder's input planes with the manifest's normalisation.
func dlibChip(dst []float32, chip []uint8, img *rgbImage, parts [5]point, spec *ModelSpec) {
	var dp [5]dlib.Point
	for i, p := range parts {
		dp[i] = dlib.Point{X: p.X, Y: p.Y}
	}
	size := spec.InputWidth
	d := dlib.FaceChipDetails(dp, size, spec.ChipPadding)
	dlib.ExtractChip(&dlib.Image{W: img.W, H: img.H, Pix: img.Pix}, d, chip)
	plane := size * size
	offR, offG, offB := 0, plane, 2*plane
	if spec.ColorOrder == "BGR" {
		offR, offB = 2*plane, 0
	}
	mr, mg, mb, sc := spec.Mean[0], spec.Mean[1], spec.Mean[2], spec.Scale
	for i := 0; i < plane; i++ {
		dst[offR+i] = (float32(chip[3*i]) - mr) * sc
		dst[offG+i] = (float32(chip[3*i+1]) - mg) * sc
		dst[offB+i] = (float32(chip[3*i+2]) - mb) * sc
	}
}
