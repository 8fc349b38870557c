package face

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// manifestEdit changes a pack's manifest; errHas is what LoadManifest must then say ("" for
// no error).
type manifestEdit struct {
	name   string
	edit   func(m map[string]any)
	errHas string
}

// checkManifestEdits loads pack's manifest after each edit, in a copy of the pack whose model
// files are links to the originals.
func checkManifestEdits(t *testing.T, pack string, tests []manifestEdit) {
	raw, err := os.ReadFile(filepath.Join(pack, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			dir := t.TempDir()
			for _, e := range ents {
				if e.Name() != ManifestFile {
					if err := os.Symlink(filepath.Join(pack, e.Name()), filepath.Join(dir, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			b, _ := json.Marshal(m)
			if err := os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadManifest(dir)
			if tt.errHas == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

func TestLoadManifest(t *testing.T) {
	pack := testenv.ModelPack(t)
	good, err := LoadManifest(pack)
	if err != nil {
		t.Fatalf("default pack: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(pack, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	checkManifestEdits(t, pack, []manifestEdit{
		{"default", func(map[string]any) {}, ""},
		{"unsupported detector", func(m map[string]any) { m["detector"].(map[string]any)["type"] = "yunet" }, `detector type "yunet" is not supported (supported: ["blazeface" "ultraface"])`},
		{"missing file", func(m map[string]any) { m["embedder"].(map[string]any)["file"] = "nope.onnx" }, "nope.onnx"},
		{"path escape", func(m map[string]any) { m["embedder"].(map[string]any)["file"] = "../fr_feature.onnx" }, "must be a file name"},
		{"colour order", func(m map[string]any) { m["embedder"].(map[string]any)["colorOrder"] = "RGBA" }, "colorOrder"},
		{"no version", func(m map[string]any) { m["faceModelVersion"] = "" }, "faceModelVersion"},
		{"decreasing similarity", func(m map[string]any) {
			m["similarity"] = map[string]any{"points": [][2]float64{{-1, 0}, {0.5, 90}, {0.4, 95}, {1, 100}}}
		}, "sorted"},
		{"similarity not covering", func(m map[string]any) {
			m["similarity"] = map[string]any{"points": [][2]float64{{0, 0}, {1, 100}}}
		}, "from [-1"},
		{"dlib embedder without dlib landmarks", func(m map[string]any) {
			e := m["embedder"].(map[string]any)
			e["type"], e["inputWidth"], e["inputHeight"], e["chipPadding"] = EmbedderDlibResNet150, 150, 150, 0.25
		}, `needs landmarks of type "dlib-shape-predictor-5"`},
		{"dlib embedder at 112", func(m map[string]any) {
			m["embedder"].(map[string]any)["type"] = EmbedderDlibResNet150
		}, "needs 150x150 input"},
		{"BlazeFace detector", func(m map[string]any) {
			d := m["detector"].(map[string]any)
			d["type"], d["inputWidth"], d["inputHeight"] = DetectorBlazeFace, 256, 256
		}, ""},
		{"BlazeFace detector at 320x240", func(m map[string]any) { m["detector"].(map[string]any)["type"] = DetectorBlazeFace }, "needs a square input, not 320x240"},
	})
	checkManifestEdits(t, testenv.DlibBlazeFacePack(t), []manifestEdit{
		{"dlib pack", func(map[string]any) {}, ""},
		{"chip padding", func(m map[string]any) { m["embedder"].(map[string]any)["chipPadding"] = 2 }, "chipPadding 2 is out of range"},
		{"box scale", func(m map[string]any) { m["landmarks"].(map[string]any)["boxScale"] = 3 }, "boxScale 3"},
		{"BlazeFace not square", func(m map[string]any) { m["detector"].(map[string]any)["inputHeight"] = 128 }, "needs a square input, not 256x128"},
		{"shape predictor missing", func(m map[string]any) { m["landmarks"].(map[string]any)["file"] = "nope.dat" }, "nope.dat"},
		{"unknown landmarks", func(m map[string]any) { m["landmarks"].(map[string]any)["type"] = "dlib-shape-predictor-68" }, `landmarks type "dlib-shape-predictor-68" is not supported`},
	})
	// A pack whose ONNX file is not the declared kind fails at NewEngine, not at first use.
	// Without sums, so that the network's shape is what refuses it (a pack that pins sums
	// refuses the swapped file before loading it: TestVerifyPack).
	var unpinned map[string]any
	if err := json.Unmarshal(raw, &unpinned); err != nil {
		t.Fatal(err)
	}
	delete(unpinned, "sha256")
	if raw, err = json.Marshal(unpinned); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{good.Detector.File, good.Landmarks.File} {
		if err := os.Symlink(filepath.Join(pack, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(pack, good.Detector.File), filepath.Join(dir, good.Embedder.File)); err != nil { // a detector posing as embedder
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEngine(EngineOptions{ModelPackDir: dir, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t), MaxConcurrent: 1}); err == nil || !strings.Contains(err.Error(), "embedder") {
		t.Fatalf("wrong embedder file: %v", err)
	}
}
