package search

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestUserCandidatesWidenPastOneUsersFaces: user "many" has 60 faces closer to the query
// than user "one"'s single face. Asked for 2 users, the first page (40 faces) holds only
// "many"; the search must widen and find "one" too.
func TestUserCandidatesWidenPastOneUsersFaces(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const dim = 8
	st := testenv.NewBucket(t, testenv.BucketOptions{}).Collection(t, "c", "test", dim)
	// Vectors at a small angle from the query (axis 0) for "many", a larger one for "one".
	vec := func(angle float64, axis int) []float32 {
		v := make([]float32, dim)
		v[0], v[axis] = float32(math.Cos(angle)), float32(math.Sin(angle))
		return v
	}
	var faces []store.NewFace
	for i := 0; i < 60; i++ {
		faces = append(faces, store.NewFace{ExternalImageID: fmt.Sprintf("many-%d", i), ImageID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Confidence: 99, Embedding: vec(0.1+float64(i)*0.001, 1+i%(dim-1))})
	}
	faces = append(faces, store.NewFace{ExternalImageID: "one", ImageID: "00000000-0000-4000-8000-999999999999", Confidence: 99, Embedding: vec(0.5, 3)})
	recs, err := st.ImportFaces(ctx, "c", faces, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"many", "one"} {
		if err := st.CreateUser(ctx, "c", u, store.UserOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var many []string
	for _, r := range recs[:60] {
		many = append(many, r.FaceID)
	}
	noCheck := store.AssociateFacesOptions{Similarity: func(float32) float32 { return 100 }}
	if _, err := st.AssociateFaces(ctx, "c", "many", many, noCheck); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AssociateFaces(ctx, "c", "one", []string{recs[60].FaceID}, noCheck); err != nil {
		t.Fatal(err)
	}
	shard := index.NewShard(st, "c", index.ShardOptions{Shard: 0, Shards: 1})
	go func() { _ = shard.Run(ctx) }()
	for !shard.Ready() {
		time.Sleep(time.Millisecond)
	}
	c := &Collection{ID: "c", store: st, Shards: []index.Searcher{shard}, Ready: true}

	got, err := userCandidates(ctx, c, vec(0, 1), 2, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	users := index.AggregateUsers(got, 2)
	if len(users) != 2 || users[0].UserID != "many" || users[1].UserID != "one" {
		t.Fatalf("want many then one, got %+v (from %d faces)", users, len(got))
	}
}
