package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// maxSearchBody is the endpoint's body limit: a 5 MB image as base64 (the photo posted back
// when a face is clicked) and the form around it.
const maxSearchBody = rekognition.DefaultMaxBodyBytes

// Defaults of the search form.
const (
	defaultThreshold = 80
	defaultMaxUsers  = 5
)

type searchPage struct {
	base
	C         collectionView
	Threshold float32
	MaxUsers  int
	// Searched: a search ran; Photo, Matches and ImageData are its.
	Searched bool
	Photo    *photo
	Matches  []search.UserMatch
	// ImageData is the photo as base64, posted back when another face is clicked: the
	// server keeps nothing between requests.
	ImageData        string
	FaceModelVersion string
	Error            string
}

func (h *handler) searchPage(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	h.render(w, http.StatusOK, "search.html", searchPage{base: h.base(s, "Search "+c.ID), C: h.view(ctx, s, c),
		Threshold: defaultThreshold, MaxUsers: defaultMaxUsers})
}

// searchForm is what the search form posts.
type searchForm struct {
	csrf      string
	image     []byte
	face      int
	threshold float32
	maxUsers  int
}

// search runs SearchUsersByImage on the posted photo through the search path, on the face
// the form names (the largest by default; the one clicked after). The photo lives only in
// this request and in the page sent back.
func (h *handler) search(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSearchBody)
	f, err := readSearchForm(r)
	// Before anything else: a form another site made posts no token of this session. The
	// forms send it first, so it is read even from a body over the limit.
	if !s.checkCSRF(f.csrf) {
		h.fail(w, s, http.StatusForbidden, "Search", "The form's token is missing or wrong: reload the page and try again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	p := searchPage{base: h.base(s, "Search "+c.ID), C: h.view(ctx, s, c), Threshold: f.threshold, MaxUsers: f.maxUsers}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		// The endpoint's answer to a body over its limit.
		w.Header().Set("Connection", "close")
		p.Error = fmt.Sprintf("%s: Request body is larger than %d bytes; images given as bytes may be at most 5 MB", rekognition.TypeImageTooLarge, maxSearchBody)
	case err != nil:
		p.Error = rekognition.TypeInvalidParameter + ": " + err.Error()
	case len(f.image) == 0:
		p.Error = rekognition.TypeInvalidParameter + ": choose a photo to search with"
	}
	if p.Error != "" {
		h.render(w, http.StatusBadRequest, "search.html", p)
		return
	}
	res, err := h.opts.Search.SearchUsersByImage(ctx, c.ID, search.Image{Bytes: f.image},
		search.SearchUsersOptions{UserMatchThreshold: f.threshold, MaxUsers: f.maxUsers, FaceIndex: f.face})
	if err != nil {
		p.Error = h.message(err)
		h.render(w, statusOf(err), "search.html", p)
		return
	}
	p.Searched, p.Matches, p.FaceModelVersion = true, res.UserMatches, res.FaceModelVersion
	p.Photo = &photo{DataURL: dataURL(f.image), Faces: facesInOrder(res.SearchedFace, f.face, res.UnsearchedFaces)}
	p.ImageData = base64.StdEncoding.EncodeToString(f.image)
	h.render(w, http.StatusOK, "search.html", p)
}

// statusOf is the HTTP status the endpoint answers an error with: 500 for its server-side
// types, 400 for the others.
func statusOf(err error) int {
	var e *rekognition.Error
	if errors.As(rekognition.MapError(err), &e) && e.Type != rekognition.TypeInternalServerError && e.Type != rekognition.TypeThrottling {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// readSearchForm reads the multipart form part by part, each within its limit: a photo as a
// file ("image") or as base64 posted back ("image_data"; the file wins when both come), the
// face to search, the threshold and the most users. It returns what it read with the first
// error, so that the CSRF token can be checked whatever else was wrong.
func readSearchForm(r *http.Request) (searchForm, error) {
	f := searchForm{threshold: defaultThreshold, maxUsers: defaultMaxUsers}
	mr, err := r.MultipartReader()
	if err != nil {
		return f, fmt.Errorf("not a multipart form: %w", err)
	}
	var file, posted []byte
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return f, err
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(part)
		part.Close()
		if err != nil {
			return f, err
		}
		v := buf.String()
		switch part.FormName() {
		case "csrf":
			f.csrf = v
		case "image":
			file = buf.Bytes()
		case "image_data":
			if posted, err = base64.StdEncoding.DecodeString(v); err != nil {
				keep(errors.New("the photo posted back is not base64"))
			}
		case "face":
			if f.face, err = strconv.Atoi(v); err != nil || f.face < 0 || f.face >= maxSearchableFaces {
				keep(fmt.Errorf("face %q is not a face index from 0 to %d", v, maxSearchableFaces-1))
				f.face = 0
			}
		case "threshold":
			t, err := strconv.ParseFloat(v, 32)
			if err != nil || t < 0 || t > 100 {
				keep(fmt.Errorf("threshold %q is not a number from 0 to 100", v))
				t = defaultThreshold
			}
			f.threshold = float32(t)
		case "max_users":
			if f.maxUsers, err = strconv.Atoi(v); err != nil || f.maxUsers < 1 || f.maxUsers > search.MaxUsers {
				keep(fmt.Errorf("max_users %q is not a number from 1 to %d", v, search.MaxUsers))
				f.maxUsers = defaultMaxUsers
			}
		}
	}
	f.image = posted
	if len(file) > 0 {
		f.image = file
	}
	return f, firstErr
}
