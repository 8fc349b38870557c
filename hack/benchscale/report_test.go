package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// Output as go test -bench prints it: a result on the name's line, and one whose benchmark
// printed meanwhile, so that its figures come on a later line.
const benchOutput = `
Writer memory, 2000 faces (live heap after GC / faces)

| dimension | importing writer B/face | after its compaction B/face |
|---|---|---|
| 512 | 319 | 326 |
goos: linux
pkg: github.com/facesearch/facesearch-operator/internal/store
BenchmarkWriterMemory-2   	       1	1058811914 ns/op	       294.5 bytes/face-128d	       295.4 bytes/face-512d	       326.0 peak-bytes/face-512d	  301 peak-bytes/face-128d
BenchmarkBulkEnrol/killed-2         
some log line | 3 | 4 |
       1	2000000000 ns/op	         1.000 exactly-once	        12.50 photos/s/core
BenchmarkBroken-2   	--- FAIL: BenchmarkBroken-2
PASS
ok  	github.com/facesearch/facesearch-operator/internal/store	1.155s
`

func TestParseBench(t *testing.T) {
	res := parseBench(benchOutput)
	if len(res) != 2 {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	if res[0].Name != "BenchmarkWriterMemory" || res[0].Metrics["bytes/face-512d"] != 295.4 || res[0].Metrics["peak-bytes/face-128d"] != 301 {
		t.Errorf("first: %+v", res[0])
	}
	if res[1].Name != "BenchmarkBulkEnrol/killed" || res[1].Metrics[bulkRateUnit] != 12.5 || res[1].Metrics[bulkOnceUnit] != 1 {
		t.Errorf("second: %+v", res[1])
	}
	if v, ok := metric(res, "photos/s/core"); !ok || v != 12.5 {
		t.Errorf("metric: %v %v", v, ok)
	}
}

func TestWriterRows(t *testing.T) {
	res := parseBench(benchOutput)
	rows := writerRows(1000000, []int{512, 128}, res, nil)
	if len(rows) != 2 || !rows[0].Pass || !strings.HasPrefix(rows[0].Measured, "326 B/face") || !strings.Contains(rows[0].Target, "1M faces x 512-d") {
		t.Fatalf("%+v", rows)
	}
	// Over the target, and a figure missing: both fail.
	over := []benchResult{{Name: "BenchmarkWriterMemory", Metrics: map[string]float64{"ns/op": 1, "bytes/face-512d": 401}}}
	rows = writerRows(5000000, []int{512, 128}, over, nil)
	if rows[0].Pass || !strings.Contains(rows[0].Measured, "fresh writer") || rows[1].Pass || !strings.HasPrefix(rows[1].Measured, "not available") {
		t.Fatalf("%+v", rows)
	}
	if rows := writerRows(1000, []int{512}, res, errors.New("exit status 1")); rows[0].Pass {
		t.Fatal("a failed benchmark passed")
	}
}

func TestDownloadRow(t *testing.T) {
	// 1000 bytes of shard data for 100 faces: shard i should read 10 bytes per face it holds.
	ok := []shardLoad{{Shard: 0, Vectors: 60, Bytes: 630}, {Shard: 1, Vectors: 40, Bytes: 370}}
	if r := downloadRow(2, ok, 1000, 100, nil); !r.Pass {
		t.Fatalf("within 10%%: %+v", r)
	}
	// Every shard reads everything (the old layout): twice its share.
	whole := []shardLoad{{Shard: 0, Vectors: 50, Bytes: 1000}, {Shard: 1, Vectors: 50, Bytes: 1000}}
	if r := downloadRow(2, whole, 1000, 100, nil); r.Pass {
		t.Fatalf("twice the share passed: %+v", r)
	}
	// Shares right, but a face lost.
	lost := []shardLoad{{Shard: 0, Vectors: 50, Bytes: 500}, {Shard: 1, Vectors: 49, Bytes: 490}}
	if r := downloadRow(2, lost, 1000, 100, nil); r.Pass || !strings.Contains(r.Measured, "not 100") {
		t.Fatalf("a lost face passed: %+v", r)
	}
	if r := downloadRow(4, ok, 1000, 100, nil); r.Pass {
		t.Fatal("2 shards of 4 passed")
	}
	if r := downloadRow(1, nil, 0, 100, errors.New("no MinIO")); r.Pass || !strings.Contains(r.Measured, "no MinIO") {
		t.Fatalf("%+v", r)
	}
}

func TestLoadRows(t *testing.T) {
	tm := loadTimes{One: 2 * time.Second, Alone: 600 * time.Millisecond, Concurrent: 1900 * time.Millisecond}
	rows := loadRows(1000000, 512, 2e9, tm, false, nil)
	if !rows[0].Pass || !rows[1].Pass || !strings.HasPrefix(rows[1].Measured, "0.30") {
		t.Fatalf("%+v", rows)
	}
	// Judged by the loads at once, 0.95 fails; so does a slow N=1.
	if rows := loadRows(1000000, 512, 2e9, tm, true, nil); rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	tm.One = 3 * time.Second
	if rows := loadRows(1000000, 512, 2e9, tm, false, nil); rows[0].Pass {
		t.Fatalf("%+v", rows)
	}
	if rows := loadRows(1000000, 512, 2e9, loadTimes{}, false, nil); rows[0].Pass || rows[1].Pass {
		t.Fatal("no measurement passed")
	}
}

func TestMemoryRows(t *testing.T) {
	m := shardMemory{Vectors: 1000, HeapBytes: 1_650_000, RSSBytes: 1_800_000, Queries: 10, Hits: 99, Recall: 0.99}
	if rows := memoryRows(1000, 512, m, nil); !rows[0].Pass || !rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	m.HeapBytes, m.Hits, m.Recall = 2_600_000, 98, 0.98
	if rows := memoryRows(1000, 512, m, nil); rows[0].Pass || rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
}

func TestStoreBenchRows(t *testing.T) {
	res := []benchResult{{Name: "B", Metrics: map[string]float64{"ns/op": 1, "p99-ratio": 1.4, "failed": 0,
		"poll-ratio-kept": 12, "poll-ratio-deleted": 1.3, "commit-ratio-kept": 8}}}
	if rows := compactionRows(1000000, res, nil); !rows[0].Pass || !rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	res[0].Metrics["failed"] = 1
	if rows := compactionRows(1000000, res, nil); rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	rows := logRows(1000, 100000, res, nil)
	if !rows[0].Pass || !strings.Contains(rows[0].Baseline, "12.00") || rows[1].Pass {
		t.Fatalf("the poll passes, the commit has no figure: %+v", rows)
	}
	if !strings.Contains(rows[0].Target, "100k / at 1k") {
		t.Fatalf("%q", rows[0].Target)
	}
}

func TestBulkRows(t *testing.T) {
	res := parseBench(benchOutput)
	rows := bulkRows(10000, "./internal/bulk", res, nil)
	if len(rows) != 2 || !rows[0].Pass || !rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	res[1].Metrics[bulkOnceUnit] = 0
	if rows := bulkRows(10000, "./internal/bulk", res, nil); rows[1].Pass {
		t.Fatalf("%+v", rows)
	}
	rows = bulkRows(10000, "./internal/bulk", nil, errors.New("package ./internal/bulk is not in this tree"))
	if rows[0].Pass || rows[1].Pass || !strings.HasPrefix(rows[0].Measured, "not available") {
		t.Fatalf("%+v", rows)
	}
}

func TestPrintTable(t *testing.T) {
	var b strings.Builder
	failed := printTable(&b, []Row{{Target: "a | b", Measured: "1", Baseline: "-", Pass: true}, unavailable("c", "why")})
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if failed != 1 || lines[len(lines)-1] != "1 passed, 1 failed" || !strings.Contains(out, `| a \| b | 1 | - | pass |`) ||
		!strings.Contains(out, "| c | not available: why | - | **FAIL** |") {
		t.Fatalf("%d failed:\n%s", failed, out)
	}
}

func TestQuickKeepsExplicitFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := parseFlags(fs, []string{"-quick", "-faces", "30000", "-only", "shards,log"})
	if err != nil {
		t.Fatal(err)
	}
	if c.faces != 30000 || c.writerFaces[0] != 20000 || c.commits[1] != 1000 || !c.only["shards"] || c.only["writer"] {
		t.Fatalf("%+v", c)
	}
	if _, err := parseFlags(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-only", "nope"}); err == nil {
		t.Fatal("an unknown phase was taken")
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{20000: "20k", 1000000: "1M", 5000000: "5M", 2500000: "2.5M", 1234: "1234", 100000: "100k"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
