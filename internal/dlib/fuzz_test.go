package dlib

import (
	"bytes"
	"testing"
)

// The readers take model files, which an operator may point at anything: whatever the bytes,
// they must return an error or a model, never panic or allocate without bound.
// `go test -fuzz FuzzReadShapePredictor ./internal/dlib` explores further.

func fuzzSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x01})                               // version 1, then nothing
	f.Add([]byte{0x01, 0x01, 0x01, 0x0a, 0x00})             // version 1, a 10-value column of nothing
	f.Add([]byte{0x01, 0x0d, 'l', 'o', 's', 's', '_', 'm'}) // a cut string
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add(bytes.Repeat([]byte{0x04, 0xff, 0xff, 0x00, 0x00}, 64))
}

func FuzzReadShapePredictor(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if sp, err := ReadShapePredictor(bytes.NewReader(data)); err == nil && sp.Cascades() == 0 {
			t.Fatal("a model without cascades was accepted")
		}
	})
}

func FuzzReadFaceResNet(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ReadFaceResNet(bytes.NewReader(data)); err == nil {
			t.Fatal("a few bytes were accepted as dlib's face ResNet")
		}
	})
}
