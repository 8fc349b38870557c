package index

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/vectors"
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
	// Exact scores every vector's fp16 copy; otherwise the int8 scan runs and its best
	// candidates are re-ranked with their fp16 copies.
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
	// PollInterval is how often Follow looks for new commits while no live notification
	// stream announces them (see store.WatchCommits); default 200ms.
	PollInterval time.Duration
	// FallbackPollInterval is how often it looks while one does, in case an event was lost
	// (MinIO drops those of a subscriber that falls behind); default
	// DefaultFallbackPollInterval, and never more often than PollInterval.
	FallbackPollInterval time.Duration
	// NoNotifications makes Follow poll only, every PollInterval.
	NoNotifications bool
	// Log receives the changes of the notification stream's state; zero: none.
	Log logr.Logger
	// Candidates is how many int8 candidates are re-ranked per result wanted; default 10
	// (at least 100 in all).
	Candidates int
	// MaxStaleness bounds how long since the shard last reached storage it may answer: an
	// erasure made meanwhile would not be reflected, so past it a search fails (the index
	// is not ready) rather than name a person who may have been erased. 0 means 30s;
	// negative, unbounded.
	MaxStaleness time.Duration
}

// DefaultMaxStaleness is ShardOptions.MaxStaleness's default: a short storage outage is
// ridden out from memory, a long one is not.
const DefaultMaxStaleness = 30 * time.Second

// DefaultFallbackPollInterval is ShardOptions.FallbackPollInterval's default.
const DefaultFallbackPollInterval = 5 * time.Second

// ErrNotReady is returned by Search before the shard is loaded.
var ErrNotReady = errs.New(errs.ResourceNotReady, "the index shard is not loaded yet")

// Shard is one shard of one collection, in memory, following the store's commits.
type Shard struct {
	st   *store.Store
	coll string
	opts ShardOptions

	ready atomic.Bool
	// synced is when the last pull that applied every commit there was started (UnixNano):
	// the shard reflects every commit made before it.
	synced atomic.Int64
	// watch is the notification stream Follow listens to; nil without one.
	watch atomic.Pointer[store.CommitWatch]
	// distrusted is until when the stream is not trusted (UnixNano): it missed a commit.
	distrusted atomic.Int64
	// pulls counts Follow's and catchUp's pulls by cause.
	pulls PullCounts
	// catching lets one search at a time pull pending commits (see catchUp); a semaphore,
	// so that the others wait for it no longer than their own bound.
	catching chan struct{}
	// OnChange, if set, is called after a load or a followed change with the vector count.
	OnChange func(vectors int, generation uint64)

	// pulling makes loads and pulls one at a time (a pull that read commits before a load
	// must not apply them in the middle of it); loads counts loads, so that a load that
	// waited for another does not do the same again.
	pulling chan struct{}
	loads   atomic.Uint64

	mu  sync.RWMutex
	gen uint64
	dim int
	// parts split the shard's buckets (store.ShardBuckets) into shardParts ranges, as the
	// last load read them; the last part, the tail, holds the faces added since (lo = hi =
	// -1), so that the loaded parts keep no spare capacity.
	parts  []*part
	n      int
	pos    map[uuid.UUID]int64 // see ref
	userOf map[uuid.UUID]string
}

// shardParts is how many parts a shard is split into: a load holds one part twice at most,
// 1/16 of the shard.
const shardParts = 16

// NewShard returns a shard of a collection; Load or Run fills it.
func NewShard(st *store.Store, collection string, opts ShardOptions) *Shard {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.FallbackPollInterval <= 0 {
		opts.FallbackPollInterval = DefaultFallbackPollInterval
	}
	opts.FallbackPollInterval = max(opts.FallbackPollInterval, opts.PollInterval)
	if opts.Candidates <= 0 {
		opts.Candidates = 10
	}
	if opts.Shards <= 0 {
		opts.Shards = 1
	}
	if opts.MaxStaleness == 0 {
		opts.MaxStaleness = DefaultMaxStaleness
	}
	return &Shard{st: st, coll: collection, opts: opts, catching: make(chan struct{}, 1), pulling: make(chan struct{}, 1)}
}

// NewShardFromVectors builds a ready shard from vectors in memory (tests, benchmarks).
func NewShardFromVectors(vs *store.VectorSet, opts ShardOptions) *Shard {
	s := NewShard(nil, "", opts)
	s.mu.Lock()
	s.init(vs.Dimension)
	s.parts[s.tail()].cols = vectors.New(vs.Dimension, len(vs.IDs))
	for i, id := range vs.IDs {
		s.addLocked(id, vs.Vectors[i*vs.Dimension:(i+1)*vs.Dimension])
	}
	s.gen = vs.Generation
	for id, u := range vs.UserOf {
		s.userOf[id] = u
	}
	s.mu.Unlock()
	s.ready.Store(true)
	return s
}

// Ready reports whether the shard has been loaded.
func (s *Shard) Ready() bool { return s.ready.Load() }

// Len is the number of vectors.
func (s *Shard) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n
}

// Bytes is the memory the shard's vectors and FaceIds take (not its maps).
func (s *Shard) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b int64
	for _, p := range s.parts {
		b += p.cols.Bytes()
	}
	return b
}

// Generation is the last commit the shard reflects.
func (s *Shard) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// init splits the shard's buckets into empty parts and a tail, once.
func (s *Shard) init(dim int) {
	if s.parts != nil {
		return
	}
	s.dim = dim
	lo, hi := store.ShardBuckets(s.opts.Shard, s.opts.Shards)
	np := min(shardParts, hi-lo)
	for i := 0; i < np; i++ {
		s.parts = append(s.parts, &part{lo: lo + (hi-lo)*i/np, hi: lo + (hi-lo)*(i+1)/np, cols: vectors.New(dim, 0)})
	}
	s.parts = append(s.parts, &part{lo: -1, hi: -1, cols: vectors.New(dim, 0)})
	s.pos = map[uuid.UUID]int64{}
	s.userOf = map[uuid.UUID]string{}
}

// tail is the index of the part that holds the faces added since the last load.
func (s *Shard) tail() int { return len(s.parts) - 1 }

func (s *Shard) addLocked(id uuid.UUID, v []float32) {
	if _, dup := s.pos[id]; dup {
		return
	}
	p := s.tail()
	c := &s.parts[p].cols
	s.pos[id] = ref(p, c.Len())
	c.Append(id, v)
	s.n++
}

func (s *Shard) removeLocked(id uuid.UUID) {
	s.dropLocked(id)
	delete(s.userOf, id)
}

// dropLocked removes a face's vector, keeping its user (a load swaps it for the snapshot's).
func (s *Shard) dropLocked(id uuid.UUID) {
	r, ok := s.pos[id]
	if !ok {
		return
	}
	p, i := unref(r)
	c := &s.parts[p].cols
	if last := c.Len() - 1; i != last {
		s.pos[c.IDs[last]] = ref(p, i)
	}
	c.Remove(i)
	delete(s.pos, id)
	s.n--
}

// Load reads the shard from the store: the newest snapshot's buckets of the shard, a part
// at a time, then the commits after it. A shard that is loaded already keeps answering
// meanwhile: each part is swapped in as it is read, so that the shard never holds more than
// itself and one part. Until the commits after the snapshot are applied it says it reflects
// the generation it had: each face is as it was then or newer, so that no face erased by
// then can be found (see Search's MinGeneration).
func (s *Shard) Load(ctx context.Context) error {
	before := s.loads.Load()
	if err := s.lockPulls(ctx); err != nil {
		return err
	}
	defer s.unlockPulls()
	if s.loads.Load() != before {
		return nil // another load ran while this one waited
	}
	return s.loadLocked(ctx)
}

// lockPulls waits for the loads and pulls in progress, as long as ctx allows.
func (s *Shard) lockPulls(ctx context.Context) error {
	select {
	case s.pulling <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Shard) unlockPulls() { <-s.pulling }

func (s *Shard) loadLocked(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := s.loadOnce(ctx)
		if errs.Is(err, errs.GenerationGone) && attempt < 10 {
			continue // compacted while we read: start again from the new snapshot
		}
		if err != nil {
			return fmt.Errorf("while loading shard %d/%d of %s: %w", s.opts.Shard, s.opts.Shards, s.coll, err)
		}
		s.loads.Add(1)
		return nil
	}
}

func (s *Shard) loadOnce(ctx context.Context) error {
	start := time.Now()
	opts := store.LoadVectorsOptions{Shard: s.opts.Shard, Shards: s.opts.Shards}
	ss, err := s.st.OpenShardSnapshot(ctx, s.coll, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.init(ss.Dimension)
	parts := slices.Clone(s.parts[:s.tail()])
	s.mu.Unlock()
	userOf := map[uuid.UUID]string{}
	for p, pt := range parts {
		cols, uo, err := ss.Read(ctx, pt.lo, pt.hi)
		if err != nil {
			return err
		}
		for id, u := range uo {
			userOf[id] = u
		}
		s.mu.Lock()
		s.swapLocked(p, cols)
		s.mu.Unlock()
	}
	changes, err := s.st.Changes(ctx, s.coll, ss.Generation, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.userOf = userOf
	s.gen = ss.Generation
	s.applyLocked(changes)
	n, gen := s.n, s.gen
	s.mu.Unlock()
	s.ready.Store(true)
	s.synced.Store(start.UnixNano())
	if s.OnChange != nil {
		s.OnChange(n, gen)
	}
	return nil
}

// swapLocked replaces part p with cols, and drops the tail's faces of its buckets: the
// snapshot has them, as they were then.
func (s *Shard) swapLocked(p int, cols vectors.Columns) {
	pt, t := s.parts[p], &s.parts[s.tail()].cols
	for i := t.Len() - 1; i >= 0; i-- {
		if b := store.BucketOf(t.IDs[i]); b >= pt.lo && b < pt.hi {
			s.dropLocked(t.IDs[i])
		}
	}
	for _, id := range pt.cols.IDs {
		delete(s.pos, id)
	}
	s.n += cols.Len() - pt.cols.Len()
	for i, id := range cols.IDs {
		s.pos[id] = ref(p, i)
	}
	pt.cols = cols
}

// apply applies followed commits.
func (s *Shard) apply(changes []store.Change) {
	s.mu.Lock()
	s.applyLocked(changes)
	n, gen := s.n, s.gen
	s.mu.Unlock()
	if s.OnChange != nil {
		s.OnChange(n, gen)
	}
}

func (s *Shard) applyLocked(changes []store.Change) {
	for _, ch := range changes {
		if ch.Generation <= s.gen {
			continue
		}
		for i, id := range ch.Added {
			s.addLocked(id, ch.Vectors[i*s.dim:(i+1)*s.dim])
		}
		for _, id := range ch.Deleted {
			s.removeLocked(id)
		}
		ch.ApplyUsers(s.userOf)
		s.gen = ch.Generation
	}
}

// PullCounts count a shard's pulls of the store's changes by cause.
type PullCounts struct {
	// Notified pulls followed an event of the notification stream (or a new subscription).
	Notified atomic.Uint64
	// Polled pulls were due by the clock: every PollInterval without a live stream, every
	// FallbackPollInterval with one.
	Polled atomic.Uint64
	// CaughtUp pulls were made by searches that wanted a newer generation, or found the
	// shard stale (catchUp).
	CaughtUp atomic.Uint64
}

// Pulls counts the shard's pulls by cause.
func (s *Shard) Pulls() *PullCounts { return &s.pulls }

// NotificationsLive says whether a live notification stream announces the store's commits
// to the shard (store.WatchState.Live), and has not been caught missing one lately.
func (s *Shard) NotificationsLive() bool { return s.stream().Live }

// distrustFor is how long a stream caught missing a commit is not relied on: MinIO drops the
// events of a subscriber that falls behind, and one that buffers its stream delivers them
// late. eventGrace is how late an event may come before it counts as missed: a fallback poll
// may find a commit that landed a moment before, its event still on the way.
const (
	distrustFor = time.Minute
	eventGrace  = time.Second
)

// stream is the notification stream's state, not live while it is distrusted.
func (s *Shard) stream() store.WatchState {
	w := s.watch.Load()
	if w == nil {
		return store.WatchState{}
	}
	st := w.State()
	if st.Live && time.Now().UnixNano() < s.distrusted.Load() {
		st.Live = false
	}
	return st
}

// Follow applies the store's new commits until ctx ends: as soon as the store's notification
// stream announces them, and by polling, every FallbackPollInterval while the stream is live
// and every PollInterval while it is not (or with NoNotifications). It loads the shard again
// when compaction folded commits it had not seen. Storage errors are retried.
func (s *Shard) Follow(ctx context.Context) error {
	var events <-chan struct{}
	if !s.opts.NoNotifications {
		w := s.st.WatchCommits(ctx, s.coll)
		s.watch.Store(w)
		defer s.watch.Store(nil)
		events = w.C
	}
	// The clock ticks at the fast rate, so that a stream that dies is replaced by fast
	// polling within PollInterval; a tick pulls only when a pull is due.
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	var last time.Time // the last pull's start
	var logged logState
	// suspect, when set, is the start of the pull before a fallback poll that found commits
	// of which no event had come since; suspectAt is when that poll started.
	var suspect, suspectAt time.Time
	for {
		notified := false
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			notified = true
		case <-t.C:
		}
		// Their events never came: the stream misses or delays events, and neither polling
		// nor freshness can rest on it.
		if !suspect.IsZero() && time.Since(suspectAt) > eventGrace {
			if !s.stream().Event.After(suspect) {
				s.distrusted.Store(time.Now().Add(distrustFor).UnixNano())
				s.opts.Log.Info("Commit notifications missed a commit; polling storage instead for a while", "pollInterval", s.opts.PollInterval, "for", distrustFor)
			}
			suspect = time.Time{}
		}
		// Without a live stream every tick pulls; with one, the tick nearest the fallback
		// interval does.
		live := s.logWatch(&logged)
		if !notified && live && time.Since(last) < s.opts.FallbackPollInterval-s.opts.PollInterval/2 {
			continue
		}
		if notified {
			s.pulls.Notified.Add(1)
		} else {
			s.pulls.Polled.Add(1)
		}
		prev, before := last, s.Generation()
		last = time.Now()
		err := s.pull(ctx)
		if err == nil && live && !notified && s.Generation() > before && !s.stream().Event.After(prev) && suspect.IsZero() {
			suspect, suspectAt = prev, last
		}
		switch {
		case err == nil:
		case errs.IsRetryable(err) || ctx.Err() != nil:
			// MinIO is away: keep serving what we have, within MaxStaleness, and try again.
		default:
			return err
		}
	}
}

// logState is what Follow last logged of the notification stream.
type logState struct {
	live, failed bool
}

// logWatch logs the notification stream's changes between live and not (a failure once,
// until the stream is live again) and says whether it is live.
func (s *Shard) logWatch(l *logState) bool {
	if s.watch.Load() == nil {
		return false
	}
	st := s.stream()
	switch {
	case st.Live && !l.live:
		s.opts.Log.Info("Commit notifications are live", "fallbackPollInterval", s.opts.FallbackPollInterval)
		l.live, l.failed = true, false
	case !st.Live && st.Err != nil && !l.failed:
		s.opts.Log.Info("Commit notifications are not available; polling storage instead", "pollInterval", s.opts.PollInterval, "reason", st.Err.Error())
		l.live, l.failed = false, true
	case !st.Live && l.live:
		l.live = false
	}
	return st.Live
}

// pull applies the commits the store has after the shard's generation (loading again when
// they were compacted away) and records that the shard reached storage.
func (s *Shard) pull(ctx context.Context) error {
	if err := s.lockPulls(ctx); err != nil {
		return err
	}
	defer s.unlockPulls()
	start := time.Now()
	changes, err := s.st.Changes(ctx, s.coll, s.Generation(), store.LoadVectorsOptions{Shard: s.opts.Shard, Shards: s.opts.Shards})
	if errs.Is(err, errs.GenerationGone) {
		return s.loadLocked(ctx)
	}
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		s.apply(changes)
	}
	// The start: a commit made while the listing ran may not be in it.
	s.synced.Store(start.UnixNano())
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
		s.pulls.CaughtUp.Add(1)
		if err := s.pull(ctx); err == nil && s.Generation() > before {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stale says whether the shard may have missed commits made longer ago than MaxStaleness.
// A shard built from vectors in memory follows no store and is never stale.
func (s *Shard) stale() bool {
	return s.st != nil && s.opts.MaxStaleness > 0 && time.Since(s.freshAt()) > s.opts.MaxStaleness
}

// freshAt is the time up to which the shard is known to reflect every commit. A pull proves
// it up to its start. Between pulls, only a notification stream can prove more, and only one
// that MinIO keeps speaking on: being connected proves nothing, since a MinIO that buffers
// the stream or a half-open connection is as quiet as a collection nobody writes to. So a
// stream vouches up to the last time MinIO spoke on it (an event or its keep-alive, every
// 10 s; store.WatchState.Heard), provided it was subscribed before the last pull started (or
// it may have missed what came between) and announced nothing since that pull started (an
// announced commit not yet pulled is not reflected); and one caught missing a commit vouches
// for nothing for a while (distrustFor). On a live stream a shard therefore stays
// fresh however rarely it polls, as long as MaxStaleness exceeds MinIO's keep-alive period;
// one whose stream goes quiet is held stale MaxStaleness after the last proof, as before.
func (s *Shard) freshAt() time.Time {
	synced := time.Unix(0, s.synced.Load())
	if st := s.stream(); st.Live && !st.Since.After(synced) && !st.Event.After(synced) && st.Heard.After(synced) {
		return st.Heard
	}
	return synced
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
	if s.n == 0 {
		return nil, nil
	}
	// No more results than vectors, and no heap larger than that either.
	k = min(k, s.n)
	var t *topK
	if opts.Exact {
		t = exactTopK(s.parts, s.n, q, k)
	} else {
		t = compactTopK(s.parts, s.n, q, k, min(max(100, k*s.opts.Candidates), s.n))
	}
	out := make([]Match, 0, len(t.idx))
	for j, r := range t.idx {
		if t.scores[j] < opts.MinCosine {
			continue
		}
		p, i := unref(r)
		id := s.parts[p].cols.IDs[i]
		out = append(out, Match{FaceID: id.String(), UserID: s.userOf[id], Cosine: t.scores[j]})
	}
	return MergeTopK([][]Match{out}, k), nil
}
