package console

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/face"
)

// faceBox is one face drawn over a photo. Index is its place in the largest-first order of
// DetectFaces, the order a click names it by (search.SearchUsersOptions.FaceIndex).
type faceBox struct {
	Index                    int
	Left, Top, Width, Height float32
	Confidence               float32
	Searched                 bool
	Reasons                  []string
	// Searchable: a click searches this face instead (only the first 100 can be, as only
	// they are reported; the searched one is already).
	Searchable bool
}

// maxSearchableFaces are the faces a search reports, and so may search (Rekognition's 100).
const maxSearchableFaces = 100

// photo is an image with its faces' boxes; without the image the boxes are drawn on a blank
// canvas of the image's aspect.
type photo struct {
	// DataURL is the image, sent back in the page instead of being kept anywhere.
	DataURL template.URL
	// CanvasWidth is the blank canvas' width for a height of 1000 (the image's aspect);
	// AspectEstimated says it was guessed from the boxes, the image being out of reach.
	CanvasWidth     int
	AspectEstimated bool
	Faces           []faceBox
}

// SearchedFace is the searched face's box, or nil.
func (p *photo) SearchedFace() *faceBox {
	for i := range p.Faces {
		if p.Faces[i].Searched {
			return &p.Faces[i]
		}
	}
	return nil
}

// Unsearched are the other faces.
func (p *photo) Unsearched() []faceBox {
	var out []faceBox
	for _, f := range p.Faces {
		if !f.Searched {
			out = append(out, f)
		}
	}
	return out
}

// facesInOrder puts the searched face (the one at index in the largest-first order) back
// among the unsearched ones, which keep that order without it.
func facesInOrder(searched *face.FaceDetail, index int, unsearched []face.UnindexedFace) []faceBox {
	out := make([]faceBox, 0, len(unsearched)+1)
	box := func(d face.FaceDetail, i int) faceBox {
		b := d.BoundingBox
		return faceBox{Index: i, Left: b.Left, Top: b.Top, Width: b.Width, Height: b.Height, Confidence: d.Confidence}
	}
	for i, u := range unsearched {
		if searched != nil && i == index {
			out = append(out, searchedBox(box(*searched, index)))
		}
		at := i
		if searched != nil && i >= index {
			at = i + 1
		}
		f := box(u.Detail, at)
		for _, r := range u.Reasons {
			f.Reasons = append(f.Reasons, string(r))
		}
		f.Searchable = at < maxSearchableFaces
		out = append(out, f)
	}
	if searched != nil && index >= len(unsearched) {
		out = append(out, searchedBox(box(*searched, index)))
	}
	return out
}

func searchedBox(f faceBox) faceBox {
	f.Searched = true
	return f
}

// statusFaces are a SearchRequest's faces as its status keeps them: decimal strings, the
// searched face the largest (a SearchRequest always searches it).
func statusFaces(st *facesearchv1.SearchRequestStatus) []faceBox {
	var searched *face.FaceDetail
	if st.SearchedFace != nil {
		d := statusDetail(*st.SearchedFace)
		searched = &d
	}
	var unsearched []face.UnindexedFace
	for _, u := range st.UnsearchedFaces {
		f := face.UnindexedFace{Detail: statusDetail(u.FaceDetail)}
		for _, r := range u.Reasons {
			f.Reasons = append(f.Reasons, face.Reason(r))
		}
		unsearched = append(unsearched, f)
	}
	out := facesInOrder(searched, 0, unsearched)
	for i := range out {
		out[i].Searchable = false // the image is not at hand to search again
	}
	return out
}

func statusDetail(d facesearchv1.FaceDetail) face.FaceDetail {
	f := func(s string) float32 {
		v, _ := strconv.ParseFloat(s, 32)
		return float32(v)
	}
	b := d.BoundingBox
	return face.FaceDetail{Confidence: f(d.Confidence),
		BoundingBox: face.BoundingBox{Left: f(b.Left), Top: f(b.Top), Width: f(b.Width), Height: f(b.Height)}}
}

// dataURL is the image as a data: URL, for JPEG, PNG and WebP only: the only formats
// searched, and the type named is the one the bytes are, never one a client chose.
func dataURL(data []byte) template.URL {
	ct := http.DetectContentType(data)
	if ct != "image/jpeg" && ct != "image/png" && ct != "image/webp" {
		return ""
	}
	// The bytes are base64 and the type fixed: nothing in the URL comes from a client as text.
	return template.URL("data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(data)) //nolint:gosec
}

// estimatedCanvasWidth is a blank canvas' width for a height of 1000 when the image cannot
// be read: the aspect that makes the searched (or first) face's box square, as detectors'
// boxes nearly are, kept between 1:3 and 3:1. 4:3 when there is no face.
func estimatedCanvasWidth(faces []faceBox) int {
	var f *faceBox
	for i := range faces {
		if faces[i].Searched {
			f = &faces[i]
			break
		}
	}
	if f == nil && len(faces) > 0 {
		f = &faces[0]
	}
	if f == nil || f.Width <= 0 || f.Height <= 0 {
		return 1333
	}
	aspect := float64(f.Height / f.Width)
	return int(1000 * min(max(aspect, 1.0/3), 3))
}
