// Command benchscale measures the targets of issue 14 (a collection of millions of faces) in
// one run and prints one Markdown table, target | measured | baseline / ratio | result, then
// the line "N passed, N failed"; it exits 1 if any target failed or could not be measured.
// Ratios are measured in the same run. Progress, the wall time of each phase and the
// benchmarks' own tables go to standard error.
//
//	make bench-scale                            # the sizes
//	make bench-scale BENCH_SCALE_ARGS=-quick    # small sizes, to check the harness (a few minutes)
//	go run ./hack/benchscale -quick -only shards,log
//
// Phases, one heavy thing at a time:
//
//   - writer: internal/store's BenchmarkWriterMemory in a go test process per size;
//   - shards: a collection written to a MinIO of this run's own and compacted, then what each
//     shard of N = 1, 2, 4 downloads (through a counting proxy), the shard's memory and
//     recall@10 (a fresh child process), and load times (another);
//   - compaction: internal/store's BenchmarkReadsDuringCompaction;
//   - log: internal/store's BenchmarkLogCostByCommits;
//   - bulk: BenchmarkBulkEnrol of bulkEnrolPackage.
//
// Every process it starts keeps its files under one temporary directory, removed at the end
// or on an interrupt.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/facesearch/facesearch-operator/internal/index/benchdata"
)

// bulkEnrolPackage holds BenchmarkBulkEnrol (env FACESEARCH_BENCH_PHOTOS; its metrics are
// bulkRateUnit and bulkOnceUnit). Change it here if the package lands elsewhere.
const bulkEnrolPackage = "./internal/bulk"

// storePackage holds the store's scale benchmarks.
const storePackage = "./internal/store"

var phases = []string{"writer", "shards", "compaction", "log", "bulk"}

type config struct {
	writerFaces, writerDims  []int
	faces, dim, queries      int
	loadReps                 int
	concurrent               bool
	compactionFaces, idleSec int
	commits                  []int
	photos                   int
	bulkPkg, timeout         string
	quick                    bool
	only                     map[string]bool
	args                     []string
}

// quickValues are -quick's sizes, for the flags not given.
var quickValues = map[string]string{
	"writer-faces": "20000", "faces": "20000", "queries": "50", "load-reps": "1",
	"compaction-faces": "20000", "compaction-idle": "4", "commits": "100,1000", "photos": "200",
}

func parseFlags(fs *flag.FlagSet, args []string) (*config, error) {
	writerFaces := fs.String("writer-faces", "1000000,5000000", "faces of the writer-memory measurements, one go test process each")
	writerDims := fs.String("writer-dims", "512,128", "dimensions of the writer-memory measurements")
	faces := fs.Int("faces", 1000000, "faces of the collection the shards load")
	dim := fs.Int("dim", 512, "dimension of that collection")
	queries := fs.Int("queries", 200, "queries of the recall@10 measurement")
	loadReps := fs.Int("load-reps", 2, "repetitions of each load timing (the best counts)")
	concurrent := fs.Bool("load-concurrent", false, "judge N=4 by the 4 shards loaded at once (wall time) rather than by the slowest shard loaded alone")
	compactionFaces := fs.Int("compaction-faces", 1000000, "faces of the search-during-compaction measurement")
	idle := fs.Int("compaction-idle", 15, "seconds of calls without a compaction, half before and half after it")
	commits := fs.String("commits", "1000,100000", "commit counts of the log-cost measurement: the fewest and the most")
	photos := fs.Int("photos", 10000, "photos of the bulk enrolment")
	bulkPkg := fs.String("bulk-pkg", bulkEnrolPackage, "package of BenchmarkBulkEnrol")
	timeout := fs.String("timeout", "3h", "go test -timeout of each benchmark process")
	only := fs.String("only", strings.Join(phases, ","), "phases to run: "+strings.Join(phases, ","))
	quick := fs.Bool("quick", false, "small sizes (20k faces, 100/1000 commits, 200 photos) for the flags not given: checks the harness, not the targets")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quickValues {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	c := &config{faces: *faces, dim: *dim, queries: *queries, loadReps: *loadReps, concurrent: *concurrent,
		compactionFaces: *compactionFaces, idleSec: *idle, photos: *photos, bulkPkg: *bulkPkg, timeout: *timeout,
		quick: *quick, only: map[string]bool{}, args: args}
	var err error
	if c.writerFaces, err = ints(*writerFaces); err != nil {
		return nil, fmt.Errorf("-writer-faces: %w", err)
	}
	if c.writerDims, err = ints(*writerDims); err != nil {
		return nil, fmt.Errorf("-writer-dims: %w", err)
	}
	if c.commits, err = ints(*commits); err != nil {
		return nil, fmt.Errorf("-commits: %w", err)
	}
	if len(c.commits) != 2 {
		return nil, fmt.Errorf("-commits %q: want two counts, the fewest and the most", *commits)
	}
	for _, p := range strings.Split(*only, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(phases, p) {
			return nil, fmt.Errorf("-only: unknown phase %q (phases: %s)", p, strings.Join(phases, ","))
		}
		c.only[p] = true
	}
	if c.faces <= 0 || c.dim <= 0 || c.queries <= 0 || c.compactionFaces <= 0 || c.photos <= 0 {
		return nil, errors.New("sizes must be positive")
	}
	return c, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func main() {
	child := flag.String("child", "", "internal: run one measurement of the shard phase (memory, load) in this process")
	childInputPath := flag.String("child-input", "", "internal: the child's input file")
	flag.CommandLine.Init(os.Args[0], flag.ContinueOnError)
	// The child flags are read first; the rest are the measurement's.
	args := os.Args[1:]
	if len(args) > 0 && strings.HasPrefix(args[0], "-child") {
		if err := flag.CommandLine.Parse(args); err != nil {
			os.Exit(2)
		}
		if err := runChild(context.Background(), *child, *childInputPath); err != nil {
			fmt.Fprintln(os.Stderr, "benchscale child:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(flag.NewFlagSet(os.Args[0], flag.ContinueOnError), args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchscale:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	work, err := os.MkdirTemp("", "facesearch-benchscale-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
	h := &harness{cfg: cfg, work: work}
	rows, times := h.run(ctx)
	interrupted := ctx.Err() != nil
	stop()
	os.RemoveAll(work)
	fmt.Printf("Scale benchmarks (issue 14): `go run ./hack/benchscale %s` on %s, %s/%s, GOMAXPROCS=%d, %s; took %s (%s).\n",
		strings.Join(cfg.args, " "), time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), benchdata.CPUModel(),
		time.Since(h.start).Round(time.Second), strings.Join(times, ", "))
	if cfg.quick {
		fmt.Printf("-quick: sizes far below the issue's; this checks the harness, not the targets.\n")
	}
	fmt.Println()
	failed := printTable(os.Stdout, rows)
	if failed > 0 || interrupted {
		os.Exit(1)
	}
}

type harness struct {
	cfg   *config
	work  string
	start time.Time
}

// run runs the phases in turn and returns the rows and each phase's wall time.
func (h *harness) run(ctx context.Context) ([]Row, []string) {
	h.start = time.Now()
	var rows []Row
	var times []string
	phase := func(name string, fn func() []Row) {
		if !h.cfg.only[name] {
			return
		}
		if ctx.Err() != nil {
			rows = append(rows, unavailable("phase "+name, "interrupted"))
			return
		}
		logf("== %s", name)
		start := time.Now()
		rows = append(rows, fn()...)
		times = append(times, fmt.Sprintf("%s %s", name, time.Since(start).Round(time.Second)))
		logf("== %s: %s", name, time.Since(start).Round(100*time.Millisecond))
	}
	phase("writer", func() []Row { return h.writer(ctx) })
	phase("shards", func() []Row { return h.shards(ctx) })
	phase("compaction", func() []Row { return h.compaction(ctx) })
	phase("log", func() []Row { return h.logCost(ctx) })
	phase("bulk", func() []Row { return h.bulk(ctx) })
	return rows, times
}

// command runs in a process group of its own, with TMPDIR under the work directory: an
// interrupt kills the whole group (a go test process, its test binary, the MinIO it started)
// and the files they leave go with the work directory.
func (h *harness) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+h.work), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Stderr = os.Stderr
	return cmd
}

// goBench runs one benchmark once in pkg with env, its output also on standard error, and
// returns its result lines.
func (h *harness) goBench(ctx context.Context, pkg, name string, env ...string) ([]benchResult, error) {
	var out bytes.Buffer
	cmd := h.command(ctx, env, "go", "test", "-run", "^$", "-bench", "^Benchmark"+name+"$", "-benchtime", "1x", "-timeout", h.cfg.timeout, pkg)
	cmd.Stdout = io.MultiWriter(os.Stderr, &out)
	logf("  %s %s", strings.Join(env, " "), strings.Join(cmd.Args, " "))
	err := cmd.Run()
	res := parseBench(out.String())
	if err != nil {
		return res, fmt.Errorf("go test %s -bench %s: %w", pkg, name, err)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("go test %s -bench %s printed no result", pkg, name)
	}
	return res, nil
}

// writer measures each size and dimension in a go test process (and MinIO) of its own: the
// figure is the live heap of a fresh process, and the disk of one size goes before the next.
func (h *harness) writer(ctx context.Context) []Row {
	var rows []Row
	for _, n := range h.cfg.writerFaces {
		for _, dim := range h.cfg.writerDims {
			res, err := h.goBench(ctx, storePackage, "WriterMemory", "FACESEARCH_BENCH_FACES="+strconv.Itoa(n), "FACESEARCH_BENCH_DIMS="+strconv.Itoa(dim))
			rows = append(rows, writerRows(n, []int{dim}, res, err)...)
		}
	}
	return rows
}

func (h *harness) shards(ctx context.Context) []Row {
	c := h.cfg
	all := func(err error) []Row {
		var rows []Row
		for _, n := range []int{1, 2, 4} {
			rows = append(rows, downloadRow(n, nil, 0, c.faces, err))
		}
		return slices.Concat(rows, loadRows(c.faces, c.dim, 0, loadTimes{}, c.concurrent, err), memoryRows(c.faces, c.dim, shardMemory{}, err))
	}
	start := time.Now()
	coll, err := writeCollection(ctx, filepath.Join(h.work, "shards"), c.faces, c.dim, c.queries)
	if coll != nil {
		defer coll.stop()
	}
	if err != nil {
		return all(fmt.Errorf("writing the collection: %w", err))
	}
	logf("  collection of %d x %d written and compacted in %s", c.faces, c.dim, secs(time.Since(start)))

	var rows []Row
	for _, n := range []int{1, 2, 4} {
		loads, err := coll.downloads(ctx, n)
		rows = append(rows, downloadRow(n, loads, coll.shardData, c.faces, err))
	}

	input := filepath.Join(h.work, "child-input.json")
	raw, err := json.Marshal(childInput{Conn: coll.conn, Queries: coll.queries, Truth: coll.truth, Reps: c.loadReps})
	if err == nil {
		err = os.WriteFile(input, raw, 0o600)
	}
	var times loadTimes
	var mem shardMemory
	loadErr, memErr := err, err
	if err == nil {
		logf("  shard memory and recall, in a fresh process")
		memErr = h.child(ctx, "memory", input, &mem)
		logf("  load times, in a fresh process")
		loadErr = h.child(ctx, "load", input, &times)
	}
	rows = append(rows, loadRows(c.faces, c.dim, coll.shardData, times, c.concurrent, loadErr)...)
	return append(rows, memoryRows(c.faces, c.dim, mem, memErr)...)
}

// child runs this program again as a child of the given mode and decodes its answer.
func (h *harness) child(ctx context.Context, mode, input string, out any) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	cmd := h.command(ctx, nil, self, "-child", mode, "-child-input", input)
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child %s: %w", mode, err)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("child %s answered %q: %w", mode, stdout.String(), err)
	}
	return nil
}

func (h *harness) compaction(ctx context.Context) []Row {
	res, err := h.goBench(ctx, storePackage, "ReadsDuringCompaction",
		"FACESEARCH_BENCH_FACES="+strconv.Itoa(h.cfg.compactionFaces), "FACESEARCH_BENCH_IDLE="+strconv.Itoa(h.cfg.idleSec))
	return compactionRows(h.cfg.compactionFaces, res, err)
}

func (h *harness) logCost(ctx context.Context) []Row {
	lo, hi := h.cfg.commits[0], h.cfg.commits[1]
	res, err := h.goBench(ctx, storePackage, "LogCostByCommits", fmt.Sprintf("FACESEARCH_BENCH_COMMITS=%d,%d", lo, hi))
	return logRows(lo, hi, res, err)
}

func (h *harness) bulk(ctx context.Context) []Row {
	pkg := h.cfg.bulkPkg
	if st, err := os.Stat(pkg); err != nil || !st.IsDir() {
		return bulkRows(h.cfg.photos, pkg, nil, fmt.Errorf("package %s is not in this tree (bulkEnrolPackage in hack/benchscale)", pkg))
	}
	res, err := h.goBench(ctx, pkg, "BulkEnrol", "FACESEARCH_BENCH_PHOTOS="+strconv.Itoa(h.cfg.photos))
	return bulkRows(h.cfg.photos, pkg, res, err)
}
