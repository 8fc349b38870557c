// Command dlib2onnx converts dlib's face recognition ResNet
// (dlib_face_recognition_resnet_model_v1.dat, CC0) to ONNX:
//
//	go run ./hack/dlib2onnx -in dlib_face_recognition_resnet_model_v1.dat -out dlib_face_resnet.onnx
//
// The model takes a raw RGB face chip, float32 [1,3,150,150] in 0..255, and gives dlib's
// 128-d descriptor [1,128]; see internal/dlib's FaceResNet.ONNX. The output is the same bytes
// on every run.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/facesearch/facesearch-operator/internal/dlib"
)

func main() {
	in := flag.String("in", "", "dlib_face_recognition_resnet_model_v1.dat")
	out := flag.String("out", "", "ONNX file to write")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "dlib2onnx:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	start := time.Now()
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	net, err := dlib.ReadFaceResNet(f)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(in), err)
	}
	model, err := net.ONNX()
	if err != nil {
		return err
	}
	// Write beside the target and rename, so a failed run leaves no half-written model.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, model, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return err
	}
	computational := 0
	for _, l := range net.Layers {
		if l.Kind != dlib.Tag && l.Kind != dlib.Skip {
			computational++
		}
	}
	fmt.Printf("%s: %d layers, %d parameters, input [1,3,%d,%d] -> output [1,%d]; wrote %s (%d bytes) in %v\n",
		filepath.Base(in), computational, net.Params(), net.Rows, net.Cols, dlib.DescriptorSize,
		out, len(model), time.Since(start).Round(time.Millisecond))
	return nil
}
