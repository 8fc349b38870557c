package index

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// MaxK is the most faces one search may ask for: Rekognition's largest MaxFaces (4096), plus
// the one face SearchFaces leaves out of its own answer (the searched face itself).
const MaxK = 4097

// SearchOptions tune a search. Shard.Search refuses options out of bounds (Validate), so a
// caller cannot make a shard allocate or wait without limit.
type SearchOptions struct {
	// K is how many faces to return, 1 to MaxK; 0 means 10.
	K int `json:"k"`
	// MinCosine drops matches below it; -1 to 1.
	MinCosine float32 `json:"minCosine"`
	// Exact scans every float32 vector; otherwise the int8 scan with an exact re-rank runs
	// (or the HNSW graph, for shards that have one).
	Exact bool `json:"exact"`
	// MinGeneration makes the shard first catch up with the store's commits up to this
	// generation (the searcher's own writes), waiting at most catchUpWait in all.
	MinGeneration uint64 `json:"minGeneration,omitempty"`
}

// Validate refuses options out of bounds with an InvalidParameter error.
func (o SearchOptions) Validate() error {
	if o.K < 0 || o.K > MaxK {
		return errs.New(errs.InvalidParameter, "k must be between 1 and %d (0 means 10), not %d", MaxK, o.K)
	}
	c := float64(o.MinCosine)
	if math.IsNaN(c) || c < -1 || c > 1 {
		return errs.New(errs.InvalidParameter, "minCosine must be between -1 and 1, not %v", o.MinCosine)
	}
	return nil
}

// Searcher answers searches: a *Shard in this process, or a remote shard via NewClient.
type Searcher interface {
	Search(ctx context.Context, query []float32, opts SearchOptions) ([]Match, error)
}

// ShardOptions configure a Shard.
type ShardOptions struct {
	// Shard and Shards select the faces with store.ShardOf(face, Shards) == Shard.
	Shard, Shards int
	// PollInterval is how often Follow looks for new commits; default 200ms.
	PollInterval time.Duration
	// Candidates is how many int8 candidates are re-ranked per result wanted; default 10
	// (at least 100 in all).
	Candidates int
	// GraphAbove builds an HNSW graph once the shard holds more vectors than this; 0 means
	// 1,000,000, negative never.
	GraphAbove int
	// Graph tunes the HNSW graph.
	Graph HNSWOptions
	// MaxStaleness bounds how long since the shard last reached storage it may answer: an
	// erasure made meanwhile would not be reflected, so past it a search fails (the index
	// is not ready) rather than name a person who may have been erased. 0 means 30s;
	// negative, unbounded.
	MaxStaleness time.Duration
}

// DefaultMaxStaleness is ShardOptions.MaxStaleness's default: a short storage outage is
// ridden out from memory, a long one is not.
const DefaultMaxStaleness = 30 * time.Second

// ErrNotReady is returned by Search before the shard is loaded.
var ErrNotReady = errs.New(errs.ResourceNotReady, "the index shard is not loaded yet")

// Shard is one shard of one collection, in memory, following the store's commits.
type Shard struct {
	st   *store.Store
	coll string
	opts ShardOptions

	ready atomic.Bool
	// synced is when the shard last reached storage and applied every commit there was
	// (UnixNano).
	synced atomic.Int64
	// catching lets one search at a time pull pending commits (see catchUp); a semaphore,
	// so that the others wait for it no longer than their own bound.
	catching chan struct{}
	// OnChange, if set, is called after a load or a followed change with the vector count.
	OnChange func(vectors int, generation uint64)

	mu     sync.RWMutex
	gen    uint64
	dim    int
	ids    []uuid.UUID
	pos    map[uuid.UUID]int
	userOf map[uuid.UUID]string
	f      flat
	graph  *graphIndex
	epoch  uint64 // counts loads: a graph built for an older load is thrown away

	graphMu sync.Mutex // one graph build at a time
}

// NewShard returns a shard of a collection; Load or Run fills it.
func NewShard(st *store.Store, collection string, opts ShardOptions) *Shard {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.Candidates <= 0 {
		opts.Candidates = 10
	}
	if opts.GraphAbove == 0 {
		opts.GraphAbove = 1_000_000
	}
	if opts.Shards <= 0 {
		opts.Shards = 1
	}
	if opts.MaxStaleness == 0 {
		opts.MaxStaleness = DefaultMaxStaleness
	}
	return &Shard{st: st, coll: collection, opts: opts, catching: make(chan struct{}, 1)}
}

// NewShardFromVectors builds a ready shard from vectors already in memory (tests,
// benchmarks); the shard takes vs over.
func NewShardFromVectors(vs *store.VectorSet, opts ShardOptions) *Shard {
	s := NewShard(nil, "", opts)
	s.set(vs)
	return s
}

// Ready reports whether the shard has been loaded.
func (s *Shard) Ready() bool { return s.ready.Load() }

// Len is the number of vectors.
func (s *Shard) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids)
}

// Generation is the last commit the shard reflects.
func (s *Shard) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

func (s *Shard) set(vs *store.VectorSet) {
	// The shard takes vs's vectors over: no copy of the float32 data.
	f := newFlat(vs.Dimension, vs.Vectors)
	pos := make(map[uuid.UUID]int, len(vs.IDs))
	for i, id := range vs.IDs {
		pos[id] = i
	}
	s.mu.Lock()
	s.gen, s.dim, s.ids, s.pos, s.userOf, s.f, s.graph = vs.Generation, vs.Dimension, vs.IDs, pos, vs.UserOf, f, nil
	s.epoch++
	n := len(s.ids)
	s.mu.Unlock()
	s.ready.Store(true)
	if s.OnChange != nil {
		s.OnChange(n, vs.Generation)
	}
	if s.opts.GraphAbove > 0 && n > s.opts.GraphAbove {
		// Ready at once: the int8 scan answers until the graph is built in the background.
		go s.BuildGraph()
	}
}

// BuildGraph builds the shard's HNSW graph now (searches use it once it is there) and
// returns when it is in place. Loads start it by themselves above ShardOptions.GraphAbove.
func (s *Shard) BuildGraph() {
	s.graphMu.Lock()
	defer s.graphMu.Unlock()
	s.mu.RLock()
	if s.graph != nil {
		s.mu.RUnlock()
		return
	}
	epoch, dim := s.epoch, s.dim
	codes := slices.Clone(s.f.codes)
	scales := slices.Clone(s.f.scales)
	ids := slices.Clone(s.ids)
	s.mu.RUnlock()
	g := buildGraph(dim, codes, scales, ids, s.opts.Graph)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch {
		g.reconcile(&s.f, s.ids, s.pos)
		s.graph = g
	}
}

// Load reads the shard from the store.
func (s *Shard) Load(ctx context.Context) error {
	vs, err := s.st.LoadVectors(ctx, s.coll, store.LoadVectorsOptions{Shard: s.opts.Shard, Shards: s.opts.Shards})
	if err != nil {
		return fmt.Errorf("while loading shard %d/%d of %s: %w", s.opts.Shard, s.opts.Shards, s.coll, err)
	}
	s.set(vs)
	s.synced.Store(time.Now().UnixNano())
	return nil
}

// apply applies followed commits.
func (s *Shard) apply(changes []store.Change) {
	s.mu.Lock()
	for _, ch := range changes {
		if ch.Generation <= s.gen {
			continue
		}
		for i, id := range ch.Added {
			if _, dup := s.pos[id]; dup {
				continue
			}
			s.pos[id] = len(s.ids)
			s.ids = append(s.ids, id)
			s.f.appendVectors(ch.Vectors[i*s.dim : (i+1)*s.dim])
			if s.graph != nil {
				p := len(s.ids) - 1
				s.graph.add(s.f.codes[p*s.dim:(p+1)*s.dim], s.f.scales[p], id, p)
			}
		}
		for _, id := range ch.Deleted {
			i, ok := s.pos[id]
			if !ok {
				continue
			}
			last := len(s.ids) - 1
			if s.graph != nil {
				s.graph.remove(i, last)
			}
			s.f.remove(i)
			s.ids[i] = s.ids[last]
			s.pos[s.ids[i]] = i
			s.ids = s.ids[:last]
			delete(s.pos, id)
			delete(s.userOf, id)
		}
		ch.ApplyUsers(s.userOf)
		s.gen = ch.Generation
	}
	n, gen := len(s.ids), s.gen
	s.mu.Unlock()
	if s.OnChange != nil {
		s.OnChange(n, gen)
	}
}

// Follow polls the store for new commits every PollInterval until ctx ends; it loads the
// shard again when compaction folded commits it had not seen. Storage errors are retried.
func (s *Shard) Follow(ctx context.Context) error {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := s.pull(ctx)
		switch {
		case err == nil:
		case errs.IsRetryable(err) || ctx.Err() != nil:
			// MinIO is away: keep serving what we have, within MaxStaleness, and try again.
		default:
			return err
		}
	}
}

// pull applies the commits the store has after the shard's generation (loading again when
// they were compacted away) and records that the shard reached storage.
func (s *Shard) pull(ctx context.Context) error {
	changes, err := s.st.Changes(ctx, s.coll, s.Generation(), store.LoadVectorsOptions{Shard: s.opts.Shard, Shards: s.opts.Shards})
	if errs.Is(err, errs.GenerationGone) {
		return s.Load(ctx)
	}
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		s.apply(changes)
	}
	s.synced.Store(time.Now().UnixNano())
	return nil
}

// catchUpWait bounds how long a search waits for commits it was told about, including the
// time it waits for another search's catch-up.
const catchUpWait = 2 * time.Second

// catchUp pulls the store's changes now, rather than at the next poll, until the shard
// reflects generation want and is within its staleness bound, or catchUpWait passes. A
// generation that never comes costs each search catchUpWait at most, however many arrive at
// once: one of them polls the store, the others wait for it.
func (s *Shard) catchUp(ctx context.Context, want uint64) {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	select {
	case s.catching <- struct{}{}:
		defer func() { <-s.catching }()
	case <-ctx.Done():
		return
	}
	for (s.Generation() < want || s.stale()) && ctx.Err() == nil {
		before := s.Generation()
		if err := s.pull(ctx); err == nil && s.Generation() > before {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stale says whether the shard last reached storage longer ago than MaxStaleness.
// A shard built from vectors in memory follows no store and is never stale.
func (s *Shard) stale() bool {
	return s.st != nil && s.opts.MaxStaleness > 0 && time.Since(time.Unix(0, s.synced.Load())) > s.opts.MaxStaleness
}

// Run loads the shard, retrying while the store is unavailable, then follows it.
func (s *Shard) Run(ctx context.Context) error {
	for {
		err := s.Load(ctx)
		if err == nil {
			break
		}
		if !errs.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	return s.Follow(ctx)
}

func normalizeQuery(q []float32) ([]float32, error) {
	var n float64
	for _, x := range q {
		n += float64(x) * float64(x)
	}
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, errs.New(errs.InvalidParameter, "the query vector is zero or not finite")
	}
	inv := float32(1 / math.Sqrt(n))
	out := make([]float32, len(q))
	for i, x := range q {
		out[i] = x * inv
	}
	return out, nil
}

// Search returns the top K faces by cosine, best first.
func (s *Shard) Search(ctx context.Context, query []float32, opts SearchOptions) ([]Match, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if !s.Ready() {
		return nil, ErrNotReady
	}
	if opts.MinGeneration > s.Generation() || s.stale() {
		s.catchUp(ctx, opts.MinGeneration)
	}
	// An answer from behind the writer, or from a shard cut off from storage for too long,
	// could name a person erased meanwhile: the search fails instead (retryable).
	if g := s.Generation(); opts.MinGeneration > g {
		return nil, errs.New(errs.ResourceNotReady, "the index shard reflects commit %d, not yet %d: it may not reflect an erasure; retry later", g, opts.MinGeneration)
	}
	if s.stale() {
		return nil, errs.New(errs.ResourceNotReady, "the index shard has not reached storage for more than %s: it may not reflect an erasure; retry later", s.opts.MaxStaleness)
	}
	k := opts.K
	if k <= 0 {
		k = 10
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(query) != s.dim {
		return nil, errs.New(errs.InvalidParameter, "the query has %d values, the shard %d", len(query), s.dim)
	}
	q, err := normalizeQuery(query)
	if err != nil {
		return nil, err
	}
	if len(s.ids) == 0 {
		return nil, nil
	}
	// No more results than vectors, and no heap larger than that either.
	k = min(k, len(s.ids))
	var t *topK
	switch {
	case opts.Exact:
		t = s.f.exactTopK(q, k)
	case s.graph != nil:
		t = s.graph.search(&s.f, q, k)
	default:
		t = s.f.compactTopK(q, k, min(max(100, k*s.opts.Candidates), len(s.ids)))
	}
	out := make([]Match, 0, len(t.idx))
	for j, i := range t.idx {
		if t.scores[j] < opts.MinCosine {
			continue
		}
		id := s.ids[i]
		out = append(out, Match{FaceID: id.String(), UserID: s.userOf[id], Cosine: t.scores[j]})
	}
	return MergeTopK([][]Match{out}, k), nil
}
