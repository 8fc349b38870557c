package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestInstallModelsRefusesCorruptPack runs hack/install-models.sh as make setup does, over a
// cache holding the default pack (copied from the real one, so nothing is downloaded): the
// intact pack is accepted, and after one byte of a model is flipped the script fails with
// the sha256 mismatch and withdraws the pack's completion marker.
func TestInstallModelsRefusesCorruptPack(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	installed := testenv.ModelPack(t)
	cache := t.TempDir()
	pack := filepath.Join(cache, "models", "faceplugin-1.0-0.0.1")
	if err := os.MkdirAll(pack, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx", ".complete"} {
		data, err := os.ReadFile(filepath.Join(installed, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pack, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := func() (stdout, stderr string, err error) {
		cmd := exec.Command("bash", "hack/install-models.sh", "faceplugin-1.0")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "FACESEARCH_CACHE="+cache, "FACEPLUGIN_MODELS_VERSION=0.0.1")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return strings.TrimSpace(out.String()), errOut.String(), err
	}

	out, stderr, err := install()
	if err != nil || out != pack {
		t.Fatalf("the intact pack: %v, printed %q, want %q\n%s", err, out, pack, stderr)
	}

	data, err := os.ReadFile(filepath.Join(pack, "fr_feature.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x80
	if err := os.WriteFile(filepath.Join(pack, "fr_feature.onnx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = install()
	if err == nil || out != "" {
		t.Fatalf("the corrupt pack was accepted: printed %q\n%s", out, stderr)
	}
	for _, want := range []string{"fr_feature.onnx has sha256", "does not match the sha256 sums pinned in modelpacks/faceplugin-1.0/manifest.json"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the script's error lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(pack, ".complete")); !os.IsNotExist(err) {
		t.Errorf("the corrupt pack is still marked complete (%v)", err)
	}
}
