package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnrolExternalImageIDs(t *testing.T) {
	for in, want := range map[string]string{
		"alice/1.jpg":                       "alice:1.jpg",
		"Bob Smith/holiday (2).JPG":         "Bob_Smith:holiday__2_.JPG",
		"zoë/a.png":                         "zo__:a.png",
		strings.Repeat("d/", 200) + "x.jpg": strings.Repeat("d:", 200)[400-250:] + "x.jpg",
	} {
		if got := sanitizeID(in); got != want {
			t.Errorf("sanitizeID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEnrolPhotos finds a folder's users and photos, and names photos given as arguments by
// their path from the working directory.
func TestEnrolPhotos(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"alice/1.jpg", "alice/2.PNG", "alice/notes.txt", "alice/.hidden.jpg", "bob/a.jpeg", "bob/b.webp",
		"stray.jpg", ".git/x.jpg", "carol/sub/deep.jpg"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	photos, ignored, err := dirPhotos(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []enrolPhoto{
		{user: "alice", path: filepath.Join(dir, "alice/1.jpg"), externalID: "alice:1.jpg"},
		{user: "alice", path: filepath.Join(dir, "alice/2.PNG"), externalID: "alice:2.PNG"},
		{user: "bob", path: filepath.Join(dir, "bob/a.jpeg"), externalID: "bob:a.jpeg"},
		{user: "bob", path: filepath.Join(dir, "bob/b.webp"), externalID: "bob:b.webp"},
	}
	if !reflect.DeepEqual(photos, want) || ignored != 1 {
		t.Fatalf("dirPhotos:\n got %+v, %d ignored\nwant %+v, 1 ignored", photos, ignored, want)
	}

	t.Chdir(dir)
	outside := filepath.Join(t.TempDir(), "far.jpg")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	photos, err = userPhotos("dana", []string{"alice/1.jpg", outside})
	if err != nil {
		t.Fatal(err)
	}
	want = []enrolPhoto{
		{user: "dana", path: "alice/1.jpg", externalID: "alice:1.jpg"},
		{user: "dana", path: outside, externalID: "far.jpg"},
	}
	if !reflect.DeepEqual(photos, want) {
		t.Fatalf("userPhotos:\n got %+v\nwant %+v", photos, want)
	}
	if _, err := userPhotos("dana", []string{"alice"}); err == nil {
		t.Fatal("a folder given as a photo was taken")
	}
}
