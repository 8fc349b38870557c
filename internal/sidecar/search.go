package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// searchUsersByImageInput is the request POST /search builds; unset members are left out,
// so that the endpoint applies Rekognition's defaults.
type searchUsersByImageInput struct {
	CollectionID string `json:"CollectionId"`
	Image        struct {
		Bytes []byte `json:"Bytes"` // base64, as encoding/json writes a []byte
	} `json:"Image"`
	MaxUsers           *int     `json:"MaxUsers,omitempty"`
	UserMatchThreshold *float64 `json:"UserMatchThreshold,omitempty"`
}

// search serves POST /search?collection=<CollectionId>[&maxUsers=N][&threshold=T][&record=true]
// with the raw image as body: a program that is not an AWS SDK (curl, a shell script) gets
// SearchUsersByImage's answer as the endpoint gives it.
func (p *Proxy) search(w http.ResponseWriter, r *http.Request) {
	const op = "SearchUsersByImage"
	// The query only: curl --data-binary sends a form's Content-Type, and the body is the
	// image, not a form.
	in, record, err := searchParams(r.URL.Query())
	if err != nil {
		p.fail(w, op, http.StatusBadRequest, typeInvalidParameter, err.Error())
		return
	}
	tooLarge := func() {
		w.Header().Set("Connection", "close")
		p.fail(w, op, http.StatusBadRequest, typeImageTooLarge, fmt.Sprintf("The image is larger than %d bytes (5 MiB)", MaxImageBytes))
	}
	if r.ContentLength > MaxImageBytes {
		tooLarge()
		return
	}
	img, err := io.ReadAll(io.LimitReader(r.Body, MaxImageBytes+1))
	switch {
	case err != nil:
		p.fail(w, op, http.StatusBadRequest, typeInvalidParameter, fmt.Sprintf("Could not read the image: %v", err))
		return
	case len(img) > MaxImageBytes:
		tooLarge()
		return
	case len(img) == 0:
		p.fail(w, op, http.StatusBadRequest, typeInvalidParameter, "The request body is the image (JPEG or PNG), and it is empty")
		return
	}
	in.Image.Bytes = img
	body, err := json.Marshal(&in)
	if err != nil {
		p.fail(w, op, http.StatusInternalServerError, typeInternalError, err.Error())
		return
	}
	p.forward(w, r, forward{op: op, body: bytes.NewReader(body), length: int64(len(body)), contentType: contentType, record: record})
}

// searchParams reads the query of POST /search. A parameter it does not know is an error: a
// misspelt maxUsers would be ignored otherwise.
func searchParams(q url.Values) (in searchUsersByImageInput, record bool, err error) {
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if len(q[name]) != 1 {
			return in, false, fmt.Errorf("parameter %s is given %d times", name, len(q[name]))
		}
		v := q[name][0]
		switch name {
		case "collection":
			in.CollectionID = v
		case "maxUsers":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				return in, false, fmt.Errorf("maxUsers must be an integer from 1 to 500, not %q", v)
			}
			in.MaxUsers = &n
		case "threshold":
			t, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(t) || t < 0 || t > 100 {
				return in, false, fmt.Errorf("threshold must be a number from 0 to 100, not %q", v)
			}
			in.UserMatchThreshold = &t
		case "record":
			if record, err = strconv.ParseBool(v); err != nil {
				return in, false, fmt.Errorf("record must be true or false, not %q", v)
			}
		default:
			return in, false, fmt.Errorf("unknown parameter %q: POST /search takes collection, maxUsers, threshold and record", name)
		}
	}
	if in.CollectionID == "" {
		return in, false, fmt.Errorf("parameter collection (the CollectionId to search) is required")
	}
	return in, record, nil
}
