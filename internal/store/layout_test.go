package store_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/store"
)

// Shards' bucket ranges partition the buckets for every shard count, and a face's shard is
// the one whose range holds its bucket.
func TestShardBucketsPartition(t *testing.T) {
	ids := make([]uuid.UUID, 2000)
	for i := range ids {
		ids[i] = uuid.New()
	}
	for _, n := range []int{1, 2, 3, 4, 5, 7, 16, 64, 1000, store.Buckets} {
		next := 0
		for s := 0; s < n; s++ {
			lo, hi := store.ShardBuckets(s, n)
			if lo != next || hi < lo {
				t.Fatalf("N=%d: shard %d has [%d, %d), want it to start at %d", n, s, lo, hi, next)
			}
			next = hi
		}
		if next != store.Buckets {
			t.Fatalf("N=%d: the ranges end at %d", n, next)
		}
		counts := make([]int, n)
		for _, id := range ids {
			s := store.ShardOf(id, n)
			lo, hi := store.ShardBuckets(s, n)
			if b := store.BucketOf(id); b < lo || b >= hi {
				t.Fatalf("N=%d: face in bucket %d given to shard %d of [%d, %d)", n, b, s, lo, hi)
			}
			counts[s]++
		}
		if n <= 16 {
			for s, c := range counts {
				if share := float64(c) * float64(n) / float64(len(ids)); share < 0.75 || share > 1.25 {
					t.Errorf("N=%d: shard %d holds %d of %d faces", n, s, c, len(ids))
				}
			}
		}
	}
}
