package face

import (
	"math"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// measureQuality computes Rekognition-style Brightness and Sharpness (0..100) on the
// aligned grey crop, inside the face (the template's eyes-to-chin area), so background and
// hair do not count.
func measureQuality(grey []float32) ImageQuality {
	const n = 112
	var sum float64
	var cnt int
	for y := 36; y < 100; y++ {
		for x := 28; x < 84; x++ {
			sum += float64(grey[y*n+x])
			cnt++
		}
	}
	mean := sum / float64(cnt)
	var vs float64
	for y := 36; y < 100; y++ {
		for x := 28; x < 84; x++ {
			d := float64(grey[y*n+x]) - mean
			vs += d * d
		}
	}
	contrast := vs/float64(cnt) + 25 // +25: a flat, noise-free patch is not "sharp"
	// Sharpness: variance of the Laplacian, the usual focus measure, mapped to 0..100 so
	// that a crisp face is near 100 and a blur of a few pixels falls under 20.
	var ls, ls2 float64
	cnt = 0
	for y := 37; y < 99; y++ {
		for x := 29; x < 83; x++ {
			i := y*n + x
			l := float64(4*grey[i] - grey[i-1] - grey[i+1] - grey[i-n] - grey[i+n])
			ls += l
			ls2 += l * l
			cnt++
		}
	}
	lm := ls / float64(cnt)
	variance := ls2/float64(cnt) - lm*lm
	// Divided by the face's own contrast, so a dark but crisp face still reads sharp.
	sharp := 100 * (1 - math.Exp(-variance/contrast/sharpnessScale))
	return ImageQuality{Brightness: float32(mean / 255 * 100), Sharpness: float32(sharp)}
}

// sharpnessScale is the Laplacian-to-contrast variance ratio that maps to 63 sharpness.
const sharpnessScale = 0.2

// filterLevel is the bar one QualityFilter sets. AUTO is MEDIUM, as for Rekognition it is
// "the service chooses"; NONE has no bar.
type filterLevel struct {
	minConfidence float32 // 0..100
	minSide       float32 // pixels, the bounding box's shorter side
	minSharpness  float32
	minBrightness float32
	maxBrightness float32
	maxAngle      float32 // |yaw| and |pitch|, degrees
	minQuality    float32 // the combined score faceQuality
}

var filterLevels = map[QualityFilter]filterLevel{
	QualityLow:    {minConfidence: 60, minSide: 16, minSharpness: 4, minBrightness: 8, maxBrightness: 97, maxAngle: 75, minQuality: 10},
	QualityMedium: {minConfidence: 75, minSide: 24, minSharpness: 10, minBrightness: 15, maxBrightness: 94, maxAngle: 60, minQuality: 20},
	QualityHigh:   {minConfidence: 90, minSide: 40, minSharpness: 25, minBrightness: 22, maxBrightness: 90, maxAngle: 45, minQuality: 35},
}

func init() { filterLevels[QualityAuto] = filterLevels[QualityMedium] }

func parseFilter(f QualityFilter, def QualityFilter) (QualityFilter, error) {
	if f == "" {
		return def, nil
	}
	if f == QualityNone {
		return f, nil
	}
	if _, ok := filterLevels[f]; !ok {
		return "", errs.New(errs.InvalidParameter, "QualityFilter %q is not one of NONE, AUTO, LOW, MEDIUM, HIGH", f)
	}
	return f, nil
}

// faceQuality combines the measures into one 0..100 score: a face is only as good as its
// weakest aspect, so it is the product of normalised factors.
func faceQuality(d *FaceDetail, side float32) float32 {
	sharp := float64(d.Quality.Sharpness) / 100
	b := float64(d.Quality.Brightness) / 100
	bright := math.Min(1, math.Min(b/0.3, (1-b)/0.2))
	angle := math.Max(math.Abs(float64(d.Pose.Yaw)), math.Abs(float64(d.Pose.Pitch)))
	pose := math.Max(0, math.Cos(angle*math.Pi/180))
	size := math.Min(1, float64(side)/48)
	q := 100 * math.Pow(math.Max(0, sharp*bright*pose*size), 0.5)
	return float32(q)
}

// qualityReasons lists why a face fails filter f (nil for NONE or a face that passes).
func qualityReasons(d *FaceDetail, side float32, f QualityFilter) []Reason {
	lv, ok := filterLevels[f]
	if !ok {
		return nil
	}
	var rs []Reason
	if d.Confidence < lv.minConfidence {
		rs = append(rs, ReasonLowConfidence)
	}
	if side < lv.minSide {
		rs = append(rs, ReasonSmallBoundingBox)
	}
	if d.Quality.Sharpness < lv.minSharpness {
		rs = append(rs, ReasonLowSharpness)
	}
	if d.Quality.Brightness < lv.minBrightness || d.Quality.Brightness > lv.maxBrightness {
		rs = append(rs, ReasonLowBrightness)
	}
	if abs32(d.Pose.Yaw) > lv.maxAngle || abs32(d.Pose.Pitch) > lv.maxAngle {
		rs = append(rs, ReasonExtremePose)
	}
	if faceQuality(d, side) < lv.minQuality {
		rs = append(rs, ReasonLowFaceQuality)
	}
	return rs
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
