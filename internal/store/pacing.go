package store

import (
	"context"
	"io"
	"sync"
	"time"
)

// DefaultCompactionRate is Options.CompactionRate's default: on a small MinIO (two shared
// cores) it keeps the searches' and commits' p99 within 1.5x of what it is without a
// compaction (docs/store.md), and compacts a million 512-d faces in about a minute.
const DefaultCompactionRate = 64 << 20

const (
	// paceChunk is how much a paced transfer moves at a time: small enough that MinIO never
	// gets a burst, large enough to cost little.
	paceChunk = 256 << 10
	// markerCost and deleteCost are what a marker's PUT and a key's deletion count for,
	// in bytes of transfer: their cost in MinIO is mostly a synchronous write of metadata.
	markerCost = 128 << 10
	deleteCost = 16 << 10
)

// pacer spreads a compaction's transfers over time at rate bytes per second, so that the
// storage keeps room for the calls of searches and commits. A nil pacer does not wait.
type pacer struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

func newPacer(rate int64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{rate: float64(rate)}
}

// wait reserves n bytes of transfer and waits for their turn.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now // no credit for idle time: that would be a burst
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// duration is how long n bytes take at the pacer's rate.
func (p *pacer) duration(n int64) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(float64(n) / p.rate * float64(time.Second))
}

// pacedReader reads through a pacer, paceChunk at a time.
type pacedReader struct {
	ctx context.Context
	r   io.Reader
	p   *pacer
}

func (r pacedReader) Read(b []byte) (int, error) {
	if len(b) > paceChunk {
		b = b[:paceChunk]
	}
	if err := r.p.wait(r.ctx, len(b)); err != nil {
		return 0, err
	}
	return r.r.Read(b)
}

// paced returns r read through p (r itself for a nil pacer).
func paced(ctx context.Context, r io.Reader, p *pacer) io.Reader {
	if p == nil {
		return r
	}
	return pacedReader{ctx: ctx, r: r, p: p}
}
