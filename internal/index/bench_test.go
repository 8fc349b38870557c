package index_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/index/benchdata"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// go test -bench . -run '^$' ./internal/index/ -benchsizes 100000,1000000
//
// With -short (make bench-smoke, part of make test) a flag left unset takes its smoke value,
// so that every benchmark runs in seconds; its figures then mean nothing.
var (
	benchSizes = flag.String("benchsizes", "100000", "comma-separated shard sizes for BenchmarkSearch (-short: 1000)")
	benchLoad  = flag.Int("benchload", 100000, "vectors for BenchmarkLoadFromMinIO (-short: 1000)")
	benchIdle  = flag.Duration("benchidle", 20*time.Second, "how long BenchmarkFollowRequests watches an idle shard (-short: 500ms)")
)

const benchDim = 512

// smokeValue is def, or smoke when the benchmarks run with -short and the flag was not set.
func smokeValue[T any](name string, def, smoke T) T {
	if !testing.Short() {
		return def
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set {
		return def
	}
	return smoke
}

// bandwidthBytes is what BenchmarkMemoryBandwidth sums: 512 MiB, 64 MiB with -short.
func bandwidthBytes() int {
	if testing.Short() {
		return 64 << 20
	}
	return 512 << 20
}

func sizes(b *testing.B) []int {
	var out []int
	for _, s := range splitComma(smokeValue("benchsizes", *benchSizes, "1000")) {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BenchmarkMemoryBandwidth is the baseline: MB/s of all cores summing 512 MiB.
func BenchmarkMemoryBandwidth(b *testing.B) {
	n := bandwidthBytes()
	bw := benchdata.NewBandwidth(n)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for b.Loop() {
		bw.Sample()
	}
}

// BenchmarkSearch reports MB/s of vectors scanned (compare with BenchmarkMemoryBandwidth)
// and recall@10 of the int8 form.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	for _, n := range sizes(b) {
		vs, qs := benchdata.FaceLike(n, benchDim, 64, 42)
		shard := index.NewShardFromVectors(vs, index.ShardOptions{})
		for _, mode := range []struct {
			name  string
			opts  index.SearchOptions
			bytes int64
		}{
			{"fp16-exact", index.SearchOptions{K: 10, Exact: true}, int64(n) * benchDim * 2},
			{"int8+rerank", index.SearchOptions{K: 10}, int64(n) * (benchDim + 4)},
		} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode.name), func(b *testing.B) {
				b.SetBytes(mode.bytes)
				hits, total := 0, 0
				i := 0
				for b.Loop() {
					q := qs[i%len(qs)]
					i++
					got, err := shard.Search(ctx, q, mode.opts)
					if err != nil {
						b.Fatal(err)
					}
					if !mode.opts.Exact && i <= len(qs) {
						b.StopTimer()
						want, _ := shard.Search(ctx, q, index.SearchOptions{K: 10, Exact: true})
						hits += overlap(got, want)
						total += len(want)
						b.StartTimer()
					}
				}
				if total > 0 {
					b.ReportMetric(float64(hits)/float64(total), "recall@10")
				}
			})
		}
	}
}

func overlap(got, want []index.Match) int {
	w := map[string]bool{}
	for _, m := range want {
		w[m.FaceID] = true
	}
	n := 0
	for _, m := range got {
		if w[m.FaceID] {
			n++
		}
	}
	return n
}

// BenchmarkLoadFromMinIO times a shard's load from a real MinIO server (written and
// compacted once, outside the timer).
func BenchmarkLoadFromMinIO(b *testing.B) {
	ctx := context.Background()
	n := smokeValue("benchload", *benchLoad, 1000)
	bucket := testenv.NewBucket(b, testenv.BucketOptions{Store: store.Options{RequestTimeout: 30 * time.Second}})
	st := bucket.Collection(b, "bench", "bench", benchDim)
	vs, _ := benchdata.FaceLike(n, benchDim, 0, 7)
	for lo := 0; lo < n; lo += store.MaxImportFaces {
		var faces []store.NewFace
		for i := lo; i < min(n, lo+store.MaxImportFaces); i++ {
			faces = append(faces, store.NewFace{ImageID: strconv.Itoa(i), Embedding: vs.Vectors[i*benchDim : (i+1)*benchDim]})
		}
		if _, err := st.ImportFaces(ctx, "bench", faces, store.IndexFacesOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	vs = nil
	if err := st.Compact(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(n) * (20 + 3*benchDim))
	b.ResetTimer()
	for b.Loop() {
		shard := index.NewShard(bucket.Store(), "bench", index.ShardOptions{})
		if err := shard.Load(ctx); err != nil {
			b.Fatal(err)
		}
		if shard.Len() != n {
			b.Fatalf("loaded %d of %d", shard.Len(), n)
		}
	}
}

// BenchmarkFollowRequests counts the requests an idle shard (nobody writes) sends to storage
// per second to learn of commits: polling every 200 ms; on a live notification stream (MinIO's
// stream served by testenv's stand-in, with MinIO's 10 s keep-alive; see
// FaultProxy.Notifications); and on the test MinIO's own stream, which never answers on the
// MinIO builds since October 2025, so that the shard rightly keeps polling. Each poll is one
// GET of the manifest and one LIST of the log; the subscription itself is not counted.
func BenchmarkFollowRequests(b *testing.B) {
	idle := smokeValue("benchidle", *benchIdle, 500*time.Millisecond)
	modes := []struct {
		name            string
		notify, standIn bool
	}{{"poll-200ms", false, false}, {"notifications", true, true}, {"this-minio-stream", true, false}}
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bucket := testenv.NewBucket(b, testenv.BucketOptions{})
			proxy := testenv.NewFaultProxy(b, bucket.Server.Endpoint)
			if mode.standIn {
				proxy.Notifications(10 * time.Second)
			}
			st, err := store.Open(bucket.ProxiedConnection(proxy), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			testenv.CreateCollection(b, st, "c", "m1", 16)
			shard := index.NewShard(st, "c", index.ShardOptions{NoNotifications: !mode.notify})
			go func() { _ = shard.Run(ctx) }()
			for deadline := time.Now().Add(time.Minute); !shard.Ready() || (mode.standIn && !shard.NotificationsLive()); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("the shard did not get ready")
				}
			}
			var lists atomic.Int64
			proxy.Count(func(r *http.Request) bool {
				if r.URL.Query().Has("list-type") {
					lists.Add(1)
				}
				return !testenv.IsListen(r)
			})
			start := time.Now()
			for b.Loop() {
				time.Sleep(idle)
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(lists.Load())/secs, "LIST/s")
			b.ReportMetric(float64(proxy.Seen())/secs, "requests/s")
		})
	}
}
