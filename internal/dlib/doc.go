// Package dlib reads dlib's serialised model files and runs what the project needs of
// them in Go: the face recognition ResNet's weights (converted to ONNX by hack/dlib2onnx),
// the 5-point shape predictor and the face chip extraction that aligns a face for the
// ResNet. Formats and algorithms follow dlib 19.24 (Boost Software License); the model
// files themselves are dlib's CC0 releases, fetched by hack/install-dlib-models.sh.
package dlib
