package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/face"

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
		{line: "a.jpg 2 boxes=1,2,3,4;10,20.5,30,40", want: groupPhoto{file: "a.jpg", expected: 2,
			boxes: []box{{1, 2, 3, 4}, {10, 20.5, 30, 40}}, largest: &box{10, 20.5, 30, 40}}}, // the largest box
		{line: "a.jpg 2 boxes=1,2,3,4;10,20,30,40 largest=1,2,3,4", want: groupPhoto{file: "a.jpg", expected: 2,
			boxes: []box{{1, 2, 3, 4}, {10, 20, 30, 40}}, largest: &box{1, 2, 3, 4}}}, // largest= says otherwise
		{line: "a.jpg 2 largest=1,2,3,4 boxes=1,2,3,4;10,20,30,40", want: groupPhoto{file: "a.jpg", expected: 2,
			boxes: []box{{1, 2, 3, 4}, {10, 20, 30, 40}}, largest: &box{1, 2, 3, 4}}},
		{line: "empty.jpg 0 boxes=", want: groupPhoto{file: "empty.jpg", expected: 0, boxes: []box{}}},
		{line: "bbt1.jpg", wantErr: true},
		{line: "bbt1.jpg four", wantErr: true},
		{line: "bbt1.jpg -1", wantErr: true},
		{line: "sad.jpg 1 largest=1,2,3", wantErr: true},
		{line: "sad.jpg 1 box=1,2,3,4", wantErr: true},
		{line: "sad.jpg 1 largest=1,2,3,4 more", wantErr: true},
		{line: "a.jpg 3 boxes=1,2,3,4;10,20,30,40", wantErr: true}, // 3 faces, 2 boxes
		{line: "a.jpg 1 boxes=", wantErr: true},
		{line: "a.jpg 1 boxes=1,2,3", wantErr: true},
		{line: "a.jpg 1 boxes=1,2,0,4", wantErr: true},
		{line: "a.jpg 1 boxes=1,2,3,4;", wantErr: true},
		{line: "a.jpg 1 boxes=1,2,3,x", wantErr: true},
		{line: "a.jpg 1 boxes=1,2,3,4 boxes=1,2,3,4", wantErr: true},
		{line: "a.jpg 1 largest=1,2,3,4 largest=1,2,3,4", wantErr: true},
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
			(got.largest != nil && *got.largest != *tt.want.largest) ||
			(got.boxes == nil) != (tt.want.boxes == nil) || !slices.Equal(got.boxes, tt.want.boxes) {
			t.Errorf("%q: %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

// detection is a detection of box b in a W x H photo, as the engine answers it (relative).
func detection(b box, W, H int, confidence float32) face.FaceDetail {
	return face.FaceDetail{Confidence: confidence, BoundingBox: face.BoundingBox{
		Left: float32(b.x / float64(W)), Top: float32(b.y / float64(H)), Width: float32(b.w / float64(W)), Height: float32(b.h / float64(H)),
	}}
}

func TestScoreBoxes(t *testing.T) {
	a, b := box{100, 100, 50, 60}, box{400, 120, 40, 50}
	tests := []struct {
		name           string
		dets           []face.FaceDetail // largest first
		W, H           int               // the photo the boxes are in
		boxes          []box
		tp, fp, missed int
		falseBoxes     []string
		largestBox     int
	}{
		{name: "all found, a little off", W: 800, H: 600, boxes: []box{a, b},
			dets: []face.FaceDetail{detection(box{105, 95, 55, 65}, 800, 600, 99), detection(box{398, 125, 42, 42}, 800, 600, 98)},
			tp:   2, largestBox: 0},
		{name: "two detections on one box: one true, one false", W: 800, H: 600, boxes: []box{a},
			dets: []face.FaceDetail{detection(a, 800, 600, 99), detection(box{110, 110, 40, 40}, 800, 600, 71.5)},
			tp:   1, fp: 1, falseBoxes: []string{"110,110,40,40 (71.5%)"}, largestBox: 0},
		{name: "a miss", W: 800, H: 600, boxes: []box{a, b},
			dets: []face.FaceDetail{detection(b, 800, 600, 99)},
			tp:   1, missed: 1, largestBox: 1},
		{name: "the largest false", W: 800, H: 600, boxes: []box{b},
			dets: []face.FaceDetail{detection(box{600, 400, 100, 100}, 800, 600, 60), detection(b, 800, 600, 99)},
			tp:   1, fp: 1, falseBoxes: []string{"600,400,100,100 (60.0%)"}, largestBox: -1},
		{name: "centre in the box but 3x its size", W: 800, H: 600, boxes: []box{a},
			dets: []face.FaceDetail{detection(box{50, 40, 150, 180}, 800, 600, 90)},
			fp:   1, missed: 1, falseBoxes: []string{"50,40,150,180 (90.0%)"}, largestBox: -1},
		{name: "none found", W: 800, H: 600, boxes: []box{a}, missed: 1, largestBox: -1},
		// Detected on the photo scaled from 4000x3000 to 2000x1500: the boxes stay in the
		// photo's own pixels, and so are the false ones reported.
		{name: "scaled to half", W: 4000, H: 3000, boxes: []box{{2000, 1000, 400, 500}},
			dets: []face.FaceDetail{detection(box{1000, 500, 200, 250}, 2000, 1500, 99), detection(box{100, 100, 20, 20}, 2000, 1500, 55)},
			tp:   1, fp: 1, falseBoxes: []string{"200,200,40,40 (55.0%)"}, largestBox: 0},
		{name: "scaled, unscaled boxes would not match", W: 2000, H: 1500, boxes: []box{{2000, 1000, 400, 500}},
			dets: []face.FaceDetail{detection(box{1000, 500, 200, 250}, 2000, 1500, 99)},
			fp:   1, missed: 1, falseBoxes: []string{"1000,500,200,250 (99.0%)"}, largestBox: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreBoxes(tt.dets, tt.W, tt.H, tt.boxes)
			if got.tp != tt.tp || got.fp != tt.fp || got.missed != tt.missed || got.largestBox != tt.largestBox ||
				!slices.Equal(got.falseBoxes, tt.falseBoxes) {
				t.Errorf("%+v, want tp %d fp %d missed %d largest box %d false %q", got, tt.tp, tt.fp, tt.missed, tt.largestBox, tt.falseBoxes)
			}
		})
	}
}

func TestDetectionTotals(t *testing.T) {
	groups := []groupResult{
		{file: "a.jpg", width: 940, boxes: &boxScore{tp: 5, fp: 0, missed: 0}},
		{file: "a.jpg", width: 2000, boxes: &boxScore{tp: 4, fp: 2, missed: 1}},
		{file: "counted.jpg", width: 2000, found: 9, expected: 3}, // no boxes: left out
	}
	tp, fp, boxes, n := detectionTotals(groups)
	if tp != 9 || fp != 2 || boxes != 10 || n != 2 {
		t.Errorf("tp %d fp %d boxes %d over %d, want 9 2 10 over 2", tp, fp, boxes, n)
	}
	if _, _, _, n := detectionTotals(groups[2:]); n != 0 {
		t.Errorf("%d photos scored, want none", n)
	}
	var out bytes.Buffer
	photos := []labelled{{person: 0, file: "x/1.jpg"}, {person: 1, file: "y/1.jpg"}}
	reportDataset(&out, "ds", photos, []string{"x", "y"}, []groupPhoto{{file: "a.jpg"}}, []datasetResult{
		{version: "boxed", groups: groups}, {version: "counted", groups: groups[2:]},
	})
	for _, want := range []string{
		"| 81.8% / 90.0% | 9 / 2 / 10 |", // 9/11, 9/10
		"| 9 / 3 | no boxes |  |",
		"| a.jpg | 2000 | 0 / 0 | 4 / 2 / 1 |",
		"| counted.jpg | 2000 | 9 / 3 |  |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
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
		{"with boxes", with(map[string]string{"groups/a.jpg": photo, "groups/expected.txt": "a.jpg 2 boxes=1,2,3,4;5,6,7,8\n"}), 3, 1, ""},
		{"fewer boxes than faces", with(map[string]string{"groups/a.jpg": photo, "groups/expected.txt": "a.jpg 2 boxes=1,2,3,4\n"}), 0, 0, "2 faces but 1 boxes"},
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
		"| 2008_004176.jpg | 480 | 7 / 7 |  | unconfirmed | identity |", // strangers: no identity to confirm
		"| 2008_004176.jpg | 2000 |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report has no %q", want)
		}
	}
}
