package rekognition

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestRateLimitShare offers one key far more than its budget for a window and counts what
// n replicas let through, with the key's connections on one replica or spread over all.
func TestRateLimitShare(t *testing.T) {
	const (
		rate   = 30.0 // per second, the endpoint's budget per key
		burst  = 60
		window = 10 * time.Second
		every  = 5 * time.Millisecond // 200 requests per second offered
	)
	for _, tc := range []struct {
		n     int // replicas sharing the budget
		reach int // replicas the key's requests reach, round robin
	}{
		{n: 1, reach: 1},
		{n: 2, reach: 1},
		{n: 3, reach: 1},
		{n: 2, reach: 2},
		{n: 3, reach: 3},
		{n: 3, reach: 2},
	} {
		t.Run(fmt.Sprintf("n=%d/reach=%d", tc.n, tc.reach), func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1700000000, 0)}
			ls := make([]*rateLimiter, tc.reach)
			for i := range ls {
				ls[i] = newRateLimiter(rate, burst, func() int { return tc.n }, clock.now)
			}
			allowed := 0
			for i := 0; time.Duration(i)*every < window; i++ {
				if ls[i%len(ls)].allow("AKID") {
					allowed++
				}
				clock.advance(every)
			}
			// Each replica reached lets through its share of the rate over the window, plus
			// at most its share of the burst (its bucket starts full).
			share := float64(tc.reach) / float64(tc.n)
			lo := rate * window.Seconds() * share
			hi := lo + burst*share
			if float64(allowed) < lo-1 || float64(allowed) > hi+1 {
				t.Fatalf("allowed %d over %v, want %.0f..%.0f (rate %.0f/s shared by %d, %d reached)", allowed, window, lo, hi, rate, tc.n, tc.reach)
			}
		})
	}
}

// TestRateLimitReplicasChange changes the replica count between bursts: the buckets follow
// the new share without being refilled, reset or doubled.
func TestRateLimitReplicasChange(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var n atomic.Int64
	l := newRateLimiter(50, 100, func() int { return int(n.Load()) }, clock.now)
	const drain = 1000
	for i, step := range []struct {
		n       int
		advance time.Duration
		offer   int // requests at that instant
		want    int // allowed
		why     string
	}{
		{1, 0, drain, 100, "a new bucket holds the whole burst"},
		{1, time.Second, drain, 50, "50/s"},
		{2, 2 * time.Second, drain, 50, "full at 100, cut to the burst of a half share"},
		{2, time.Second, drain, 25, "25/s"},
		{1, 2 * time.Second, drain, 50, "full at 50 on a half share: not doubled to 100"},
		{1, time.Second, drain, 50, "50/s again"},
		{1, 1500 * time.Millisecond, 45, 45, "75 in the bucket, 45 spent"},
		{2, 0, drain, 30, "30 left is under the half burst: kept, not reset to 50 or halved"},
		{0, time.Second, drain, 25, "n=0 is one replica; the second elapsed at the half rate"},
		{-3, time.Second, drain, 50, "n<0 is one replica: 50/s"},
		{3, 10 * time.Second, drain, 33, "a third of the burst (33.3)"},
	} {
		n.Store(int64(step.n))
		clock.advance(step.advance)
		got := 0
		for range step.offer {
			if l.allow("AKID") {
				got++
			}
		}
		if got != step.want {
			t.Fatalf("step %d (n=%d after %v): allowed %d, want %d: %s", i, step.n, step.advance, got, step.want, step.why)
		}
	}
}

// TestRateLimitReplicasConcurrent changes the count while requests are limited (for -race).
func TestRateLimitReplicasConcurrent(t *testing.T) {
	var n atomic.Int64
	n.Store(1)
	l := newRateLimiter(1e6, 1e6, func() int { return int(n.Load()) }, time.Now)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				l.allow(fmt.Sprintf("key-%d", (g+i)%8))
			}
		}()
	}
	for i := range 200 {
		n.Store(int64(1 + i%4))
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if b.tokens < 0 || math.IsNaN(b.tokens) {
			t.Fatalf("bucket %s has %v tokens", k, b.tokens)
		}
	}
}

// TestThrottlingShare: through the handler, a replica of two allows half the burst.
func TestThrottlingShare(t *testing.T) {
	now := time.Now()
	e := newEnv(t, HandlerOptions{RateLimit: 2, RateBurst: 4, Replicas: func() int { return 2 }, Now: func() time.Time { return now }})
	ctx := context.Background()
	c := e.admin()
	for i := 0; i < 2; i++ {
		must(c.ListCollections(ctx, &rek.ListCollectionsInput{}))
	}
	_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{})
	var th *types.ThrottlingException
	if !errors.As(err, &th) {
		t.Fatalf("third request: %v", err)
	}
}
