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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/index"
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
	srv := bucket.Server
	st := bucket.Collection(t, roleCollection, "m1", dim)
	runWriter(t, bucket, 0, 30, "compact")
	runWriter(t, bucket, 30, 40, "")

	// Two shards, each its own index role, as two pods would run them.
	var urls []string
	done := make(chan error, 2)
	for sh := 0; sh < 2; sh++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		urls = append(urls, "http://"+addr)
		go func(sh int) {
			done <- index.RunIndex(ctx, index.IndexOptions{
				Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
				Bucket: bucket.Name, Prefix: bucket.Prefix, CollectionID: roleCollection, Shard: sh, Shards: 2, ListenAddress: addr,
			})
		}(sh)
	}
	for _, u := range urls {
		eventually(t, u+" ready", func() bool {
			resp, err := http.Get(u + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	search := func(seed int) []index.Match {
		var lists [][]index.Match
		for _, u := range urls {
			m, err := index.NewClient(u).Search(ctx, vec(seed), index.SearchOptions{K: 3, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, m)
		}
		return index.MergeTopK(lists, 3)
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
	for _, u := range urls {
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
	for range urls {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
