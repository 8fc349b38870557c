package vectors

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

func TestHalf(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		bits uint16
		out  float32
	}{
		{0, 0x0000, 0},
		{1, 0x3c00, 1},
		{-2, 0xc000, -2},
		{0.5, 0x3800, 0.5},
		{65504, 0x7bff, 65504},
		{70000, 0x7c00, float32(math.Inf(1))},
		{float32(math.Inf(-1)), 0xfc00, float32(math.Inf(-1))},
		{5.960464477539063e-08, 0x0001, 5.960464477539063e-08}, // smallest subnormal
		{1e-9, 0x0000, 0},
		{1.0009765625, 0x3c01, 1.0009765625},                   // 1 + 2^-10
		{1.00048828125, 0x3c00, 1},                             // halfway: to even (down)
		{1.00146484375, 0x3c02, 1.001953125},                   // halfway: to even (up)
		{0.0441, 0x29a5, 0.044097900390625},                    // a typical component of a unit 512-d vector
		{6.097555160522461e-05, 0x03ff, 6.097555160522461e-05}, // largest subnormal
	} {
		h := halfFromFloat(tc.in)
		if h != tc.bits {
			t.Errorf("halfFromFloat(%g) = %#04x, want %#04x", tc.in, h, tc.bits)
		}
		if got := floatFromHalf(h); got != tc.out {
			t.Errorf("floatFromHalf(%#04x) = %g, want %g", h, got, tc.out)
		}
	}
	if !math.IsNaN(float64(floatFromHalf(halfFromFloat(float32(math.NaN()))))) {
		t.Error("NaN is not kept")
	}
	// Every fp16 value survives a round trip through float32.
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := floatFromHalf(h)
		if f != f {
			continue
		}
		if back := halfFromFloat(f); back != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

// The re-rank copy keeps cosines of unit 512-d vectors within 1e-3.
func TestColumnsKeepCosines(t *testing.T) {
	const d = 512
	r := rand.New(rand.NewPCG(1, 2))
	unit := func() []float32 {
		v := make([]float32, d)
		var n float64
		for i := range v {
			v[i] = float32(r.NormFloat64())
			n += float64(v[i] * v[i])
		}
		for i := range v {
			v[i] /= float32(math.Sqrt(n))
		}
		return v
	}
	c := New(d, 0)
	var vs [][]float32
	for i := 0; i < 50; i++ {
		v := unit()
		vs = append(vs, v)
		c.Append(uuid.New(), v)
	}
	c.Remove(3)
	vs[3] = vs[len(vs)-1]
	vs = vs[:len(vs)-1]
	if c.Len() != 49 || c.Bytes() != 49*(20+3*d) {
		t.Fatalf("len %d bytes %d", c.Len(), c.Bytes())
	}
	q := unit()
	got := make([]float32, d)
	for i, v := range vs {
		c.Vector(i, got)
		var exact, half, i8 float64
		for j := range v {
			exact += float64(q[j] * v[j])
			half += float64(q[j] * got[j])
			i8 += float64(q[j]) * float64(c.Codes[i*d+j]) * float64(c.Scales[i])
		}
		if math.Abs(exact-half) > 1e-3 {
			t.Errorf("vector %d: cosine %f exact, %f from fp16", i, exact, half)
		}
		if math.Abs(exact-i8) > 0.02 {
			t.Errorf("vector %d: cosine %f exact, %f from int8", i, exact, i8)
		}
	}
}

func TestQuantizeZero(t *testing.T) {
	codes := []int8{1, 2, 3}
	if s := Quantize([]float32{0, 0, 0}, codes); s != 0 || codes[0] != 0 || codes[2] != 0 {
		t.Fatalf("scale %g codes %v", s, codes)
	}
}
