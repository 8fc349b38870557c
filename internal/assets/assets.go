// Package assets finds the external parts that hack/ installs into the version-keyed cache
// (ONNX Runtime, model packs, MinIO, the control plane, test faces, the JavaScript SDK,
// Chromium, cwebp): one place for every role and test, so that the production binary needs
// nothing of the local dev stack to find them.
package assets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
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
	// DlibBlazeFacePack is the directory of the licence-clean model pack dlib-blazeface-1.0.
	DlibBlazeFacePack = Asset{Env: "FACESEARCH_DLIB_BLAZEFACE_PACK", Glob: "models/dlib-blazeface-1.0-*/manifest.json", Install: "hack/install-models.sh dlib-blazeface-1.0"}
	// TestFaces is the directory of labelled test faces (johns/, faces/).
	TestFaces = Asset{Env: "FACESEARCH_TESTFACES", Glob: "testfaces/*/johns", Install: "hack/install-testfaces.sh"}
	// DlibModels is the directory of dlib's CC0 face models (.dat files).
	DlibModels = Asset{Env: "FACESEARCH_DLIB_MODELS", Glob: "dlib-models/*/shape_predictor_5_face_landmarks.dat", Install: "hack/install-dlib-models.sh"}
	// EnvtestAssets is the directory holding kube-apiserver, etcd and kubectl.
	EnvtestAssets = Asset{Env: "KUBEBUILDER_ASSETS", Glob: "envtest/*/kube-apiserver", Install: "hack/install-envtest.sh"}
	// JSSDK is the directory holding node_modules with the AWS SDK for JavaScript v3's
	// Rekognition client, for the second-language client test.
	JSSDK = Asset{Env: "FACESEARCH_JSSDK", Glob: "jssdk/*/.complete", Install: "hack/install-jssdk.sh"}
	// Chromium is the browser binary for the browser tests: Debian's package, linked into
	// the cache by its installer (which needs root, so it may be missing where others are not).
	Chromium = Asset{Env: "FACESEARCH_CHROMIUM", Glob: "chromium/*/chromium", Install: "hack/install-chromium.sh"}
	// CWebP is cwebp, the reference WebP encoder (Debian's webp package, unpacked into the
	// cache), with which the tests make WebP images: Go has no WebP encoder.
	CWebP = Asset{Env: "FACESEARCH_CWEBP", Glob: "webp/*/cwebp", Install: "hack/install-webp.sh"}
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
	case DefaultModelPack.Env, DlibBlazeFacePack.Env, TestFaces.Env, EnvtestAssets.Env, DlibModels.Env, JSSDK.Env:
		// The glob names a file inside the directory; TestFaces' names a subdirectory.
		p = filepath.Dir(p)
	}
	return p, nil
}

// InstalledModelPacks lists every model pack in the cache, the newest directory of each
// FaceModelVersion, the default pack first.
func InstalledModelPacks() ([]string, error) {
	def, err := DefaultModelPack.Path()
	if err != nil {
		return nil, err
	}
	version := func(dir string) string {
		var m struct {
			FaceModelVersion string `json:"faceModelVersion"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil || json.Unmarshal(raw, &m) != nil {
			return ""
		}
		return m.FaceModelVersion
	}
	manifests, _ := filepath.Glob(filepath.Join(CacheDir(), "models", "*", "manifest.json"))
	sort.Strings(manifests)
	// Newest by the manifest's time: hack/install-models.sh writes it on every run, so an
	// older build of a pack (another converter's, say) left in the cache is not chosen.
	newest := map[string]string{} // FaceModelVersion -> directory
	written := map[string]time.Time{}
	for _, m := range manifests {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
			continue // an interrupted install
		}
		fi, err := os.Stat(m)
		if err != nil {
			continue
		}
		if v := version(dir); v != "" && !fi.ModTime().Before(written[v]) {
			newest[v], written[v] = dir, fi.ModTime()
		}
	}
	out := []string{def}
	defVersion := version(def)
	versions := make([]string, 0, len(newest))
	for v := range newest {
		if v != defVersion {
			versions = append(versions, v)
		}
	}
	sort.Strings(versions)
	for _, v := range versions {
		out = append(out, newest[v])
	}
	return out, nil
}
