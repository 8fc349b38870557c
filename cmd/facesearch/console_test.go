package main

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// TestConsoleFlag: the console is on by default, under /console/ on the endpoint's own
// listener; --console=false leaves nothing there, not even the Rekognition handler's answer.
func TestConsoleFlag(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		status int
	}{
		{"default", nil, http.StatusOK},
		{"on", []string{"--console=true"}, http.StatusOK},
		{"off", []string{"--console=false"}, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("api", flag.ContinueOnError)
			var af apiFlags
			af.bind(fs, "127.0.0.1:0")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			api, err := newAPIEndpoint(&af, search.NewService(nil), nil, nil, rekognition.StaticCredentials{}, logr.Discard())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(api.server.Handler)
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL + "/console/signin")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /console/signin: %s, want %d", resp.Status, tc.status)
			}
			if tc.status == http.StatusOK && !strings.Contains(string(body), `id="signin-form"`) {
				t.Errorf("no sign-in form:\n%s", body)
			}
			if tc.status == http.StatusNotFound && resp.Header.Get("X-Amzn-ErrorType") != "" {
				t.Error("with the console off, the Rekognition handler answered /console/")
			}
		})
	}
}
