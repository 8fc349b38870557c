package dlib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// LayerKind is the kind of one layer of dlib's face recognition ResNet.
type LayerKind int

// The layer kinds of the face ResNet, named after dlib's layer classes.
const (
	Conv    LayerKind = iota // con_: convolution with bias
	Affine                   // affine_: per-channel gamma*x+beta (batch norm folded at training's end)
	Relu                     // relu_
	MaxPool                  // max_pool_
	AvgPool                  // avg_pool_; Rows == 0 means the whole input (avg_pool_everything)
	AddPrev                  // add_prev_: adds the tagged tensor, zero-padding the smaller one at the end
	Tag                      // tagN: marks a tensor for Skip and AddPrev
	Skip                     // skipN: continues from the tagged tensor
	FC                       // fc_ without bias: [Inputs] x [Inputs, Outputs]
)

var kindNames = [...]string{"con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "tag", "skip", "fc_no_bias"}

func (k LayerKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("LayerKind(%d)", int(k))
}

// Layer is one layer with its parameters. Which fields are used depends on Kind.
type Layer struct {
	Kind LayerKind
	// Filters, Channels, Rows, Cols, Stride, Pad: Conv (Filters x Channels x Rows x Cols),
	// MaxPool and AvgPool (window Rows x Cols). Channels is also the input width of Affine.
	Filters, Channels, Rows, Cols, Stride, Pad int
	// TagID is N of tagN, skipN and add_prevN.
	TagID int
	// Inputs, Outputs: FC.
	Inputs, Outputs int
	// Weights: Conv [Filters][Channels][Rows][Cols] (ONNX's OIHW), FC [Inputs][Outputs].
	Weights []float32
	// Bias: Conv, one per filter.
	Bias []float32
	// Gamma, Beta: Affine, one per channel.
	Gamma, Beta []float32
}

// computational says whether dlib wraps the layer in add_layer (it has details and
// trailing state in the file); tags and skips are bare wrappers.
func (l *Layer) computational() bool { return l.Kind != Tag && l.Kind != Skip }

func (l *Layer) String() string {
	switch l.Kind {
	case Conv:
		return fmt.Sprintf("con %d %dx%dx%d stride %d pad %d", l.Filters, l.Channels, l.Rows, l.Cols, l.Stride, l.Pad)
	case Affine:
		return fmt.Sprintf("affine %d", l.Channels)
	case MaxPool, AvgPool:
		if l.Rows == 0 {
			return l.Kind.String() + " everything"
		}
		return fmt.Sprintf("%s %dx%d stride %d pad %d", l.Kind, l.Rows, l.Cols, l.Stride, l.Pad)
	case Tag, Skip, AddPrev:
		return fmt.Sprintf("%s%d", l.Kind, l.TagID)
	case FC:
		return fmt.Sprintf("fc_no_bias %d->%d", l.Inputs, l.Outputs)
	}
	return l.Kind.String()
}

// Params is the number of learned values.
func (l *Layer) Params() int { return len(l.Weights) + len(l.Bias) + len(l.Gamma) + len(l.Beta) }

// FaceResNet is dlib_face_recognition_resnet_model_v1.dat: dlib's anet_type from
// examples/dnn_face_recognition_ex.cpp, whose output is the 128-d face descriptor
// (not L2-normalised; dlib's same-person threshold is Euclidean distance 0.6).
type FaceResNet struct {
	// Mean is the RGB pixel mean input_rgb_image_sized subtracts before dividing by 256.
	Mean [3]float32
	// Rows, Cols: the input chip size (150x150).
	Rows, Cols int
	// Margin and DistanceThreshold are loss_metric's training settings, kept for the record.
	Margin, DistanceThreshold float32
	// Layers in forward order, from the input to the descriptor.
	Layers []Layer
}

// Params is the number of learned values in the network.
func (n *FaceResNet) Params() int {
	total := 0
	for i := range n.Layers {
		total += n.Layers[i].Params()
	}
	return total
}

// ChipSize is the side of the face chip the ResNet takes.
const ChipSize = 150

// DescriptorSize is the length of the face descriptor.
const DescriptorSize = 128

// faceResNetTopology is anet_type in forward order, without parameters. The .dat file
// holds no graph, only each layer's details, so this is what the file is checked against.
func faceResNetTopology() []Layer {
	var t []Layer
	ch := 3
	tagCh := map[int]int{}
	// dlib's default padding: half the window at stride 1, none otherwise.
	pad := func(k, stride int) int {
		if stride != 1 {
			return 0
		}
		return k / 2
	}
	conv := func(n, k, stride int) {
		t = append(t, Layer{Kind: Conv, Filters: n, Channels: ch, Rows: k, Cols: k, Stride: stride, Pad: pad(k, stride)})
		ch = n
	}
	affine := func() { t = append(t, Layer{Kind: Affine, Channels: ch}) }
	relu := func() { t = append(t, Layer{Kind: Relu}) }
	tag := func(id int) { t = append(t, Layer{Kind: Tag, TagID: id}); tagCh[id] = ch }
	// ares (down=false) and ares_down (down=true) with block<N,affine,stride>.
	ares := func(n int, down bool) {
		stride := 1
		if down {
			stride = 2
		}
		tag(1)
		conv(n, 3, stride)
		affine()
		relu()
		conv(n, 3, 1)
		affine()
		if down {
			tag(2)
			t = append(t, Layer{Kind: Skip, TagID: 1})
			ch = tagCh[1]
			t = append(t, Layer{Kind: AvgPool, Rows: 2, Cols: 2, Stride: 2, Pad: pad(2, 2)})
			t = append(t, Layer{Kind: AddPrev, TagID: 2})
			ch = max(ch, tagCh[2])
		} else {
			t = append(t, Layer{Kind: AddPrev, TagID: 1})
		}
		relu()
	}
	level := func(n, plain int, down bool) {
		if down {
			ares(n, true)
		}
		for range plain {
			ares(n, false)
		}
	}
	conv(32, 7, 2)
	affine()
	relu()
	t = append(t, Layer{Kind: MaxPool, Rows: 3, Cols: 3, Stride: 2, Pad: pad(3, 2)})
	level(32, 3, false) // alevel4
	level(64, 3, true)  // alevel3
	level(128, 2, true) // alevel2
	level(256, 2, true) // alevel1
	level(256, 0, true) // alevel0
	t = append(t, Layer{Kind: AvgPool, Stride: 1})
	t = append(t, Layer{Kind: FC, Inputs: ch, Outputs: DescriptorSize})
	return t
}

// ReadFaceResNet reads dlib_face_recognition_resnet_model_v1.dat, checking every layer's
// name, version and shape against dlib's anet_type; any other network is refused with an
// error naming the layer (dlib's layer<i> numbering, as its operator<< prints) and what
// was found there instead of what was expected.
func ReadFaceResNet(r io.Reader) (*FaceResNet, error) {
	d := NewReader(r)
	net := &FaceResNet{Layers: faceResNetTopology()}
	if err := net.read(d); err != nil {
		return nil, fmt.Errorf("dlib face ResNet: %w", err)
	}
	return net, nil
}

// layerIndex is dlib's layer<i> number of Layers[fwd]: 0 is the loss, 1 the fc layer, and
// the input layer is len(Layers)+1.
func (n *FaceResNet) layerIndex(fwd int) int { return len(n.Layers) - fwd }

func (n *FaceResNet) read(d *Reader) error {
	// add_loss_layer: version, loss details, then the network from the output inwards.
	if err := d.Version("add_loss_layer", 1); err != nil {
		return fmt.Errorf("add_loss_layer version: %w", err)
	}
	if err := expectName(d, "loss", "loss_metric_2"); err != nil {
		return err
	}
	var err error
	if n.Margin, err = d.Float32(); err != nil {
		return err
	}
	if n.DistanceThreshold, err = d.Float32(); err != nil {
		return err
	}
	// Each wrapper writes its version before its subnetwork, so the versions come first,
	// outermost first; they are the only record of the nesting.
	for i := len(n.Layers) - 1; i >= 0; i-- {
		l := &n.Layers[i]
		at := d.Offset()
		v, err := d.Int()
		if err != nil {
			return fmt.Errorf("layer<%d> (%s) version: %w", n.layerIndex(i), l, err)
		}
		want := int64(1) // add_tag_layer, add_skip_layer
		if l.computational() {
			want = 2 // add_layer
			if i == 0 {
				want = 3 // add_layer over the input layer
			}
		}
		if v != want {
			return fmt.Errorf("layer<%d>: at byte %d: version %d where %s (version %d) was expected: the file's network is not dlib's face ResNet", n.layerIndex(i), at, v, l, want)
		}
	}
	if err := n.readInput(d); err != nil {
		return fmt.Errorf("layer<%d> (input_rgb_image_sized): %w", len(n.Layers)+1, err)
	}
	// Then each add_layer's details and state, innermost first.
	for i := range n.Layers {
		l := &n.Layers[i]
		if !l.computational() {
			continue
		}
		if err := readLayer(d, l, i == 0); err != nil {
			return fmt.Errorf("layer<%d> (%s): %w", n.layerIndex(i), l, err)
		}
	}
	if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
		return d.errorf("trailing data after the network")
	}
	return nil
}

// expectName reads a layer's name and version string; a mismatch says what was found.
func expectName(d *Reader, what string, want ...string) error {
	at := d.Offset()
	s, err := d.String()
	if err != nil {
		return fmt.Errorf("%s name (want %q): %w", what, want[0], err)
	}
	for _, w := range want {
		if s == w {
			return nil
		}
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Errorf("at byte %d: found %q where %s %q was expected", at, s, what, want[0])
}

func (n *FaceResNet) readInput(d *Reader) error {
	if err := expectName(d, "input layer", "input_rgb_image_sized"); err != nil {
		return err
	}
	for c := range n.Mean {
		v, err := d.Float32()
		if err != nil {
			return err
		}
		n.Mean[c] = v
	}
	nr, err := d.Uint(1 << 16)
	if err != nil {
		return err
	}
	nc, err := d.Uint(1 << 16)
	if err != nil {
		return err
	}
	if nr != ChipSize || nc != ChipSize {
		return fmt.Errorf("input is %dx%d, want %dx%d", nr, nc, ChipSize, ChipSize)
	}
	n.Rows, n.Cols = int(nr), int(nc)
	return nil
}

// readLayer reads one add_layer's details (checked against the expected l, whose
// parameters it fills in) and the state dlib saves after them.
func readLayer(d *Reader, l *Layer, innermost bool) error {
	var err error
	switch l.Kind {
	case Conv:
		err = readConv(d, l)
	case Affine:
		err = readAffine(d, l)
	case Relu:
		err = expectName(d, "layer", "relu_")
	case MaxPool:
		err = readPool(d, l, "max_pool_2")
	case AvgPool:
		err = readPool(d, l, "avg_pool_2")
	case AddPrev:
		err = expectName(d, "layer", "add_prev_")
	case FC:
		err = readFC(d, l)
	default:
		err = fmt.Errorf("no details for %s", l.Kind)
	}
	if err != nil {
		return err
	}
	// this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled
	for range 3 {
		if _, err := d.Bool(); err != nil {
			return err
		}
	}
	// x_grad, cached_output, then params_grad (grad_final for the innermost layer).
	for range 3 {
		if _, _, err := readTensor(d, "state", maxStateElems); err != nil {
			return err
		}
	}
	if innermost {
		if _, err := d.Int(); err != nil { // _sample_expansion_factor
			return err
		}
	}
	return nil
}

// maxStateElems bounds the saved activations and gradients; they are empty in dlib's
// released model, but a file saved mid-training may carry them.
const maxStateElems = 1 << 26

type dims [4]int64

func (s dims) size() int64 { return s[0] * s[1] * s[2] * s[3] }

func readDims(d *Reader) (dims, error) {
	var s dims
	for i := range s {
		v, err := d.Uint(1 << 30)
		if err != nil {
			return s, err
		}
		s[i] = v
	}
	if s.size() > 1<<31 {
		return s, d.errorf("tensor of %v is too large", s)
	}
	return s, nil
}

// readTensor reads a resizable_tensor: version 2, its four dimensions and little-endian
// float32 data (not dlib's usual float encoding).
func readTensor(d *Reader, what string, maxElems int64) (dims, []float32, error) {
	if err := d.Version(what+" tensor", 2); err != nil {
		return dims{}, nil, err
	}
	s, err := readDims(d)
	if err != nil {
		return s, nil, err
	}
	if s.size() > maxElems {
		return s, nil, d.errorf("%s tensor of %v holds more than %d values", what, s, maxElems)
	}
	buf := make([]byte, 4*s.size())
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return s, nil, d.errorf("%s tensor of %v: unexpected end of file", what, s)
	}
	d.off += int64(len(buf))
	out := make([]float32, s.size())
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return s, out, nil
}

// readAlias reads an alias_tensor (a view into params: version 1 and dimensions only)
// and checks its shape.
func readAlias(d *Reader, what string, want dims) error {
	if err := d.Version(what, 1); err != nil {
		return err
	}
	s, err := readDims(d)
	if err != nil {
		return err
	}
	if s != want {
		return fmt.Errorf("%s has shape %v, want %v", what, s, want)
	}
	return nil
}

// expectInt reads an integer and checks it.
func expectInt(d *Reader, what string, want int) error {
	at := d.Offset()
	v, err := d.Int()
	if err != nil {
		return err
	}
	if v != int64(want) {
		return fmt.Errorf("at byte %d: %s is %d, want %d", at, what, v, want)
	}
	return nil
}

// skipFloats reads learning-rate and weight-decay multipliers, which inference ignores.
func skipFloats(d *Reader, n int) error {
	for range n {
		if _, err := d.Float64(); err != nil {
			return err
		}
	}
	return nil
}

func readConv(d *Reader, l *Layer) error {
	at := d.Offset()
	name, err := d.String()
	if err != nil {
		return err
	}
	if name != "con_4" && name != "con_5" {
		return fmt.Errorf("at byte %d: found %q where layer %q was expected", at, name, "con_4")
	}
	nw := l.Filters * l.Channels * l.Rows * l.Cols
	ps, params, err := readTensor(d, "params", int64(nw+l.Filters))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		what string
		want int
	}{
		{"num_filters", l.Filters}, {"nr", l.Rows}, {"nc", l.Cols},
		{"stride_y", l.Stride}, {"stride_x", l.Stride}, {"padding_y", l.Pad}, {"padding_x", l.Pad},
	} {
		if err := expectInt(d, f.what, f.want); err != nil {
			return err
		}
	}
	if err := readAlias(d, "filters", dims{int64(l.Filters), int64(l.Channels), int64(l.Rows), int64(l.Cols)}); err != nil {
		return err
	}
	if err := readAlias(d, "biases", dims{1, int64(l.Filters), 1, 1}); err != nil {
		return err
	}
	if err := skipFloats(d, 4); err != nil {
		return err
	}
	useBias := true
	if name == "con_5" {
		if useBias, err = d.Bool(); err != nil {
			return err
		}
	}
	want := nw
	if useBias {
		want += l.Filters
	}
	if len(params) != want {
		return fmt.Errorf("params hold %d values (%v), want %d", len(params), ps, want)
	}
	l.Weights = params[:nw]
	l.Bias = make([]float32, l.Filters)
	if useBias {
		l.Bias = params[nw:]
	}
	return nil
}

func readAffine(d *Reader, l *Layer) error {
	at := d.Offset()
	name, err := d.String()
	if err != nil {
		return err
	}
	if name != "affine_" && name != "affine_2" {
		return fmt.Errorf("at byte %d: found %q where layer %q was expected", at, name, "affine_2")
	}
	ps, params, err := readTensor(d, "params", int64(2*l.Channels))
	if err != nil {
		return err
	}
	if len(params) != 2*l.Channels {
		return fmt.Errorf("params hold %d values (%v), want %d", len(params), ps, 2*l.Channels)
	}
	for _, what := range []string{"gamma", "beta"} {
		if err := readAlias(d, what, dims{1, int64(l.Channels), 1, 1}); err != nil {
			return err
		}
	}
	if err := expectInt(d, "mode (0 is CONV_MODE)", 0); err != nil {
		return err
	}
	if name == "affine_2" {
		disabled, err := d.Bool()
		if err != nil {
			return err
		}
		if disabled {
			return fmt.Errorf("the affine layer is disabled")
		}
	}
	l.Gamma, l.Beta = params[:l.Channels], params[l.Channels:]
	return nil
}

func readPool(d *Reader, l *Layer, name string) error {
	if err := expectName(d, "layer", name); err != nil {
		return err
	}
	for _, f := range []struct {
		what string
		want int
	}{
		{"nr", l.Rows}, {"nc", l.Cols}, {"stride_y", l.Stride}, {"stride_x", l.Stride},
		{"padding_y", l.Pad}, {"padding_x", l.Pad},
	} {
		if err := expectInt(d, f.what, f.want); err != nil {
			return err
		}
	}
	return nil
}

func readFC(d *Reader, l *Layer) error {
	at := d.Offset()
	name, err := d.String()
	if err != nil {
		return err
	}
	if name != "fc_2" && name != "fc_3" {
		return fmt.Errorf("at byte %d: found %q where layer %q was expected", at, name, "fc_2")
	}
	if err := expectInt(d, "num_outputs", l.Outputs); err != nil {
		return err
	}
	if err := expectInt(d, "num_inputs", l.Inputs); err != nil {
		return err
	}
	n := l.Inputs * l.Outputs
	ps, params, err := readTensor(d, "params", int64(n))
	if err != nil {
		return err
	}
	if len(params) != n {
		return fmt.Errorf("params hold %d values (%v), want %d", len(params), ps, n)
	}
	if err := readAlias(d, "weights", dims{int64(l.Inputs), int64(l.Outputs), 1, 1}); err != nil {
		return err
	}
	// The biases alias is never set up without a bias, so only its encoding is checked.
	if err := d.Version("biases", 1); err != nil {
		return err
	}
	if _, err := readDims(d); err != nil {
		return err
	}
	if err := expectInt(d, "bias_mode (1 is FC_NO_BIAS)", 1); err != nil {
		return err
	}
	if err := skipFloats(d, 4); err != nil {
		return err
	}
	if name == "fc_3" {
		if _, err := d.Bool(); err != nil {
			return err
		}
	}
	l.Weights = params
	return nil
}
