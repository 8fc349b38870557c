package index

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// faceLike makes n unit vectors shaped like face embeddings: identities (cluster centres)
// with several noisy views each, and queries that are new views of known identities.
func faceLike(n, dim, queries int, seed uint64) (*store.VectorSet, [][]float32) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	ids := max(1, n/8)
	centres := make([][]float32, ids)
	for i := range centres {
		centres[i] = randUnit(r, dim, nil, 0)
	}
	vs := &store.VectorSet{Dimension: dim, UserOf: map[uuid.UUID]string{}}
	for i := 0; i < n; i++ {
		id := uuid.New()
		vs.IDs = append(vs.IDs, id)
		vs.Vectors = append(vs.Vectors, randUnit(r, dim, centres[i%ids], 0.8)...)
	}
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = randUnit(r, dim, centres[r.IntN(ids)], 0.8)
	}
	return vs, qs
}

func randUnit(r *rand.Rand, dim int, centre []float32, noise float64) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := r.NormFloat64()
		if centre != nil {
			x = float64(centre[i]) + noise*x/math.Sqrt(float64(dim))
		}
		v[i] = float32(x)
		n += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// bruteForce is the reference: portable float32 kernel, full sort.
func bruteForce(vs *store.VectorSet, q []float32, k int) []Match {
	q, _ = normalizeQuery(q)
	d := vs.Dimension
	out := make([]Match, len(vs.IDs))
	scores := make([]float32, len(vs.IDs))
	dotBatchF32Generic(q, vs.Vectors, scores)
	for i, id := range vs.IDs {
		out[i] = Match{FaceID: id.String(), UserID: vs.UserOf[id], Cosine: scores[i]}
	}
	_ = d
	return MergeTopK([][]Match{out}, k)
}

func recallAt(got, want []Match) float64 {
	w := map[string]bool{}
	for _, m := range want {
		w[m.FaceID] = true
	}
	hit := 0
	for _, m := range got {
		if w[m.FaceID] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// cosineOf is the cosine want gives a face, or def if it is not there.
func cosineOf(want []Match, face string, def float32) float32 {
	for _, m := range want {
		if m.FaceID == face {
			return m.Cosine
		}
	}
	return def
}

func TestExactSearchMatchesBruteForce(t *testing.T) {
	vs, qs := faceLike(20000, 128, 20, 1)
	s := NewShardFromVectors(vs, ShardOptions{})
	for _, q := range qs {
		got, err := s.Search(context.Background(), q, SearchOptions{K: 10, Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		want := bruteForce(vs, q, 10)
		for i := range want {
			// The exact scan scores the fp16 copies: cosines within 1e-3 of float32's, and
			// the order may differ only between faces that close.
			if math.Abs(float64(got[i].Cosine-want[i].Cosine)) > 1e-3 || (got[i].FaceID != want[i].FaceID && math.Abs(float64(want[i].Cosine-cosineOf(want, got[i].FaceID, got[i].Cosine))) > 1e-3) {
				t.Fatalf("rank %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	}
}

func TestCompactRecall(t *testing.T) {
	vs, qs := faceLike(20000, 128, 50, 2)
	compact := NewShardFromVectors(vs, ShardOptions{})
	var rc float64
	for _, q := range qs {
		want := bruteForce(vs, q, 10)
		got, err := compact.Search(context.Background(), q, SearchOptions{K: 10})
		if err != nil {
			t.Fatal(err)
		}
		rc += recallAt(got, want)
	}
	rc /= float64(len(qs))
	t.Logf("recall@10: int8 scan + fp16 re-rank %.4f", rc)
	if rc < 0.99 {
		t.Fatalf("int8 recall@10 %.4f < 0.99", rc)
	}
}

func TestShardsMergeToTheExactTopK(t *testing.T) {
	vs, qs := faceLike(6000, 64, 10, 3)
	for i, id := range vs.IDs {
		if i%3 == 0 {
			vs.UserOf[id] = "user-" + string(rune('a'+i%7))
		}
	}
	const n = 3
	var shards []Searcher
	// The shards score fp16 copies: the reference does too, so that ties are alike.
	rounded := make([]uint16, len(vs.Vectors))
	vectors.ToHalf(vs.Vectors, rounded)
	vectors.FromHalf(rounded, vs.Vectors)
	for sh := 0; sh < n; sh++ {
		part := &store.VectorSet{Dimension: vs.Dimension, UserOf: vs.UserOf}
		for i, id := range vs.IDs {
			if store.ShardOf(id, n) == sh {
				part.IDs = append(part.IDs, id)
				part.Vectors = append(part.Vectors, vs.Vectors[i*vs.Dimension:(i+1)*vs.Dimension]...)
			}
		}
		if len(part.IDs) == 0 || len(part.IDs) == len(vs.IDs) {
			t.Fatalf("shard %d holds %d of %d faces", sh, len(part.IDs), len(vs.IDs))
		}
		shards = append(shards, NewShardFromVectors(part, ShardOptions{}))
	}
	for _, q := range qs {
		var lists [][]Match
		for _, s := range shards {
			l, err := s.Search(context.Background(), q, SearchOptions{K: 25, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, l)
		}
		got := MergeTopK(lists, 25)
		want := bruteForce(vs, q, 25)
		if !slices.EqualFunc(got, want, func(a, b Match) bool { return a.FaceID == b.FaceID && a.UserID == b.UserID }) {
			t.Fatalf("merged top-k differs:\n%v\n%v", got, want)
		}
	}
}

func TestAggregateUsers(t *testing.T) {
	got := AggregateUsers([]Match{
		{FaceID: "1", UserID: "bob", Cosine: 0.5},
		{FaceID: "2", UserID: "alice", Cosine: 0.7},
		{FaceID: "3", Cosine: 0.99},
		{FaceID: "4", UserID: "bob", Cosine: 0.9},
		{FaceID: "5", UserID: "carol", Cosine: 0.1},
	}, 2)
	want := []UserMatch{{"bob", 0.9}, {"alice", 0.7}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestMinCosineAndNotReady(t *testing.T) {
	s := NewShard(nil, "c", ShardOptions{})
	if _, err := s.Search(context.Background(), []float32{1}, SearchOptions{}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before loading: %v", err)
	}
	vs, qs := faceLike(1000, 32, 1, 4)
	s = NewShardFromVectors(vs, ShardOptions{})
	all, err := s.Search(context.Background(), qs[0], SearchOptions{K: 1000, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	cut := all[10].Cosine
	got, err := s.Search(context.Background(), qs[0], SearchOptions{K: 1000, Exact: true, MinCosine: cut})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 {
		t.Fatalf("%d matches at or above %v, want 11", len(got), cut)
	}
}

// A shard follows commits: new faces are found, deleted ones never returned, in every part.
func TestShardFollowsChanges(t *testing.T) {
	vs, _ := faceLike(3000, 64, 0, 5)
	extra, _ := faceLike(200, 64, 0, 6)
	s := NewShardFromVectors(vs, ShardOptions{})
	deleted := slices.Clone(vs.IDs[:100])
	s.apply([]store.Change{{Generation: 1, Added: extra.IDs[:100], Vectors: extra.Vectors[:100*64], Deleted: deleted[:50]}})
	s.apply([]store.Change{{Generation: 2, Added: extra.IDs[100:], Vectors: extra.Vectors[100*64:], Deleted: deleted[50:]}})
	gone := map[string]bool{}
	for _, id := range deleted {
		gone[id.String()] = true
	}
	for i, id := range extra.IDs {
		q := extra.Vectors[i*64 : (i+1)*64]
		m, err := s.Search(context.Background(), q, SearchOptions{K: 5})
		if err != nil {
			t.Fatal(err)
		}
		if m[0].FaceID != id.String() {
			t.Fatalf("added face %d not found first: %+v", i, m[0])
		}
		for _, x := range m {
			if gone[x.FaceID] {
				t.Fatalf("deleted face %s returned", x.FaceID)
			}
		}
	}
	if n := s.Len(); n != 3000+200-100 {
		t.Fatalf("%d vectors, want %d", n, 3000+200-100)
	}
	// Every face left is found by its own vector, wherever its part put it.
	for i, id := range vs.IDs[100:] {
		m, _ := s.Search(context.Background(), vs.Vectors[(100+i)*64:(101+i)*64], SearchOptions{K: 1})
		if len(m) != 1 || m[0].FaceID != id.String() {
			t.Fatalf("face %s not found by its vector: %+v", id, m)
		}
	}
	for i := range deleted {
		m, _ := s.Search(context.Background(), vs.Vectors[i*64:(i+1)*64], SearchOptions{K: 5})
		for _, x := range m {
			if gone[x.FaceID] {
				t.Fatalf("deleted face %s returned", x.FaceID)
			}
		}
	}
}
