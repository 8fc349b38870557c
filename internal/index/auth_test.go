package index_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/pki"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// guardedShard runs the index role, as the operator's pods run it (token files, TLS on the
// search port, probes and metrics on their own port), over a collection of 20 faces.
type guardedShard struct {
	auth              *roleAuth
	searchURL, probes string
	faces             []string
	done              chan error
}

func startGuardedShard(ctx context.Context, t *testing.T) *guardedShard {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p"})
	st := bucket.Collection(t, "people", "m1", dim)
	g := &guardedShard{auth: newRoleAuth(t, "people", "default"), done: make(chan error, 1)}
	for i := 0; i < 20; i++ {
		recs, err := st.IndexFaces(ctx, "people", []store.NewFace{{ImageID: fmt.Sprint(i), Embedding: vec(i)}}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g.faces = append(g.faces, recs[0].FaceID)
	}
	opts := g.auth.options(t, bucket, "people", 0, 1)
	g.searchURL, g.probes = "https://"+opts.ListenAddress, "http://"+opts.ProbeAddress
	go func() { g.done <- index.RunIndex(ctx, opts) }()
	waitReady(t, g.probes)
	return g
}

// post sends a raw search, as anyone on the network could, over TLS that trusts the
// collection's CA; it returns the status and the body.
func (g *guardedShard) post(t *testing.T, header string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, g.searchURL+"/search", bytes.NewReader(b))
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	resp, err := g.auth.client(t, "").HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (g *guardedShard) search(t *testing.T, opts index.ClientOptions, seed int) ([]index.Match, error) {
	t.Helper()
	return index.NewClient(g.searchURL, opts).Search(context.Background(), vec(seed), index.SearchOptions{K: 3, Exact: true})
}

// TestIndexRoleRefusesUnauthenticatedSearches: only a caller with the collection's token gets
// an answer; a refusal carries no match data; a rotated token works alongside the previous
// one during the overlap, and the previous one stops working once dropped, with no restart.
func TestIndexRoleRefusesUnauthenticatedSearches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := startGuardedShard(ctx, t)
	body := map[string]any{"vector": vec(3), "k": 5, "exact": true}

	for _, tc := range []struct{ name, header string }{
		{"no credential", ""},
		{"wrong token", "Bearer token-two"},
		{"right token, wrong scheme", "Basic token-one"},
		{"a prefix of the token", "Bearer token-on"},
	} {
		code, out := g.post(t, tc.header, body)
		if code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 401 or 403", tc.name, code)
		}
		if !strings.Contains(out, `"code":"AccessDenied"`) || strings.Contains(out, "faceId") || strings.Contains(out, g.faces[3]) {
			t.Errorf("%s: body %s, want an AccessDenied error and no match", tc.name, out)
		}
	}
	m, err := g.search(t, g.auth.client(t, ""), 3)
	if err != nil || len(m) == 0 || m[0].FaceID != g.faces[3] {
		t.Fatalf("with the token: %+v %v", m, err)
	}
	if _, err := g.search(t, g.auth.client(t, "", "token-two"), 3); !errs.Is(err, errs.ResourceNotReady) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("the client with a wrong token: %v, want a refusal seen as ResourceNotReady", err)
	}

	// Rotation: the Secret now holds token-two and, as previous, token-one. Both work.
	g.auth.write(t, "token", "token-two")
	g.auth.write(t, "previousToken", "token-one")
	eventually(t, "the shard takes the new token without a restart", func() bool {
		code, _ := g.post(t, "Bearer token-two", body)
		return code == http.StatusOK
	})
	if code, out := g.post(t, "Bearer token-one", body); code != http.StatusOK {
		t.Errorf("the previous token during the overlap: %d %s", code, out)
	}
	// The manager's client sends the new token first and falls back to the previous one, so
	// a shard that has not seen the rotation yet still answers.
	if m, err := g.search(t, g.auth.client(t, "token-one", "token-three"), 3); err != nil || len(m) == 0 {
		t.Errorf("new token unknown to the shard, previous known: %+v %v", m, err)
	}
	// The overlap ends: the previous token is dropped.
	g.auth.write(t, "previousToken", "")
	eventually(t, "the shard drops the previous token", func() bool {
		code, _ := g.post(t, "Bearer token-one", body)
		return code == http.StatusUnauthorized
	})
	if code, out := g.post(t, "Bearer token-two", body); code != http.StatusOK {
		t.Errorf("the new token after the overlap: %d %s", code, out)
	}
}

// TestIndexRoleSearchPortIsTLS: the search port speaks TLS only, with the collection's
// certificate: a plain-HTTP request and a client trusting another CA get nothing.
func TestIndexRoleSearchPortIsTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := startGuardedShard(ctx, t)
	plain := strings.Replace(g.searchURL, "https://", "http://", 1)
	if m, err := index.NewClient(plain, index.ClientOptions{Credentials: index.NewCredentials("token-one", "")}).Search(ctx, vec(3), index.SearchOptions{K: 1}); err == nil {
		t.Errorf("plain HTTP to the search port answered %+v", m)
	}
	other, _ := pki.NewCA("another CA", time.Hour)
	cfg, _ := pki.ClientConfig(other.CertPEM, g.auth.serverName)
	if m, err := index.NewClient(g.searchURL, index.ClientOptions{Credentials: index.NewCredentials("token-one", ""),
		HTTPClient: index.NewHTTPClient(cfg)}).Search(ctx, vec(3), index.SearchOptions{K: 1}); err == nil {
		t.Errorf("a client that does not trust the collection's CA got %+v", m)
	}
	cfg, _ = pki.ClientConfig(g.auth.caPEM, "someone-else.default.svc")
	if _, err := index.NewClient(g.searchURL, index.ClientOptions{Credentials: index.NewCredentials("token-one", ""),
		HTTPClient: index.NewHTTPClient(cfg)}).Search(ctx, vec(3), index.SearchOptions{K: 1}); err == nil {
		t.Error("a client expecting another server name accepted the shard's certificate")
	}
}

// TestIndexRoleBoundsOptions: options out of bounds are refused before any work, and the
// shard keeps serving; a generation that never comes delays each search by the catch-up
// bound at most, however many arrive at once.
func TestIndexRoleBoundsOptions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := startGuardedShard(ctx, t)
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"k of 1e9", map[string]any{"vector": vec(3), "k": 1_000_000_000, "exact": true}},
		{"k of 1e9, int8 scan", map[string]any{"vector": vec(3), "k": 1_000_000_000}},
		{"k of 4098", map[string]any{"vector": vec(3), "k": 4098}},
		{"negative k", map[string]any{"vector": vec(3), "k": -1}},
		{"minCosine above 1", map[string]any{"vector": vec(3), "k": 5, "minCosine": 1.5}},
		{"minCosine below -1", map[string]any{"vector": vec(3), "k": 5, "minCosine": -2}},
		{"minCosine beyond float32", map[string]any{"vector": vec(3), "k": 5, "minCosine": 1e300}},
		{"wrong dimension", map[string]any{"vector": vec(3)[:dim-1], "k": 5}},
	} {
		code, out := g.post(t, "Bearer token-one", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(out, `"code":"InvalidParameter"`) {
			t.Errorf("%s: %d %s, want 400 InvalidParameter", tc.name, code, out)
		}
	}
	if code, out := g.post(t, "Bearer token-one", map[string]any{"vector": vec(3), "k": index.MaxK, "exact": true}); code != http.StatusOK {
		t.Errorf("k = MaxK: %d %.200s", code, out)
	}
	if m, err := g.search(t, g.auth.client(t, ""), 7); err != nil || len(m) == 0 || m[0].FaceID != g.faces[7] {
		t.Fatalf("the shard after the refused searches: %+v %v", m, err)
	}
	resp, err := http.Get(g.probes + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the shard is not alive after the refused searches: %v", err)
	}
	resp.Body.Close()

	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.post(t, "Bearer token-one", map[string]any{"vector": vec(3), "k": 5, "minGeneration": uint64(1) << 60})
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Errorf("4 searches asking for a generation that never comes took %v, want about 2s (the bound), not one bound each", d)
	}
}

// TestIndexRolePorts: probes and metrics on the probe port only, searches on the search
// port only.
func TestIndexRolePorts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := startGuardedShard(ctx, t)
	get := func(c *http.Client, method, url, auth string) int {
		req, _ := http.NewRequest(method, url, strings.NewReader(`{"vector":[1],"k":1}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if method == http.MethodGet && strings.HasSuffix(url, "/metrics") && resp.StatusCode == http.StatusOK &&
			!strings.Contains(string(body), "facesearch_index_vectors_loaded 20") {
			t.Errorf("%s: no vector count in %.300s", url, body)
		}
		if want := fmt.Sprintf("facesearch_index_vector_bytes %d", 20*(20+3*dim)); method == http.MethodGet && strings.HasSuffix(url, "/metrics") &&
			resp.StatusCode == http.StatusOK && !strings.Contains(string(body), want) {
			t.Errorf("%s: no %q in the metrics", url, want)
		}
		return resp.StatusCode
	}
	tlsClient := g.auth.client(t, "").HTTPClient
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code := get(http.DefaultClient, http.MethodGet, g.probes+p, ""); code != http.StatusOK {
			t.Errorf("GET %s on the probe port: %d", p, code)
		}
		if code := get(tlsClient, http.MethodGet, g.searchURL+p, "Bearer token-one"); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s on the search port: %d, want it not served", p, code)
		}
	}
	if code := get(http.DefaultClient, http.MethodPost, g.probes+"/search", "Bearer token-one"); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("POST /search on the probe port: %d, want it not served", code)
	}
}
