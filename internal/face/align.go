package face

import "math"

type point struct{ X, Y float64 }

// arcfaceTemplate is where the five points go in the 112x112 crop (InsightFace's template).
var arcfaceTemplate = [5]point{
	{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041},
}

// fivePoints reduces 68 iBUG points (x, y pairs in image pixels) to eye centres, nose tip
// and mouth corners, the points the template needs.
func fivePoints(p []float64) [5]point {
	at := func(i int) point { return point{p[2*i], p[2*i+1]} }
	mean := func(idx ...int) point {
		var s point
		for _, i := range idx {
			q := at(i)
			s.X += q.X
			s.Y += q.Y
		}
		return point{s.X / float64(len(idx)), s.Y / float64(len(idx))}
	}
	return [5]point{
		mean(37, 38, 40, 41), // image-left eye
		mean(43, 44, 46, 47), // image-right eye
		at(30),               // nose tip
		mean(48, 60),         // image-left mouth corner
		mean(54, 64),         // image-right mouth corner
	}
}

// similarity is q = [a -b; b a] p + t.
type similarity struct{ a, b, tx, ty float64 }

// fitSimilarity is the least-squares similarity transform taking src onto dst.
func fitSimilarity(src, dst [5]point) similarity {
	var ms, md point
	for i := range src {
		ms.X += src[i].X / 5
		ms.Y += src[i].Y / 5
		md.X += dst[i].X / 5
		md.Y += dst[i].Y / 5
	}
	var num1, num2, den float64
	for i := range src {
		px, py := src[i].X-ms.X, src[i].Y-ms.Y
		qx, qy := dst[i].X-md.X, dst[i].Y-md.Y
		num1 += px*qx + py*qy
		num2 += px*qy - py*qx
		den += px*px + py*py
	}
	if den == 0 {
		return similarity{a: 1, tx: md.X - ms.X, ty: md.Y - ms.Y}
	}
	a, b := num1/den, num2/den
	return similarity{a: a, b: b, tx: md.X - (a*ms.X - b*ms.Y), ty: md.Y - (b*ms.X + a*ms.Y)}
}

// invert maps a crop point back into the image.
func (s similarity) invert(q point) point {
	d := s.a*s.a + s.b*s.b
	x, y := q.X-s.tx, q.Y-s.ty
	return point{(s.a*x + s.b*y) / d, (-s.b*x + s.a*y) / d}
}

// warpAligned samples the 112x112 aligned crop: into dst as the embedder's planes and into
// grey (0..255) for the quality measures.
func warpAligned(dst []float32, grey []float32, img *rgbImage, t similarity, spec *ModelSpec) {
	const n = 112
	plane := n * n
	d := t.a*t.a + t.b*t.b
	ia, ib := t.a/d, t.b/d
	mr, mg, mb, sc := spec.Mean[0], spec.Mean[1], spec.Mean[2], spec.Scale
	bgr := spec.ColorOrder == "BGR"
	for v := 0; v < n; v++ {
		for u := 0; u < n; u++ {
			x, y := float64(u)-t.tx, float64(v)-t.ty
			r, g, b := bilinear(img, ia*x+ib*y, -ib*x+ia*y)
			i := v*n + u
			grey[i] = 0.299*r + 0.587*g + 0.114*b
			if bgr {
				dst[i] = (b - mb) * sc
				dst[plane+i] = (g - mg) * sc
				dst[2*plane+i] = (r - mr) * sc
				continue
			}
			dst[i] = (r - mr) * sc
			dst[plane+i] = (g - mg) * sc
			dst[2*plane+i] = (b - mb) * sc
		}
	}
}

// estimatePose gives roll, yaw and pitch in degrees from the five points. It is a geometric
// approximation (no 3D model): roll is exact, yaw and pitch follow the nose's offset from
// where it sits on a frontal face.
func estimatePose(p [5]point) Pose {
	le, re, nose, ml, mr := p[0], p[1], p[2], p[3], p[4]
	roll := math.Atan2(re.Y-le.Y, re.X-le.X)
	c, s := math.Cos(-roll), math.Sin(-roll)
	rot := func(q point) point { return point{c*q.X - s*q.Y, s*q.X + c*q.Y} }
	le, re, nose, ml, mr = rot(le), rot(re), rot(nose), rot(ml), rot(mr)
	eyeMid := point{(le.X + re.X) / 2, (le.Y + re.Y) / 2}
	mouthMid := point{(ml.X + mr.X) / 2, (ml.Y + mr.Y) / 2}
	half := math.Max(math.Abs(re.X-le.X)/2, 1e-6)
	midX := (eyeMid.X + mouthMid.X) / 2
	yaw := math.Asin(clampF((nose.X-midX)/half, -1, 1))
	vert := mouthMid.Y - eyeMid.Y
	pitch := 0.0
	if math.Abs(vert) > 1e-6 {
		// On the template the nose sits 0.495 of the way from the eyes to the mouth.
		f := (nose.Y - eyeMid.Y) / vert
		pitch = -math.Asin(clampF((f-0.495)/0.5, -1, 1))
	}
	deg := 180 / math.Pi
	return Pose{Roll: float32(roll * deg), Yaw: float32(yaw * deg), Pitch: float32(pitch * deg)}
}

func clampF(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
