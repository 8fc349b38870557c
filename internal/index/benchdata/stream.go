package benchdata

import (
	"math"
	"runtime"
	"sync"
)

// Stream makes FaceLike's kind of vectors (families of identities, several noisy views of
// each) for sets too large to hold at once: vector i is a function of the seed and i alone,
// so that batches of any size, in any order and on any number of cores give the same set,
// and only the family centres are kept (n/64 vectors). Vector i is a view of identity
// i mod (n/ViewsPerIdentity); an identity's centre is computed again for each of its views.
// A Stream's vectors are not FaceLike's for the same seed.
type Stream struct {
	n, dim, ids, fams int
	seed              uint64
	family            []float32
}

// NewStream describes n vectors of dimension dim.
func NewStream(n, dim int, seed uint64) *Stream {
	ids := max(1, n/ViewsPerIdentity)
	fams := max(1, ids/IdentitiesPerFamily)
	s := &Stream{n: n, dim: dim, ids: ids, fams: fams, seed: seed, family: make([]float32, fams*dim)}
	r := &rng{seed}
	for i := range s.family {
		s.family[i] = r.normal()
	}
	for i := 0; i < fams; i++ {
		unit(s.family[i*dim : (i+1)*dim])
	}
	return s
}

// Len is the number of vectors; Dim their dimension.
func (s *Stream) Len() int { return s.n }

// Dim is the vectors' dimension.
func (s *Stream) Dim() int { return s.dim }

// mix gives each (seed, kind, index) an independent generator state.
func mix(seed, kind, i uint64) *rng {
	r := &rng{seed ^ kind*0xd1b54a32d192ed03}
	r.s ^= i * 0x9e3779b97f4a7c15
	r.next()
	return r
}

// centre writes identity c's unit centre to out.
func (s *Stream) centre(c int, out []float32) {
	r := mix(s.seed, 1, uint64(c))
	f := s.family[(c%s.fams)*s.dim : (c%s.fams+1)*s.dim]
	scale := float32(FamilyNoise / math.Sqrt(float64(s.dim)))
	for j := range out {
		out[j] = f[j] + scale*r.normal()
	}
	unit(out)
}

// view writes a unit view of identity c, drawn with r, to out (centre is scratch space).
func (s *Stream) view(r *rng, c int, centre, out []float32) {
	s.centre(c, centre)
	scale := float32(Noise / math.Sqrt(float64(s.dim)))
	for j := range out {
		out[j] = centre[j] + scale*r.normal()
	}
	unit(out)
}

// Vectors writes vectors lo..hi-1 (unit length) to out, which holds (hi-lo)*Dim values,
// on all cores.
func (s *Stream) Vectors(lo, hi int, out []float32) {
	w := min(runtime.GOMAXPROCS(0), max(1, (hi-lo)/256))
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		a, b := lo+(hi-lo)*p/w, lo+(hi-lo)*(p+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			centre := make([]float32, s.dim)
			for i := a; i < b; i++ {
				s.view(mix(s.seed, 2, uint64(i)), i%s.ids, centre, out[(i-lo)*s.dim:(i-lo+1)*s.dim])
			}
		}()
	}
	wg.Wait()
}

// Queries returns q new views of identities of the set, picked at random by seed: their
// nearest neighbours are the identity's views, then its family's.
func (s *Stream) Queries(q int, seed uint64) [][]float32 {
	out := make([][]float32, q)
	centre := make([]float32, s.dim)
	for i := range out {
		r := mix(s.seed^seed, 3, uint64(i))
		out[i] = make([]float32, s.dim)
		s.view(r, int(r.next()%uint64(s.ids)), centre, out[i])
	}
	return out
}
