package face

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// copyPack copies an installed pack's files into a new directory, with the manifest kept in
// this repository (modelpacks/<version>/manifest.json), which pins the sums.
func copyPack(t *testing.T, pack string) (dir string, m *Manifest) {
	t.Helper()
	installed, err := LoadManifest(pack)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	ents, err := os.ReadDir(pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == ManifestFile || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		copyFile(t, filepath.Join(pack, e.Name()), filepath.Join(dir, e.Name()))
	}
	copyFile(t, filepath.Join("..", "..", "modelpacks", installed.FaceModelVersion, ManifestFile), filepath.Join(dir, ManifestFile))
	if m, err = LoadManifest(dir); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipByte changes one byte in the middle of a file.
func flipByte(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyPack checks both packs as installed against the sums this repository pins, then
// corrupts them: a flipped byte in any model, an unpinned file, a missing pinned file. The
// install check refuses each, and the engine refuses a corrupt model before loading it.
func TestVerifyPack(t *testing.T) {
	for name, pack := range map[string]string{"faceplugin": testenv.ModelPack(t), "dlib-blazeface": testenv.DlibBlazeFacePack(t)} {
		t.Run(name, func(t *testing.T) {
			dir, m := copyPack(t, pack)
			if err := VerifyPack(dir); err != nil {
				t.Fatalf("the installed pack does not match the sums of modelpacks/%s: %v", m.FaceModelVersion, err)
			}
			if err := m.VerifyModels(dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range m.modelFiles() {
				t.Run("corrupt "+f, func(t *testing.T) {
					bad, _ := copyPack(t, pack)
					flipByte(t, filepath.Join(bad, f))
					err := VerifyPack(bad)
					if err == nil || !strings.Contains(err.Error(), f+" has sha256") || !strings.Contains(err.Error(), m.SHA256[f]) {
						t.Errorf("VerifyPack of a corrupt %s: %v, want a mismatch naming the file and the pinned sum", f, err)
					}
					// The engine checks before it touches ONNX Runtime.
					_, err = NewEngine(EngineOptions{ModelPackDir: bad, ONNXRuntimeLibrary: "/nonexistent/libonnxruntime.so"})
					if err == nil || !strings.Contains(err.Error(), f+" has sha256") {
						t.Errorf("NewEngine with a corrupt %s: %v, want the sha256 mismatch", f, err)
					}
				})
			}
			t.Run("unpinned file", func(t *testing.T) {
				extra, _ := copyPack(t, pack)
				if err := os.WriteFile(filepath.Join(extra, "extra.onnx"), []byte("not pinned"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := VerifyPack(extra); err == nil || !strings.Contains(err.Error(), "pins no sha256 for extra.onnx") {
					t.Errorf("VerifyPack with an unpinned file: %v", err)
				}
			})
			t.Run("missing pinned file", func(t *testing.T) {
				missing, _ := copyPack(t, pack)
				if err := os.Remove(filepath.Join(missing, m.Embedder.File)); err != nil {
					t.Fatal(err)
				}
				if err := VerifyPack(missing); err == nil {
					t.Error("VerifyPack without the embedder passed")
				}
			})
		})
	}
}

// TestManifestSums: the sha256 map's form is checked when the manifest is read.
func TestManifestSums(t *testing.T) {
	pack := testenv.ModelPack(t)
	sums := func(m map[string]any, s map[string]any) { m["sha256"] = s }
	good := strings.Repeat("0", 64)
	checkManifestEdits(t, pack, []manifestEdit{
		{"none", func(m map[string]any) { delete(m, "sha256") }, ""},
		{"every model", func(m map[string]any) {
			sums(m, map[string]any{"fr_detect.onnx": good, "fr_landmark.onnx": good, "fr_feature.onnx": good})
		}, ""},
		{"a model not pinned", func(m map[string]any) {
			sums(m, map[string]any{"fr_detect.onnx": good, "fr_landmark.onnx": good})
		}, "not the model fr_feature.onnx"},
		{"not hex", func(m map[string]any) {
			sums(m, map[string]any{"fr_detect.onnx": "sha256:abc", "fr_landmark.onnx": good, "fr_feature.onnx": good})
		}, "not 64 lower-case hex"},
		{"a path", func(m map[string]any) {
			sums(m, map[string]any{"../fr_detect.onnx": good})
		}, "must be a file name"},
	})
}
