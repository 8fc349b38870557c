package index_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// A shard keeps answering from memory while MinIO is down, and picks up the commits made
// after MinIO is back.
func TestShardServesThroughAnOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: store.Options{RequestTimeout: time.Second}})
	srv := bucket.Server
	st := bucket.Collection(t, "c", "m1", dim)
	index1 := func(i int) string {
		var recs []store.FaceRecord
		eventually(t, "index a face", func() bool {
			var err error
			recs, err = st.IndexFaces(ctx, "c", []store.NewFace{{ImageID: fmt.Sprint(i), Embedding: vec(i)}}, store.IndexFacesOptions{})
			if err != nil && !errs.IsRetryable(err) {
				t.Fatal(err)
			}
			return err == nil
		})
		return recs[0].FaceID
	}
	first := index1(1)
	shard := index.NewShard(bucket.Store(), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- shard.Run(ctx) }()
	eventually(t, "shard ready", shard.Ready)

	srv.Kill()
	_, err := st.IndexFaces(ctx, "c", []store.NewFace{{ImageID: "x", Embedding: vec(9)}}, store.IndexFacesOptions{})
	if !errs.IsRetryable(err) {
		t.Fatalf("writing during the outage: %v, want a retryable error", err)
	}
	m, err := shard.Search(ctx, vec(1), index.SearchOptions{K: 1})
	if err != nil || len(m) != 1 || m[0].FaceID != first {
		t.Fatalf("search during the outage: %+v %v", m, err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	second := index1(2)
	eventually(t, "the shard sees the commit made after the outage", func() bool {
		m, err := shard.Search(ctx, vec(2), index.SearchOptions{K: 1})
		return err == nil && len(m) == 1 && m[0].FaceID == second
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestShardNeverAnswersFromTooFarBehind cuts a shard off from storage (a proxy that fails
// every request) while a writer erases a face: the shard must not name it. Within its
// staleness bound it answers from memory; past it, or when the searcher says it committed
// the erasure, the search fails (retryable) rather than answer with the erased face.
func TestShardNeverAnswersFromTooFarBehind(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: store.Options{RequestTimeout: time.Second}})
	writer := bucket.Collection(t, "c", "m1", dim)
	recs, err := writer.IndexFaces(ctx, "c", []store.NewFace{{ImageID: "1", Embedding: vec(1)}}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	erased := recs[0].FaceID
	proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	reader, err := store.Open(bucket.ProxiedConnection(proxy), store.Options{RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 500 * time.Millisecond
	shard := index.NewShard(reader, "c", index.ShardOptions{PollInterval: 20 * time.Millisecond, MaxStaleness: bound})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready", shard.Ready)

	everything := func(*http.Request) bool { return true }
	proxy.Fail(everything, 1, 1<<30)
	if _, _, err := writer.DeleteFaces(ctx, "c", []string{erased}); err != nil {
		t.Fatal(err)
	}
	erasedAt := writer.KnownGeneration("c")

	// The searcher that erased the face says so: the cut-off shard cannot reach that commit.
	m, err := shard.Search(ctx, vec(1), index.SearchOptions{K: 1, MinGeneration: erasedAt})
	if !errs.Is(err, errs.ResourceNotReady) || !errs.IsRetryable(err) {
		t.Fatalf("a search that must see the erasure answered %+v, %v", m, err)
	}
	// A searcher that knows nothing of it: answered from memory only within the bound.
	time.Sleep(2 * bound)
	m, err = shard.Search(ctx, vec(1), index.SearchOptions{K: 1})
	if !errs.Is(err, errs.ResourceNotReady) {
		t.Fatalf("a shard cut off for %s (bound %s) answered %+v, %v", 2*bound, bound, m, err)
	}

	// Storage back: the shard catches up and the face is gone.
	proxy.Count(everything)
	eventually(t, "the shard answers again, without the erased face", func() bool {
		m, err := shard.Search(ctx, vec(1), index.SearchOptions{K: 1, MinGeneration: erasedAt})
		return err == nil && (len(m) == 0 || m[0].FaceID != erased)
	})
}
