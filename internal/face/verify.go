package face

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateSums checks the form of the manifest's sha256 map: bare file names and 64
// lower-case hex digits; once a pack pins any file it must pin every model the engine runs.
func (m *Manifest) validateSums() error {
	if len(m.SHA256) == 0 {
		return nil
	}
	for name, sum := range m.SHA256 {
		if name == "" || name == ManifestFile || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			return fmt.Errorf("sha256: %q must be a file name inside the pack (not the manifest)", name)
		}
		if !sha256Hex.MatchString(sum) {
			return fmt.Errorf("sha256 of %s: %q is not 64 lower-case hex digits", name, sum)
		}
	}
	for _, f := range m.modelFiles() {
		if _, ok := m.SHA256[f]; !ok {
			return fmt.Errorf("sha256: the manifest pins other files but not the model %s", f)
		}
	}
	return nil
}

// modelFiles are the files the engine loads, each once.
func (m *Manifest) modelFiles() []string {
	var out []string
	for _, f := range []string{m.Detector.File, m.Landmarks.File, m.Embedder.File} {
		if !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// VerifyModels checks the model files the engine runs against the manifest's sha256 sums,
// when it has any. NewEngine calls it before loading them: hashing the packs shipped here
// (7 MB and 32 MB) takes tens of milliseconds.
func (m *Manifest) VerifyModels(dir string) error {
	if len(m.SHA256) == 0 {
		return nil
	}
	for _, f := range m.modelFiles() {
		if err := verifyFile(dir, f, m.SHA256[f]); err != nil {
			return err
		}
	}
	return nil
}

// VerifyPack is the install-time check of a model pack directory (hack/install-models.sh runs
// it through hack/verifypack): its manifest must pin a sha256 for every file in the directory
// (other than the manifest and dot-files such as the installer's markers), every pinned file
// must be there, and each must match. A mismatch names the file and both sums.
func VerifyPack(dir string) error {
	m, err := LoadManifest(dir)
	if err != nil {
		return err
	}
	if len(m.SHA256) == 0 {
		return fmt.Errorf("model pack %s: its manifest pins no sha256 sums", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var unpinned []string
	for _, e := range ents {
		if e.Name() == ManifestFile || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, ok := m.SHA256[e.Name()]; !ok {
			unpinned = append(unpinned, e.Name())
		}
	}
	if len(unpinned) > 0 {
		return fmt.Errorf("model pack %s: the manifest pins no sha256 for %s", dir, strings.Join(unpinned, ", "))
	}
	names := make([]string, 0, len(m.SHA256))
	for name := range m.SHA256 {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := verifyFile(dir, name, m.SHA256[name]); err != nil {
			return err
		}
	}
	return nil
}

// verifyFile compares one file's sha256 with the pinned one.
func verifyFile(dir, name, want string) error {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("model pack %s: %w", dir, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("model pack %s: while hashing %s: %w", dir, name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("model pack %s: %s has sha256 %s but its manifest pins %s: the file is corrupt or not the one the pack was made with; install the pack again", dir, name, got, want)
	}
	return nil
}
