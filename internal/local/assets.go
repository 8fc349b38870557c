package local

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Asset names the external parts that hack/ installs into the cache. Each can be pointed
// elsewhere with its environment variable; otherwise the newest cached version is used.
type Asset struct {
	// Env is the environment variable that overrides the location.
	Env string
	// Glob finds the asset below the cache directory.
	Glob string
	// Install is the hack/ script that installs it, named in errors.
	Install string
}

var (
	// MinIOBinary is the MinIO server binary.
	MinIOBinary = Asset{Env: "FACESEARCH_MINIO", Glob: "minio/*/minio", Install: "hack/install-minio.sh"}
	// ONNXRuntimeLibrary is the ONNX Runtime shared library.
	ONNXRuntimeLibrary = Asset{Env: "FACESEARCH_ONNXRUNTIME", Glob: "onnxruntime/*/libonnxruntime.so", Install: "hack/install-onnxruntime.sh"}
	// DefaultModelPack is the directory of the default face model pack.
	DefaultModelPack = Asset{Env: "FACESEARCH_MODEL_PACK", Glob: "models/faceplugin-1.0-*/manifest.json", Install: "hack/install-models.sh"}
	// TestFaces is the directory of labelled test faces (johns/, faces/).
	TestFaces = Asset{Env: "FACESEARCH_TESTFACES", Glob: "testfaces/*/johns", Install: "hack/install-testfaces.sh"}
	// DlibModels is the directory of dlib's CC0 face models (.dat files).
	DlibModels = Asset{Env: "FACESEARCH_DLIB_MODELS", Glob: "dlib-models/*/shape_predictor_5_face_landmarks.dat", Install: "hack/install-dlib-models.sh"}
	// EnvtestAssets is the directory holding kube-apiserver, etcd and kubectl.
	EnvtestAssets = Asset{Env: "KUBEBUILDER_ASSETS", Glob: "envtest/*/kube-apiserver", Install: "hack/install-envtest.sh"}
)

// CacheDir is where hack/ scripts keep what they build, outside any checkout.
func CacheDir() string {
	if d := os.Getenv("FACESEARCH_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "facesearch")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "facesearch")
}

// Path returns where the asset is. For directory assets (model pack, test faces, envtest)
// it is the directory; for files it is the file.
func (a Asset) Path() (string, error) {
	if p := os.Getenv(a.Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", a.Env, p, err)
		}
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(CacheDir(), a.Glob))
	if len(matches) == 0 {
		return "", fmt.Errorf("%s is not set and nothing matches %s in %s: run %s (or make setup)", a.Env, a.Glob, CacheDir(), a.Install)
	}
	sort.Strings(matches)
	p := matches[len(matches)-1]
	switch a.Env {
	case DefaultModelPack.Env, TestFaces.Env, EnvtestAssets.Env, DlibModels.Env:
		// The glob names a file inside the directory; TestFaces' names a subdirectory.
		p = filepath.Dir(p)
	}
	return p, nil
}
