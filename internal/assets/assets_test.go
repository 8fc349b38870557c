package assets

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// An older build of a pack left in the cache (another converter's, say) sorts after the one
// setup last installed; the one whose manifest was written last is chosen, and an
// interrupted install never.
func TestInstalledModelPacksNewestByManifestTime(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("FACESEARCH_CACHE", cache)
	now := time.Now()
	pack := func(name, version string, age time.Duration, complete bool) string {
		dir := filepath.Join(cache, "models", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := filepath.Join(dir, "manifest.json")
		if err := os.WriteFile(m, []byte(`{"faceModelVersion":"`+version+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(m, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		if complete {
			if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	def := pack("faceplugin-1.0-0.0.1", "faceplugin-1.0", time.Hour, true)
	t.Setenv(DefaultModelPack.Env, def)
	current := pack("dlib-blazeface-1.0-a", "dlib-blazeface-1.0", time.Minute, true)
	pack("dlib-blazeface-1.0-b", "dlib-blazeface-1.0", 24*time.Hour, true)
	pack("dlib-blazeface-1.0-c", "dlib-blazeface-1.0", 0, false)
	got, err := InstalledModelPacks()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{def, current}; !reflect.DeepEqual(got, want) {
		t.Errorf("InstalledModelPacks() = %v, want %v", got, want)
	}
}
