package benchdata

import "testing"

func TestSumAgreesWithPortableCode(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 4099} {
		b := make([]uint64, n)
		for i := range b {
			b[i] = uint64(i*i) ^ 0x9e3779b97f4a7c15
		}
		if got, want := sum(b), sumGeneric(b); got != want {
			t.Fatalf("n=%d: %d vs %d", n, got, want)
		}
	}
}

func TestFaceLikeIsDeterministicAndUnit(t *testing.T) {
	a, qa := FaceLike(100, 32, 2, 5)
	b, qb := FaceLike(100, 32, 2, 5)
	for i := range a.Vectors {
		if a.Vectors[i] != b.Vectors[i] {
			t.Fatal("same seed, different vectors")
		}
	}
	if qa[1][3] != qb[1][3] || a.IDs[7] != b.IDs[7] {
		t.Fatal("same seed, different queries or IDs")
	}
	var n float32
	for _, x := range a.Vectors[:32] {
		n += x * x
	}
	if n < 0.999 || n > 1.001 {
		t.Fatalf("norm² %v", n)
	}
}
