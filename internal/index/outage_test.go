package index_test

import (
	"context"
	"fmt"
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
