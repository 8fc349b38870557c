package index

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestSearchTriesANewConnectionWhenTheShardDropsIt: a replica killed under a search closes
// the manager's connection without an answer; the search is tried again on a new connection
// (which a Service routes to a live replica), and an answer that says no is never retried.
func TestSearchTriesANewConnectionWhenTheShardDropsIt(t *testing.T) {
	id := uuid.New()
	vs := &store.VectorSet{Dimension: 2, IDs: []uuid.UUID{id}, Vectors: []float32{1, 0}}
	shard := NewShardFromVectors(vs, ShardOptions{Shard: 0, Shards: 1})
	h := NewServer(shard, ServerOptions{Tokens: StaticTokens{"t"}})
	cases := []struct {
		name      string
		drops     int // requests whose connection is closed without an answer
		query     []float32
		wantCalls int
		wantCode  errs.Code // "" for success
	}{
		{"one connection dropped", 1, []float32{1, 0}, 2, ""},
		{"two connections dropped", 2, []float32{1, 0}, 3, ""},
		{"every connection dropped", 10, []float32{1, 0}, searchAttempts, errs.ResourceNotReady},
		{"a refusal is an answer", 0, []float32{1, 0, 0}, 1, errs.InvalidParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			remotes := map[string]bool{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				remotes[r.RemoteAddr] = true
				mu.Unlock()
				if n <= tc.drops {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					_ = conn.Close() // the fault: the replica is gone mid-request
					return
				}
				h.Search.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := NewClient(srv.URL, ClientOptions{Credentials: NewCredentials("t", "")})
			matches, err := c.Search(context.Background(), tc.query, SearchOptions{K: 1, MinCosine: -1})
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.wantCalls {
				t.Errorf("%d requests reached the shard, want %d", calls, tc.wantCalls)
			}
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("search failed: %v", err)
				}
				if len(matches) != 1 || matches[0].FaceID != id.String() {
					t.Fatalf("matches %+v, want the one face", matches)
				}
				if tc.drops > 0 && len(remotes) != tc.drops+1 {
					t.Errorf("%d connections for %d requests: the retries reused a dropped one", len(remotes), calls)
				}
				return
			}
			if got := errs.CodeOf(err); got != tc.wantCode {
				t.Fatalf("error %v (code %s), want %s", err, got, tc.wantCode)
			}
		})
	}
}
