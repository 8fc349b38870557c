package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

func TestParseExpected(t *testing.T) {
	tests := []struct {
		line    string
		want    groupPhoto
		wantErr bool
	}{
		{line: "bbt1.jpg 4", want: groupPhoto{file: "bbt1.jpg", expected: 4}},
		{line: "sad.jpg 1 largest=135,40,135,170", want: groupPhoto{file: "sad.jpg", expected: 1, largest: &box{135, 40, 135, 170}}},
		{line: "bbt1.jpg", wantErr: true},
		{line: "bbt1.jpg four", wantErr: true},
		{line: "bbt1.jpg -1", wantErr: true},
		{line: "sad.jpg 1 largest=1,2,3", wantErr: true},
		{line: "sad.jpg 1 box=1,2,3,4", wantErr: true},
		{line: "sad.jpg 1 largest=1,2,3,4 more", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseExpected(tt.line)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v", tt.line, err)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got.file != tt.want.file || got.expected != tt.want.expected || (got.largest == nil) != (tt.want.largest == nil) ||
			(got.largest != nil && *got.largest != *tt.want.largest) {
			t.Errorf("%q: %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

// writeDataset makes a dataset folder: files maps a path inside it to the file to copy there
// (or, for expected.txt, its text).
func writeDataset(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, src := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(src)
		if filepath.Base(rel) != "expected.txt" {
			var err error
			if data, err = os.ReadFile(src); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDataset(t *testing.T) {
	crop := func(person string, i int) string {
		fs, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", person, "*.jpg"))
		return fs[i]
	}
	photo := filepath.Join(testenv.TestFaces(t), "faces", "2008_004176.jpg")
	base := map[string]string{
		"alice/1.jpg": crop("John_Salley", 0), "alice/2.jpg": crop("John_Salley", 1),
		"bob/1.jpg": crop("John_Simm", 0), "bob/notes.txt": photo, "bob/.hidden.jpg": photo,
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name           string
		files          map[string]string
		photos, groups int
		err            string
	}{
		{"people only", base, 3, 0, ""},
		{"with groups", with(map[string]string{"groups/a.jpg": photo, "groups/expected.txt": "# seven\na.jpg 7\n"}), 3, 1, ""},
		{"a group photo not counted", with(map[string]string{"groups/a.jpg": photo, "groups/b.jpg": photo, "groups/expected.txt": "a.jpg 7\n"}), 0, 0, "not in expected.txt"},
		{"a count for no photo", with(map[string]string{"groups/a.jpg": photo, "groups/expected.txt": "a.jpg 7\nb.jpg 2\n"}), 0, 0, "no such file"},
		{"no counts", with(map[string]string{"groups/a.jpg": photo}), 0, 0, "face counts"},
		{"one person", map[string]string{"alice/1.jpg": photo}, 0, 0, "at least 2 people"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			photos, people, groups, err := loadDataset(writeDataset(t, tt.files))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || len(photos) != tt.photos || len(groups) != tt.groups || len(people) != 2 {
				t.Fatalf("%d photos of %v, %d groups, err %v", len(photos), people, len(groups), err)
			}
		})
	}
}

// TestDatasetReport runs the default pack on a small dataset of the test faces: 3 people of
// 4 crops and a group photo of 7 annotated faces, at its size and at 2000 px (where the
// count is not checked: the scaled photo shows a few more, small, false faces).
func TestDatasetReport(t *testing.T) {
	files := map[string]string{
		"groups/2008_004176.jpg": filepath.Join(testenv.TestFaces(t), "faces", "2008_004176.jpg"),
		"groups/expected.txt":    "2008_004176.jpg 7\n",
	}
	for _, p := range []string{"John_Salley", "John_Simm", "John_Savage"} {
		fs, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", p, "*.jpg"))
		for _, f := range fs[:4] {
			files[filepath.Join(p, filepath.Base(f))] = f
		}
	}
	var out bytes.Buffer
	if err := runDataset([]string{testenv.ModelPack(t)}, testenv.ONNXRuntimeLibrary(t), writeDataset(t, files), 2000, &out); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	t.Log(report)
	for _, want := range []string{
		"| `faceplugin-1.0` | 0/12 | 100.0% | 100.0% / 0.0% |", // 18 genuine, 48 impostor pairs, all right
		"| 6/6 / 6/6 |", // 2 probes each
		"| 2008_004176.jpg | 480 | 7 / 7 | unconfirmed | identity |", // strangers: no identity to confirm
		"| 2008_004176.jpg | 2000 |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report has no %q", want)
		}
	}
}
