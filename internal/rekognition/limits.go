package rekognition

import (
	"container/list"
	"context"
	"crypto/sha256"
	"math"
	"sync"
	"time"
)

// rateLimiter is a token bucket per access key. rate and burst are the budget of the whole
// endpoint; with n replicas sharing it (replicas), each allows rate/n with a burst of
// max(1, burst/n), so that together they allow the budget once.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	// replicas is how many replicas share the budget; nil, or a count below 1, is one.
	replicas func() int
	now      func() time.Time

	mu      sync.Mutex
	n       int // the replica count the buckets follow
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int, replicas func() int, now func() time.Time) *rateLimiter {
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	return &rateLimiter{rate: rate, burst: float64(burst), replicas: replicas, now: now, n: 1, buckets: make(map[string]*bucket)}
}

// share is one replica's rate and burst when n replicas share the budget.
func (l *rateLimiter) share(n int) (rate, burst float64) {
	return l.rate / float64(n), math.Max(1, l.burst/float64(n))
}

// allow takes a token from key's bucket. The number of buckets is bounded by
// the number of keys in the CredentialStore: only authenticated keys get here.
func (l *rateLimiter) allow(key string) bool {
	now := l.now()
	n := 1
	if l.replicas != nil {
		n = max(1, l.replicas())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n != l.n {
		l.rescale(n, now)
	}
	rate, burst := l.share(l.n)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// rescale moves every bucket to the share of n replicas: the time elapsed is credited at the
// old share, then tokens over the new burst are dropped. No token is added, so a change of
// the count neither refills a bucket nor doubles it (a replica that leaves did not hand its
// tokens over), and none is taken beyond the new burst (a replica that joins starts full).
func (l *rateLimiter) rescale(n int, now time.Time) {
	rate, burst := l.share(l.n)
	_, newBurst := l.share(n)
	for _, b := range l.buckets {
		b.refill(now, rate, burst)
		b.tokens = math.Min(b.tokens, newBurst)
	}
	l.n = n
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(burst, b.tokens+el*rate)
		b.last = now
	}
}

// idempotencyCache remembers the responses of requests that carry a
// ClientRequestToken, keyed by (operation, collection, token). It is bounded
// (least recently inserted entries are evicted first) and entries expire
// after ttl. Only successful responses are kept: a failed request may be
// retried with the same token.
type idempotencyCache struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu      sync.Mutex
	entries map[idemKey]*list.Element
	order   *list.List // of *idemEntry, oldest first
}

type idemKey struct{ op, collection, token string }

type idemEntry struct {
	key     idemKey
	params  [sha256.Size]byte
	done    chan struct{} // closed when the first request finished
	ok      bool          // the first request succeeded; resp is valid
	resp    []byte
	expires time.Time
}

func newIdempotencyCache(ttl time.Duration, limit int, now func() time.Time) *idempotencyCache {
	return &idempotencyCache{ttl: ttl, limit: limit, now: now, entries: make(map[idemKey]*list.Element), order: list.New()}
}

// do returns the cached response for key when params match, fails with
// IdempotentParameterMismatchException when they don't, and otherwise runs
// fn (once, even for concurrent requests with the same token) and caches its
// response if it succeeded.
func (c *idempotencyCache) do(ctx context.Context, key idemKey, params [sha256.Size]byte, fn func() ([]byte, error)) ([]byte, error) {
	for {
		c.mu.Lock()
		now := c.now()
		if el, ok := c.entries[key]; ok {
			e := el.Value.(*idemEntry)
			if !e.expires.IsZero() && now.After(e.expires) {
				c.remove(el)
			} else {
				c.mu.Unlock()
				if e.params != params {
					return nil, ErrIdempotentParameterMismatch("ClientRequestToken " + key.token + " was already used with different parameters")
				}
				select {
				case <-e.done:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if e.ok {
					return e.resp, nil
				}
				continue // the first attempt failed and was removed: try again
			}
		}
		e := &idemEntry{key: key, params: params, done: make(chan struct{})}
		c.entries[key] = c.order.PushBack(e)
		for c.order.Len() > c.limit {
			c.remove(c.order.Front())
		}
		c.mu.Unlock()

		resp, err := fn()

		c.mu.Lock()
		if err == nil {
			e.ok, e.resp, e.expires = true, resp, c.now().Add(c.ttl)
		} else if el, ok := c.entries[key]; ok && el.Value.(*idemEntry) == e {
			c.remove(el)
		}
		close(e.done)
		c.mu.Unlock()
		return resp, err
	}
}

func (c *idempotencyCache) remove(el *list.Element) {
	e := el.Value.(*idemEntry)
	if cur, ok := c.entries[e.key]; ok && cur == el {
		delete(c.entries, e.key)
	}
	c.order.Remove(el)
}

func (c *idempotencyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// keyShares bounds each access key's requests in flight: a request past the share waits
// for one of the key's own to finish, as long as a request waits for a slot.
type keyShares struct {
	limit int

	mu   sync.Mutex
	keys map[string]*keyShare
}

// keyShare is one key's semaphore; users counts the requests holding or waiting for it, so
// that an idle key's entry goes.
type keyShare struct {
	slots chan struct{}
	users int
}

func newKeyShares(limit int) *keyShares {
	return &keyShares{limit: limit, keys: map[string]*keyShare{}}
}

// acquire takes one of the key's slots, waiting at most wait (or until ctx ends).
func (k *keyShares) acquire(ctx context.Context, key string, wait time.Duration) bool {
	k.mu.Lock()
	sh := k.keys[key]
	if sh == nil {
		sh = &keyShare{slots: make(chan struct{}, k.limit)}
		k.keys[key] = sh
	}
	sh.users++
	k.mu.Unlock()
	select {
	case sh.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sh.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	k.done(key, sh)
	return false
}

// release gives back a slot taken by acquire.
func (k *keyShares) release(key string) {
	k.mu.Lock()
	sh := k.keys[key]
	k.mu.Unlock()
	<-sh.slots
	k.done(key, sh)
}

func (k *keyShares) done(key string, sh *keyShare) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sh.users--; sh.users == 0 {
		delete(k.keys, key)
	}
}

// maxReplayEntries bounds the signatures remembered; past it, mutating requests are
// throttled rather than a replay let through.
const maxReplayEntries = 1 << 18

// replayCache remembers the signatures of mutating requests for as long as they are valid
// (their X-Amz-Date plus the clock skew allowed), so that a captured request cannot be sent
// again. The SDKs sign every attempt anew (the attempt number is a signed header), so their
// retries are not replays.
type replayCache struct {
	now func() time.Time

	mu      sync.Mutex
	seen    map[string]time.Time // signature -> when it stops being valid
	expires *list.List           // of replayEntry, in insertion order
}

type replayEntry struct {
	signature string
	until     time.Time
}

func newReplayCache(now func() time.Time) *replayCache {
	return &replayCache{now: now, seen: map[string]time.Time{}, expires: list.New()}
}

// check remembers a signature seen for the first time while valid; it refuses one seen
// before, and any while the cache is full.
func (c *replayCache) check(signature, amzDate string, maxSkew time.Duration) *Error {
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return newErr(TypeIncompleteSignature, "X-Amz-Date is not in the form yyyyMMddTHHmmssZ")
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.expires.Front(); e != nil; e = c.expires.Front() {
		re := e.Value.(replayEntry)
		if re.until.After(now) {
			break
		}
		if c.seen[re.signature].Equal(re.until) {
			delete(c.seen, re.signature)
		}
		c.expires.Remove(e)
	}
	if _, ok := c.seen[signature]; ok {
		return newErr(TypeInvalidSignature, "This signature was already used: a mutating request is served once; sign each request anew")
	}
	if len(c.seen) >= maxReplayEntries {
		return ErrThrottling("Too many mutating requests within the signature validity window; try again later")
	}
	until := t.Add(maxSkew)
	c.seen[signature] = until
	c.expires.PushBack(replayEntry{signature: signature, until: until})
	return nil
}
