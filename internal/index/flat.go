package index

import (
	"math"
	"runtime"
	"sync"
)

// flat is a shard's vectors: float32 for exact scoring and an int8 copy (one scale per
// vector) that a scan reads four times faster.
type flat struct {
	dim    int
	vecs   []float32
	codes  []int8
	scales []float32
}

func (f *flat) len() int {
	if f.dim == 0 {
		return 0
	}
	return len(f.vecs) / f.dim
}

// quantize writes v as int8 codes: code = round(x * 127 / max|x|); x ~ code * scale.
func quantize(v []float32, codes []int8) (scale float32) {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	if m == 0 {
		return 0
	}
	inv := 127 / m
	for i, x := range v {
		codes[i] = int8(math.Round(float64(x * inv)))
	}
	return m / 127
}

func newFlat(dim int, vecs []float32) flat {
	n := len(vecs) / dim
	f := flat{dim: dim, vecs: vecs, codes: make([]int8, len(vecs)), scales: make([]float32, n)}
	var wg sync.WaitGroup
	w := workers(n, 4096)
	for p := 0; p < w; p++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f.scales[i] = quantize(vecs[i*dim:(i+1)*dim], f.codes[i*dim:(i+1)*dim])
			}
		}(n*p/w, n*(p+1)/w)
	}
	wg.Wait()
	return f
}

func (f *flat) appendVectors(vecs []float32) {
	f.vecs = append(f.vecs, vecs...)
	n := len(vecs) / f.dim
	start := len(f.codes)
	f.codes = append(f.codes, make([]int8, len(vecs))...)
	for i := 0; i < n; i++ {
		f.scales = append(f.scales, quantize(vecs[i*f.dim:(i+1)*f.dim], f.codes[start+i*f.dim:start+(i+1)*f.dim]))
	}
}

// remove moves the last vector into slot i.
func (f *flat) remove(i int) {
	last := f.len() - 1
	d := f.dim
	copy(f.vecs[i*d:(i+1)*d], f.vecs[last*d:])
	copy(f.codes[i*d:(i+1)*d], f.codes[last*d:])
	f.scales[i] = f.scales[last]
	f.vecs = f.vecs[:last*d]
	f.codes = f.codes[:last*d]
	f.scales = f.scales[:last]
}

const scanBlock = 256

// workers splits n items into parallel ranges of at least minPer items.
func workers(n, minPer int) int {
	w := runtime.GOMAXPROCS(0)
	if n/minPer < w {
		w = max(1, n/minPer)
	}
	return w
}

// parallel runs fn over w contiguous ranges of [0, n) and returns their heaps.
func parallel(n, k int, fn func(lo, hi int, t *topK)) []*topK {
	w := workers(n, 16384)
	heaps := make([]*topK, w)
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		lo, hi := n*p/w, n*(p+1)/w
		heaps[p] = newTopK(k)
		wg.Add(1)
		go func(t *topK) {
			defer wg.Done()
			fn(lo, hi, t)
		}(heaps[p])
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

// exactTopK scans all float32 vectors.
func (f *flat) exactTopK(q []float32, k int) *topK {
	heaps := parallel(f.len(), k, func(lo, hi int, t *topK) {
		var buf [scanBlock]float32
		d := f.dim
		for i := lo; i < hi; i += scanBlock {
			n := min(scanBlock, hi-i)
			dotBatchF32(q, f.vecs[i*d:(i+n)*d], buf[:n])
			t.pushBatch(buf[:n], i)
		}
	})
	return mergeHeaps(heaps, k)
}

// compactTopK scans the int8 codes for the best candidates, then re-ranks them with exact
// float32 cosines.
func (f *flat) compactTopK(q []float32, k, candidates int) *topK {
	d := f.dim
	qc := make([]int8, d)
	qs := quantize(q, qc)
	q16 := make([]int16, d)
	for i, c := range qc {
		q16[i] = int16(c)
	}
	heaps := parallel(f.len(), candidates, func(lo, hi int, t *topK) {
		var ibuf [scanBlock]int32
		var buf [scanBlock]float32
		for i := lo; i < hi; i += scanBlock {
			n := min(scanBlock, hi-i)
			dotBatchI8(q16, f.codes[i*d:(i+n)*d], ibuf[:n])
			for j := 0; j < n; j++ {
				buf[j] = float32(ibuf[j]) * f.scales[i+j]
			}
			t.pushBatch(buf[:n], i)
		}
	})
	cands := mergeHeaps(heaps, candidates)
	out := newTopK(k)
	for _, i := range cands.idx {
		out.push(dot(q, f.vecs[int(i)*d:(int(i)+1)*d]), i)
	}
	_ = qs
	return out
}
