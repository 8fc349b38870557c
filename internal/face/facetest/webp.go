package facetest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/assets"
)

// ErrNoWebPEncoder is WebP's error when cwebp is not installed (hack/install-webp.sh): tests
// that need WebP images skip then.
var ErrNoWebPEncoder = errors.New("no WebP encoder")

// WebP encodes m with cwebp, the reference encoder (Go has none), given cwebp's options:
// "-lossless", or "-q", "80" for lossy; an image with transparent pixels keeps its alpha.
func WebP(m image.Image, options ...string) ([]byte, error) {
	cwebp, err := assets.CWebP.Path()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoWebPEncoder, err)
	}
	dir, err := os.MkdirTemp("", "facetest-webp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var in bytes.Buffer
	if err := png.Encode(&in, m); err != nil {
		return nil, err
	}
	src, dst := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.webp")
	if err := os.WriteFile(src, in.Bytes(), 0o600); err != nil {
		return nil, err
	}
	args := append(append([]string{"-quiet"}, options...), src, "-o", dst)
	if out, err := exec.Command(cwebp, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cwebp %v: %w: %s", options, err, out)
	}
	return os.ReadFile(dst)
}

// WebPOrSkip is WebP for a test: without cwebp the test is skipped, saying so.
func WebPOrSkip(t testing.TB, m image.Image, options ...string) []byte {
	t.Helper()
	b, err := WebP(m, options...)
	if errors.Is(err, ErrNoWebPEncoder) {
		t.Skipf("WebP images are made with cwebp: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
