package face

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/facesearch/facesearch-operator/internal/dlib"
	"github.com/facesearch/facesearch-operator/internal/errs"
)

// EngineOptions configure NewEngine.
type EngineOptions struct {
	// ModelPackDir is the directory holding manifest.json and the ONNX files.
	ModelPackDir string
	// ONNXRuntimeLibrary is the path of libonnxruntime.so. Only the first engine of a
	// process loads it; later engines must name the same file (or leave it empty).
	ONNXRuntimeLibrary string
	// IntraOpThreads is ONNX Runtime's thread count per inference; default 1, which gives
	// the best throughput when MaxConcurrent images are processed at once.
	IntraOpThreads int
	// MaxConcurrent bounds how many images are processed at once (one set of sessions
	// each); default GOMAXPROCS. Callers beyond it wait (or give up with their context).
	MaxConcurrent int
	// DecodeBudget bounds the memory of images being decoded, shared with the other
	// engines given the same budget; default DefaultDecodeBudget(), the process's own, so
	// that every engine of a process shares one unless told otherwise.
	DecodeBudget *DecodeBudget
}

// Engine detects, aligns and embeds faces. It is safe for use by many goroutines.
type Engine struct {
	m       *Manifest
	budget  *DecodeBudget
	shapes  *dlib.ShapePredictor // dlib-shape-predictor-5 packs: read-only, shared by workers
	workers chan *worker
	all     []*worker
	close   sync.Once
	closed  chan struct{}
}

// worker owns one session of each network with its tensors and scratch buffers; images are
// processed by whoever holds a worker, so the pool size is the concurrency bound.
type worker struct {
	det     faceDetector
	lm      *net // landmark68 only; dlib's shape predictor is the engine's, shared
	emb     *net
	scratch []int32
	grey    [112 * 112]float32
	crop    []float32 // the 112x112 aligned crop for quality when the embedder takes another input
	chip    []uint8   // dlib's 150x150 face chip
	dets    []detection
	warped  similarity // the alignment currently in the embedder's input (arcface112)
}

// NewEngine loads the model pack and opens MaxConcurrent sets of sessions.
func NewEngine(opts EngineOptions) (*Engine, error) {
	m, err := LoadManifest(opts.ModelPackDir)
	if err != nil {
		return nil, err
	}
	if err := m.VerifyModels(opts.ModelPackDir); err != nil {
		return nil, err
	}
	if opts.IntraOpThreads <= 0 {
		opts.IntraOpThreads = 1
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if err := initORT(opts.ONNXRuntimeLibrary); err != nil {
		return nil, err
	}
	if opts.DecodeBudget == nil {
		opts.DecodeBudget = DefaultDecodeBudget()
	}
	e := &Engine{m: m, budget: opts.DecodeBudget, workers: make(chan *worker, opts.MaxConcurrent), closed: make(chan struct{})}
	if m.Landmarks.Type == LandmarksDlib5 {
		if e.shapes, err = dlib.LoadShapePredictor(filepath.Join(opts.ModelPackDir, m.Landmarks.File)); err != nil {
			return nil, fmt.Errorf("landmarks: %w", err)
		}
	}
	for i := 0; i < opts.MaxConcurrent; i++ {
		w, err := newWorker(opts.ModelPackDir, m, opts.IntraOpThreads)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.all = append(e.all, w)
		e.workers <- w
	}
	return e, nil
}

func newWorker(dir string, m *Manifest, threads int) (_ *worker, err error) {
	w := &worker{}
	defer func() {
		if err != nil {
			w.destroy()
		}
	}()
	d := m.Detector
	switch d.Type {
	case DetectorUltraFace:
		var u *ultraFaceDetector
		if u, err = newUltraFaceDetector(dir, &m.Detector, threads); err == nil {
			w.det = u
		}
	case DetectorBlazeFace:
		var b *blazeFaceDetector
		if b, err = newBlazeFaceDetector(filepath.Join(dir, d.File), d.InputWidth, threads, d.ScoreThreshold, d.NMSIoU); err == nil {
			w.det = b
		}
	}
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	if l := m.Landmarks; l.Type == Landmarks68 {
		if w.lm, err = newNet(filepath.Join(dir, l.File), 1, l.InputHeight, l.InputWidth, threads, 1); err != nil {
			return nil, fmt.Errorf("landmarks: %w", err)
		}
		if n := w.lm.outs[0].GetShape().FlattenedSize(); n != 136 {
			return nil, fmt.Errorf("landmarks: output has %d values, want 136 (68 points)", n)
		}
	}
	em := m.Embedder
	if w.emb, err = newNet(filepath.Join(dir, em.File), 3, em.InputHeight, em.InputWidth, threads, 1); err != nil {
		return nil, fmt.Errorf("embedder: %w", err)
	}
	if n := w.emb.outs[0].GetShape().FlattenedSize(); n != int64(em.Dimension) {
		return nil, fmt.Errorf("embedder: output has %d values, manifest says dimension %d", n, em.Dimension)
	}
	if em.Type != EmbedderArcFace112 {
		w.crop = make([]float32, 3*112*112)
		w.chip = make([]uint8, 3*em.InputWidth*em.InputHeight)
	}
	return w, nil
}

func (w *worker) destroy() {
	if w.det != nil {
		w.det.destroy()
	}
	for _, n := range []*net{w.lm, w.emb} {
		if n != nil {
			n.destroy()
		}
	}
}

// Close releases the sessions, waiting for images in progress. The ONNX Runtime library
// stays loaded for the process.
func (e *Engine) Close() error {
	e.close.Do(func() {
		close(e.closed)
		for range e.all {
			w := <-e.workers
			w.destroy()
		}
	})
	return nil
}

// ErrClosed is returned by calls on a closed engine.
var ErrClosed = errors.New("face engine is closed")

func (e *Engine) acquire(ctx context.Context) (*worker, error) {
	select {
	case <-e.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case w := <-e.workers:
		return w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.closed:
		return nil, ErrClosed
	}
}

// FaceModelVersion is the pack's version string; collections are pinned to it.
func (e *Engine) FaceModelVersion() string { return e.m.FaceModelVersion }

// Dimension is the embedding length.
func (e *Engine) Dimension() int { return e.m.Embedder.Dimension }

// DecodeBudget is the budget the engine's decodes take their memory from.
func (e *Engine) DecodeBudget() *DecodeBudget { return e.budget }

// Manifest is the loaded model pack description.
func (e *Engine) Manifest() Manifest { return *e.m }

// Similarity maps the cosine of two embeddings to Rekognition's 0..100 Similarity with the
// pack's calibration.
func (e *Engine) Similarity(cosine float32) float32 { return e.m.Similarity.similarity(cosine) }

// CosineAtSimilarity is the inverse of Similarity: the smallest cosine whose Similarity is
// at least similarity, to prune a search at a threshold before mapping scores.
func (e *Engine) CosineAtSimilarity(similarity float32) float32 {
	return e.m.Similarity.cosine(similarity)
}

// stageStats times the pipeline; benchmarks read it, requests ignore it.
type stageStats struct {
	decode, detect, landmarks, align, embed time.Duration // wall time per stage
	detectInfer, landmarksInfer, embedInfer time.Duration // of which ONNX Runtime Run
	detectRuns, faces, embedded             int
}

func (s *stageStats) inference() time.Duration {
	return s.detectInfer + s.landmarksInfer + s.embedInfer
}

// analysed is one detected face before the caller's policy decides what to do with it.
type analysed struct {
	detail FaceDetail
	side   float32
	points [5]point   // eye centres, nose tip, mouth corners, in image pixels
	align  similarity // points onto the ArcFace template
	parts  [5]point   // dlib's 5 landmarks, for packs whose embedder takes dlib's chip
	shape  *shape68   // the 68 points of landmark68 packs (eyelids, lips); nil for dlib's 5
}

// IndexImage finds the faces in image and embeds up to opts.MaxFaces of them, largest
// first, as IndexFaces does. Faces refused by opts.QualityFilter (default AUTO) or past
// MaxFaces are in Unindexed with Rekognition's reasons.
func (e *Engine) IndexImage(ctx context.Context, image []byte, opts IndexOptions) (*IndexResult, error) {
	var st stageStats
	return e.indexImage(ctx, image, opts, &st)
}

func (e *Engine) indexImage(ctx context.Context, image []byte, opts IndexOptions, st *stageStats) (*IndexResult, error) {
	filter, err := parseFilter(opts.QualityFilter, QualityAuto)
	if err != nil {
		return nil, err
	}
	maxFaces := opts.MaxFaces
	switch {
	case maxFaces < 0:
		return nil, errs.New(errs.InvalidParameter, "MaxFaces %d must be at least 1", maxFaces)
	case maxFaces == 0 || maxFaces > MaxIndexFaces:
		maxFaces = MaxIndexFaces
	}
	res := &IndexResult{}
	err = e.run(ctx, image, opts.ImageLimits, st, func(w *worker, img *rgbImage, faces []analysed) error {
		res.ImageWidth, res.ImageHeight = img.W, img.H
		index, unindexed := selectIndexed(faces, filter, maxFaces, opts.Attributes)
		res.Unindexed = unindexed
		for _, i := range index {
			emb, err := w.embed(img, &faces[i], e.m, st)
			if err != nil {
				return err
			}
			res.Faces = append(res.Faces, Face{Detail: faces[i].describe(opts.Attributes), Embedding: emb})
		}
		return nil
	}, &res.OrientationCorrection)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// DetectImage finds the faces in image, as DetectFaces does: the MaxDetectFaces largest,
// largest first, with the attributes asked for that the pack measures. Nothing is embedded.
func (e *Engine) DetectImage(ctx context.Context, image []byte, opts DetectOptions) (*DetectResult, error) {
	var st stageStats
	res := &DetectResult{}
	err := e.run(ctx, image, opts.ImageLimits, &st, func(_ *worker, img *rgbImage, faces []analysed) error {
		res.ImageWidth, res.ImageHeight = img.W, img.H
		for i := range faces[:min(len(faces), MaxDetectFaces)] {
			res.Faces = append(res.Faces, faces[i].describe(opts.Attributes))
		}
		return nil
	}, &res.OrientationCorrection)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// selectIndexed picks the faces IndexFaces indexes among faces (largest first), as
// Rekognition's MaxFaces documentation orders it: "If IndexFaces detects more faces than
// the value of MaxFaces, the faces with the lowest quality are filtered out first. If there
// are still more faces than the value of MaxFaces, the faces with the smallest bounding
// boxes are filtered out (up to the number that's needed to satisfy the value of
// MaxFaces)." The quality filter's refusals go first, so a low-quality face never takes
// the place of a good one; of the rest, the maxFaces largest are indexed and the smaller
// ones are EXCEEDS_MAX_FACES. index lists the picked faces, largest first.
func selectIndexed(faces []analysed, filter QualityFilter, maxFaces int, want Attributes) (index []int, unindexed []UnindexedFace) {
	for i := range faces {
		f := &faces[i]
		if rs := qualityReasons(&f.detail, f.side, filter); len(rs) > 0 {
			unindexed = append(unindexed, UnindexedFace{Detail: f.describe(want), Reasons: rs})
			continue
		}
		if len(index) >= maxFaces {
			unindexed = append(unindexed, UnindexedFace{Detail: f.describe(want), Reasons: []Reason{ReasonExceedsMaxFaces}})
			continue
		}
		index = append(index, i)
	}
	return index, unindexed
}

// maxDetections bounds the faces analysed per image (the smallest beyond it are dropped), so
// a crafted image full of face-like patterns cannot cost thousands of landmark runs.
const maxDetections = 300

// maxReportedFaces is where EXCEEDS_MAX_FACES starts for search (Rekognition's 100).
const maxReportedFaces = 100

// SearchImage embeds the largest face of image (or the one opts.FaceIndex picks), as
// SearchFacesByImage and SearchUsersByImage do; the other faces are in Unsearched with
// FACE_NOT_LARGEST (and EXCEEDS_MAX_FACES past the 100th). Face is nil when there is no face
// or when the face is refused by opts.QualityFilter (default NONE); it is then in Unsearched
// with its reasons.
func (e *Engine) SearchImage(ctx context.Context, image []byte, opts SearchOptions) (*SearchResult, error) {
	var st stageStats
	return e.searchImage(ctx, image, opts, &st)
}

// StageTimes is the wall time one call spent in each stage of the pipeline.
type StageTimes struct {
	Decode, Detect, Landmarks, Align, Embed time.Duration
	// Faces is the number of faces detected.
	Faces int
}

// SearchImageTimed is SearchImage that also says where the time went (for evaluations).
func (e *Engine) SearchImageTimed(ctx context.Context, image []byte, opts SearchOptions) (*SearchResult, StageTimes, error) {
	var st stageStats
	res, err := e.searchImage(ctx, image, opts, &st)
	return res, StageTimes{Decode: st.decode, Detect: st.detect, Landmarks: st.landmarks, Align: st.align, Embed: st.embed, Faces: st.faces}, err
}

func (e *Engine) searchImage(ctx context.Context, image []byte, opts SearchOptions, st *stageStats) (*SearchResult, error) {
	filter, err := parseFilter(opts.QualityFilter, QualityNone)
	if err != nil {
		return nil, err
	}
	chosen := opts.FaceIndex
	if chosen < 0 || chosen >= maxReportedFaces {
		return nil, errs.New(errs.InvalidParameter, "FaceIndex %d is not between 0 and %d", chosen, maxReportedFaces-1)
	}
	other := ReasonFaceNotLargest
	if chosen > 0 {
		other = ReasonFaceNotChosen
	}
	res := &SearchResult{}
	err = e.run(ctx, image, opts.ImageLimits, st, func(w *worker, img *rgbImage, faces []analysed) error {
		res.ImageWidth, res.ImageHeight = img.W, img.H
		if chosen > 0 && chosen >= len(faces) {
			return errs.New(errs.InvalidParameter, "FaceIndex %d: the image has %d faces", chosen, len(faces))
		}
		// Unsearched keeps the largest-first order, with the searched face left out.
		for i, f := range faces {
			if i == chosen {
				if rs := qualityReasons(&f.detail, f.side, filter); len(rs) > 0 {
					res.Unsearched = append(res.Unsearched, UnindexedFace{Detail: f.detail, Reasons: rs})
					continue
				}
				emb, err := w.embed(img, &f, e.m, st)
				if err != nil {
					return err
				}
				res.Face = &Face{Detail: f.detail, Embedding: emb}
				continue
			}
			rs := []Reason{other}
			if i >= maxReportedFaces {
				rs = append(rs, ReasonExceedsMaxFaces)
			}
			res.Unsearched = append(res.Unsearched, UnindexedFace{Detail: f.detail, Reasons: rs})
		}
		return nil
	}, &res.OrientationCorrection)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// analysisBytes is what the stages after decoding allocate per image, held with the decode's
// room: detections, landmarks, face chips and results. Measured on 1080p and 12 Mpx photos
// with 7-8 faces: 0.03-0.1 MB with faceplugin-1.0, 0.6-1.9 MB with dlib-blazeface-1.0 (its
// tile pyramid); the tensors are the worker's own, allocated once.
const analysisBytes = 4 << 20

// run decodes, detects and analyses every face (landmarks, pose, quality), largest first,
// then hands them to use while still holding the worker (which embeds). The header is
// checked before anything is taken; then a worker, then room in the decode budget for what
// the decode will allocate, held until the image's buffers are dropped.
func (e *Engine) run(ctx context.Context, data []byte, lim ImageLimits, st *stageStats,
	use func(w *worker, img *rgbImage, faces []analysed) error, oc *OrientationCorrection) error {
	if lim.MaxDecodeBytes <= 0 || lim.MaxDecodeBytes > e.budget.DecodeBytes() {
		lim.MaxDecodeBytes = e.budget.DecodeBytes()
	}
	hdr, err := inspectImage(data, lim)
	if err != nil {
		return err
	}
	if hdr.cost += analysisBytes; hdr.cost > lim.MaxDecodeBytes {
		return hdr.tooCostly(lim.MaxDecodeBytes)
	}
	w, err := e.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { e.workers <- w }()
	t := time.Now()
	img, orient, room, err := e.budget.decodeImage(ctx, &hdr, data)
	st.decode += time.Since(t)
	if err != nil {
		return err
	}
	defer room.Release()
	defer img.release()
	w.warped = similarity{}
	*oc = orient
	if err := ctx.Err(); err != nil {
		return err
	}
	faces, err := w.analyse(ctx, img, e, st)
	if err != nil {
		return err
	}
	return use(w, img, faces)
}

func (w *worker) analyse(ctx context.Context, img *rgbImage, e *Engine, st *stageStats) ([]analysed, error) {
	t := time.Now()
	var err error
	if w.dets, err = w.det.detect(img, st, w.dets[:0]); err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	dets := w.dets
	// Rekognition orders by size, largest first; ties by score so the order is stable.
	sort.SliceStable(dets, func(i, j int) bool {
		ai, aj := dets[i].area(), dets[j].area()
		if ai != aj {
			return ai > aj
		}
		return dets[i].score > dets[j].score
	})
	if len(dets) > maxDetections {
		dets = dets[:maxDetections]
	}
	st.detect += time.Since(t)
	faces := make([]analysed, 0, len(dets))
	W, H := float32(img.W), float32(img.H)
	m := e.m
	for _, det := range dets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t = time.Now()
		var f analysed
		if m.Landmarks.Type == LandmarksDlib5 {
			f.parts = e.dlibParts(img, det)
			f.points = fromDlibParts(f.parts)
		} else {
			f.shape = new(shape68)
			if err = w.landmarks(img, det, m, st, f.shape); err != nil {
				return nil, err
			}
			f.points = fivePoints(f.shape[:])
		}
		if det.verify && checksLandmarkDrift(m.Landmarks.Type) {
			ok, err := w.verify(img, det, f.shape, m, st)
			if err != nil {
				return nil, err
			}
			if !ok {
				st.landmarks += time.Since(t)
				continue
			}
		}
		st.landmarks += time.Since(t)
		t = time.Now()
		f.align = fitSimilarity(f.points, arcfaceTemplate)
		f.side = min(det.x2-det.x1, det.y2-det.y1)
		// Quality is measured on the ArcFace-aligned crop. For an arcface112 embedder that
		// crop is its input, so it is written there and embed reuses it.
		if w.crop == nil {
			warpAligned(w.emb.in.GetData(), w.grey[:], img, f.align, &m.Embedder)
			w.warped = f.align
		} else {
			warpAligned(w.crop, w.grey[:], img, f.align, &m.Embedder)
		}
		f.detail = FaceDetail{
			BoundingBox: BoundingBox{Width: (det.x2 - det.x1) / W, Height: (det.y2 - det.y1) / H, Left: det.x1 / W, Top: det.y1 / H},
			Confidence:  100 * det.score,
			Pose:        estimatePose(f.points),
			Quality:     measureQuality(w.grey[:]),
		}
		types := [5]LandmarkType{LandmarkEyeLeft, LandmarkEyeRight, LandmarkNose, LandmarkMouthLeft, LandmarkMouthRight}
		f.detail.Landmarks = make([]Landmark, 5)
		for i, p := range f.points {
			f.detail.Landmarks[i] = Landmark{Type: types[i], X: float32(p.X) / W, Y: float32(p.Y) / H}
		}
		st.align += time.Since(t)
		faces = append(faces, f)
	}
	st.faces += len(faces)
	return faces, nil
}

// landmarks runs the 68-point net on the detector's box and writes the points, in image
// pixels, to p.
func (w *worker) landmarks(img *rgbImage, det detection, m *Manifest, st *stageStats, p *shape68) error {
	l := &m.Landmarks
	x1 := clampF(float64(det.x1), 0, float64(img.W))
	y1 := clampF(float64(det.y1), 0, float64(img.H))
	x2 := clampF(float64(det.x2), 0, float64(img.W))
	y2 := clampF(float64(det.y2), 0, float64(img.H))
	bw, bh := math.Max(x2-x1, 1), math.Max(y2-y1, 1)
	fillTensor(w.lm.in.GetData(), img, x1, y1, bw, bh, l.InputWidth, l.InputHeight, l, &w.scratch)
	if err := w.lm.run(&st.landmarksInfer); err != nil {
		return fmt.Errorf("landmarks: %w", err)
	}
	out := w.lm.outs[0].GetData()
	for i := 0; i < 68; i++ {
		p[2*i] = x1 + float64(out[2*i])*bw
		p[2*i+1] = y1 + float64(out[2*i+1])*bh
	}
	return nil
}

// embed aligns the face into the embedder's input, runs it and returns the L2-normalised
// embedding (a new slice the caller owns).
func (w *worker) embed(img *rgbImage, f *analysed, m *Manifest, st *stageStats) ([]float32, error) {
	t := time.Now()
	switch {
	case m.Embedder.Type == EmbedderDlibResNet150:
		dlibChip(w.emb.in.GetData(), w.chip, img, f.parts, &m.Embedder)
	case f.align != w.warped:
		warpAligned(w.emb.in.GetData(), w.grey[:], img, f.align, &m.Embedder)
		w.warped = f.align
	}
	if err := w.emb.run(&st.embedInfer); err != nil {
		return nil, fmt.Errorf("embedder: %w", err)
	}
	out := w.emb.outs[0].GetData()
	v := make([]float32, len(out))
	var ss float64
	for _, x := range out {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return nil, fmt.Errorf("embedder returned a degenerate vector")
	}
	inv := float32(1 / math.Sqrt(ss))
	for i, x := range out {
		v[i] = x * inv
	}
	st.embed += time.Since(t)
	st.embedded++
	return v, nil
}

// Cosine is the dot product of two L2-normalised embeddings.
func Cosine(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
