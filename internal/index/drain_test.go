package index

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestReadyzFailsWhileDraining: a loaded shard is ready until shutdown starts; from then on
// /readyz fails so that Services stop routing to it, while /search still answers.
func TestReadyzFailsWhileDraining(t *testing.T) {
	vs := &store.VectorSet{Dimension: 2, IDs: []uuid.UUID{uuid.New()}, Vectors: []float32{1, 0}}
	shard := NewShardFromVectors(vs, ShardOptions{Shard: 0, Shards: 1})
	var draining atomic.Bool
	srv := httptest.NewServer(NewServer(shard, ServerOptions{Draining: &draining}))
	defer srv.Close()
	status := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		draining bool
		want     int
	}{{false, http.StatusOK}, {true, http.StatusServiceUnavailable}}
	for _, tc := range cases {
		draining.Store(tc.draining)
		if got := status(); got != tc.want {
			t.Errorf("draining=%v: /readyz %d, want %d", tc.draining, got, tc.want)
		}
	}
	if _, err := NewClient(srv.URL).Search(t.Context(), []float32{1, 0}, SearchOptions{K: 1}); err != nil {
		t.Errorf("searches in flight must still be answered while draining: %v", err)
	}
}
