package face

import "math"

// Attributes selects the facial attributes measured beyond the DEFAULT ones (box,
// confidence, landmarks, pose, quality). A pack measures only those its landmarks support
// (Engine.Attributes); the others are never reported, rather than guessed.
type Attributes uint8

// The attributes an engine may measure.
const (
	// AttributeEyesOpen is Rekognition's EyesOpen, from the eyelid landmarks.
	AttributeEyesOpen Attributes = 1 << iota
	// AttributeMouthOpen is Rekognition's MouthOpen, from the inner-lip landmarks.
	AttributeMouthOpen

	// AllAttributes is every attribute an engine may measure.
	AllAttributes = AttributeEyesOpen | AttributeMouthOpen
)

// BoolAttribute is a yes/no attribute with the confidence in the answer, 50..100.
type BoolAttribute struct {
	Value      bool
	Confidence float32
}

// Attributes are the attributes the pack can measure: EyesOpen and MouthOpen need the
// eyelids and inner lips of a 68-point landmark net; dlib's 5 points (eye corners and the
// bottom of the nose) have neither, so a dlib-shape-predictor-5 pack measures none.
func (e *Engine) Attributes() Attributes {
	if e.m.Landmarks.Type == Landmarks68 {
		return AllAttributes
	}
	return 0
}

// shape68 is the 68 iBUG 300-W points of a face, x and y pairs in image pixels: jaw 0-16,
// brows 17-26, nose 27-35, eyes 36-41 (image left) and 42-47, outer lips 48-59, inner lips
// 60-67.
type shape68 [136]float64

func (s *shape68) at(i int) point { return point{s[2*i], s[2*i+1]} }

func dist(a, b point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

// eyeOpenness is the eye aspect ratio (Soukupová and Čech, 2016) of both eyes, averaged:
// each eye's mean eyelid gap over its width. It depends neither on the face's size nor on
// its roll.
func (s *shape68) eyeOpenness() float64 {
	ear := func(o int) float64 { // o: the eye's first corner, o+3 its other one
		w := dist(s.at(o), s.at(o+3))
		if w == 0 {
			return 0
		}
		return (dist(s.at(o+1), s.at(o+5)) + dist(s.at(o+2), s.at(o+4))) / (2 * w)
	}
	return (ear(36) + ear(42)) / 2
}

// mouthOpenness is the mean gap between the inner lips (61-67, 62-66, 63-65) over the
// mouth's width (48-54): lips apart, teeth showing or not, is an open mouth.
func (s *shape68) mouthOpenness() float64 {
	w := dist(s.at(48), s.at(54))
	if w == 0 {
		return 0
	}
	return (dist(s.at(61), s.at(67)) + dist(s.at(62), s.at(66)) + dist(s.at(63), s.at(65))) / (3 * w)
}

// threshold turns a measure into a yes/no attribute: yes above at. Confidence is 50 at the
// threshold and rises linearly over margin to a ceiling, the precision that answer had
// on the labelled faces (Laplace-smoothed, (right+1)/(answers+2)): a confidence is never
// higher than what was measured, and it is a margin score, not a fitted probability.
type threshold struct {
	at, margin      float64
	yesCeil, noCeil float64
}

func (t threshold) judge(v float64) *BoolAttribute {
	yes := v > t.at
	ceil := t.noCeil
	if yes {
		ceil = t.yesCeil
	}
	c := 50 + (ceil-50)*math.Min(1, math.Abs(v-t.at)/t.margin)
	return &BoolAttribute{Value: yes, Confidence: float32(c)}
}

// The thresholds of the faceplugin-1.0 68-point net, calibrated on the 123 human faces it
// finds in the test faces (hack/install-testfaces.sh: dlib's johns crops and example
// photos), each labelled by eye from an enlarged crop (testdata/attributes.tsv; see
// TestAttributesOnLabelledFaces for the figures).
var (
	// Open eyes read 0.166 to 0.45 (104 faces); of the 4 closed ones, 2 read 0.150 and 0.160,
	// 2 (a laugh behind glasses, a grimace) 0.211 and 0.261, as open eyes do. The threshold
	// lies between 0.160 and 0.166; "open" was right 104 times out of 106, "closed" 2 out of
	// 2. Beyond 0.1 above it no labelled face was wrong.
	eyesOpen = threshold{at: 0.163, margin: 0.1, yesCeil: 100 * 105.0 / 108, noCeil: 100 * 3.0 / 4}
	// Lips apart read 0.005 to 0.34 (80 faces), closed 0.003 to 0.094 (38): the net often
	// closes the inner lips of a wide smile. At 0.035, "open" was right 73 times out of 81,
	// "closed" 30 out of 37; no closed mouth read more than 0.06 above it.
	mouthOpen = threshold{at: 0.035, margin: 0.06, yesCeil: 100 * 74.0 / 83, noCeil: 100 * 31.0 / 39}
)

// describe is the face's detail with the attributes asked for that its landmarks support.
func (f *analysed) describe(want Attributes) FaceDetail {
	d := f.detail
	if f.shape == nil {
		return d
	}
	if want&AttributeEyesOpen != 0 {
		d.EyesOpen = eyesOpen.judge(f.shape.eyeOpenness())
	}
	if want&AttributeMouthOpen != 0 {
		d.MouthOpen = mouthOpen.judge(f.shape.mouthOpenness())
	}
	return d
}
