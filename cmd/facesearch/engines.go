package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// engineFlags are the face engine settings every role that embeds faces takes.
type engineFlags struct {
	modelPacks  string
	onnxRuntime string
	threads     int
	concurrent  int
	decodeBytes int64
}

func (f *engineFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.modelPacks, "model-packs", os.Getenv("FACESEARCH_MODEL_PACKS"), "comma-separated model pack directories (default: every pack installed in the cache)")
	fs.StringVar(&f.onnxRuntime, "onnxruntime-library", "", "path of libonnxruntime.so (default: $FACESEARCH_ONNXRUNTIME or the installed one)")
	fs.IntVar(&f.threads, "inference-threads", 1, "ONNX Runtime intra-op threads per inference")
	fs.IntVar(&f.concurrent, "max-concurrent-inferences", 0, "bound on inferences at once (0: the number of CPUs)")
	fs.Func("max-decode-bytes", "memory for images in flight, decoded and read from storage, across every model pack, as bytes or a quantity such as 512Mi "+
		"(default: a quarter of the container's memory limit, or 512Mi without one; at least 64Mi); an image whose decoding needs more than 7/8 of it is refused with ImageTooLarge",
		func(s string) error {
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return err
			}
			if q.Sign() < 0 {
				return fmt.Errorf("must not be negative")
			}
			f.decodeBytes = q.Value()
			return nil
		})
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
	budget := face.NewDecodeBudget(face.DecodeBudgetOptions{Bytes: f.decodeBytes})
	ctrl.Log.WithName("face").Info("Decode budget", "bytes", budget.Bytes(), "largestImageDecode", budget.DecodeBytes(), "storageReads", budget.ReadBytes())
	return search.NewEngines(search.EnginesOptions{ModelPackDirs: packs, ONNXRuntimeLibrary: lib, IntraOpThreads: f.threads, MaxConcurrent: f.concurrent, DecodeBudget: budget})
}
