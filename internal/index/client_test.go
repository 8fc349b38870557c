package index

import (
	"context"
	"encoding/json"
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

// TestSearchRefusesAnotherShardLayout: during a reshard a shard's Service reaches pods of the
// previous layout too. Their answers say which shard of how many they are from; the client
// tries again on a new connection, like after a failure in transport, never returns them,
// and fails with a retryable error if they persist. A pod that does not say (one that
// predates the check) is taken at its word, as before.
func TestSearchRefusesAnotherShardLayout(t *testing.T) {
	right, wrong := uuid.New(), uuid.New()
	serve := func(id uuid.UUID, shard, shards int) http.Handler {
		vs := &store.VectorSet{Dimension: 2, IDs: []uuid.UUID{id}, Vectors: []float32{1, 0}}
		return NewServer(NewShardFromVectors(vs, ShardOptions{Shard: shard, Shards: shards}), ServerOptions{Tokens: StaticTokens{"t"}}).Search
	}
	current := serve(right, 1, 3) // shard 1 of the new layout, 3 shards
	previous := serve(wrong, 1, 2)
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		previous.ServeHTTP(rec, r)
		var sr map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &sr)
		delete(sr, "shard")
		delete(sr, "shards")
		_ = json.NewEncoder(w).Encode(sr)
	})
	cases := []struct {
		name      string
		stale     int          // requests answered by old before current answers
		old       http.Handler // a pod of the previous layout
		wantCalls int
		want      uuid.UUID // uuid.Nil: a ResourceNotReady error
	}{
		{"the current layout", 0, previous, 1, right},
		{"one answer from the previous layout", 1, previous, 2, right},
		{"only the previous layout", 10, previous, searchAttempts, uuid.Nil},
		{"a pod that does not say", 1, silent, 1, wrong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n <= tc.stale {
					tc.old.ServeHTTP(w, r)
					return
				}
				current.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := NewClient(srv.URL, ClientOptions{Credentials: NewCredentials("t", ""), Shard: 1, Shards: 3})
			matches, err := c.Search(context.Background(), []float32{1, 0}, SearchOptions{K: 1, MinCosine: -1})
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.wantCalls {
				t.Errorf("%d requests reached the shard, want %d", calls, tc.wantCalls)
			}
			if tc.want == uuid.Nil {
				if !errs.Is(err, errs.ResourceNotReady) || !errs.IsRetryable(err) || matches != nil {
					t.Fatalf("answered %+v, %v; want a retryable ResourceNotReady and no matches", matches, err)
				}
				return
			}
			if err != nil || len(matches) != 1 || matches[0].FaceID != tc.want.String() {
				t.Fatalf("answered %+v, %v; want %s", matches, err, tc.want)
			}
		})
	}
}
