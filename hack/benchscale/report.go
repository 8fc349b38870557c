package main

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The targets of issue 14.
const (
	maxWriterBytesPerFace  = 400  // writer live heap per face, any dimension
	downloadTolerance      = 0.10 // a shard's download within 10% of its share
	maxLoadSeconds         = 2.7  // 1M x 512 from MinIO to a ready shard, one shard
	maxLoadRatio           = 0.35 // "about a quarter": time for N=4 / time for N=1
	maxShardBytesPerVector = 1700 // shard memory per 512-d vector (1.7 KB)
	minRecall              = 0.99 // recall@10 against the exact float32 top-10
	maxCompactionP99Ratio  = 1.5  // p99 during a compaction / p99 without
	maxLogCostRatio        = 1.5  // poll or commit cost at the most commits / at the fewest
)

// BenchmarkBulkEnrol's metrics (b.ReportMetric units): its rate, and whether every photo was
// enrolled exactly once after the kill in the middle (1 yes, anything else no).
const (
	bulkRateUnit = "photos/s/core"
	bulkOnceUnit = "exactly-once"
)

// Row is one line of the table.
type Row struct {
	Target, Measured, Baseline string
	Pass                       bool
}

// unavailable is a target that could not be measured: a failure.
func unavailable(target, why string) Row {
	return Row{Target: target, Measured: "not available: " + why, Baseline: "-"}
}

// printTable writes the rows as one Markdown table, then the line "N passed, N failed" (the
// last line of the output), and returns how many failed.
func printTable(w io.Writer, rows []Row) int {
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }
	fmt.Fprintln(w, "| target | measured | baseline / ratio | result |")
	fmt.Fprintln(w, "|---|---|---|---|")
	failed := 0
	for _, r := range rows {
		result := "pass"
		if !r.Pass {
			result, failed = "**FAIL**", failed+1
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", cell(r.Target), cell(r.Measured), cell(r.Baseline), result)
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", len(rows)-failed, failed)
	return failed
}

// benchResult is one result line of `go test -bench` output: the benchmark's name without its
// -GOMAXPROCS suffix, and its metrics by unit (ns/op included).
type benchResult struct {
	Name    string
	Metrics map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads the result lines of `go test -bench` output. A benchmark that prints
// while it runs gets its name on a line of its own and its figures on a later line, which
// start with the iteration count; everything else is ignored.
func parseBench(out string) []benchResult {
	var res []benchResult
	pending := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := ""
		if strings.HasPrefix(f[0], "Benchmark") {
			name, f = procsSuffix.ReplaceAllString(f[0], ""), f[1:]
			if len(f) == 0 {
				pending = name
				continue
			}
		} else if pending != "" {
			name = pending
		} else {
			continue
		}
		if m, ok := parseMetrics(f); ok {
			res = append(res, benchResult{Name: name, Metrics: m})
			pending = ""
		}
	}
	return res
}

// parseMetrics reads "<iterations> <value> <unit> <value> <unit>...", which has ns/op.
func parseMetrics(f []string) (map[string]float64, bool) {
	if len(f) < 3 || len(f)%2 == 0 {
		return nil, false
	}
	if _, err := strconv.Atoi(f[0]); err != nil {
		return nil, false
	}
	m := map[string]float64{}
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, false
		}
		m[f[i+1]] = v
	}
	_, ok := m["ns/op"]
	return m, ok
}

// metric is the first value of unit among the results.
func metric(res []benchResult, unit string) (float64, bool) {
	for _, r := range res {
		if v, ok := r.Metrics[unit]; ok {
			return v, true
		}
	}
	return 0, false
}

// count writes n as 20k, 1M, 2.5M, or as is.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func gb(b int64) string { return fmt.Sprintf("%.3f GB", float64(b)/1e9) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// benchFailure says why a go test benchmark gave no figure: its error, or a missing metric.
func benchFailure(err error, unit string) string {
	if err != nil {
		return err.Error()
	}
	return "no " + unit + " metric in the benchmark's output"
}

// writerRows: writer memory per face at one size, for each dimension, from
// BenchmarkWriterMemory.
func writerRows(faces int, dims []int, res []benchResult, err error) []Row {
	var rows []Row
	for _, dim := range dims {
		target := fmt.Sprintf("writer memory per face, %s faces x %d-d <= %d B", count(faces), dim, maxWriterBytesPerFace)
		unit := fmt.Sprintf("peak-bytes/face-%dd", dim)
		what := "live heap after GC, the most of the importing writer, after its compaction, and a fresh writer"
		v, ok := metric(res, unit)
		if !ok {
			// A benchmark from before the peak metric reports the fresh writer only.
			unit = fmt.Sprintf("bytes/face-%dd", dim)
			what = "live heap after GC, a fresh writer loaded from the snapshot"
			v, ok = metric(res, unit)
		}
		if err != nil || !ok {
			rows = append(rows, unavailable(target, benchFailure(err, unit)))
			continue
		}
		fresh, _ := metric(res, fmt.Sprintf("bytes/face-%dd", dim))
		rows = append(rows, Row{
			Target:   target,
			Measured: fmt.Sprintf("%.0f B/face (%s)", v, what),
			Baseline: fmt.Sprintf("fresh writer %.0f B/face; the vectors alone would be %d B/face", fresh, 4*dim),
			Pass:     v <= maxWriterBytesPerFace,
		})
	}
	return rows
}

// shardLoad is what one shard downloaded at its load.
type shardLoad struct {
	Shard, Vectors  int
	Bytes, Requests int64
}

// downloadRow: every shard of N downloads its share of the collection's shard data (the
// snapshot's objects less the writer's records), in proportion to the faces it holds, within
// downloadTolerance; and the shards together hold every face once.
func downloadRow(n int, loads []shardLoad, shardData int64, faces int, err error) Row {
	target := fmt.Sprintf("bytes each shard downloads at load = its share (within %.0f%%), N = %d", 100*downloadTolerance, n)
	if err != nil {
		return unavailable(target, err.Error())
	}
	if len(loads) != n || shardData <= 0 || faces <= 0 {
		return unavailable(target, fmt.Sprintf("%d of %d shards loaded", len(loads), n))
	}
	var ratios []string
	var total int64
	vectors, pass := 0, true
	for _, l := range loads {
		want := float64(shardData) * float64(l.Vectors) / float64(faces)
		r := math.Inf(1)
		if want > 0 {
			r = float64(l.Bytes) / want
		}
		pass = pass && math.Abs(r-1) <= downloadTolerance
		ratios = append(ratios, fmt.Sprintf("%.2f", r))
		total += l.Bytes
		vectors += l.Vectors
	}
	measured := fmt.Sprintf("x share per shard: %s (%s in all, %d vectors)", strings.Join(ratios, ", "), gb(total), vectors)
	if vectors != faces {
		pass = false
		measured += fmt.Sprintf("; the shards hold %d faces, not %d", vectors, faces)
	}
	return Row{
		Target:   target,
		Measured: measured,
		Baseline: fmt.Sprintf("share = %s x the shard's faces / %d (snapshot less the writer's records); %s per shard if even", gb(shardData), faces, gb(shardData/int64(n))),
		Pass:     pass,
	}
}

// loadTimes are the load measurements (each the best of the repetitions).
type loadTimes struct {
	One        time.Duration // N=1
	Alone      time.Duration // N=4: the slowest shard, each loaded alone
	Concurrent time.Duration // N=4: the four loaded at once, wall time
}

// loadRows: N=1 against the fixed target, and N=4 / N=1 in the same run. The N=4 time judged
// is the slowest shard loaded alone (a pod on a node of its own), unless concurrent: the four
// at once on this machine share its cores and MinIO with each other.
func loadRows(faces, dim int, shardData int64, t loadTimes, concurrent bool, err error) []Row {
	t1 := fmt.Sprintf("%s x %d from MinIO to a ready shard, one shard <= %.1f s", count(faces), dim, maxLoadSeconds)
	t4 := fmt.Sprintf("load time N=4 / N=1 <= %.2f (same run)", maxLoadRatio)
	if err != nil || t.One <= 0 {
		why := "no measurement"
		if err != nil {
			why = err.Error()
		}
		return []Row{unavailable(t1, why), unavailable(t4, why)}
	}
	four, how := t.Alone, "slowest of the 4 shards, each loaded alone"
	if concurrent {
		four, how = t.Concurrent, "the 4 shards loaded at once, wall time"
	}
	ratio := four.Seconds() / t.One.Seconds()
	return []Row{
		{Target: t1, Measured: secs(t.One), Baseline: fmt.Sprintf("%.2f GB/s of shard data", float64(shardData)/t.One.Seconds()/1e9), Pass: t.One.Seconds() <= maxLoadSeconds},
		{Target: t4, Measured: fmt.Sprintf("%.2f (%s: %s)", ratio, how, secs(four)),
			Baseline: fmt.Sprintf("N=1 %s; N=4 each alone %s, all at once %s", secs(t.One), secs(t.Alone), secs(t.Concurrent)), Pass: ratio <= maxLoadRatio},
	}
}

// shardMemory is the memory child's answer.
type shardMemory struct {
	Vectors       int
	HeapBytes     int64 // live heap after GC, after the load less before
	RSSBytes      int64 // VmRSS after returning free memory to the OS, after less before
	Load          time.Duration
	Recall        float64
	Queries, Hits int
}

// memoryRows: shard memory per vector (live heap) and recall@10.
func memoryRows(faces, dim int, m shardMemory, err error) []Row {
	mem := fmt.Sprintf("shard memory per %d-d vector, %s vectors in one shard <= %.1f KB", dim, count(faces), maxShardBytesPerVector/1000.0)
	rec := fmt.Sprintf("recall@10 of that shard vs exact float32 search >= %.2f", minRecall)
	if err != nil || m.Vectors == 0 {
		why := "the shard loaded no vectors"
		if err != nil {
			why = err.Error()
		}
		return []Row{unavailable(mem, why), unavailable(rec, why)}
	}
	per := float64(m.HeapBytes) / float64(m.Vectors)
	return []Row{
		{Target: mem, Measured: fmt.Sprintf("%.0f B/vector (live heap after GC, fresh process)", per),
			Baseline: fmt.Sprintf("RSS %.0f B/vector; float32 alone %d B; loaded in %s", float64(m.RSSBytes)/float64(m.Vectors), 4*dim, secs(m.Load)),
			Pass:     per <= maxShardBytesPerVector},
		{Target: rec, Measured: fmt.Sprintf("%.4f", m.Recall),
			Baseline: fmt.Sprintf("%d of %d of the exact top-10 over %d queries", m.Hits, 10*m.Queries, m.Queries), Pass: m.Queries > 0 && m.Recall >= minRecall},
	}
}

// compactionRows: from BenchmarkReadsDuringCompaction.
func compactionRows(faces int, res []benchResult, err error) []Row {
	p99 := fmt.Sprintf("search p99 during a compaction of %s faces / without <= %.1f", count(faces), maxCompactionP99Ratio)
	fail := "no request fails during that benchmark"
	var rows []Row
	if v, ok := metric(res, "p99-ratio"); ok && err == nil {
		rows = append(rows, Row{Target: p99, Measured: fmt.Sprintf("%.2f", v), Baseline: "store calls of searches and commits, one at a time, same run", Pass: v <= maxCompactionP99Ratio})
	} else {
		rows = append(rows, unavailable(p99, benchFailure(err, "p99-ratio")))
	}
	if v, ok := metric(res, "failed"); ok && err == nil {
		rows = append(rows, Row{Target: fail, Measured: fmt.Sprintf("%.0f failed", v), Baseline: "-", Pass: v == 0})
	} else {
		rows = append(rows, unavailable(fail, benchFailure(err, "failed")))
	}
	return rows
}

// logRows: from BenchmarkLogCostByCommits, the state compaction leaves now (markers deleted);
// the markers kept, as compaction used to leave them, is the baseline.
func logRows(lo, hi int, res []benchResult, err error) []Row {
	var rows []Row
	for _, op := range []string{"poll", "commit"} {
		what := "a shard's poll"
		if op == "commit" {
			what = "a commit"
		}
		target := fmt.Sprintf("cost of %s at %s / at %s commits ever made <= %.1f", what, count(hi), count(lo), maxLogCostRatio)
		unit := op + "-ratio-deleted"
		v, ok := metric(res, unit)
		if err != nil || !ok {
			rows = append(rows, unavailable(target, benchFailure(err, unit)))
			continue
		}
		var base []string
		if k, ok := metric(res, op+"-ratio-kept"); ok {
			base = append(base, fmt.Sprintf("%.2f with the compacted markers kept (the old layout)", k))
		}
		if k, ok := metric(res, op+"-ratio-deleted-at-once"); ok {
			base = append(base, fmt.Sprintf("%.2f with all the markers deleted by one compaction (a directory of MinIO's once that large stays so on ext4)", k))
		}
		if len(base) == 0 {
			base = []string{"-"}
		}
		rows = append(rows, Row{Target: target, Measured: fmt.Sprintf("%.2f (mean; compacted keys deleted, compacted every 1,000 commits)", v), Baseline: strings.Join(base, "; "), Pass: v <= maxLogCostRatio})
	}
	return rows
}

// bulkRows: from BenchmarkBulkEnrol, every result line that reports its metrics.
func bulkRows(photos int, pkg string, res []benchResult, err error) []Row {
	rate := fmt.Sprintf("bulk enrolment of %s photos: photos per second per core", count(photos))
	once := fmt.Sprintf("bulk enrolment of %s photos killed in the middle: each photo enrolled exactly once", count(photos))
	if err != nil {
		return []Row{unavailable(rate, err.Error()), unavailable(once, err.Error())}
	}
	var rows []Row
	for _, r := range res {
		if v, ok := r.Metrics[bulkRateUnit]; ok {
			m := fmt.Sprintf("%.2f photos/s/core (wall clock)", v)
			if cpu, ok := r.Metrics["photos/cpu-s"]; ok {
				m += fmt.Sprintf("; %.2f photos per CPU-second of the worker", cpu)
			}
			rows = append(rows, Row{Target: rate, Measured: m, Baseline: r.Name + " in " + pkg, Pass: v > 0})
		}
	}
	if len(rows) == 0 {
		rows = append(rows, unavailable(rate, "no "+bulkRateUnit+" metric from BenchmarkBulkEnrol in "+pkg))
	}
	var names []string
	pass, seen := true, false
	for _, r := range res {
		if v, ok := r.Metrics[bulkOnceUnit]; ok {
			seen, pass = true, pass && v == 1
			names = append(names, fmt.Sprintf("%s: %g", r.Name, v))
		}
	}
	if !seen {
		return append(rows, unavailable(once, "no "+bulkOnceUnit+" metric from BenchmarkBulkEnrol in "+pkg))
	}
	slices.Sort(names)
	return append(rows, Row{Target: once, Measured: strings.Join(names, "; "), Baseline: bulkOnceUnit + " = 1: yes", Pass: pass})
}
