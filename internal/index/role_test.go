package index_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/pki"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

const (
	dim       = 64
	writerEnv = "FACESEARCH_INDEX_TEST_WRITER"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(writerEnv); cfg != "" {
		os.Exit(writeFaces(cfg))
	}
	os.Exit(m.Run())
}

func vec(seed int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*131+i*17) + 0.25))
	}
	return v
}

// writeFaces is the other process: it indexes images from..to-1, then optionally
// compacts, and exits.
func writeFaces(cfg string) int {
	f := strings.Split(cfg, ",")
	from, _ := strconv.Atoi(f[5])
	to, _ := strconv.Atoi(f[6])
	c, err := store.NewClient(f[0], f[1], f[2], false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := store.New(c, f[3], "p", store.Options{})
	ctx := context.Background()
	for i := from; i < to; i++ {
		nf := store.NewFace{ImageID: fmt.Sprintf("img-%d", i), ExternalImageID: fmt.Sprintf("ext-%d", i), Confidence: 99, Embedding: vec(i)}
		if _, err := s.IndexFaces(ctx, f[4], []store.NewFace{nf}, store.IndexFacesOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	if len(f) > 7 && f[7] == "compact" {
		if err := s.Compact(ctx, f[4]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
	}
	return 0
}

// roleCollection is the collection the role test writes and serves.
const roleCollection = "people"

func runWriter(t *testing.T, bucket *testenv.Bucket, from, to int, extra string) {
	t.Helper()
	srv := bucket.Server
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+strings.Join([]string{srv.Endpoint, srv.AccessKey, srv.SecretKey, bucket.Name, roleCollection, strconv.Itoa(from), strconv.Itoa(to), extra}, ","))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, out)
	}
}

// roleAuth is what the operator gives an index pod, as files: the token files (current and
// previous) and a serving certificate from a CA of the collection's own.
type roleAuth struct {
	dir, token, previous string
	caPEM                []byte
	serverName           string
}

func newRoleAuth(t *testing.T, collection, namespace string) *roleAuth {
	t.Helper()
	dir := t.TempDir()
	a := &roleAuth{dir: dir, token: filepath.Join(dir, "token"), previous: filepath.Join(dir, "previousToken"),
		serverName: collection + "-index." + namespace + ".svc"}
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.IssueServing(ca, []string{a.serverName}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a.caPEM = ca.CertPEM
	a.write(t, "token", "token-one")
	a.write(t, "previousToken", "")
	a.write(t, "tls.crt", string(serving.CertPEM))
	a.write(t, "tls.key", string(serving.KeyPEM))
	return a
}

// write replaces a file the way the kubelet updates a mounted Secret: a new file renamed
// over the old one.
func (a *roleAuth) write(t *testing.T, name, content string) {
	t.Helper()
	tmp := filepath.Join(a.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(a.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// options are the index role's options for one shard, on two free ports of 127.0.0.1.
func (a *roleAuth) options(t *testing.T, bucket *testenv.Bucket, coll string, shard, shards int) index.IndexOptions {
	srv := bucket.Server
	return index.IndexOptions{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: bucket.Name, Prefix: bucket.Prefix, CollectionID: coll, Shard: shard, Shards: shards,
		ListenAddress: freeAddr(t), ProbeAddress: freeAddr(t),
		TokenFiles:  []string{a.token, a.previous},
		TLSCertFile: filepath.Join(a.dir, "tls.crt"), TLSKeyFile: filepath.Join(a.dir, "tls.key"),
	}
}

// client are the manager's client options: the collection's CA, and tokens.
func (a *roleAuth) client(t *testing.T, previous string, token ...string) index.ClientOptions {
	t.Helper()
	cfg, err := pki.ClientConfig(a.caPEM, a.serverName)
	if err != nil {
		t.Fatal(err)
	}
	tok := "token-one"
	if len(token) > 0 {
		tok = token[0]
	}
	return index.ClientOptions{Credentials: index.NewCredentials(tok, previous), HTTPClient: index.NewHTTPClient(cfg)}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, probeURL string) {
	t.Helper()
	eventually(t, probeURL+" ready", func() bool {
		resp, err := http.Get(probeURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// eventually polls cond; the bound only keeps a broken build from hanging the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting: %s", what)
}

func TestIndexRoleServesWhatAnotherProcessWrote(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p"})
	st := bucket.Collection(t, roleCollection, "m1", dim)
	runWriter(t, bucket, 0, 30, "compact")
	runWriter(t, bucket, 30, 40, "")

	// Two shards, each its own index role, as two pods would run them.
	auth := newRoleAuth(t, roleCollection, "default")
	var urls, probeURLs []string
	done := make(chan error, 2)
	for sh := 0; sh < 2; sh++ {
		opts := auth.options(t, bucket, roleCollection, sh, 2)
		urls = append(urls, "https://"+opts.ListenAddress)
		probeURLs = append(probeURLs, "http://"+opts.ProbeAddress)
		go func() { done <- index.RunIndex(ctx, opts) }()
	}
	for _, u := range probeURLs {
		waitReady(t, u)
	}
	// The manager's clients check which shard answers.
	clientOf := func(shard int) index.ClientOptions {
		o := auth.client(t, "")
		o.Shard, o.Shards = shard, 2
		return o
	}
	search := func(seed int) []index.Match {
		var lists [][]index.Match
		for sh, u := range urls {
			m, err := index.NewClient(u, clientOf(sh)).Search(ctx, vec(seed), index.SearchOptions{K: 3, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, m)
		}
		return index.MergeTopK(lists, 3)
	}
	if m, err := index.NewClient(urls[1], clientOf(0)).Search(ctx, vec(1), index.SearchOptions{K: 3}); !errs.Is(err, errs.ResourceNotReady) {
		t.Fatalf("shard 1 answered for shard 0: %+v, %v", m, err)
	}
	faceOf := func(i int) string {
		recs, _, err := st.ListFaces(ctx, roleCollection, store.ListFacesOptions{MaxResults: 4096})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ImageID == fmt.Sprintf("img-%d", i) {
				return r.FaceID
			}
		}
		t.Fatalf("no face for image %d", i)
		return ""
	}
	for _, i := range []int{3, 35} {
		m := search(i)
		if len(m) == 0 || m[0].FaceID != faceOf(i) || m[0].Cosine < 0.9999 {
			t.Fatalf("search for image %d: %+v", i, m)
		}
	}
	// New commits by another process reach the running shards; so does a compaction.
	runWriter(t, bucket, 40, 45, "compact")
	runWriter(t, bucket, 45, 46, "")
	want := faceOf(45)
	eventually(t, "the shards see the new face", func() bool {
		m := search(45)
		return len(m) > 0 && m[0].FaceID == want
	})
	if m := search(42); m[0].FaceID != faceOf(42) {
		t.Fatalf("after compaction: %+v", m)
	}
	// Metrics: both shards together hold all 46 vectors.
	total := 0.0
	for _, u := range probeURLs {
		resp, err := http.Get(u + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "facesearch_index_vectors_loaded ") {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				total += v
			}
		}
		if !strings.Contains(string(body), "facesearch_index_search_duration_seconds_count") {
			t.Fatalf("no latency histogram in %s/metrics", u)
		}
	}
	if total != 46 {
		t.Fatalf("shards report %v vectors, want 46", total)
	}
	cancel()
	for range probeURLs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexRoleDrains: when the pod is told to stop, /readyz fails at once while searches are
// still served for the drain delay; then the server stops taking searches, and the one in
// flight gets its answer before the role returns.
func TestIndexRoleDrains(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p"})
	bucket.Collection(t, roleCollection, "m1", dim)
	runWriter(t, bucket, 0, 1, "")
	auth := newRoleAuth(t, roleCollection, "default")
	opts := auth.options(t, bucket, roleCollection, 0, 1)
	const drain = time.Second
	opts.DrainDelay = drain
	done := make(chan error, 1)
	go func() { done <- index.RunIndex(ctx, opts) }()
	probe, url := "http://"+opts.ProbeAddress, "https://"+opts.ListenAddress
	waitReady(t, probe)
	c := index.NewClient(url, auth.client(t, ""))
	stop := time.Now()
	cancel()
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Get(probe + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while draining, want 503", resp.StatusCode)
	}
	if m, err := c.Search(context.Background(), vec(0), index.SearchOptions{K: 1}); err != nil || len(m) != 1 {
		t.Fatalf("a search during the drain delay: %+v, %v", m, err)
	}
	// A search still in flight when the server stops: it waits (up to 2s) for a commit
	// that never comes, then gets the shard's own answer, not a broken connection.
	inFlight := make(chan error, 1)
	go func() {
		_, err := c.Search(context.Background(), vec(0), index.SearchOptions{K: 1, MinGeneration: 1 << 40})
		inFlight <- err
	}()
	if err := <-inFlight; !errs.Is(err, errs.ResourceNotReady) || !strings.Contains(err.Error(), "reflects commit") {
		t.Fatalf("the search in flight got %v; want the shard's answer that it is behind", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stop); took < drain+time.Second {
		t.Fatalf("the role returned %s after the stop: before its search in flight was answered", took)
	}
	if _, err := c.Search(context.Background(), vec(0), index.SearchOptions{K: 1}); err == nil {
		t.Fatal("a search after the shutdown was answered")
	}
}
