package sidecar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSidecarTokenFileCache: the file is looked at once per second at most, read again when
// it changed, and read again after 5 minutes even when it looks unchanged.
func TestSidecarTokenFileCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("token-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	f := newTokenFile(path, func() time.Time { return clock })
	// rewrite changes the content in place: same inode and size, and the modification time
	// set back, so that only the age of the read can tell.
	rewrite := func(token string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name    string
		advance time.Duration
		change  func()
		want    string // "" = an error naming the file
	}{
		{"first read", 0, nil, "token-one"},
		{"unchanged file, later", 30 * time.Second, nil, "token-one"},
		{"same inode, size and time", 10 * time.Second, func() { rewrite("token-two") }, "token-one"},
		{"5 minutes after the read", 5 * time.Minute, nil, "token-two"},
		{"new time, within the second", 500 * time.Millisecond, func() {
			rewrite("token-333")
			_ = os.Chtimes(path, mtime.Add(time.Minute), mtime.Add(time.Minute))
		}, "token-two"},
		{"new time, the second after", 600 * time.Millisecond, nil, "token-333"},
		{"removed", 2 * time.Second, func() { _ = os.Remove(path) }, ""},
		{"back", 2 * time.Second, func() { _ = os.WriteFile(path, []byte("token-four"), 0o600) }, "token-four"},
		{"emptied", 2 * time.Second, func() { _ = os.WriteFile(path, []byte("\n"), 0o600) }, ""},
	} {
		clock = clock.Add(step.advance)
		if step.change != nil {
			step.change()
		}
		got, err := f.Token()
		switch {
		case step.want == "" && (err == nil || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: %q, %v; want an error naming the file", step.name, got, err)
		case step.want != "" && (err != nil || got != step.want):
			t.Errorf("%s: %q, %v; want %q", step.name, got, err, step.want)
		}
	}
}
