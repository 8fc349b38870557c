package search

import (
	"fmt"
	"sort"
	"sync"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
)

// EnginesOptions say where model packs are and how engines run.
type EnginesOptions struct {
	// ModelPackDirs are model pack directories; each one's manifest names its FaceModelVersion.
	ModelPackDirs []string
	// ONNXRuntimeLibrary is the path of libonnxruntime.so.
	ONNXRuntimeLibrary string
	// IntraOpThreads and MaxConcurrent are passed to each engine.
	IntraOpThreads, MaxConcurrent int
	// DecodeBudget bounds the memory of the images being processed, by every engine at
	// once (one budget for all packs) and by the storage reads of images; default
	// face.DefaultDecodeBudget(), the process's own.
	DecodeBudget *face.DecodeBudget
	// DefaultFaceModelVersion is the pack of the operations that have no collection to say
	// which (DetectFaces, CompareFaces); default DefaultFaceModelVersion.
	DefaultFaceModelVersion string
}

// DefaultFaceModelVersion is the Collection resource's default faceModelVersion (its CRD's
// kubebuilder default), the one collections made through CreateCollection get: so
// DetectFaces and CompareFaces see faces the way a new collection does.
const DefaultFaceModelVersion = "faceplugin-1.0"

// Engines holds one face engine per FaceModelVersion, loaded on first use, because a
// collection is pinned to its model version and an operator may serve several.
type Engines struct {
	opts  EnginesOptions
	packs map[string]string // FaceModelVersion -> pack directory

	mu      sync.Mutex
	engines map[string]*face.Engine
}

// NewEngines reads the manifests of the model packs (not their models).
func NewEngines(opts EnginesOptions) (*Engines, error) {
	if opts.DecodeBudget == nil {
		opts.DecodeBudget = face.DefaultDecodeBudget()
	}
	e := &Engines{opts: opts, packs: map[string]string{}, engines: map[string]*face.Engine{}}
	for _, dir := range opts.ModelPackDirs {
		m, err := face.LoadManifest(dir)
		if err != nil {
			return nil, fmt.Errorf("while reading model pack %s: %w", dir, err)
		}
		e.packs[m.FaceModelVersion] = dir
	}
	return e, nil
}

// Versions lists the FaceModelVersions available.
func (e *Engines) Versions() []string {
	v := make([]string, 0, len(e.packs))
	for k := range e.packs {
		v = append(v, k)
	}
	sort.Strings(v)
	return v
}

// DecodeBudget is the memory budget every engine and storage read of images shares.
func (e *Engines) DecodeBudget() *face.DecodeBudget { return e.opts.DecodeBudget }

// Has says whether a model pack for the version is installed.
func (e *Engines) Has(version string) bool { _, ok := e.packs[version]; return ok }

// Get returns the engine of a FaceModelVersion, loading its models the first time.
func (e *Engines) Get(version string) (*face.Engine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if eng, ok := e.engines[version]; ok {
		return eng, nil
	}
	dir, ok := e.packs[version]
	if !ok {
		return nil, errs.New(errs.FaceModelUnavailable, "no model pack for FaceModelVersion %q (installed: %v)", version, e.Versions())
	}
	eng, err := face.NewEngine(face.EngineOptions{
		ModelPackDir: dir, ONNXRuntimeLibrary: e.opts.ONNXRuntimeLibrary,
		IntraOpThreads: e.opts.IntraOpThreads, MaxConcurrent: e.opts.MaxConcurrent, DecodeBudget: e.opts.DecodeBudget,
	})
	if err != nil {
		return nil, fmt.Errorf("while loading model pack %s: %w", dir, err)
	}
	e.engines[version] = eng
	return eng, nil
}

// Default returns the engine of the default FaceModelVersion (EnginesOptions), for the
// operations that have no collection; FaceModelUnavailable if its pack is not installed.
func (e *Engines) Default() (*face.Engine, error) {
	v := e.opts.DefaultFaceModelVersion
	if v == "" {
		v = DefaultFaceModelVersion
	}
	return e.Get(v)
}

// Close releases every loaded engine.
func (e *Engines) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var first error
	for v, eng := range e.engines {
		if err := eng.Close(); err != nil && first == nil {
			first = err
		}
		delete(e.engines, v)
	}
	return first
}
