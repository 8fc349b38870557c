package dlib

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A small hand-written ONNX encoder: the few messages of onnx.proto a plain feed-forward
// graph needs, written field by field with protowire in a fixed order, so the same
// network always gives the same bytes.

// Field numbers from onnx/onnx.proto.
const (
	modelIRVersion   = 1
	modelProducer    = 2
	modelDocString   = 6
	modelGraph       = 7
	modelOpsetImport = 8

	opsetVersion = 2 // OperatorSetIdProto.version

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12
	graphValueInfo   = 13

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName = 1
	attrI    = 3
	attrInts = 8
	attrType = 20

	attrTypeInt  = 2
	attrTypeInts = 7

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9

	dataTypeFloat = 1
	dataTypeInt64 = 7

	valueInfoName = 1
	valueInfoType = 2

	typeTensor      = 1
	typeTensorElem  = 1
	typeTensorShape = 2
	shapeDim        = 1
	dimValue        = 1
)

// The IR version and default-domain operator set of the models written: both long
// supported by ONNX Runtime, and opset 13 has every operator the face ResNet needs.
const (
	onnxIRVersion    = 8
	onnxOpsetVersion = 13
)

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendIntField(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// onnxGraph collects a GraphProto's parts in the order they are added.
type onnxGraph struct {
	name                                 string
	nodes, inits, inputs, outputs, infos [][]byte
	nodeCount                            int
}

// attribute is an encoded AttributeProto.
type attribute []byte

func intsAttr(name string, v ...int64) attribute {
	b := appendStringField(nil, attrName, name)
	b = appendIntField(b, attrType, attrTypeInts)
	for _, x := range v {
		b = appendIntField(b, attrInts, x)
	}
	return b
}

func intAttr(name string, v int64) attribute {
	b := appendStringField(nil, attrName, name)
	b = appendIntField(b, attrType, attrTypeInt)
	return appendIntField(b, attrI, v)
}

// node adds a NodeProto; nodes must be added in topological order.
func (g *onnxGraph) node(op string, ins, outs []string, attrs ...attribute) {
	var b []byte
	for _, s := range ins {
		b = appendStringField(b, nodeInput, s)
	}
	for _, s := range outs {
		b = appendStringField(b, nodeOutput, s)
	}
	g.nodeCount++
	b = appendStringField(b, nodeName, fmt.Sprintf("%s_%d", op, g.nodeCount))
	b = appendStringField(b, nodeOpType, op)
	for _, a := range attrs {
		b = appendBytesField(b, nodeAttribute, a)
	}
	g.nodes = append(g.nodes, b)
}

func tensorHeader(name string, dims []int64, dataType int64) []byte {
	var b []byte
	for _, d := range dims {
		b = appendIntField(b, tensorDims, d)
	}
	b = appendIntField(b, tensorDataType, dataType)
	return appendStringField(b, tensorName, name)
}

// floats adds a float32 initializer (raw little-endian data) and returns its name.
func (g *onnxGraph) floats(name string, dims []int64, v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	g.inits = append(g.inits, appendBytesField(tensorHeader(name, dims, dataTypeFloat), tensorRawData, raw))
	return name
}

// int64s adds an int64 initializer and returns its name.
func (g *onnxGraph) int64s(name string, dims []int64, v []int64) string {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	g.inits = append(g.inits, appendBytesField(tensorHeader(name, dims, dataTypeInt64), tensorRawData, raw))
	return name
}

func valueInfo(name string, shape []int64) []byte {
	var sh []byte
	for _, d := range shape {
		sh = appendBytesField(sh, shapeDim, appendIntField(nil, dimValue, d))
	}
	tt := appendIntField(nil, typeTensorElem, dataTypeFloat)
	tt = appendBytesField(tt, typeTensorShape, sh)
	b := appendStringField(nil, valueInfoName, name)
	return appendBytesField(b, valueInfoType, appendBytesField(nil, typeTensor, tt))
}

func (g *onnxGraph) input(name string, shape []int64) {
	g.inputs = append(g.inputs, valueInfo(name, shape))
}
func (g *onnxGraph) output(name string, shape []int64) {
	g.outputs = append(g.outputs, valueInfo(name, shape))
}

// shapeOf records an intermediate tensor's shape (value_info), which lets tools show it
// and ONNX Runtime check it.
func (g *onnxGraph) shapeOf(name string, shape []int64) {
	g.infos = append(g.infos, valueInfo(name, shape))
}

func (g *onnxGraph) marshal() []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendBytesField(b, graphNode, n)
	}
	b = appendStringField(b, graphName, g.name)
	for _, t := range g.inits {
		b = appendBytesField(b, graphInitializer, t)
	}
	for _, v := range g.inputs {
		b = appendBytesField(b, graphInput, v)
	}
	for _, v := range g.outputs {
		b = appendBytesField(b, graphOutput, v)
	}
	for _, v := range g.infos {
		b = appendBytesField(b, graphValueInfo, v)
	}
	return b
}

// onnxModel wraps a graph in a ModelProto using the default operator set.
func onnxModel(g *onnxGraph, producer, doc string) []byte {
	b := appendIntField(nil, modelIRVersion, onnxIRVersion)
	b = appendStringField(b, modelProducer, producer)
	b = appendStringField(b, modelDocString, doc)
	b = appendBytesField(b, modelGraph, g.marshal())
	return appendBytesField(b, modelOpsetImport, appendIntField(nil, opsetVersion, onnxOpsetVersion))
}
