package store_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// The scale benchmarks (issue 14) do their work once whatever b.N; run them with
// -benchtime 1x. Their sizes come from the environment, so that the large runs are asked
// for explicitly:
//
//	FACESEARCH_BENCH_FACES    faces of BenchmarkWriterMemory and BenchmarkReadsDuringCompaction (100000)
//	FACESEARCH_BENCH_DIMS     dimensions of BenchmarkWriterMemory (512,128)
//	FACESEARCH_BENCH_COMMITS  commit counts of BenchmarkLogCostByCommits (1000,100000)
//	FACESEARCH_BENCH_IDLE     how long BenchmarkReadsDuringCompaction measures without a compaction (15s)
//	FACESEARCH_BENCH_RATE     its compaction's rate, MiB/s (store.DefaultCompactionRate; -1: no limit)
//
// Under -short (make test's bench-smoke, which only checks that each benchmark still runs)
// the defaults are small: 2000 faces, 100 and 1000 commits, 2 s without a compaction.

var shortDefaults = map[string]string{
	"FACESEARCH_BENCH_FACES": "2000", "FACESEARCH_BENCH_COMMITS": "100,1000", "FACESEARCH_BENCH_IDLE": "2",
}

func envInts(b *testing.B, name, def string) []int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
		if small, ok := shortDefaults[name]; ok && testing.Short() {
			v = small
		}
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want positive integers", name, v)
		}
		out = append(out, n)
	}
	return out
}

// benchFaces imports n faces of dimension dim into coll, 16,384 per commit: one face per
// image (a UUID ImageId, as the search service makes them) and a distinct ExternalImageId.
func benchFaces(b *testing.B, s *store.Store, coll string, first, n, dim int) []string {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(dim), uint64(first)))
	pool := make([][]float32, 1024)
	for i := range pool {
		pool[i] = make([]float32, dim)
		for j := range pool[i] {
			pool[i][j] = float32(rng.NormFloat64())
		}
	}
	ids := make([]string, 0, n)
	for start := 0; start < n; start += store.MaxImportFaces {
		batch := make([]store.NewFace, 0, min(store.MaxImportFaces, n-start))
		for i := start; i < start+cap(batch); i++ {
			batch = append(batch, store.NewFace{
				ImageID: uuid.NewString(), ExternalImageID: fmt.Sprintf("camera-7:2026-11-30:frame-%08d.jpg", first+i),
				BoundingBox: store.BoundingBox{Width: 0.2, Height: 0.3, Left: rng.Float32() * 0.8, Top: rng.Float32() * 0.7},
				Confidence:  99, Embedding: pool[(first+i)%len(pool)],
			})
		}
		recs, err := s.ImportFaces(ctx, coll, batch, store.IndexFacesOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			ids = append(ids, r.FaceID)
		}
	}
	return ids
}

// liveHeap is the heap still in use after a full collection.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkWriterMemory measures what a writer keeps per face (live heap after GC, divided
// by the faces): the Store that imported them, the same after it compacted them, and a
// fresh Store that loaded them from the snapshot. Vectors are not kept, so the figure
// should not depend on the dimension; the last column is what the vectors alone used to
// cost.
//
//	go test ./internal/store -run '^$' -bench WriterMemory -benchtime 1x
//	FACESEARCH_BENCH_FACES=1000000 go test ./internal/store -run '^$' -bench WriterMemory -benchtime 1x -timeout 60m
func BenchmarkWriterMemory(b *testing.B) {
	n := envInts(b, "FACESEARCH_BENCH_FACES", "100000")[0]
	dims := envInts(b, "FACESEARCH_BENCH_DIMS", "512,128")
	f := testenv.NewBucket(b, testenv.BucketOptions{Prefix: "bench"})
	ctx := context.Background()
	type row struct {
		dim                           int
		imported, compacted, loaded   float64
		importTime, compactTime, load time.Duration
	}
	var rows []row
	for _, dim := range dims {
		coll := fmt.Sprintf("memory-%d", dim)
		base := liveHeap()
		w := f.Store()
		testenv.CreateCollection(b, w, coll, "bench-1", dim)
		start := time.Now()
		benchFaces(b, w, coll, 0, n, dim)
		r := row{dim: dim, importTime: time.Since(start)}
		r.imported = float64(liveHeap()-base) / float64(n)
		start = time.Now()
		if err := w.Compact(ctx, coll); err != nil {
			b.Fatal(err)
		}
		r.compactTime = time.Since(start)
		r.compacted = float64(liveHeap()-base) / float64(n)
		runtime.KeepAlive(w)
		w = nil //nolint:ineffassign,wastedassign // the next figure is the fresh Store's alone

		base = liveHeap()
		fresh := f.Store()
		start = time.Now()
		d, err := fresh.DescribeCollection(ctx, coll)
		if err != nil || d.FaceCount != int64(n) {
			b.Fatalf("%+v %v", d, err)
		}
		r.load = time.Since(start)
		r.loaded = float64(liveHeap()-base) / float64(n)
		runtime.KeepAlive(fresh)
		rows = append(rows, r)
		b.ReportMetric(r.loaded, fmt.Sprintf("bytes/face-%dd", dim))
		b.ReportMetric(max(r.imported, r.compacted, r.loaded), fmt.Sprintf("peak-bytes/face-%dd", dim))
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nWriter memory, %d faces (live heap after GC / faces)\n\n", n)
	fmt.Fprintln(w, "| dimension | importing writer B/face | after its compaction B/face | fresh writer (snapshot) B/face | x first row | vectors alone B/face | import s | compaction s | snapshot load s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.0f | %.2f | %d | %.1f | %.1f | %.1f |\n", r.dim, r.imported, r.compacted, r.loaded,
			r.loaded/rows[0].loaded, 4*r.dim, r.importTime.Seconds(), r.compactTime.Seconds(), r.load.Seconds())
	}
}

// latencies collects one operation's durations.
type latencies struct {
	d      []time.Duration
	failed int
}

func (l *latencies) percentile(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return percentile(s, p)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkLogCostByCommits measures what a shard's poll (Changes after the generation it
// has: one LIST) and a commit (a writer's catch-up and PUT) cost in a collection that has
// seen 1,000 and 100,000 commits, all compacted: with the markers kept, as compaction used
// to leave them, and after a compaction deleted them (the newest kept). The commits are
// written directly as the markers of a compaction, with an empty snapshot.
//
//	go test ./internal/store -run '^$' -bench LogCostByCommits -benchtime 1x -timeout 30m
func BenchmarkLogCostByCommits(b *testing.B) {
	const logWave = 1000
	counts := envInts(b, "FACESEARCH_BENCH_COMMITS", "1000,100000")
	f := testenv.NewBucket(b, testenv.BucketOptions{Prefix: "bench"})
	ctx := context.Background()
	type row struct {
		commits        int
		markers        string
		keys           int
		poll, commit   latencies
		deleteDuration time.Duration
	}
	var rows []*row
	measure := func(r *row, coll string) {
		follower, w := f.Store(), f.Store()
		if _, err := w.DescribeCollection(ctx, coll); err != nil {
			b.Fatal(err)
		}
		gen := w.KnownGeneration(coll)
		for i := 0; i < 200; i++ {
			start := time.Now()
			changes, err := follower.Changes(ctx, coll, gen, store.LoadVectorsOptions{})
			if err != nil || len(changes) != 0 {
				b.Fatalf("poll: %d changes, %v", len(changes), err)
			}
			r.poll.d = append(r.poll.d, time.Since(start))
		}
		for i := 0; i < 100; i++ {
			start := time.Now()
			if err := w.CreateUser(ctx, coll, fmt.Sprintf("%s-%d", strings.ReplaceAll(r.markers, " ", "-"), i), store.UserOptions{}); err != nil {
				b.Fatal(err)
			}
			r.commit.d = append(r.commit.d, time.Since(start))
		}
		keys := 0
		for o := range f.Client.ListObjects(ctx, f.Name, minio.ListObjectsOptions{Prefix: "bench/collections/" + coll + "/data/", Recursive: true}) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
			if strings.Contains(o.Key, "/log/") {
				keys++
			}
		}
		r.keys = keys
	}
	for _, n := range counts {
		coll := fmt.Sprintf("log-%d", n)
		s := f.Store()
		testenv.CreateCollection(b, s, coll, "bench-1", 16)
		if err := store.FakeCompactedLog(ctx, s, coll, 1, uint64(n), 16); err != nil {
			b.Fatal(err)
		}
		kept := &row{commits: n, markers: "kept"}
		measure(kept, coll)
		time.Sleep(10 * time.Millisecond)
		start := time.Now()
		del := store.New(f.Client, f.Name, f.Prefix, store.Options{MarkerGrace: time.Millisecond})
		if err := del.Compact(ctx, coll); err != nil {
			b.Fatal(err)
		}
		atOnce := &row{commits: n, markers: "deleted at once", deleteDuration: time.Since(start)}
		measure(atOnce, coll)

		// As the product's log evolves: compacted every logWave commits (the controller
		// compacts after 256), so that the log never holds more than a wave of keys. MinIO
		// keeps an object as a directory, and an ext4 directory keeps the size it once had:
		// deleted at once, 100k keys leave a directory that every LIST reads through.
		waves := fmt.Sprintf("log-%d-waves", n)
		testenv.CreateCollection(b, s, waves, "bench-1", 16)
		start = time.Now()
		for from := 1; from <= n; from += logWave {
			if err := store.FakeCompactedLog(ctx, s, waves, uint64(from), uint64(min(from+logWave-1, n)), 16); err != nil {
				b.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			if err := del.Compact(ctx, waves); err != nil {
				b.Fatal(err)
			}
		}
		deleted := &row{commits: n, markers: "deleted", deleteDuration: time.Since(start)}
		measure(deleted, waves)
		rows = append(rows, kept, atOnce, deleted)
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nLog cost by commits ever made (p50 and mean of 200 polls, 100 commits)\n\n")
	fmt.Fprintln(w, "| commits | markers | log keys | poll p50 ms | poll mean ms | commit p50 ms | commit mean ms | deleting them s (waves: with writing them) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	mean := func(l latencies) float64 {
		var t time.Duration
		for _, d := range l.d {
			t += d
		}
		return ms(t) / float64(len(l.d))
	}
	for _, r := range rows {
		del := ""
		if r.markers != "kept" {
			del = fmt.Sprintf("%.1f", r.deleteDuration.Seconds())
		}
		fmt.Fprintf(w, "| %d | %s | %d | %.2f | %.2f | %.2f | %.2f | %s |\n", r.commits, r.markers, r.keys,
			ms(r.poll.percentile(0.5)), mean(r.poll), ms(r.commit.percentile(0.5)), mean(r.commit), del)
	}
	if len(counts) > 1 {
		lo, hi := counts[0], counts[len(counts)-1]
		fmt.Fprintf(w, "\nratio %d/%d commits, same run:\n\n| markers | poll p50 | poll mean | commit p50 | commit mean |\n|---|---|---|---|---|\n", hi, lo)
		for _, m := range []string{"kept", "deleted at once", "deleted"} {
			var a, z *row
			for _, r := range rows {
				if r.markers == m && r.commits == lo {
					a = r
				}
				if r.markers == m && r.commits == hi {
					z = r
				}
			}
			fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f |\n", m, ms(z.poll.percentile(0.5))/ms(a.poll.percentile(0.5)), mean(z.poll)/mean(a.poll),
				ms(z.commit.percentile(0.5))/ms(a.commit.percentile(0.5)), mean(z.commit)/mean(a.commit))
			unit := strings.ReplaceAll(m, " ", "-")
			b.ReportMetric(mean(z.poll)/mean(a.poll), "poll-ratio-"+unit)
			b.ReportMetric(mean(z.commit)/mean(a.commit), "commit-ratio-"+unit)
		}
	}
}

// BenchmarkReadsDuringCompaction measures the store calls a search or a commit makes while
// the same Store compacts the collection, against the same calls without a compaction, in
// one run: AssociateFaces (a commit whose threshold reads the user's vectors by range),
// DisassociateFaces, ListFaces (a page, as the endpoint reads the matches' records),
// FaceVectors (SearchFaces by FaceId) and a shard's catch-up (Changes). The collection has
// faces in a snapshot, 1% of them deleted since and 1% added, so that the compaction
// erases and moves vectors.
//
//	go test ./internal/store -run '^$' -bench ReadsDuringCompaction -benchtime 1x
//	FACESEARCH_BENCH_FACES=1000000 go test ./internal/store -run '^$' -bench ReadsDuringCompaction -benchtime 1x -timeout 60m
func BenchmarkReadsDuringCompaction(b *testing.B) {
	n := envInts(b, "FACESEARCH_BENCH_FACES", "100000")[0]
	idle := time.Duration(envInts(b, "FACESEARCH_BENCH_IDLE", "15")[0]) * time.Second
	rate := int64(store.DefaultCompactionRate)
	if v := os.Getenv("FACESEARCH_BENCH_RATE"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("FACESEARCH_BENCH_RATE=%q", v)
		}
		rate = int64(mib) << 20
	}
	const dim = 512
	f := testenv.NewBucket(b, testenv.BucketOptions{Prefix: "bench"})
	ctx := context.Background()
	w := store.New(f.Client, f.Name, f.Prefix, store.Options{CompactionRate: rate})
	coll := "reads"
	testenv.CreateCollection(b, w, coll, "bench-1", dim)
	ids := benchFaces(b, w, coll, 0, n, dim)
	const users = 100
	zero := float32(0)
	for u := 0; u < users; u++ {
		user := fmt.Sprintf("user-%03d", u)
		if err := w.CreateUser(ctx, coll, user, store.UserOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := w.AssociateFaces(ctx, coll, user, ids[2*u:2*u+2], store.AssociateFacesOptions{UserMatchThreshold: &zero}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Compact(ctx, coll); err != nil {
		b.Fatal(err)
	}
	gone := ids[len(ids)-n/100:]
	for start := 0; start < len(gone); start += store.MaxListResults {
		if _, _, err := w.DeleteFaces(ctx, coll, gone[start:min(start+store.MaxListResults, len(gone))]); err != nil {
			b.Fatal(err)
		}
	}
	live := slices.Concat(ids[:len(ids)-n/100], benchFaces(b, w, coll, n, n/100, dim))
	follower := f.Store()
	if _, err := follower.LoadVectors(ctx, coll, store.LoadVectorsOptions{Shard: 0, Shards: 8}); err != nil {
		b.Fatal(err)
	}

	// The calls, in turn, one at a time.
	names := []string{"AssociateFaces", "DisassociateFaces", "ListFaces", "FaceVectors", "Changes"}
	rng := rand.New(rand.NewPCG(1, 2))
	next, gen, turn := "", w.KnownGeneration(coll), 0
	call := func(op string) error {
		switch op {
		case "AssociateFaces", "DisassociateFaces":
			user := fmt.Sprintf("user-%03d", turn%users)
			face := live[2*users+turn%(len(live)-2*users)]
			if op == "AssociateFaces" {
				_, err := w.AssociateFaces(ctx, coll, user, []string{face}, store.AssociateFacesOptions{UserMatchThreshold: &zero})
				return err
			}
			_, err := w.DisassociateFaces(ctx, coll, user, []string{face}, store.UserOptions{})
			return err
		case "ListFaces":
			recs, nt, err := w.ListFaces(ctx, coll, store.ListFacesOptions{MaxResults: 100, NextToken: next})
			if err == nil && len(recs) == 0 {
				err = fmt.Errorf("an empty page")
			}
			next = nt
			return err
		case "FaceVectors":
			id := live[rng.IntN(len(live))]
			v, err := w.FaceVectors(ctx, coll, []string{id})
			if err == nil && len(v[id]) != dim {
				err = fmt.Errorf("no vector for %s", id)
			}
			return err
		default:
			changes, err := follower.Changes(ctx, coll, gen, store.LoadVectorsOptions{Shard: 0, Shards: 8})
			if len(changes) > 0 {
				gen = changes[len(changes)-1].Generation
			}
			return err
		}
	}
	run := func(until func() bool) map[string]*latencies {
		out := map[string]*latencies{}
		for _, op := range names {
			out[op] = &latencies{}
		}
		for !until() {
			for _, op := range names {
				start := time.Now()
				err := call(op)
				l := out[op]
				if err != nil {
					l.failed++
					b.Logf("%s failed: %v (%s)", op, err, errs.CodeOf(err))
					continue
				}
				l.d = append(l.d, time.Since(start))
				if slowFrom > 0 && time.Since(start) > slowFrom {
					b.Logf("slow %s: %.0f ms at %.0f ms", op, ms(time.Since(start)), ms(start.Sub(slowSince)))
				}
			}
			turn++
		}
		return out
	}
	// The baseline is measured half before and half after the compaction: the machine's
	// other load drifts, and so does the log, which the calls' commits lengthen.
	idleFor := func(d time.Duration) map[string]*latencies {
		deadline := time.Now().Add(d)
		return run(func() bool { return time.Now().After(deadline) })
	}
	without := idleFor(idle / 2)

	var mu sync.Mutex
	compacting, compactErr := true, error(nil)
	start := time.Now()
	var steps []string
	store.SetCompactStep(w, func(step string) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, fmt.Sprintf("%s@%.0fms", step, ms(time.Since(start))))
		return nil
	})
	slowFrom = 4 * without["AssociateFaces"].percentile(0.99)
	defer func() { slowFrom = 0 }()
	slowSince = start
	go func() {
		err := w.Compact(ctx, coll)
		mu.Lock()
		compacting, compactErr = false, err
		mu.Unlock()
	}()
	during := run(func() bool { mu.Lock(); defer mu.Unlock(); return !compacting })
	took := time.Since(start)
	if compactErr != nil {
		b.Fatal(compactErr)
	}
	b.Logf("steps: %v", steps)
	for op, l := range idleFor(idle / 2) {
		without[op].d = append(without[op].d, l.d...)
		without[op].failed += l.failed
	}

	out := os.Stdout
	rateText := "no limit"
	if rate > 0 {
		rateText = fmt.Sprintf("%d MiB/s", rate>>20)
	}
	fmt.Fprintf(out, "\nStore calls during a compaction of %d faces (%d-d) by the same Store at %s (%.1f s), and without it (%.0f s before and after)\n\n",
		n, dim, rateText, took.Seconds(), idle.Seconds())
	printReadsTable(out, names, without, during)
	var all, allDuring latencies
	failed := 0
	for _, op := range names {
		all.d = append(all.d, without[op].d...)
		allDuring.d = append(allDuring.d, during[op].d...)
		failed += without[op].failed + during[op].failed
	}
	b.ReportMetric(ms(allDuring.percentile(0.99))/ms(all.percentile(0.99)), "p99-ratio")
	b.ReportMetric(float64(failed), "failed")
}

// BenchmarkReadsDuringCompaction logs each call slower than slowFrom (four times the
// baseline's p99), with its start since slowSince (the compaction's), next to the times of
// the compaction's steps: what the slow calls waited for.
var (
	slowFrom  time.Duration
	slowSince time.Time
)

func printReadsTable(w io.Writer, names []string, without, during map[string]*latencies) {
	fmt.Fprintln(w, "| call | calls without | calls during | failed | p50 ms without | p50 ms during | x | p99 ms without | p99 ms during | x |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	var a, z latencies
	failed := 0
	for _, op := range names {
		x, y := without[op], during[op]
		a.d, z.d = append(a.d, x.d...), append(z.d, y.d...)
		failed += x.failed + y.failed
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", op, len(x.d), len(y.d), x.failed+y.failed,
			ms(x.percentile(0.5)), ms(y.percentile(0.5)), ms(y.percentile(0.5))/ms(x.percentile(0.5)),
			ms(x.percentile(0.99)), ms(y.percentile(0.99)), ms(y.percentile(0.99))/ms(x.percentile(0.99)))
	}
	fmt.Fprintf(w, "| all | %d | %d | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", len(a.d), len(z.d), failed,
		ms(a.percentile(0.5)), ms(z.percentile(0.5)), ms(z.percentile(0.5))/ms(a.percentile(0.5)),
		ms(a.percentile(0.99)), ms(z.percentile(0.99)), ms(z.percentile(0.99))/ms(a.percentile(0.99)))
}
