// Package testenv gives tests the real parts: a MinIO server (and a fresh bucket on it, see
// NewBucket), the ONNX Runtime library, the default model pack and the labelled test faces,
// all installed by hack/ (make setup).
// A missing part fails the test with the command that installs it; nothing is skipped.
package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/local"
)

// MinIO starts a MinIO server for the test on a free loopback port with a temp dir and
// random credentials; it is stopped and its data removed when the test ends, pass or fail.
func MinIO(t testing.TB) *local.MinIOServer {
	t.Helper()
	opts := local.MinIOOptions{}
	if testing.Verbose() && os.Getenv("FACESEARCH_MINIO_LOG") != "" {
		opts.Output = os.Stderr
	}
	s, err := local.StartMinIO(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting MinIO: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// ControlPlane starts a kube-apiserver and etcd (envtest's, with the project's CRDs) for the
// test and stops them when it ends; under -short the test is skipped, as it is no short test.
func ControlPlane(t testing.TB) *local.ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	cp, err := local.StartControlPlane()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}

// Path returns where an installed asset is, or fails the test saying how to install it.
func Path(t testing.TB, a assets.Asset) string {
	t.Helper()
	p, err := a.Path()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// ONNXRuntimeLibrary is the path of libonnxruntime.so.
func ONNXRuntimeLibrary(t testing.TB) string { return Path(t, assets.ONNXRuntimeLibrary) }

// ModelPack is the directory of the default face model pack.
func ModelPack(t testing.TB) string { return Path(t, assets.DefaultModelPack) }

// TestFaces is the directory holding johns/ (5 people x 11 crops) and faces/ (photos).
func TestFaces(t testing.TB) string { return Path(t, assets.TestFaces) }

// DlibBlazeFacePack is the directory of the dlib-blazeface-1.0 model pack.
func DlibBlazeFacePack(t testing.TB) string { return Path(t, assets.DlibBlazeFacePack) }

// DlibModels is the directory of dlib's .dat model files.
func DlibModels(t testing.TB) string { return Path(t, assets.DlibModels) }
