package main

import (
	"flag"
	"os"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// engineFlags are the face engine settings every role that embeds faces takes.
type engineFlags struct {
	modelPacks  string
	onnxRuntime string
	threads     int
	concurrent  int
}

func (f *engineFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.modelPacks, "model-packs", os.Getenv("FACESEARCH_MODEL_PACKS"), "comma-separated model pack directories (default: every pack installed in the cache)")
	fs.StringVar(&f.onnxRuntime, "onnxruntime-library", "", "path of libonnxruntime.so (default: $FACESEARCH_ONNXRUNTIME or the installed one)")
	fs.IntVar(&f.threads, "inference-threads", 1, "ONNX Runtime intra-op threads per inference")
	fs.IntVar(&f.concurrent, "max-concurrent-inferences", 0, "bound on inferences at once (0: the number of CPUs)")
}

func (f *engineFlags) engines() (*search.Engines, error) {
	packs := strings.FieldsFunc(f.modelPacks, func(r rune) bool { return r == ',' })
	if len(packs) == 0 {
		p, err := assets.InstalledModelPacks()
		if err != nil {
			return nil, err
		}
		packs = p
	}
	lib := f.onnxRuntime
	if lib == "" {
		p, err := assets.ONNXRuntimeLibrary.Path()
		if err != nil {
			return nil, err
		}
		lib = p
	}
	return search.NewEngines(search.EnginesOptions{ModelPackDirs: packs, ONNXRuntimeLibrary: lib, IntraOpThreads: f.threads, MaxConcurrent: f.concurrent})
}
