package console

import (
	"fmt"
	"strings"
	"testing"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/face"
)

func detail(left float32) face.FaceDetail {
	return face.FaceDetail{BoundingBox: face.BoundingBox{Left: left, Top: 0.1, Width: 0.2, Height: 0.3}, Confidence: 99}
}

func unsearched(lefts ...float32) []face.UnindexedFace {
	var out []face.UnindexedFace
	for _, l := range lefts {
		out = append(out, face.UnindexedFace{Detail: detail(l), Reasons: []face.Reason{face.ReasonFaceNotChosen}})
	}
	return out
}

// summary is each face's index, left, and S when searched.
func summary(faces []faceBox) string {
	s := ""
	for _, f := range faces {
		s += fmt.Sprintf("%d:%g", f.Index, f.Left)
		if f.Searched {
			s += "S"
		}
		s += " "
	}
	return s
}

func TestFacesInOrder(t *testing.T) {
	searched := detail(0.5)
	cases := []struct {
		name       string
		searched   *face.FaceDetail
		index      int
		unsearched []face.UnindexedFace
		want       string
	}{
		{"the largest searched", &searched, 0, unsearched(0.1, 0.2), "0:0.5S 1:0.1 2:0.2 "},
		{"the second searched", &searched, 1, unsearched(0.1, 0.2), "0:0.1 1:0.5S 2:0.2 "},
		{"the last searched", &searched, 2, unsearched(0.1, 0.2), "0:0.1 1:0.2 2:0.5S "},
		{"one face", &searched, 0, nil, "0:0.5S "},
		{"none searched", nil, 1, unsearched(0.1, 0.2), "0:0.1 1:0.2 "},
		{"no face", nil, 0, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(facesInOrder(tc.searched, tc.index, tc.unsearched)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Past the 100 reported faces, a face cannot be chosen.
	many := facesInOrder(&searched, 0, unsearched(make([]float32, 150)...))
	if !many[99].Searchable || many[100].Searchable || many[0].Searchable {
		t.Errorf("searchable: face 99 %v, face 100 %v, the searched %v; want true, false, false", many[99].Searchable, many[100].Searchable, many[0].Searchable)
	}
}

func TestStatusFaces(t *testing.T) {
	box := func(l string) facesearchv1.FaceDetail {
		return facesearchv1.FaceDetail{Confidence: "99.5", BoundingBox: facesearchv1.BoundingBox{Left: l, Top: "0.25", Width: "0.125", Height: "0.5"}}
	}
	st := &facesearchv1.SearchRequestStatus{SearchedFace: &facesearchv1.FaceDetail{Confidence: "99.9", BoundingBox: facesearchv1.BoundingBox{Left: "0.5", Top: "0.1", Width: "0.2", Height: "0.3"}},
		UnsearchedFaces: []facesearchv1.UnsearchedFace{{FaceDetail: box("0.1"), Reasons: []string{"FACE_NOT_LARGEST"}}}}
	got := statusFaces(st)
	if summary(got) != "0:0.5S 1:0.1 " || got[1].Top != 0.25 || got[1].Confidence != 99.5 || got[1].Reasons[0] != "FACE_NOT_LARGEST" || got[1].Searchable {
		t.Errorf("got %+v", got)
	}
}

func TestEstimatedCanvasWidth(t *testing.T) {
	cases := []struct {
		name  string
		faces []faceBox
		want  int
	}{
		{"no face: 4:3", nil, 1333},
		{"a square face in a 2:1 image", []faceBox{{Width: 0.25, Height: 0.5, Searched: true}}, 2000},
		{"the searched face decides", []faceBox{{Width: 0.5, Height: 0.5}, {Width: 0.1, Height: 0.15, Searched: true}}, 1500},
		{"the first face without a searched one", []faceBox{{Width: 0.5, Height: 0.25}}, 500},
		{"kept within 3:1", []faceBox{{Width: 0.01, Height: 0.9}}, 3000},
		{"a degenerate box", []faceBox{{Width: 0, Height: 0.9}}, 1333},
	}
	for _, tc := range cases {
		if got := estimatedCanvasWidth(tc.faces); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestDataURL: the console shows only the image formats searched, typed by their bytes.
func TestDataURL(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "data:image/jpeg;base64,"},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "data:image/png;base64,"},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", "data:image/webp;base64,"},
		{"gif", "GIF89a\x01\x00\x01\x00", ""},
		{"html", "<html><script>alert(1)</script>", ""},
	}
	for _, tt := range tests {
		if got := string(dataURL([]byte(tt.data))); !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
			t.Errorf("%s: %.40q, want it to start %q", tt.name, got, tt.want)
		}
	}
}
