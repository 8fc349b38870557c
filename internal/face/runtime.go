package face

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNX Runtime has one environment per process and onnxruntime_go one library path. The
// first engine initialises it and it then stays for the life of the process: engines come
// and go (tests make many), and tearing the environment down under a live engine would crash.
var (
	ortMu   sync.Mutex
	ortPath string
)

func initORT(lib string) error {
	ortMu.Lock()
	defer ortMu.Unlock()
	if lib == "" {
		if ort.IsInitialized() {
			return nil // a later engine may leave the path to the first one
		}
		return fmt.Errorf("ONNX Runtime library path is empty")
	}
	abs, err := filepath.Abs(lib)
	if err != nil {
		return err
	}
	if ort.IsInitialized() {
		if ortPath != "" && ortPath != abs {
			return fmt.Errorf("ONNX Runtime is already loaded from %s in this process; cannot also load %s", ortPath, abs)
		}
		return nil
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("initialising ONNX Runtime from %s: %w", abs, err)
	}
	ortPath = abs
	return nil
}

// net is one ONNX session with its bound input and output tensors. It must only be used by
// one goroutine at a time (AdvancedSession binds the tensors): workers own their nets.
type net struct {
	sess *ort.AdvancedSession
	in   *ort.Tensor[float32]
	outs []*ort.Tensor[float32]
}

func (n *net) run(stat *time.Duration) error {
	t := time.Now()
	err := n.sess.Run()
	*stat += time.Since(t)
	return err
}

// destroy releases the session and its tensors. onnxruntime_go's Destroy methods free C
// memory and fail only on an object that was never initialised, so their errors are dropped.
func (n *net) destroy() {
	if n.sess != nil {
		_ = n.sess.Destroy()
	}
	if n.in != nil {
		_ = n.in.Destroy()
	}
	for _, o := range n.outs {
		_ = o.Destroy()
	}
}

// newNet opens path with input shape [1,c,h,w]; output shapes come from the model, with
// dynamic dimensions taken as 1 (batch).
func newNet(path string, c, h, w int, threads int, wantOutputs int) (*net, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if len(ins) != 1 || len(outs) != wantOutputs {
		return nil, fmt.Errorf("%s: has %d inputs and %d outputs, want 1 and %d", filepath.Base(path), len(ins), len(outs), wantOutputs)
	}
	want := []int64{1, int64(c), int64(h), int64(w)}
	got := ins[0].Dimensions
	if len(got) != 4 {
		return nil, fmt.Errorf("%s: input has shape %v, want %v", filepath.Base(path), got, want)
	}
	for i := range want {
		if got[i] > 0 && got[i] != want[i] {
			return nil, fmt.Errorf("%s: input has shape %v, manifest says %v", filepath.Base(path), got, want)
		}
	}
	n := &net{}
	if n.in, err = ort.NewEmptyTensor[float32](ort.NewShape(want...)); err != nil {
		return nil, err
	}
	var inNames, outNames []string
	inNames = append(inNames, ins[0].Name)
	values := []ort.Value{}
	for _, o := range outs {
		shape := make([]int64, len(o.Dimensions))
		for i, d := range o.Dimensions {
			if d <= 0 {
				d = 1
			}
			shape[i] = d
		}
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(shape...))
		if err != nil {
			n.destroy()
			return nil, err
		}
		n.outs = append(n.outs, t)
		values = append(values, t)
		outNames = append(outNames, o.Name)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		n.destroy()
		return nil, err
	}
	defer func() { _ = opts.Destroy() }() // as in destroy
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		n.destroy()
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		n.destroy()
		return nil, err
	}
	n.sess, err = ort.NewAdvancedSession(path, inNames, outNames, []ort.Value{n.in}, values, opts)
	if err != nil {
		n.destroy()
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return n, nil
}
