// Package benchdata makes synthetic face-embedding-like vectors for benchmarks: families of
// similar-looking identities, each identity with several noisy views, so that a query's ten
// nearest neighbours are well defined (its identity's views, then its family's) and recall is
// measured on a realistic structure rather than on ties in uniform noise.
package benchdata

import (
	"math"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/store"
)

// ViewsPerIdentity is how many vectors share one identity.
const ViewsPerIdentity = 4

// IdentitiesPerFamily is how many identities share one family centre.
const IdentitiesPerFamily = 16

// Noise is the norm of the noise added to an identity (cosine to it about 0.78), and
// FamilyNoise the norm of the noise that makes an identity from its family's centre.
const (
	Noise       = 0.8
	FamilyNoise = 1.0
)

type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// normal is an approximately normal value (Irwin-Hall with 4 uniforms), mean 0, variance 1.
func (r *rng) normal() float32 {
	x := r.next()
	var s float32
	for i := 0; i < 4; i++ {
		s += float32(x&0xffff) / 65536
		x >>= 16
	}
	return (s - 2) * float32(math.Sqrt(3))
}

func unit(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}

// FaceLike returns n vectors of dimension dim and queries that are new views of random
// identities of the set. The same arguments give the same data.
func FaceLike(n, dim, queries int, seed uint64) (*store.VectorSet, [][]float32) {
	ids := max(1, n/ViewsPerIdentity)
	fams := max(1, ids/IdentitiesPerFamily)
	r := &rng{seed}
	family := make([]float32, fams*dim)
	for i := range family {
		family[i] = r.normal()
	}
	for i := 0; i < fams; i++ {
		unit(family[i*dim : (i+1)*dim])
	}
	fscale := float32(FamilyNoise / math.Sqrt(float64(dim)))
	centres := make([]float32, ids*dim)
	for i := 0; i < ids; i++ {
		f := family[(i%fams)*dim : (i%fams+1)*dim]
		for j := 0; j < dim; j++ {
			centres[i*dim+j] = f[j] + fscale*r.normal()
		}
		unit(centres[i*dim : (i+1)*dim])
	}
	vs := &store.VectorSet{Dimension: dim, IDs: make([]uuid.UUID, n), Vectors: make([]float32, n*dim), UserOf: map[uuid.UUID]string{}}
	scale := float32(Noise / math.Sqrt(float64(dim)))
	view := func(r *rng, c int, out []float32) {
		cv := centres[c*dim : (c+1)*dim]
		for j := range out {
			out[j] = cv[j] + scale*r.normal()
		}
		unit(out)
	}
	w := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			r := &rng{seed*7919 + uint64(lo) + 1}
			for i := lo; i < hi; i++ {
				var id uuid.UUID
				a, b := r.next(), r.next()
				for k := 0; k < 8; k++ {
					id[k], id[8+k] = byte(a>>(8*k)), byte(b>>(8*k))
				}
				id[6] = id[6]&0x0f | 0x40
				id[8] = id[8]&0x3f | 0x80
				vs.IDs[i] = id
				view(r, i%ids, vs.Vectors[i*dim:(i+1)*dim])
			}
		}(n*p/w, n*(p+1)/w)
	}
	wg.Wait()
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = make([]float32, dim)
		view(r, int(r.next()%uint64(ids)), qs[i])
	}
	return vs, qs
}

// Subset copies the first n vectors of vs.
func Subset(vs *store.VectorSet, n int) *store.VectorSet {
	n = min(n, len(vs.IDs))
	return &store.VectorSet{
		Dimension: vs.Dimension,
		IDs:       append([]uuid.UUID(nil), vs.IDs[:n]...),
		Vectors:   append([]float32(nil), vs.Vectors[:n*vs.Dimension]...),
		UserOf:    map[uuid.UUID]string{},
	}
}

// Bandwidth measures sequential read bandwidth: all cores summing a buffer with 256-bit
// loads (AVX2 where there is one). Sample right next to the measurement it is compared with,
// so that both see the same contention on a shared machine.
type Bandwidth struct{ buf []uint64 }

// NewBandwidth allocates and touches a buffer of the given size (make it larger than the
// last-level cache).
func NewBandwidth(bytes int) *Bandwidth {
	buf := make([]uint64, bytes/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	return &Bandwidth{buf: buf}
}

// Sample reads the buffer once and returns bytes per second.
func (b *Bandwidth) Sample() float64 {
	w := runtime.GOMAXPROCS(0)
	start := nowNanos()
	var wg sync.WaitGroup
	sums := make([]uint64, w)
	for p := 0; p < w; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			sums[p] = sum(b.buf[len(b.buf)*p/w : len(b.buf)*(p+1)/w])
		}(p)
	}
	wg.Wait()
	return float64(len(b.buf)*8) / (float64(nowNanos()-start) / 1e9)
}

func sumGeneric(b []uint64) uint64 {
	var s0, s1, s2, s3 uint64
	i := 0
	for ; i+4 <= len(b); i += 4 {
		s0 += b[i]
		s1 += b[i+1]
		s2 += b[i+2]
		s3 += b[i+3]
	}
	for ; i < len(b); i++ {
		s0 += b[i]
	}
	return s0 + s1 + s2 + s3
}

// CPUModel is the machine's CPU model, for the header of a benchmark's table.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return "unknown CPU"
}
