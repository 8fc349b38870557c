package index

import (
	"runtime"
	"sync"

	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// A shard keeps its vectors as the snapshot stores them (vectors.Columns): int8 codes with
// one scale per vector, which the scan reads (four times fewer bytes than float32), and fp16
// copies, which re-rank the scan's best candidates. About 1.5 KB a 512-d face in all,
// against 2.6 KB with float32 copies (docs/scaling.md).

// part is the shard's faces of a range of buckets. A load replaces one part at a time, so
// that the shard never holds two copies of itself.
type part struct {
	lo, hi int // buckets [lo, hi)
	cols   vectors.Columns
}

// ref is a vector's place: its part in the high 32 bits, its index in the low.
func ref(p, i int) int64 { return int64(p)<<32 | int64(i) }

func unref(r int64) (p, i int) { return int(r >> 32), int(uint32(r)) }

const scanBlock = 256

// workers splits n items into parallel ranges of at least minPer items.
func workers(n, minPer int) int {
	w := runtime.GOMAXPROCS(0)
	if n/minPer < w {
		w = max(1, n/minPer)
	}
	return w
}

// parallel runs fn over the parts' vectors, split into a few contiguous runs, each run
// going part by part, and returns the runs' heaps.
func parallel(parts []*part, n, k int, fn func(c *vectors.Columns, p, lo, hi int, t *topK)) []*topK {
	w := workers(n, 16384)
	heaps := make([]*topK, w)
	var wg sync.WaitGroup
	for r := 0; r < w; r++ {
		from, to := n*r/w, n*(r+1)/w
		heaps[r] = newTopK(k)
		wg.Add(1)
		go func(t *topK) {
			defer wg.Done()
			at := 0 // index of the first vector of part p
			for p, pt := range parts {
				m := pt.cols.Len()
				lo, hi := max(from, at), min(to, at+m)
				if lo < hi {
					fn(&pt.cols, p, lo-at, hi-at, t)
				}
				at += m
				if at >= to {
					break
				}
			}
		}(heaps[r])
	}
	wg.Wait()
	return heaps
}

func mergeHeaps(heaps []*topK, k int) *topK {
	if len(heaps) == 1 {
		return heaps[0]
	}
	out := newTopK(k)
	for _, h := range heaps {
		for j, s := range h.scores {
			out.push(s, h.idx[j])
		}
	}
	return out
}

// exactTopK scores every vector's fp16 copy.
func exactTopK(parts []*part, n int, q []float32, k int) *topK {
	d := len(q)
	heaps := parallel(parts, n, k, func(c *vectors.Columns, p, lo, hi int, t *topK) {
		var buf [scanBlock]float32
		vecs := make([]float32, scanBlock*d)
		for i := lo; i < hi; i += scanBlock {
			m := min(scanBlock, hi-i)
			vectors.FromHalf(c.Half[i*d:(i+m)*d], vecs[:m*d])
			dotBatchF32(q, vecs[:m*d], buf[:m])
			t.pushBatch(buf[:m], ref(p, i))
		}
	})
	return mergeHeaps(heaps, k)
}

// compactTopK scans the int8 codes for the best candidates, then re-ranks them with the
// fp16 copies.
func compactTopK(parts []*part, n int, q []float32, k, candidates int) *topK {
	d := len(q)
	qc := make([]int8, d)
	vectors.Quantize(q, qc)
	q16 := make([]int16, d)
	for i, c := range qc {
		q16[i] = int16(c)
	}
	heaps := parallel(parts, n, candidates, func(c *vectors.Columns, p, lo, hi int, t *topK) {
		var ibuf [scanBlock]int32
		var buf [scanBlock]float32
		for i := lo; i < hi; i += scanBlock {
			m := min(scanBlock, hi-i)
			dotBatchI8(q16, c.Codes[i*d:(i+m)*d], ibuf[:m])
			for j := 0; j < m; j++ {
				buf[j] = float32(ibuf[j]) * c.Scales[i+j]
			}
			t.pushBatch(buf[:m], ref(p, i))
		}
	})
	cands := mergeHeaps(heaps, candidates)
	out := newTopK(k)
	v := make([]float32, d)
	for _, r := range cands.idx {
		p, i := unref(r)
		parts[p].cols.Vector(i, v)
		out.push(dot(q, v), r)
	}
	return out
}
