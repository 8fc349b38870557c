package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCountingProxyCountsAnswerBodies(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 3<<20)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
			return
		}
		_, _ = w.Write(body[:len(body)-len(r.URL.Path)])
	}))
	defer backend.Close()
	p, err := NewCountingProxy(strings.TrimPrefix(backend.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func(path string) int {
		resp, err := http.Get("http://" + p.Endpoint + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	want := get("/a") + get("/bb")
	// An upload's body is not a download.
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.Endpoint+"/c", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, reqs := p.Take(); n != int64(want) || reqs != 3 {
		t.Fatalf("counted %d bytes in %d requests, want %d in 3", n, reqs, want)
	}
	if n, reqs := p.Take(); n != 0 || reqs != 0 {
		t.Fatalf("after Take: %d bytes, %d requests", n, reqs)
	}
}
