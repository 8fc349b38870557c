package sidecar

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestSidecarSearchShortcut: POST /search turns a raw image and its query into the
// SearchUsersByImage request the endpoint expects, and refuses bad parameters itself.
func TestSidecarSearchShortcut(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	// Every byte value, so that a text conversion on the way would show.
	img := make([]byte, 3000)
	for i := range img {
		img[i] = byte(i)
	}
	img = append([]byte{0xff, 0xd8, 0xff, 0xe0}, img...)
	b64 := base64.StdEncoding.EncodeToString(img)
	for _, tc := range []struct {
		name   string
		query  string
		body   []byte
		want   map[string]any // the request the endpoint decodes; nil when refused
		record bool
		// errType is the sidecar's own refusal.
		errType string
	}{
		{name: "collection only", query: "collection=people", body: img,
			want: map[string]any{"CollectionId": "people", "Image": map[string]any{"Bytes": b64}}},
		{name: "every parameter", query: "collection=people&maxUsers=3&threshold=92.5&record=true", body: img, record: true,
			want: map[string]any{"CollectionId": "people", "Image": map[string]any{"Bytes": b64}, "MaxUsers": 3.0, "UserMatchThreshold": 92.5}},
		{name: "threshold 0 is sent", query: "collection=people&threshold=0&maxUsers=500", body: img,
			want: map[string]any{"CollectionId": "people", "Image": map[string]any{"Bytes": b64}, "MaxUsers": 500.0, "UserMatchThreshold": 0.0}},
		{name: "record false", query: "collection=people&record=false", body: img,
			want: map[string]any{"CollectionId": "people", "Image": map[string]any{"Bytes": b64}}},
		{name: "image of 5 MiB", query: "collection=people", body: bytes.Repeat([]byte{1}, MaxImageBytes),
			want: map[string]any{"CollectionId": "people", "Image": map[string]any{"Bytes": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, MaxImageBytes))}}},

		{name: "no collection", query: "maxUsers=3", body: img, errType: typeInvalidParameter},
		{name: "empty collection", query: "collection=", body: img, errType: typeInvalidParameter},
		{name: "maxUsers 0", query: "collection=people&maxUsers=0", body: img, errType: typeInvalidParameter},
		{name: "maxUsers 501", query: "collection=people&maxUsers=501", body: img, errType: typeInvalidParameter},
		{name: "maxUsers not an integer", query: "collection=people&maxUsers=2.5", body: img, errType: typeInvalidParameter},
		{name: "threshold below 0", query: "collection=people&threshold=-1", body: img, errType: typeInvalidParameter},
		{name: "threshold above 100", query: "collection=people&threshold=100.5", body: img, errType: typeInvalidParameter},
		{name: "threshold NaN", query: "collection=people&threshold=NaN", body: img, errType: typeInvalidParameter},
		{name: "record junk", query: "collection=people&record=please", body: img, errType: typeInvalidParameter},
		{name: "unknown parameter", query: "collection=people&max_users=3", body: img, errType: typeInvalidParameter},
		{name: "parameter twice", query: "collection=people&collection=others", body: img, errType: typeInvalidParameter},
		{name: "no image", query: "collection=people", body: nil, errType: typeInvalidParameter},
		{name: "image over 5 MiB", query: "collection=people", body: bytes.Repeat([]byte{1}, MaxImageBytes+1), errType: typeImageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ep.requests())
			req := must(http.NewRequest(http.MethodPost, s.url+"/search?"+tc.query, bytes.NewReader(tc.body)))
			// What curl --data-binary sends: the body must not be read as a form.
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, answer := do(t, req)
			if tc.errType != "" {
				if resp.StatusCode != http.StatusBadRequest || errorType(t, resp, answer) != tc.errType {
					t.Errorf("got %s %q, want 400 %s", resp.Status, answer, tc.errType)
				}
				if n := len(ep.requests()) - before; n != 0 {
					t.Errorf("the endpoint got %d requests", n)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"UserMatches"`) {
				t.Fatalf("got %s %q, want the endpoint's answer", resp.Status, answer)
			}
			got := ep.last(t)
			var sent map[string]any
			if err := json.Unmarshal(got.body, &sent); err != nil {
				t.Fatalf("the endpoint got %q: %v", got.body, err)
			}
			if !reflect.DeepEqual(sent, tc.want) {
				t.Errorf("the endpoint got %v,\nwant %v", sent, tc.want)
			}
			if got.header.Get("X-Amz-Target") != "RekognitionService.SearchUsersByImage" || got.header.Get("Content-Type") != contentType ||
				got.header.Get("Authorization") != "Bearer "+testToken {
				t.Errorf("the endpoint got headers %v", got.header)
			}
			if rec := got.header.Get(RecordHeader) == "true"; rec != tc.record {
				t.Errorf("%s sent: %v, want %v", RecordHeader, rec, tc.record)
			}
		})
	}
}

// TestSidecarSearchShortcutPassesErrors: the endpoint's answer to the built request comes
// back unchanged, errors included.
func TestSidecarSearchShortcutPassesErrors(t *testing.T) {
	ep := newFakeEndpoint(t)
	const notFound = `{"__type":"ResourceNotFoundException","Message":"The collection id: people does not exist"}`
	ep.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(notFound))
	})
	s := newTestSidecar(t, ep, nil)
	resp, body := do(t, must(http.NewRequest(http.MethodPost, s.url+"/search?collection=people", strings.NewReader("\xff\xd8image"))))
	if resp.StatusCode != http.StatusBadRequest || string(body) != notFound || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("got %s %v %q, want the endpoint's 400", resp.Status, resp.Header, body)
	}
}
