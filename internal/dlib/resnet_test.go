package dlib

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

const faceResNetFile = "dlib_face_recognition_resnet_model_v1.dat"

func readModelFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.DlibModels(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceOnce returns a copy of b with the first occurrence of dlib string old (its
// length byte and text) replaced by repl, which must have the same length.
func replaceOnce(t *testing.T, b []byte, old, repl string) []byte {
	t.Helper()
	if len(old) != len(repl) {
		t.Fatalf("replacement %q has another length than %q", repl, old)
	}
	enc := func(s string) []byte { return append([]byte{1, byte(len(s))}, s...) }
	i := bytes.Index(b, enc(old))
	if i < 0 {
		t.Fatalf("%q is not in the file", old)
	}
	c := bytes.Clone(b)
	copy(c[i:], enc(repl))
	return c
}

func TestReadFaceResNet(t *testing.T) {
	net, err := ReadFaceResNet(bytes.NewReader(readModelFile(t, faceResNetFile)))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[LayerKind]int{}
	for _, l := range net.Layers {
		counts[l.Kind]++
	}
	want := map[LayerKind]int{Conv: 29, Affine: 29, Relu: 29, MaxPool: 1, AvgPool: 5, AddPrev: 14, Tag: 18, Skip: 4, FC: 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d %s layers, want %d", counts[k], k, n)
		}
	}
	if net.Mean != [3]float32{122.782, 117.001, 104.298} || net.Rows != 150 || net.Cols != 150 {
		t.Errorf("input: mean %v, %dx%d", net.Mean, net.Rows, net.Cols)
	}
	if got := net.Params(); got != 5614592 {
		t.Errorf("%d parameters, want 5614592", got)
	}
}

func TestReadFaceResNetRefusesOtherFiles(t *testing.T) {
	model := readModelFile(t, faceResNetFile)
	shapePredictor := readModelFile(t, "shape_predictor_5_face_landmarks.dat")
	// Offsets of the parts of the real file, for cuts inside each.
	input := bytes.Index(model, []byte("input_rgb_image_sized"))
	firstConv := bytes.Index(model, []byte("con_4"))
	fc := bytes.LastIndex(model, []byte("fc_2"))
	if input < 0 || firstConv < 0 || fc < 0 {
		t.Fatal("the model file lacks its input, con_4 or fc_2 layer")
	}
	// The nested versions start after the loss's name and two floats (6 bytes each here);
	// the third, two bytes each, is layer<3>'s: the outer relu of alevel0.
	relu3 := bytes.Index(model, []byte("loss_metric_2")) + len("loss_metric_2") + 2*6 + 2*2

	tests := []struct {
		name string
		file []byte
		want []string // substrings of the error
	}{
		{"shape predictor", shapePredictor, []string{`loss name (want "loss_metric_2")`}},
		{"empty", nil, []string{"add_loss_layer", "unexpected end of file"}},
		{"cut in the loss layer", model[:10], []string{"loss name", "unexpected EOF"}},
		{"cut in the layer nesting", model[:100], []string{"version", "unexpected end of file"}},
		{"cut in the input layer", model[:input+30], []string{"layer<131> (input_rgb_image_sized)", "unexpected end of file"}},
		{"cut in the first conv's weights", model[:firstConv+2000], []string{"layer<130> (con 32 3x7x7 stride 2 pad 0)", "params tensor of [4736 1 1 1]: unexpected end of file"}},
		{"cut in the middle", model[:len(model)/2], []string{"layer<", "unexpected end of file"}},
		{"cut in the fc layer", model[:fc+100], []string{"layer<1> (fc_no_bias 256->128)", "unexpected end of file"}},
		{"cut at the last byte", model[:len(model)-1], []string{"layer<1> (fc_no_bias 256->128)", "unexpected end of file"}},
		{"trailing data", append(bytes.Clone(model), 0), []string{"trailing data after the network"}},
		{"mmod detector's loss", replaceOnce(t, model, "loss_metric_2", "loss_mmod_xx_"), []string{`found "loss_mmod_xx_" where loss "loss_metric_2" was expected`}},
		{"relu renamed", replaceOnce(t, model, "relu_", "relX_"), []string{`layer<128> (relu)`, `found "relX_" where layer "relu_" was expected`}},
		{"max pool for avg pool", replaceOnce(t, model, "max_pool_2", "avg_pool_2"), []string{`layer<127> (max_pool 3x3 stride 2 pad 0)`, `found "avg_pool_2" where layer "max_pool_2" was expected`}},
		{"add_prev renamed", replaceOnce(t, model, "add_prev_", "mult_prev"), []string{`(add_prev1)`, `found "mult_prev" where layer "add_prev_" was expected`}},
		{"another nesting", func() []byte {
			c := bytes.Clone(model)
			c[relu3+1] = 1 // a tag's version where alevel0's relu is
			return c
		}(), []string{"layer<3>: at byte", "version 1 where relu (version 2) was expected", "not dlib's face ResNet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, err := ReadFaceResNet(bytes.NewReader(tt.file))
			if err == nil {
				t.Fatalf("read %d layers, want an error", len(net.Layers))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "dlib face ResNet: ") {
				t.Errorf("error %q does not name the model", err)
			}
		})
	}
}

// Tests here share one ONNX Runtime environment with whatever else in the test binary
// initialised it, as internal/face does: once per process, never torn down.
var ortInit sync.Mutex

func initTestORT(t *testing.T) {
	t.Helper()
	lib := testenv.ONNXRuntimeLibrary(t)
	ortInit.Lock()
	defer ortInit.Unlock()
	if ort.IsInitialized() {
		return
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		t.Fatalf("initialising ONNX Runtime from %s: %v", lib, err)
	}
}

// convertFaceResNet reads the released model and converts it to ONNX.
func convertFaceResNet(t *testing.T) []byte {
	t.Helper()
	net, err := ReadFaceResNet(bytes.NewReader(readModelFile(t, faceResNetFile)))
	if err != nil {
		t.Fatal(err)
	}
	model, err := net.ONNX()
	if err != nil {
		t.Fatal(err)
	}
	return model
}

// loadChip reads a golden 150x150 chip as the ONNX input: planar R, G, B, values 0..255.
func loadChip(t *testing.T, name string) []float32 {
	t.Helper()
	w, h, rgb := readChipPNG(t, name)
	if w != ChipSize || h != ChipSize {
		t.Fatalf("%s is %dx%d, want %dx%d", name, w, h, ChipSize, ChipSize)
	}
	const plane = ChipSize * ChipSize
	out := make([]float32, 3*plane)
	for i := 0; i < plane; i++ {
		out[i], out[plane+i], out[2*plane+i] = float32(rgb[3*i]), float32(rgb[3*i+1]), float32(rgb[3*i+2])
	}
	return out
}

// TestFaceResNetONNXMatchesDlib runs the converted model in ONNX Runtime on the golden chips
// and compares with the descriptors dlib's C++ computed from the same pixels.
func TestFaceResNetONNXMatchesDlib(t *testing.T) {
	const tolerance = 1e-5
	golden := loadGolden(t)
	model := convertFaceResNet(t)
	if again := convertFaceResNet(t); !bytes.Equal(model, again) {
		t.Fatal("two conversions of the same file differ")
	}
	initTestORT(t)

	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Name != ONNXInput || ins[0].Dimensions.String() != "[1 3 150 150]" ||
		len(outs) != 1 || outs[0].Name != ONNXOutput || outs[0].Dimensions.String() != "[1 128]" {
		t.Fatalf("inputs %v, outputs %v; want %s [1 3 150 150] and %s [1 128]", ins, outs, ONNXInput, ONNXOutput)
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, ChipSize, ChipSize))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Destroy() }() // frees C memory; fails only on an uninitialised object
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, DescriptorSize))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Destroy() }()
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = opts.Destroy() }()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewAdvancedSessionWithONNXData(model, []string{ONNXInput}, []string{ONNXOutput},
		[]ort.Value{in}, []ort.Value{out}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Destroy() }()

	var worst float64
	var spent time.Duration
	for i, f := range golden.Faces {
		if !f.DescriptorFromPNG {
			t.Fatalf("face %d (%s): the golden descriptor is not of the chip file's pixels", i, f.Image)
		}
		copy(in.GetData(), loadChip(t, f.ChipFile))
		start := time.Now()
		if err := sess.Run(); err != nil {
			t.Fatal(err)
		}
		spent += time.Since(start)
		for j, got := range out.GetData() {
			diff := math.Abs(float64(got) - float64(f.Descriptor[j]))
			worst = max(worst, diff)
			if diff > tolerance {
				t.Errorf("face %d (%s) value %d: %g, dlib %g", i, f.ChipFile, j, got, f.Descriptor[j])
			}
		}
	}
	t.Logf("%d chips: max abs difference from dlib %.3g; %v per chip (1 thread)",
		len(golden.Faces), worst, (spent / time.Duration(len(golden.Faces))).Round(10*time.Microsecond))
}
