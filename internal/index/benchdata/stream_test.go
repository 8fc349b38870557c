package benchdata

import (
	"runtime"
	"testing"
)

func TestStreamBatchesMakeTheSameSet(t *testing.T) {
	const n, dim = 1000, 32
	s := NewStream(n, dim, 9)
	whole := make([]float32, n*dim)
	s.Vectors(0, n, whole)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	for _, batch := range []int{1, 7, 333, n} {
		for lo := 0; lo < n; lo += batch {
			hi := min(n, lo+batch)
			part := make([]float32, (hi-lo)*dim)
			NewStream(n, dim, 9).Vectors(lo, hi, part)
			for j, x := range part {
				if x != whole[lo*dim+j] {
					t.Fatalf("batch %d: vector %d differs from the whole set's", batch, lo+j/dim)
				}
			}
		}
	}
	var norm float32
	for _, x := range whole[5*dim : 6*dim] {
		norm += x * x
	}
	if norm < 0.999 || norm > 1.001 {
		t.Fatalf("norm² %v", norm)
	}
}

func TestStreamViewsOfAnIdentityAreNearest(t *testing.T) {
	const n, dim = 4096, 128
	s := NewStream(n, dim, 3)
	vs := make([]float32, n*dim)
	s.Vectors(0, n, vs)
	dot := func(a, b []float32) (d float32) {
		for i := range a {
			d += a[i] * b[i]
		}
		return d
	}
	// A query's best match is a view of its identity (vector i is identity i mod n/4).
	hits := 0
	qs := s.Queries(50, 1)
	for _, q := range qs {
		best, arg := float32(-2), -1
		for i := 0; i < n; i++ {
			if d := dot(q, vs[i*dim:(i+1)*dim]); d > best {
				best, arg = d, i
			}
		}
		// The other three views of the best match's identity come next.
		id := arg % (n / ViewsPerIdentity)
		same := 0
		for v := 0; v < ViewsPerIdentity; v++ {
			if d := dot(q, vs[(id+v*n/ViewsPerIdentity)*dim:][:dim]); d > 0.45 {
				same++
			}
		}
		if same == ViewsPerIdentity {
			hits++
		}
	}
	if hits < 45 {
		t.Fatalf("%d of 50 queries are close to all the views of their best match's identity", hits)
	}
}
