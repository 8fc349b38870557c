package face

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

const (
	// DefaultDecodeBudgetBytes is the decode budget of a process that has no memory limit
	// (no cgroup limit): room for one 50 Mpx photo with its EXIF rotation and some smaller
	// images beside it.
	DefaultDecodeBudgetBytes = 512 << 20
	// MinDecodeBudgetBytes is the smallest budget: smaller ones are raised to it. It holds
	// one image read from storage (MaxStorageImageBytes) and a 12 Mpx photo decoding.
	MinDecodeBudgetBytes = 64 << 20
	// DefaultDecodeWait is how long a request waits for room in the budget before it is
	// answered ProvisionedThroughputExceeded.
	DefaultDecodeWait = 10 * time.Second
)

// DecodeBudget bounds the memory that images being processed take at once, across every
// engine that shares it (all model packs of a process should share one): the bytes each
// decode allocates, estimated from the image's header before a pixel is decoded, and the
// bytes of images read from storage. A request takes its room before it allocates and gives
// it back when it has dropped its buffers; when the budget is in use it waits, at most
// MaxWait and never past its context, and then fails with ProvisionedThroughputExceeded
// (retryable). An image whose decode alone needs more than the budget's share for decoding
// is refused with ImageTooLarge: it could never run.
//
// The budget has two shares so that a request never waits for room while holding room of
// the same kind (which could stall every request until their waits ran out): a read share,
// an eighth of the budget but at least one storage image, taken before an image is read
// from storage and held until the request ends; and the decode share, the rest, taken
// while a request holds a worker. Requests wait for read room, then for a worker, then for
// decode room, always in that order, and what they hold is released together.
type DecodeBudget struct {
	bytes   int64
	maxWait time.Duration
	decode  budgetShare
	read    budgetShare

	inFlight  atomic.Int64 // room held now, both shares
	peak      atomic.Int64 // the most inFlight has been
	throttled atomic.Int64 // requests that waited MaxWait in vain
}

type budgetShare struct {
	sem  *semaphore.Weighted
	size int64
}

// DecodeBudgetOptions configure NewDecodeBudget.
type DecodeBudgetOptions struct {
	// Bytes is the whole budget; 0 means DefaultDecodeBudgetSize(). Values under
	// MinDecodeBudgetBytes are raised to it.
	Bytes int64
	// MaxWait bounds a request's wait for room; default DefaultDecodeWait.
	MaxWait time.Duration
}

// NewDecodeBudget makes a budget. Engines share one by passing it in EngineOptions.
func NewDecodeBudget(o DecodeBudgetOptions) *DecodeBudget {
	if o.Bytes <= 0 {
		o.Bytes = DefaultDecodeBudgetSize()
	}
	o.Bytes = max(o.Bytes, MinDecodeBudgetBytes)
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultDecodeWait
	}
	read := max(o.Bytes/8, MaxStorageImageBytes+1)
	return newDecodeBudget(o.Bytes, read, o.MaxWait)
}

// newDecodeBudget is NewDecodeBudget with the shares given, unchecked (tests use small ones).
func newDecodeBudget(total, read int64, maxWait time.Duration) *DecodeBudget {
	return &DecodeBudget{
		bytes: total, maxWait: maxWait,
		decode: budgetShare{semaphore.NewWeighted(total - read), total - read},
		read:   budgetShare{semaphore.NewWeighted(read), read},
	}
}

var processBudget = sync.OnceValue(func() *DecodeBudget { return NewDecodeBudget(DecodeBudgetOptions{}) })

// DefaultDecodeBudget is the process's own budget, sized by DefaultDecodeBudgetSize, which
// every engine made without a budget shares.
func DefaultDecodeBudget() *DecodeBudget { return processBudget() }

// Bytes is the whole budget.
func (b *DecodeBudget) Bytes() int64 { return b.bytes }

// DecodeBytes is the share for decoding: the most one image's decode may need.
func (b *DecodeBudget) DecodeBytes() int64 { return b.decode.size }

// ReadBytes is the share for image bytes read from storage.
func (b *DecodeBudget) ReadBytes() int64 { return b.read.size }

// InFlight is the room held now.
func (b *DecodeBudget) InFlight() int64 { return b.inFlight.Load() }

// Peak is the most room that was held at once.
func (b *DecodeBudget) Peak() int64 { return b.peak.Load() }

// Throttled counts the requests refused with ProvisionedThroughputExceeded.
func (b *DecodeBudget) Throttled() int64 { return b.throttled.Load() }

// Reservation is room held in a budget. It belongs to one request (not safe for concurrent
// use); Release gives back what is left, and a nil Reservation does nothing.
type Reservation struct {
	b *DecodeBudget
	s *budgetShare
	n int64
}

// Bytes is the room held.
func (r *Reservation) Bytes() int64 {
	if r == nil {
		return 0
	}
	return r.n
}

// Shrink keeps n bytes of the room and gives back the rest.
func (r *Reservation) Shrink(n int64) {
	if r != nil && n >= 0 && n < r.n {
		r.give(r.n - n)
	}
}

// Release gives back all the room. Calling it again does nothing.
func (r *Reservation) Release() {
	if r != nil && r.n > 0 {
		r.give(r.n)
	}
}

func (r *Reservation) give(k int64) {
	r.n -= k
	// The count goes down before the room is free, so it never exceeds the room held.
	r.b.inFlight.Add(-k)
	r.s.sem.Release(k)
}

// ReserveRead takes room for reading up to n bytes of an image from storage; Shrink it to
// what was read, and Release it when the request is done with the bytes.
func (b *DecodeBudget) ReserveRead(ctx context.Context, n int64) (*Reservation, error) {
	if n > b.read.size {
		return nil, errs.New(errs.ImageTooLarge, "reading %d bytes needs more than the %d bytes the server reads at once", n, b.read.size)
	}
	return b.take(ctx, &b.read, n)
}

func (b *DecodeBudget) take(ctx context.Context, s *budgetShare, n int64) (*Reservation, error) {
	if !s.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, b.maxWait)
		err := s.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.throttled.Add(1)
			return nil, errs.New(errs.ProvisionedThroughputExceeded,
				"the server is decoding as many images as its memory allows (%d MiB); waited %s, retry later", b.bytes>>20, b.maxWait)
		}
	}
	now := b.inFlight.Add(n)
	for {
		p := b.peak.Load()
		if now <= p || b.peak.CompareAndSwap(p, now) {
			break
		}
	}
	return &Reservation{b: b, s: s, n: n}, nil
}

// decodeImage takes room for hdr's decode, then decodes. On success the caller holds the
// room until it has released img (and every buffer made from it), then releases the room.
func (b *DecodeBudget) decodeImage(ctx context.Context, hdr *imageHeader, data []byte) (*rgbImage, OrientationCorrection, *Reservation, error) {
	if hdr.cost > b.decode.size {
		return nil, "", nil, hdr.tooCostly(b.decode.size)
	}
	room, err := b.take(ctx, &b.decode, hdr.cost)
	if err != nil {
		return nil, "", nil, err
	}
	// The whole estimate stays held until the request ends, though the decoder's own
	// arrays are garbage once the RGB copy is made: they take memory until the collector
	// runs, and the budget is there to bound memory, not live objects.
	img, oc, err := hdr.decode(data)
	if err != nil {
		room.Release()
		return nil, "", nil, err
	}
	return img, oc, room, nil
}

// DefaultDecodeBudgetSize is a quarter of the container's memory limit (cgroup v2
// memory.max, or v1 memory.limit_in_bytes) and at least MinDecodeBudgetBytes, or
// DefaultDecodeBudgetBytes when the process has no memory limit. The other three quarters
// are for the model sessions, request bodies, the collections' caches and the garbage
// collector's headroom.
func DefaultDecodeBudgetSize() int64 {
	return budgetForLimit(memoryLimit("/sys/fs/cgroup"))
}

func budgetForLimit(limit int64) int64 {
	if limit <= 0 {
		return DefaultDecodeBudgetBytes
	}
	return max(limit/4, MinDecodeBudgetBytes)
}

// memoryLimit reads the cgroup memory limit under root (the cgroup v2 file first, then v1);
// 0 when there is none or it cannot be read.
func memoryLimit(root string) int64 {
	for _, f := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // v1 says "no limit" with a huge number
			return 0
		}
		return n
	}
	return 0
}
