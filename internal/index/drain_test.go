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
	h := NewServer(shard, ServerOptions{Draining: &draining, Tokens: StaticTokens{"t"}})
	probes, search := httptest.NewServer(h.Probes), httptest.NewServer(h.Search)
	defer probes.Close()
	defer search.Close()
	status := func() int {
		resp, err := http.Get(probes.URL + "/readyz")
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
	if _, err := NewClient(search.URL, ClientOptions{Credentials: NewCredentials("t", "")}).Search(t.Context(), []float32{1, 0}, SearchOptions{K: 1}); err != nil {
		t.Errorf("searches in flight must still be answered while draining: %v", err)
	}
}
