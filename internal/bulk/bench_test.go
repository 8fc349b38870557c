package bulk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/search"
)

// benchPhotos is the benchmark's number of photos: FACESEARCH_BENCH_PHOTOS, by default
// 10,000 (issue 14), 40 under -short (make bench-smoke).
func benchPhotos(b *testing.B) int {
	if v := os.Getenv("FACESEARCH_BENCH_PHOTOS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FACESEARCH_BENCH_PHOTOS=%q", v)
		}
		return n
	}
	if testing.Short() {
		return 40
	}
	return 10000
}

// BenchmarkBulkEnrol enrols N distinct photos (variants of the test faces, users of at most
// 88 photos of one person each; uploaded to MinIO before the timer starts) with one worker
// of GOMAXPROCS goroutines in batches of 100, as one pod of the Job would, and reports
// photos/s and photos/s/core (wall clock; MinIO and whatever else runs on the same cores),
// and photos/cpu-s (per second of the worker's own CPU time: what a dedicated core does). Then, into another collection, the same photos again with the worker
// stopped (its context cancelled: the process ends its calls where they are) once its
// progress shows half of them done, and resumed by a new run: it fails unless every photo was
// enrolled exactly once, and reports the resumed job's photos/s counted from the first start
// (the stop and the restart included).
//
//	go test ./internal/bulk -run '^$' -bench BulkEnrol -benchtime 1x -timeout 120m
//	FACESEARCH_BENCH_PHOTOS=1000 go test ./internal/bulk -run '^$' -bench BulkEnrol -benchtime 1x
func BenchmarkBulkEnrol(b *testing.B) {
	n := benchPhotos(b)
	e := newEnv(b)
	photos := variants(b, n)
	e.put(b, photos)
	// The engine is loaded outside the timer, as a pod loads it before its first photo.
	if _, err := e.engines.Get(search.DefaultFaceModelVersion); err != nil {
		b.Fatal(err)
	}
	cores := runtime.GOMAXPROCS(0)
	ctx := context.Background()
	var full, resumed, cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		coll := fmt.Sprintf("bench-%d", i)
		e.createCollection(b, coll)
		opts := e.options(b, "bench-"+strconv.Itoa(i), 0, 1)
		opts.Storage = e.bucket.Connection() // not through the fault proxy, which would cost CPU here
		// Batches of 100, fewer photos each for a small N, so that there is a middle to stop in.
		opts.Collection, opts.Parallel, opts.BatchSize = coll, cores, min(DefaultBatchSize, max(2, n/20))
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		if _, err := e.run(ctx, opts); err != nil {
			b.Fatal(err)
		}
		full += time.Since(start)
		cpu += processCPU() - cpu0
		b.StopTimer()
		e.checkOnce(b, coll, opts.Job, n, true)

		coll = fmt.Sprintf("killed-%d", i)
		e.createCollection(b, coll)
		opts.Collection, opts.Job = coll, "killed-"+strconv.Itoa(i)
		stopped, stop := context.WithCancel(ctx)
		watched := make(chan int, 1)
		go func() {
			defer stop()
			for stopped.Err() == nil {
				ps, err := ReadJob(ctx, e.bucket.Client, e.bucket.Name, e.bucket.Prefix, opts.Job)
				if err == nil && len(ps) == 1 && ps[0].Done >= n/2 {
					watched <- ps[0].Done
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		start = time.Now()
		_, err := e.run(stopped, opts)
		if !errors.Is(err, context.Canceled) {
			b.Fatalf("the stopped run ended with %v", err)
		}
		doneAtStop := <-watched
		if _, err := e.run(ctx, opts); err != nil {
			b.Fatal(err)
		}
		resumed += time.Since(start)
		e.checkOnce(b, coll, opts.Job, n, true)
		s := Merge(e.job(b, opts.Job))
		if s.Restarts != 1 {
			b.Fatalf("the stopped job: %+v", s)
		}
		reasons := map[string]int{}
		for _, k := range s.Skipped {
			reasons[k.Reason]++
		}
		b.Logf("%d photos: %d indexed, %d without a face, %d failed (reasons of the %d named: %v); stopped at %d done, resumed: every photo enrolled once",
			n, s.Indexed, s.NoFace, s.Failed, len(s.Skipped), reasons, doneAtStop)
	}
	rate := float64(n*b.N) / full.Seconds()
	b.ReportMetric(rate, "photos/s")
	b.ReportMetric(rate/float64(cores), "photos/s/core")
	if cpu > 0 {
		// The worker's own CPU time (MinIO is another process): what a dedicated core does.
		b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "photos/cpu-s")
	}
	b.ReportMetric(float64(n*b.N)/resumed.Seconds(), "resumed-photos/s")
	// Reached only if checkOnce found every photo enrolled exactly once in both runs (it
	// fails the benchmark otherwise): make bench-scale reads this line.
	b.ReportMetric(1, "exactly-once")
}
