package dlib

import (
	"fmt"
)

// ONNX names of the face ResNet's input and output.
const (
	ONNXInput  = "chip"
	ONNXOutput = "descriptor"
)

// onnxDoc is the converted model's doc_string: what goes in and what comes out.
const onnxDoc = `dlib_face_recognition_resnet_model_v1 (dlib's CC0 face recognition ResNet) converted to ONNX.
Input "chip": float32 [1,3,150,150], NCHW, RGB, raw pixel values 0..255 of a face chip aligned like
dlib's get_face_chip_details(shape, 150, 0.25); the graph subtracts dlib's channel means and divides
by 256 itself, as dlib's input_rgb_image_sized does.
Output "descriptor": float32 [1,128], dlib's face descriptor, not L2-normalised (dlib calls two faces
the same person below Euclidean distance 0.6).`

// chw is a tensor's shape without the batch dimension.
type chw [3]int

func (s chw) onnx() []int64 { return []int64{1, int64(s[0]), int64(s[1]), int64(s[2])} }

// windowOut is dlib's (and ONNX's default floor-mode) output length of a window op.
func windowOut(in, window, stride, pad int) int { return 1 + (in+2*pad-window)/stride }

// ONNX encodes the network as an ONNX model (IR 8, opset 13). Its input "chip" is float32
// [1,3,150,150], planar RGB with raw pixel values 0..255: the mean subtraction and /256 of
// dlib's input layer are in the graph, so callers need not know dlib's means. Its output
// "descriptor" is float32 [1,128], dlib's descriptor as is. Each con_ is folded with the
// affine_ after it into one Conv (weights scaled by gamma, bias b*gamma+beta, in float64),
// which ONNX Runtime would otherwise fuse itself; add_prev's zero-padding of the smaller
// tensor becomes Pad at the end of each dimension that differs.
func (n *FaceResNet) ONNX() ([]byte, error) {
	g := &onnxGraph{name: "dlib_face_recognition_resnet_model_v1"}
	in := chw{3, n.Rows, n.Cols}
	g.input(ONNXInput, in.onnx())

	// (pixel - mean) / 256 as dlib computes it: a float subtraction, then an exact scaling.
	mean := g.floats("input_mean", []int64{1, 3, 1, 1}, n.Mean[:])
	scale := g.floats("input_scale", nil, []float32{1.0 / 256})
	g.node("Sub", []string{ONNXInput, mean}, []string{"input_centred"})
	g.shapeOf("input_centred", in.onnx())
	g.node("Mul", []string{"input_centred", scale}, []string{"input"})
	g.shapeOf("input", in.onnx())

	cur, shape := "input", in
	type tagged struct {
		name  string
		shape chw
	}
	tags := map[int]tagged{}
	out := func(name string, s chw) {
		g.shapeOf(name, s.onnx())
		cur, shape = name, s
	}
	for i := 0; i < len(n.Layers); i++ {
		l := &n.Layers[i]
		name := fmt.Sprintf("l%03d_%s", n.layerIndex(i), l.Kind)
		switch l.Kind {
		case Conv:
			if shape[0] != l.Channels {
				return nil, fmt.Errorf("layer<%d> (%s) gets %d channels", n.layerIndex(i), l, shape[0])
			}
			if i+1 >= len(n.Layers) || n.Layers[i+1].Kind != Affine {
				return nil, fmt.Errorf("layer<%d> (%s) is not followed by an affine layer", n.layerIndex(i), l)
			}
			w, b := foldAffine(l, &n.Layers[i+1])
			wn := g.floats(name+"_w", []int64{int64(l.Filters), int64(l.Channels), int64(l.Rows), int64(l.Cols)}, w)
			bn := g.floats(name+"_b", []int64{int64(l.Filters)}, b)
			i++
			name = fmt.Sprintf("l%03d_con_affine", n.layerIndex(i))
			p, s := int64(l.Pad), int64(l.Stride)
			g.node("Conv", []string{cur, wn, bn}, []string{name},
				intsAttr("kernel_shape", int64(l.Rows), int64(l.Cols)),
				intsAttr("strides", s, s),
				intsAttr("pads", p, p, p, p))
			out(name, chw{l.Filters, windowOut(shape[1], l.Rows, l.Stride, l.Pad), windowOut(shape[2], l.Cols, l.Stride, l.Pad)})
		case Relu:
			g.node("Relu", []string{cur}, []string{name})
			out(name, shape)
		case MaxPool, AvgPool:
			if l.Rows == 0 {
				if l.Kind != AvgPool {
					return nil, fmt.Errorf("layer<%d> (%s) is not supported", n.layerIndex(i), l)
				}
				g.node("GlobalAveragePool", []string{cur}, []string{name})
				out(name, chw{shape[0], 1, 1})
				break
			}
			if l.Pad != 0 {
				// dlib's pools skip the padding; ONNX's AveragePool would count it.
				return nil, fmt.Errorf("layer<%d> (%s): padded pooling is not supported", n.layerIndex(i), l)
			}
			op := map[LayerKind]string{MaxPool: "MaxPool", AvgPool: "AveragePool"}[l.Kind]
			s := int64(l.Stride)
			g.node(op, []string{cur}, []string{name},
				intsAttr("kernel_shape", int64(l.Rows), int64(l.Cols)),
				intsAttr("strides", s, s))
			out(name, chw{shape[0], windowOut(shape[1], l.Rows, l.Stride, 0), windowOut(shape[2], l.Cols, l.Stride, 0)})
		case Tag:
			tags[l.TagID] = tagged{cur, shape}
		case Skip:
			t, ok := tags[l.TagID]
			if !ok {
				return nil, fmt.Errorf("layer<%d> (%s) has no tag below it", n.layerIndex(i), l)
			}
			cur, shape = t.name, t.shape
		case AddPrev:
			t, ok := tags[l.TagID]
			if !ok {
				return nil, fmt.Errorf("layer<%d> (%s) has no tag below it", n.layerIndex(i), l)
			}
			var sum chw
			for k := range sum {
				sum[k] = max(shape[k], t.shape[k])
			}
			a := g.padTo(cur, shape, sum, name+"_a")
			b := g.padTo(t.name, t.shape, sum, name+"_b")
			g.node("Add", []string{a, b}, []string{name})
			out(name, sum)
		case FC:
			if i != len(n.Layers)-1 {
				return nil, fmt.Errorf("layer<%d> (%s) is not the last layer", n.layerIndex(i), l)
			}
			if got := shape[0] * shape[1] * shape[2]; got != l.Inputs {
				return nil, fmt.Errorf("layer<%d> (%s) gets %d inputs", n.layerIndex(i), l, got)
			}
			// dlib stores the weights [inputs, outputs]: x·W is MatMul as is.
			flat := name + "_flat"
			g.node("Flatten", []string{cur}, []string{flat}, intAttr("axis", 1))
			g.shapeOf(flat, []int64{1, int64(l.Inputs)})
			w := g.floats(name+"_w", []int64{int64(l.Inputs), int64(l.Outputs)}, l.Weights)
			g.node("MatMul", []string{flat, w}, []string{ONNXOutput})
			g.output(ONNXOutput, []int64{1, int64(l.Outputs)})
			return onnxModel(g, "facesearch dlib2onnx", onnxDoc), nil
		default:
			return nil, fmt.Errorf("layer<%d> (%s) cannot be converted", n.layerIndex(i), l)
		}
	}
	return nil, fmt.Errorf("the network does not end in an fc layer")
}

// padTo zero-pads a tensor at the end of each dimension up to shape to, as dlib's
// add_prev does implicitly (tt::add reads zero outside the smaller tensor).
func (g *onnxGraph) padTo(name string, from, to chw, padded string) string {
	if from == to {
		return name
	}
	pads := []int64{0, 0, 0, 0, 0, int64(to[0] - from[0]), int64(to[1] - from[1]), int64(to[2] - from[2])}
	p := g.int64s(padded+"_pads", []int64{8}, pads)
	g.node("Pad", []string{name, p}, []string{padded})
	g.shapeOf(padded, to.onnx())
	return padded
}

// foldAffine returns conv weights and bias with the following affine layer applied:
// gamma*(w·x+b)+beta = (gamma*w)·x + (gamma*b+beta).
func foldAffine(conv, aff *Layer) ([]float32, []float32) {
	per := conv.Channels * conv.Rows * conv.Cols
	w := make([]float32, len(conv.Weights))
	b := make([]float32, conv.Filters)
	for o := range conv.Filters {
		g := float64(aff.Gamma[o])
		for j := o * per; j < (o+1)*per; j++ {
			w[j] = float32(float64(conv.Weights[j]) * g)
		}
		b[o] = float32(float64(conv.Bias[o])*g + float64(aff.Beta[o]))
	}
	return w, b
}
