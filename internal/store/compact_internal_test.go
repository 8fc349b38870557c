package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A run's bucket index reads back as where each bucket starts, dense (many buckets with
// faces) or sparse (few), and a damaged one is refused.
func TestBucketIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		faces  int
		sparse bool
	}{
		{"empty", 0, true},
		{"one face", 1, true},
		{"a few faces", 300, true},
		{"many faces", 200000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faces := make([]capturedFace, tc.faces)
			for i := range faces {
				faces[i].bucket = int32(r.IntN(Buckets))
			}
			slices.SortFunc(faces, func(a, b capturedFace) int { return int(a.bucket - b.bucket) })
			data := bucketIndex(faces)
			if sparse := len(data) != 4*(Buckets+1); sparse != tc.sparse {
				t.Fatalf("%d bytes for %d faces: sparse %v, want %v", len(data), tc.faces, sparse, tc.sparse)
			}
			starts, ok := readBucketIndex(data)
			if !ok {
				t.Fatal("refused")
			}
			for b := 0; b <= Buckets; b++ {
				want, _ := slices.BinarySearchFunc(faces, int32(b), func(f capturedFace, b int32) int { return int(f.bucket - b) })
				if int(starts[b]) != want {
					t.Fatalf("bucket %d starts at %d, want %d", b, starts[b], want)
				}
			}
			if tc.sparse && len(data) > 8 {
				if _, ok := readBucketIndex(data[:len(data)-8]); ok {
					t.Fatal("an index without its end was read")
				}
			}
		})
	}
}

// permute puts faces in any order in place.
func TestPermute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 7, 1000} {
		faces := make([]capturedFace, n)
		for i := range faces {
			faces[i].slot = uint32(i)
		}
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		want := slices.Clone(order)
		permute(faces, order)
		for k := range faces {
			if faces[k].slot != uint32(want[k]) {
				t.Fatalf("n %d: face %d is %d, want %d", n, k, faces[k].slot, want[k])
			}
		}
	}
}
