package index_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// rangeBytes counts the bytes that ranged GETs of snapshot columns ask for, and the
// snapshot directories they read from.
type rangeBytes struct {
	mu    sync.Mutex
	bytes int64
	dirs  map[string]bool
}

func (r *rangeBytes) match(req *http.Request) bool {
	h := req.Header.Get("Range")
	if req.Method != http.MethodGet || h == "" || !strings.Contains(req.URL.Path, "/cols-") {
		return false
	}
	var a, b int64
	if _, err := fmt.Sscanf(h, "bytes=%d-%d", &a, &b); err == nil {
		r.mu.Lock()
		r.bytes += b - a + 1
		if r.dirs == nil {
			r.dirs = map[string]bool{}
		}
		r.dirs[path.Dir(req.URL.Path)] = true
		r.mu.Unlock()
	}
	return true
}

func (r *rangeBytes) get() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// rvec is a random unit-free vector of seed: unlike vec, no two seeds are near twins.
func rvec(seed int) []float32 {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// importFaces stores n faces of dimension d in one commit per 1000 and returns their ids.
func importFaces(t *testing.T, st *store.Store, coll string, from, n int) []string {
	t.Helper()
	var ids []string
	for lo := from; lo < from+n; lo += 1000 {
		var faces []store.NewFace
		for i := lo; i < min(from+n, lo+1000); i++ {
			faces = append(faces, store.NewFace{ImageID: strconv.Itoa(i), Embedding: rvec(i)})
		}
		recs, err := st.ImportFaces(context.Background(), coll, faces, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ids = append(ids, r.FaceID)
		}
	}
	return ids
}

// Each of N shards reads its own share of a snapshot's columns, for N = 1, 2, 4, and the
// shards together hold every face once: a snapshot of one run, and one of three (the faces
// added after each of two compactions make a run each; the first run's segments are kept
// from the first snapshot), whose shards read their range of each run.
func TestShardsReadTheirShare(t *testing.T) {
	for _, tc := range []struct {
		name string
		// added are the faces imported and compacted after the first compaction, in turn.
		added []int
		// dirs is how many snapshots' directories the shards read columns from.
		dirs int
	}{
		{"one run", nil, 1},
		{"three runs", []int{1000, 200}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: store.Options{SegmentVectors: 1500}})
			st := bucket.Collection(t, "c", "m1", dim)
			n := 6000
			ids := importFaces(t, st, "c", 0, n)
			if err := st.Compact(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.added {
				ids = append(ids, importFaces(t, st, "c", n, m)...)
				n += m
				if err := st.Compact(ctx, "c"); err != nil {
					t.Fatal(err)
				}
			}
			perFace := int64(20 + 3*dim)
			for _, shards := range []int{1, 2, 4} {
				seen := map[string]int{}
				for i := 0; i < shards; i++ {
					var counted rangeBytes
					proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
					proxy.Count(counted.match)
					reader, err := store.Open(bucket.ProxiedConnection(proxy), store.Options{})
					if err != nil {
						t.Fatal(err)
					}
					s := index.NewShard(reader, "c", index.ShardOptions{Shard: i, Shards: shards})
					if err := s.Load(ctx); err != nil {
						t.Fatal(err)
					}
					got := counted.get()
					want := int64(s.Len()) * perFace
					if got != want {
						t.Errorf("shard %d/%d holds %d faces and read %d bytes of columns, want %d", i, shards, s.Len(), got, want)
					}
					if len(counted.dirs) != tc.dirs {
						t.Errorf("shard %d/%d read columns of %d snapshots, want %d", i, shards, len(counted.dirs), tc.dirs)
					}
					if share := float64(s.Len()) / (float64(n) / float64(shards)); share < 0.9 || share > 1.1 {
						t.Errorf("shard %d/%d holds %d of %d faces", i, shards, s.Len(), n)
					}
					for j, id := range ids {
						// K 3: a few rvec(j) have near twins.
						m, err := s.Search(ctx, rvec(j), index.SearchOptions{K: 3})
						if err != nil {
							t.Fatal(err)
						}
						for _, x := range m {
							if x.FaceID == id && x.Cosine > 0.999 {
								seen[id]++
							}
						}
					}
				}
				for _, id := range ids {
					if seen[id] != 1 {
						t.Fatalf("%d shards: face %s found by %d shards", shards, id, seen[id])
					}
				}
			}
		})
	}
}

// A shard whose commits were compacted away loads again part by part, answering all along:
// until the load is done it reports the generation it had, and never returns a face erased
// by then; after it, it holds exactly the store's faces.
func TestShardLoadsAgainInPlace(t *testing.T) {
	ctx := context.Background()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: store.Options{SegmentVectors: 500}})
	st := bucket.Collection(t, "c", "m1", dim)
	ids := importFaces(t, st, "c", 0, 3000)
	if err := st.Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	reader, err := store.Open(bucket.ProxiedConnection(proxy), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := index.NewShard(reader, "c", index.ShardOptions{})
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// Faces erased before the shard's generation, then commits it has not seen, folded
	// into a new snapshot: the shard must load again.
	if _, _, err := st.DeleteFaces(ctx, "c", ids[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx); err != nil { // a plain load: the shard now reflects the erasure
		t.Fatal(err)
	}
	old := s.Generation()
	if _, _, err := st.DeleteFaces(ctx, "c", ids[10:20]); err != nil {
		t.Fatal(err)
	}
	added := importFaces(t, st, "c", 5000, 700)
	if err := st.Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	late := importFaces(t, st, "c", 9000, 5) // after the snapshot: from the log

	// Hold the load at its third part.
	var parts sync.Map
	held, release := proxy.Hold(func(r *http.Request) bool {
		if r.Method != http.MethodGet || r.Header.Get("Range") == "" || !strings.Contains(r.URL.Path, "/cols-") {
			return false
		}
		parts.Store(r.URL.Path+r.Header.Get("Range"), true)
		n := 0
		parts.Range(func(any, any) bool { n++; return true })
		return n > 3*4*2 // 4 columns, up to 2 segments a part
	})
	defer release()
	done := make(chan error, 1)
	go func() { done <- s.Load(ctx) }()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the load never reached its third part")
	}
	if g := s.Generation(); g != old {
		t.Fatalf("mid-load the shard says generation %d, want %d until it is done", g, old)
	}
	for i := 0; i < 20; i++ {
		m, err := s.Search(ctx, rvec(i), index.SearchOptions{K: 3})
		if err != nil {
			t.Fatalf("mid-load search: %v", err)
		}
		if i < 10 && slices.ContainsFunc(m, func(x index.Match) bool { return x.FaceID == ids[i] }) {
			t.Fatalf("face %d, erased before the shard's generation, was found mid-load", i)
		}
	}
	for _, i := range []int{100, 1500, 2900} {
		m, err := s.Search(ctx, rvec(i), index.SearchOptions{K: 3})
		if err != nil || !slices.ContainsFunc(m, func(x index.Match) bool { return x.FaceID == ids[i] }) {
			t.Fatalf("mid-load, a face that stays is missing: %+v %v", m, err)
		}
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(ids[20:], added, late)
	if s.Len() != len(want) {
		t.Fatalf("%d faces after the load, want %d", s.Len(), len(want))
	}
	vs, err := bucket.Store().LoadVectors(ctx, "c", store.LoadVectorsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Generation(); g != vs.Generation {
		t.Fatalf("generation %d after the load, the store's %d", g, vs.Generation)
	}
	has := func(seed int, id string) bool {
		m, err := s.Search(ctx, rvec(seed), index.SearchOptions{K: 3})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(m, func(x index.Match) bool { return x.FaceID == id })
	}
	for _, i := range []int{0, 15, 25, 2999} {
		if has(i, ids[i]) != (i >= 20) {
			t.Fatalf("face %d found: %v", i, i < 20)
		}
	}
	for j, id := range added {
		if !has(5000+j, id) {
			t.Fatalf("a face of the new snapshot is missing")
		}
	}
	for j, id := range late {
		if !has(9000+j, id) {
			t.Fatalf("a face committed after the snapshot is missing")
		}
	}
}
