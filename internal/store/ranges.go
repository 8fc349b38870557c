package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// errVectorMoved is a ranged read that found a vector's object compacted (its commit is a
// marker now, or deleted) or gone (a snapshot a newer one replaced): the vector is elsewhere
// now, and the reader refreshes its locations.
var errVectorMoved = errors.New("a vector's object was compacted")

const (
	// rangeGap is the widest gap between two wanted vectors of one object that a read spans
	// rather than making two requests: a request costs about what 64 KiB of transfer does.
	rangeGap = 64 << 10
	// maxRangeBytes bounds one ranged read, and so the memory of a read in flight.
	maxRangeBytes = 4 << 20
)

// vecRead asks for the bytes of one stored vector (4*dimension, little-endian float32).
type vecRead struct {
	obj vecObject
	pos uint32
	// id is the face's; checked against a segment's copy of it.
	id  uuid.UUID
	dst []byte
}

func (r *vecRead) offset() int64 { return r.obj.base + int64(r.pos)*r.obj.stride }

// size is how many bytes the vector takes where it is stored.
func (o *vecObject) size(dim int) int64 {
	if o.half {
		return 2 * int64(dim)
	}
	return 4 * int64(dim)
}

// span is one ranged GET and the vectors it serves.
type span struct {
	key        string
	start, end int64 // [start, end)
	reads      []*vecRead
}

// readVectors reads the vectors asked for with ranged GETs, grouped per object, parallel
// at a time, at the pace of p (nil: at once). It returns errVectorMoved if an object was
// compacted or removed meanwhile.
func (s *Store) readVectors(ctx context.Context, dim int, reads []vecRead, parallel int, p *pacer) error {
	spans := planSpans(dim, reads)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	var bufs chan []byte
	if parallel > 0 {
		bufs = make(chan []byte, parallel)
	}
	for _, sp := range spans {
		g.Go(func() error {
			var buf []byte
			select {
			case buf = <-bufs:
			default:
			}
			buf, err := s.getRange(gctx, sp.key, sp.start, sp.end, buf, p)
			if err != nil {
				return err
			}
			for _, r := range sp.reads {
				off := r.offset() - sp.start
				if r.obj.idBefore && !bytes.Equal(buf[off-16:off], r.id[:]) {
					return errorf(errs.Corrupt, "%s holds another face than %s at vector %d", sp.key, r.id, r.pos)
				}
				if r.obj.half {
					putHalfAsFloat32(r.dst, buf[off:off+2*int64(dim)])
				} else {
					copy(r.dst, buf[off:off+int64(4*dim)])
				}
			}
			select {
			case bufs <- buf:
			default:
			}
			return nil
		})
	}
	return g.Wait()
}

// putHalfAsFloat32 writes fp16 values (little-endian) as float32 (little-endian).
func putHalfAsFloat32(dst, src []byte) {
	for i := 0; i < len(src)/2; i++ {
		x := vectors.HalfFloat(binary.LittleEndian.Uint16(src[2*i:]))
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

// planSpans groups the reads into ranged GETs: per object, in order, joining vectors less
// than rangeGap apart into one GET of at most maxRangeBytes.
func planSpans(dim int, reads []vecRead) []*span {
	order := make([]*vecRead, len(reads))
	for i := range reads {
		order[i] = &reads[i]
	}
	slices.SortFunc(order, func(a, b *vecRead) int {
		if c := strings.Compare(a.obj.key, b.obj.key); c != 0 {
			return c
		}
		return int(int64(a.pos) - int64(b.pos))
	})
	var spans []*span
	var cur *span
	for _, r := range order {
		lo := r.offset()
		if r.obj.idBefore {
			lo -= 16
		}
		hi := r.offset() + r.obj.size(dim)
		if cur != nil && cur.key == r.obj.key && lo-cur.end <= rangeGap && hi-cur.start <= maxRangeBytes {
			cur.end = max(cur.end, hi)
			cur.reads = append(cur.reads, r)
			continue
		}
		cur = &span{key: r.obj.key, start: lo, end: hi, reads: []*vecRead{r}}
		spans = append(spans, cur)
	}
	return spans
}

// getRange reads bytes [start, end) of an object into buf (grown if needed), at the pace
// of p.
func (s *Store) getRange(ctx context.Context, key string, start, end int64, buf []byte, p *pacer) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout+p.duration(end-start))
	defer cancel()
	n := int(end - start)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(start, end-1); err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, rangeError(err)
	}
	defer o.Close()
	if _, err := io.ReadFull(paced(ctx, o, p), buf); err != nil {
		return nil, rangeError(err)
	}
	return buf, nil
}

// rangeError tells a moved vector (the object is gone, or a marker now: too short for the
// range) from a failed read.
func rangeError(err error) error {
	r := minio.ToErrorResponse(err)
	switch {
	case isNotFound(err), r.Code == "InvalidRange", r.StatusCode == http.StatusRequestedRangeNotSatisfiable,
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errVectorMoved
	}
	return storageError("reading vectors", err)
}
