package face

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Model types this package can run. A model pack names one of each in its manifest.
const (
	// DetectorUltraFace: UltraFace ("Ultra-Light-Fast-Generic-Face-Detector") layout: one
	// input [1,3,H,W], outputs scores [1,N,2] (background, face) and boxes [1,N,4] already
	// decoded to x1,y1,x2,y2 in 0..1. The RFB-320/640 and slim variants all fit.
	DetectorUltraFace = "ultraface"
	// DetectorBlazeFace: MediaPipe's BlazeFace, input [1,S,S,3] (NHWC), outputs per anchor
	// a score logit and 16 regressors (box and 6 keypoints), in two heads.
	DetectorBlazeFace = "blazeface"
	// Landmarks68: a network taking a grey crop of the detector box [1,1,H,W] and returning
	// 136 values, 68 iBUG points as (x, y) fractions of the box.
	Landmarks68 = "landmark68"
	// LandmarksDlib5: dlib's 5-point shape predictor (a regression-tree cascade in dlib's
	// .dat format, run in Go): two corners of each eye and the bottom of the nose.
	LandmarksDlib5 = "dlib-shape-predictor-5"
	// EmbedderArcFace112: any network taking a face aligned to the ArcFace 112x112
	// five-point template, [1,3,112,112], returning [1,D] (InsightFace ArcFace, OpenCV SFace,
	// MobileFaceNet); colour order and normalisation come from the manifest.
	EmbedderArcFace112 = "arcface112"
	// EmbedderDlibResNet150: dlib's face recognition ResNet converted to ONNX, fed dlib's
	// 150x150 face chip (get_face_chip_details with the manifest's chipPadding) as
	// [1,3,150,150] RGB; it returns the 128-d descriptor.
	EmbedderDlibResNet150 = "dlib-resnet150"
)

// modelKind is what the engine needs of one model type.
type modelKind struct {
	stage    string
	channels int    // 1 or 3; 0 for models that are not networks with an image input
	size     int    // required square input size, 0 if any
	square   bool   // the input must be square (any size the code accepts)
	pairs    string // the landmarks type this detector or embedder needs, "" if any
}

var modelKinds = map[string]modelKind{
	DetectorUltraFace:     {stage: "detector", channels: 3},
	DetectorBlazeFace:     {stage: "detector", channels: 3, square: true},
	Landmarks68:           {stage: "landmarks", channels: 1},
	LandmarksDlib5:        {stage: "landmarks"},
	EmbedderArcFace112:    {stage: "embedder", channels: 3, size: 112},
	EmbedderDlibResNet150: {stage: "embedder", channels: 3, size: 150, pairs: LandmarksDlib5},
}

func supported(stage string) []string {
	var out []string
	for t, k := range modelKinds {
		if k.stage == stage {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// ManifestFile is the name of a model pack's manifest inside its directory.
const ManifestFile = "manifest.json"

// Manifest describes a model pack: which ONNX files to run and how to feed them.
type Manifest struct {
	FormatVersion    int              `json:"formatVersion"`
	FaceModelVersion string           `json:"faceModelVersion"`
	Description      string           `json:"description,omitempty"`
	Detector         ModelSpec        `json:"detector"`
	Landmarks        ModelSpec        `json:"landmarks"`
	Embedder         ModelSpec        `json:"embedder"`
	Similarity       SimilaritySpec   `json:"similarity"`
	Calibration      *CalibrationNote `json:"calibration,omitempty"`
	// SHA256 pins the sha256 (hex) of every file the pack installs, by file name. When set,
	// NewEngine refuses model files that do not match (VerifyModels), and the installer
	// refuses a pack with any file that does not match or is not pinned (VerifyPack).
	SHA256 map[string]string `json:"sha256,omitempty"`
}

// ModelSpec is one network of the pack.
type ModelSpec struct {
	Type        string    `json:"type"`
	File        string    `json:"file"` // relative to the pack directory
	InputWidth  int       `json:"inputWidth"`
	InputHeight int       `json:"inputHeight"`
	ColorOrder  string    `json:"colorOrder"` // RGB, BGR or GRAY
	Mean        []float32 `json:"mean"`       // per channel, subtracted from 0..255 pixels
	Scale       float32   `json:"scale"`      // multiplied after subtracting the mean
	// Detector only.
	ScoreThreshold float32 `json:"scoreThreshold,omitempty"`
	NMSIoU         float32 `json:"nmsIoU,omitempty"`
	// Embedder only.
	Dimension int `json:"dimension,omitempty"`
	// ChipPadding is dlib's face chip padding (0.25 for its face ResNet); dlib-resnet150 only.
	ChipPadding float64 `json:"chipPadding,omitempty"`
	// BoxScale and BoxShiftY map the detector's box to the box a dlib shape predictor was
	// trained on (dlib's own detectors frame faces differently): the box is scaled about its
	// centre by BoxScale and moved down by BoxShiftY times its height. Landmarks only.
	BoxScale  float64 `json:"boxScale,omitempty"`
	BoxShiftY float64 `json:"boxShiftY,omitempty"`
}

// SimilaritySpec maps cosine similarity to Rekognition's 0..100 Similarity by linear
// interpolation between points [cosine, similarity], both strictly increasing.
type SimilaritySpec struct {
	Points [][2]float32 `json:"points"`
}

// CalibrationNote records how the similarity points were chosen (free text and numbers,
// for people; the engine does not read it).
type CalibrationNote map[string]any

// LoadManifest reads and checks dir/manifest.json.
func LoadManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("model pack: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("model pack %s: %w", dir, err)
	}
	if err := m.validate(dir); err != nil {
		return nil, fmt.Errorf("model pack %s: %w", dir, err)
	}
	return &m, nil
}

func (m *Manifest) validate(dir string) error {
	if m.FormatVersion != 1 {
		return fmt.Errorf("formatVersion %d is not supported (want 1)", m.FormatVersion)
	}
	if m.FaceModelVersion == "" {
		return fmt.Errorf("faceModelVersion is empty")
	}
	for _, c := range []struct {
		stage string
		spec  *ModelSpec
	}{{"detector", &m.Detector}, {"landmarks", &m.Landmarks}, {"embedder", &m.Embedder}} {
		if err := c.spec.validate(dir, c.stage); err != nil {
			return err
		}
	}
	if want := modelKinds[m.Embedder.Type].pairs; want != "" && m.Landmarks.Type != want {
		return fmt.Errorf("embedder %s needs landmarks of type %q, not %q", m.Embedder.Type, want, m.Landmarks.Type)
	}
	if m.Embedder.Type == EmbedderDlibResNet150 && (m.Embedder.ChipPadding < 0 || m.Embedder.ChipPadding > 1) {
		return fmt.Errorf("embedder chipPadding %v is out of range [0,1]", m.Embedder.ChipPadding)
	}
	if m.Landmarks.Type == LandmarksDlib5 {
		if m.Landmarks.BoxScale == 0 {
			m.Landmarks.BoxScale = 1
		}
		if m.Landmarks.BoxScale < 0.5 || m.Landmarks.BoxScale > 2 || math.Abs(m.Landmarks.BoxShiftY) > 0.5 {
			return fmt.Errorf("landmarks boxScale %v or boxShiftY %v is out of range", m.Landmarks.BoxScale, m.Landmarks.BoxShiftY)
		}
	}
	if err := m.validateSums(); err != nil {
		return err
	}
	if m.Embedder.Dimension < 1 || m.Embedder.Dimension > 4096 {
		return fmt.Errorf("embedder dimension %d is out of range", m.Embedder.Dimension)
	}
	if m.Detector.ScoreThreshold <= 0 || m.Detector.ScoreThreshold >= 1 {
		return fmt.Errorf("detector scoreThreshold must be in (0,1)")
	}
	if m.Detector.NMSIoU <= 0 || m.Detector.NMSIoU >= 1 {
		return fmt.Errorf("detector nmsIoU must be in (0,1)")
	}
	return m.Similarity.Validate()
}

// Validate checks the points as a manifest needs them; hack/faceeval checks the points it
// suggests with it too.
func (s SimilaritySpec) Validate() error {
	p := s.Points
	if len(p) < 2 {
		return fmt.Errorf("similarity needs at least 2 points")
	}
	if !sort.SliceIsSorted(p, func(i, j int) bool { return p[i][0] < p[j][0] }) {
		return fmt.Errorf("similarity points must be sorted by cosine")
	}
	for i := 1; i < len(p); i++ {
		if p[i][0] <= p[i-1][0] || p[i][1] <= p[i-1][1] {
			return fmt.Errorf("similarity points must be strictly increasing")
		}
	}
	if p[0][0] > -1 || p[len(p)-1][0] < 1 || p[0][1] != 0 || p[len(p)-1][1] != 100 {
		return fmt.Errorf("similarity points must run from [-1 or less, 0] to [1 or more, 100]")
	}
	return nil
}

// validate checks one model of the pack against what its type needs.
func (s *ModelSpec) validate(dir, stage string) error {
	kind, ok := modelKinds[s.Type]
	if !ok || kind.stage != stage {
		return fmt.Errorf("%s type %q is not supported (supported: %q)", stage, s.Type, supported(stage))
	}
	if s.File == "" || filepath.IsAbs(s.File) || filepath.Base(s.File) != s.File {
		return fmt.Errorf("%s file %q must be a file name inside the pack", stage, s.File)
	}
	if _, err := os.Stat(filepath.Join(dir, s.File)); err != nil {
		return fmt.Errorf("%s: %w", stage, err)
	}
	if kind.channels == 0 {
		return nil // not an image network: no input geometry or normalisation
	}
	if s.InputWidth < 8 || s.InputHeight < 8 || s.InputWidth > 4096 || s.InputHeight > 4096 {
		return fmt.Errorf("%s input size %dx%d is out of range", stage, s.InputWidth, s.InputHeight)
	}
	if kind.size != 0 && (s.InputWidth != kind.size || s.InputHeight != kind.size) {
		return fmt.Errorf("%s %s needs %dx%d input", stage, s.Type, kind.size, kind.size)
	}
	if kind.square && s.InputWidth != s.InputHeight {
		return fmt.Errorf("%s %s needs a square input, not %dx%d", stage, s.Type, s.InputWidth, s.InputHeight)
	}
	wantOrder := map[int][]string{1: {"GRAY"}, 3: {"RGB", "BGR"}}[kind.channels]
	if !contains(wantOrder, s.ColorOrder) {
		return fmt.Errorf("%s colorOrder %q: want one of %v", stage, s.ColorOrder, wantOrder)
	}
	if len(s.Mean) == 1 {
		s.Mean = []float32{s.Mean[0], s.Mean[0], s.Mean[0]}
	}
	if len(s.Mean) != 3 {
		return fmt.Errorf("%s mean needs 1 or 3 values", stage)
	}
	if s.Scale == 0 {
		return fmt.Errorf("%s scale is 0", stage)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// similarity maps by linear interpolation; points are validated as increasing.
func (s SimilaritySpec) similarity(cos float32) float32 {
	return interp(s.Points, cos, 0, 1)
}

func (s SimilaritySpec) cosine(sim float32) float32 {
	return interp(s.Points, sim, 1, 0)
}

func interp(p [][2]float32, v float32, in, out int) float32 {
	if v <= p[0][in] {
		return p[0][out]
	}
	for i := 1; i < len(p); i++ {
		if v <= p[i][in] {
			a, b := p[i-1], p[i]
			t := (v - a[in]) / (b[in] - a[in])
			return a[out] + t*(b[out]-a[out])
		}
	}
	return p[len(p)-1][out]
}
