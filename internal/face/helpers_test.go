package face

import (
	"image"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

var (
	sharedMu      sync.Mutex
	sharedEngines = map[string]*Engine{} // by pack directory
)

// sharedEngine is one engine per model pack shared by the tests of this package (sessions
// take a while to open); tests that need their own options make their own.
func sharedEngine(t testing.TB, pack string) *Engine {
	t.Helper()
	lib := testenv.ONNXRuntimeLibrary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e, ok := sharedEngines[pack]; ok {
		return e
	}
	e, err := NewEngine(EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 2})
	if err != nil {
		t.Fatalf("NewEngine(%s): %v", filepath.Base(pack), err)
	}
	sharedEngines[pack] = e
	return e
}

// testEngine is the default pack's shared engine.
func testEngine(t testing.TB) *Engine { return sharedEngine(t, testenv.ModelPack(t)) }

// johns returns the labelled crops: person name -> files, sorted.
func johns(t testing.TB) map[string][]string {
	t.Helper()
	dir := filepath.Join(testenv.TestFaces(t), "johns")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range ents {
		fs, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.jpg"))
		sort.Strings(fs)
		if len(fs) > 0 {
			out[e.Name()] = fs
		}
	}
	if len(out) < 2 {
		t.Fatalf("want at least 2 people in %s", dir)
	}
	return out
}

func people(m map[string][]string) []string {
	var ps []string
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func photoPath(t testing.TB, name string) string {
	return filepath.Join(testenv.TestFaces(t), "faces", name)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadRGBA(t testing.TB, path string) *image.RGBA {
	t.Helper()
	m, err := facetest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
