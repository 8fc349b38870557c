package store_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// writersResult is one run of runWriters.
type writersResult struct {
	commits   int
	elapsed   time.Duration
	lostRaces uint64
	// maxLost is the most races one commit lost before it landed.
	maxLost  uint64
	p50, p99 time.Duration
}

func (r writersResult) perSecond() float64 { return float64(r.commits) / r.elapsed.Seconds() }
func (r writersResult) racesPerCommit() float64 {
	return float64(r.lostRaces) / float64(max(1, r.commits))
}

// benchColl numbers the collections of the runs, so that each run starts on an empty log.
var benchColl atomic.Int64

// BenchmarkConcurrentWriters backs "every replica writes through the store's conditional
// commits" with figures. Writers 1 to 4 are Stores with a MinIO client each, as replicas
// would be, each committing one mutation at a time (CreateUser of a user no one else
// creates) until b.N commits are done between them: all in one collection ("same", every
// commit races the others for the next log key), or each in its own ("distinct", no
// contention; the baseline of what the machine and MinIO give). It prints a table of
// commits/s, lost races per commit and commit latency (retries included), as ratios to one
// writer of the same run:
//
//	go test ./internal/store -run '^$' -bench ConcurrentWriters -benchtime 300x
func BenchmarkConcurrentWriters(b *testing.B) {
	f := testenv.NewBucket(b, testenv.BucketOptions{Prefix: "bench"})
	results := map[string]writersResult{}
	for _, mode := range []string{"same", "distinct"} {
		for k := 1; k <= 4; k++ {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, k), func(b *testing.B) {
				r := runWriters(b, f, mode == "same", k)
				b.ReportMetric(r.perSecond(), "commits/s")
				b.ReportMetric(r.racesPerCommit(), "lost-races/commit")
				b.ReportMetric(float64(r.maxLost), "max-lost-races")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
				results[fmt.Sprintf("%s/%d", mode, k)] = r
			})
		}
	}
	printWritersTable(os.Stdout, results)
}

// runWriters runs k writers until b.N commits are done and measures them.
func runWriters(b *testing.B, f *testenv.Bucket, shared bool, k int) writersResult {
	ctx := context.Background()
	run := benchColl.Add(1)
	stores := make([]*store.Store, k)
	colls := make([]string, k)
	for w := range stores {
		c, err := store.NewClient(f.Server.Endpoint, f.Server.AccessKey, f.Server.SecretKey, false)
		if err != nil {
			b.Fatal(err)
		}
		stores[w] = store.New(c, f.Name, f.Prefix, store.Options{})
		colls[w] = fmt.Sprintf("writers-%d-%d", run, w)
		if shared {
			colls[w] = fmt.Sprintf("writers-%d", run)
		}
		if w == 0 || !shared {
			testenv.CreateCollection(b, stores[w], colls[w], "test-1", dim)
		}
		// The first read of a collection (its manifest) is not a commit's cost.
		if _, _, err := stores[w].ListUsers(ctx, colls[w], store.ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, k)
	maxLost := make([]uint64, k)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				lost := stores[w].CommitStats().LostRaces
				t0 := time.Now()
				if err := stores[w].CreateUser(ctx, colls[w], fmt.Sprintf("user-%d", i), store.UserOptions{}); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				maxLost[w] = max(maxLost[w], stores[w].CommitStats().LostRaces-lost)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	r := writersResult{elapsed: elapsed}
	var all []time.Duration
	for w, s := range stores {
		st := s.CommitStats()
		r.commits += int(st.Commits)
		r.lostRaces += st.LostRaces
		r.maxLost = max(r.maxLost, maxLost[w])
		all = append(all, lat[w]...)
	}
	slices.Sort(all)
	r.p50, r.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max(0, int(math.Ceil(p*float64(len(sorted))))-1)]
}

// printWritersTable prints the runs as a Markdown table, each figure with its ratio to one
// writer of the same kind.
func printWritersTable(out io.Writer, results map[string]writersResult) {
	if len(results) == 0 {
		return
	}
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	fmt.Fprintf(out, "\nConcurrent writers, one CreateUser per commit, %d CPUs, load average %s\n\n", runtime.NumCPU(), load)
	fmt.Fprintln(out, "| collections | writers | commits | commits/s | x 1 writer | lost races/commit | most lost by one commit | p50 ms | x 1 writer | p99 ms | x 1 writer |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	ratio := func(x, base float64) string {
		if base == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", x/base)
	}
	for _, mode := range []string{"same", "distinct"} {
		base, hasBase := results[mode+"/1"]
		for k := 1; k <= 4; k++ {
			r, ok := results[fmt.Sprintf("%s/%d", mode, k)]
			if !ok {
				continue
			}
			x := func(v, b float64) string {
				if !hasBase {
					return "-"
				}
				return ratio(v, b)
			}
			fmt.Fprintf(out, "| %s | %d | %d | %.0f | %s | %.2f | %d | %.1f | %s | %.1f | %s |\n", mode, k, r.commits,
				r.perSecond(), x(r.perSecond(), base.perSecond()), r.racesPerCommit(), r.maxLost,
				ms(r.p50), x(ms(r.p50), ms(base.p50)), ms(r.p99), x(ms(r.p99), ms(base.p99)))
		}
	}
	fmt.Fprintln(out)
}
