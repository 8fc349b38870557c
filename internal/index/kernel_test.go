package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestKernelsAgreeWithPortableCode(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2 here: only the portable kernels run")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, dim := range []int{1, 7, 32, 64, 128, 512, 1024} {
		for _, n := range []int{1, 3, 100} {
			q := make([]float32, dim)
			data := make([]float32, n*dim)
			for i := range q {
				q[i] = r.Float32()*2 - 1
			}
			for i := range data {
				data[i] = r.Float32()*2 - 1
			}
			got := make([]float32, n)
			want := make([]float32, n)
			dotBatchF32(q, data, got)
			dotBatchF32Generic(q, data, want)
			for i := range got {
				// Float sums in another order: allow rounding, relative to the magnitude.
				var mag float64
				for j := 0; j < dim; j++ {
					mag += math.Abs(float64(q[j] * data[i*dim+j]))
				}
				if math.Abs(float64(got[i]-want[i])) > 1e-5*mag+1e-6 {
					t.Fatalf("float32 dim %d n %d: %v vs %v", dim, n, got[i], want[i])
				}
			}
			q16 := make([]int16, dim)
			d8 := make([]int8, n*dim)
			for i := range q16 {
				q16[i] = int16(r.IntN(255) - 127)
			}
			for i := range d8 {
				d8[i] = int8(r.IntN(255) - 127)
			}
			gi := make([]int32, n)
			wi := make([]int32, n)
			dotBatchI8(q16, d8, gi)
			dotBatchI8Generic(q16, d8, wi)
			for i := range gi {
				if gi[i] != wi[i] {
					t.Fatalf("int8 dim %d n %d: %d vs %d", dim, n, gi[i], wi[i])
				}
			}
			a8 := make([]int8, dim)
			for i := range a8 {
				a8[i] = int8(q16[i])
			}
			if got, want := dotI8I8(a8, d8[:dim]), dotI8I8Generic(a8, d8[:dim]); got != want {
				t.Fatalf("int8 x int8 dim %d: %d vs %d", dim, got, want)
			}
		}
	}
	// Extremes: every product at its largest magnitude.
	q16 := make([]int16, 4096)
	d8 := make([]int8, 4096)
	for i := range q16 {
		q16[i], d8[i] = -127, -127
	}
	out := make([]int32, 1)
	dotBatchI8(q16, d8, out)
	if out[0] != 4096*127*127 {
		t.Fatalf("int8 extreme: %d", out[0])
	}
}
