package browsertest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facesearch/facesearch-operator/internal/assets"
)

// startTimeout bounds the browser's start: seconds when warm, more on a loaded 2-core machine.
const startTimeout = time.Minute

// Flags are the command-line flags every browser of the tests gets, besides a fresh
// --user-data-dir: headless, without the sandbox (the tests run as root, where it cannot
// start), and without anything that would reach out of this machine on its own (QUIC,
// component updates, sync, background fetches).
var Flags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync",
}

// New starts a headless Chromium for the test and returns a chromedp context on its first
// tab; the browser ends with the test. Without an installed Chromium the test is skipped,
// saying how to install one; a Chromium that is there but does not start fails it.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := assets.Chromium.Path()
	if err != nil {
		t.Skipf("no Chromium for browser tests: %v (as root; Debian's chromium package)", err)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	// The browser's own output, shown only when it fails to start.
	out := &syncBuffer{}
	opts = append(opts, chromedp.CombinedOutput(out))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser's processes to end, before TempDir's removal
	})
	// Start it now, so that a failure to start is told as such and not as the test's first
	// step. The first Run binds the browser's life to its context, so the start's time limit
	// cannot be a context of its own.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v\n%s", path, err, out.String())
		}
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("%s did not start within %s\n%s", path, startTimeout, out.String())
	}
	return ctx
}

// ArtifactDir is where the test keeps files for a person to look at afterwards:
// $FACESEARCH_TEST_ARTIFACTS/<test name> when that is set (CI keeps it), else t.TempDir().
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("FACESEARCH_TEST_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, unsafeName.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Screenshot saves a PNG of the tab's viewport as name in the test's ArtifactDir and
// returns its path.
func Screenshot(ctx context.Context, t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
	path := filepath.Join(ArtifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// syncBuffer takes the browser's output from chromedp's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
