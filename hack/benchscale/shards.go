package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/index/benchdata"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// The shard measurements use only the entry points that outlive the store and shard
// rewrites of issue 14: store.Open, ImportFaces, Compact, index.NewShard with Shard and
// Shards, Load, Len and Search with K. Recall is against an exact search computed here from
// the generated float32 vectors.

const (
	benchBucket     = "bench"
	benchCollection = "scale"
	// requestTimeout is every Store's: a shard's large reads take seconds on a busy machine.
	requestTimeout = 30 * time.Second
)

// writerOnly says whether a snapshot object is read by writers only, never by a shard: the
// face records, token records and users chunks (shards read the users of their faces from
// each segment's users object). What a shard should download is the rest of the snapshot.
// Adapt it when the layout names its objects otherwise.
func writerOnly(key string) bool {
	base := path.Base(key)
	return strings.HasPrefix(base, "records") || strings.HasPrefix(base, "tokens") || strings.HasPrefix(base, "users-") || base == "users.json" || strings.HasSuffix(base, ".uploading")
}

// collection is the compacted collection the shard phases read, on a MinIO of its own.
type collection struct {
	srv        *local.MinIOServer
	conn       store.Connection
	faces, dim int
	// snapshotBytes is the size of the snapshot's objects; shardData that less the writer's.
	snapshotBytes, shardData int64
	queries                  [][]float32
	truth                    [][]string // the exact top-10 FaceIds of each query
}

func (c *collection) stop() {
	if c.srv != nil {
		c.srv.Stop()
	}
}

func openStore(conn store.Connection, opts store.Options) (*store.Store, error) {
	opts.RequestTimeout = requestTimeout
	return store.Open(conn, opts)
}

// writeCollection starts MinIO with its data under dir, writes faces vectors of dimension dim
// in batches of store.MaxImportFaces (never all of them in memory), computes the exact top-10
// of nq queries on the way, and compacts.
func writeCollection(ctx context.Context, dir string, faces, dim, nq int) (*collection, error) {
	srv, err := local.StartMinIO(ctx, local.MinIOOptions{Dir: filepath.Join(dir, "minio")})
	if err != nil {
		return nil, err
	}
	c := &collection{srv: srv, faces: faces, dim: dim,
		conn: store.Connection{Endpoint: srv.Endpoint, Bucket: benchBucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}}
	w, err := openStore(c.conn, store.Options{CompactionRate: -1})
	if err != nil {
		return c, err
	}
	// A MinIO that has just answered may refuse the first requests for a moment.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := w.EnsureBucket(ctx)
		if err == nil {
			break
		}
		if !errs.IsRetryable(err) || time.Now().After(deadline) {
			return c, fmt.Errorf("creating the bucket: %w", err)
		}
	}
	if _, err := w.CreateCollection(ctx, benchCollection, store.CreateCollectionOptions{FaceModelVersion: "bench", Dimension: dim}); err != nil {
		return c, err
	}
	stream := benchdata.NewStream(faces, dim, 7)
	c.queries = stream.Queries(nq, 11)
	exact := newExactTopK(c.queries, 10)
	ids := make([]uuid.UUID, faces)
	var gen, scan, write time.Duration
	for lo := 0; lo < faces; lo += store.MaxImportFaces {
		hi := min(faces, lo+store.MaxImportFaces)
		start := time.Now()
		vs := make([]float32, (hi-lo)*dim)
		stream.Vectors(lo, hi, vs)
		gen += time.Since(start)
		start = time.Now()
		exact.add(lo, vs)
		scan += time.Since(start)
		batch := make([]store.NewFace, hi-lo)
		for i := range batch {
			batch[i] = store.NewFace{ImageID: fmt.Sprintf("img-%09d", lo+i), Confidence: 99,
				BoundingBox: store.BoundingBox{Width: 0.2, Height: 0.3, Left: 0.4, Top: 0.3}, Embedding: vs[i*dim : (i+1)*dim]}
		}
		start = time.Now()
		recs, err := w.ImportFaces(ctx, benchCollection, batch, store.IndexFacesOptions{})
		if err != nil {
			return c, fmt.Errorf("importing faces %d-%d: %w", lo, hi, err)
		}
		write += time.Since(start)
		if len(recs) != len(batch) {
			return c, fmt.Errorf("importing faces %d-%d: %d records for %d faces", lo, hi, len(recs), len(batch))
		}
		for i, r := range recs {
			if ids[lo+i], err = uuid.Parse(r.FaceID); err != nil {
				return c, fmt.Errorf("record %d: %w", lo+i, err)
			}
		}
	}
	logf("  %d vectors: generated in %s, exact top-10 of %d queries in %s, imported in %s", faces, secs(gen), nq, secs(scan), secs(write))
	start := time.Now()
	if err := w.Compact(ctx, benchCollection); err != nil {
		return c, fmt.Errorf("compacting: %w", err)
	}
	logf("  compacted in %s (not paced)", secs(time.Since(start)))
	for _, top := range exact.result() {
		var t []string
		for _, i := range top {
			t = append(t, ids[i].String())
		}
		c.truth = append(c.truth, t)
	}
	client, err := store.NewClient(srv.Endpoint, srv.AccessKey, srv.SecretKey, false)
	if err != nil {
		return c, err
	}
	prefix := store.CollectionsPrefix("") + benchCollection + "/data/"
	objects := 0
	for o := range client.ListObjects(ctx, benchBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return c, o.Err
		}
		if !strings.Contains(o.Key, "/snap/") {
			continue
		}
		objects++
		c.snapshotBytes += o.Size
		if !writerOnly(o.Key) {
			c.shardData += o.Size
		}
	}
	logf("  snapshot: %d objects, %s: shard data %s (%.0f B/face), the writer's records %.0f B/face",
		objects, gb(c.snapshotBytes), gb(c.shardData), float64(c.shardData)/float64(faces), float64(c.snapshotBytes-c.shardData)/float64(faces))
	return c, nil
}

// downloads loads each shard i of n through a counting proxy, one at a time, each with a
// Store of its own as a shard pod has, and returns what each downloaded.
func (c *collection) downloads(ctx context.Context, n int) ([]shardLoad, error) {
	proxy, err := testenv.NewCountingProxy(c.srv.Endpoint)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	conn := c.conn
	conn.Endpoint = proxy.Endpoint
	var out []shardLoad
	for i := 0; i < n; i++ {
		st, err := openStore(conn, store.Options{})
		if err != nil {
			return out, err
		}
		proxy.Take()
		sh := index.NewShard(st, benchCollection, index.ShardOptions{Shard: i, Shards: n})
		if err := sh.Load(ctx); err != nil {
			return out, err
		}
		bytes, reqs := proxy.Take()
		out = append(out, shardLoad{Shard: i, Vectors: sh.Len(), Bytes: bytes, Requests: reqs})
		logf("  shard %d/%d: %d vectors, %s in %d requests", i, n, sh.Len(), gb(bytes), reqs)
		sh, st = nil, nil //nolint:ineffassign,wastedassign // let the next load have the memory
		freeMemory()
	}
	return out, nil
}

// exactTopK keeps the exact top-k of each query over vectors offered in batches.
type exactTopK struct {
	qs    [][]float32
	k     int
	idx   [][]int
	score [][]float32
	low   []float32 // the lowest score kept, once k are kept
}

func newExactTopK(qs [][]float32, k int) *exactTopK {
	e := &exactTopK{qs: qs, k: k, idx: make([][]int, len(qs)), score: make([][]float32, len(qs)), low: make([]float32, len(qs))}
	for q := range qs {
		e.low[q] = -2
	}
	return e
}

// add offers vectors first, first+1, ... (flat in vs), on all cores (a share of the queries
// each, every vector read once per core while the queries stay in cache).
func (e *exactTopK) add(first int, vs []float32) {
	if len(e.qs) == 0 {
		return
	}
	dim := len(e.qs[0])
	w := min(runtime.GOMAXPROCS(0), len(e.qs))
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		lo, hi := len(e.qs)*p/w, len(e.qs)*(p+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 0; v*dim < len(vs); v++ {
				x := vs[v*dim : (v+1)*dim]
				for q := lo; q < hi; q++ {
					if d := dot(e.qs[q], x); d > e.low[q] || len(e.score[q]) < e.k {
						e.offer(q, first+v, d)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func (e *exactTopK) offer(q, i int, d float32) {
	s := e.score[q]
	if len(s) < e.k {
		e.score[q], e.idx[q] = append(s, d), append(e.idx[q], i)
	} else {
		m := 0
		for j := range s {
			if s[j] < s[m] {
				m = j
			}
		}
		s[m], e.idx[q][m] = d, i
	}
	if len(e.score[q]) == e.k {
		low := e.score[q][0]
		for _, x := range e.score[q] {
			low = min(low, x)
		}
		e.low[q] = low
	}
}

// result is each query's top-k vector numbers (in no particular order).
func (e *exactTopK) result() [][]int { return e.idx }

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

// childInput is what the parent hands a child process, in a file.
type childInput struct {
	Conn    store.Connection
	Queries [][]float32
	Truth   [][]string
	Reps    int
}

// freeMemory collects garbage and returns the free memory to the OS, so that the next figure
// (or the next load) starts from what is live.
func freeMemory() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

func liveHeap() int64 {
	freeMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// residentBytes is the process's VmRSS.
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memoryChild loads the whole collection as one shard in this fresh process and measures the
// live heap and RSS it added, then recall@10 of the shard's searches against the exact top-10.
func memoryChild(ctx context.Context, in *childInput) (*shardMemory, error) {
	heap0 := liveHeap()
	rss0 := residentBytes()
	start := time.Now()
	st, err := openStore(in.Conn, store.Options{})
	if err != nil {
		return nil, err
	}
	sh := index.NewShard(st, benchCollection, index.ShardOptions{Shard: 0, Shards: 1})
	if err := sh.Load(ctx); err != nil {
		return nil, err
	}
	m := &shardMemory{Load: time.Since(start), Vectors: sh.Len()}
	m.HeapBytes = liveHeap() - heap0
	m.RSSBytes = residentBytes() - rss0
	for i, q := range in.Queries {
		got, err := sh.Search(ctx, q, index.SearchOptions{K: 10})
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
		want := map[string]bool{}
		for _, id := range in.Truth[i] {
			want[id] = true
		}
		for _, g := range got {
			if want[g.FaceID] {
				m.Hits++
			}
		}
		m.Queries++
	}
	if m.Queries > 0 {
		m.Recall = float64(m.Hits) / float64(10*m.Queries)
	}
	runtime.KeepAlive(sh)
	return m, nil
}

// loadChild times loads straight from MinIO, each with a Store of its own and after the
// previous one's memory is returned: the whole collection as one shard, each shard of 4
// alone, and the 4 at once; the best of in.Reps each.
func loadChild(ctx context.Context, in *childInput) (*loadTimes, error) {
	load := func(i, n int) (time.Duration, int, error) {
		defer freeMemory()
		start := time.Now()
		st, err := openStore(in.Conn, store.Options{})
		if err != nil {
			return 0, 0, err
		}
		sh := index.NewShard(st, benchCollection, index.ShardOptions{Shard: i, Shards: n})
		if err := sh.Load(ctx); err != nil {
			return 0, 0, err
		}
		return time.Since(start), sh.Len(), nil
	}
	best := func(cur, d time.Duration) time.Duration {
		if cur == 0 || d < cur {
			return d
		}
		return cur
	}
	t := &loadTimes{}
	alone := make([]time.Duration, 4)
	for rep := 0; rep < max(1, in.Reps); rep++ {
		d, n, err := load(0, 1)
		if err != nil {
			return nil, err
		}
		t.One = best(t.One, d)
		logf("  rep %d: N=1 %s (%d vectors)", rep+1, secs(d), n)
		for i := range alone {
			d, n, err := load(i, 4)
			if err != nil {
				return nil, err
			}
			alone[i] = best(alone[i], d)
			logf("  rep %d: shard %d/4 alone %s (%d vectors)", rep+1, i, secs(d), n)
		}
		start := time.Now()
		errc := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() {
				st, err := openStore(in.Conn, store.Options{})
				if err == nil {
					err = index.NewShard(st, benchCollection, index.ShardOptions{Shard: i, Shards: 4}).Load(ctx)
				}
				errc <- err
			}()
		}
		var errsAll []error
		for i := 0; i < 4; i++ {
			errsAll = append(errsAll, <-errc)
		}
		d = time.Since(start)
		freeMemory()
		if err := errors.Join(errsAll...); err != nil {
			return nil, err
		}
		t.Concurrent = best(t.Concurrent, d)
		logf("  rep %d: the 4 shards at once %s", rep+1, secs(d))
	}
	for _, d := range alone {
		t.Alone = max(t.Alone, d)
	}
	return t, nil
}

// runChild is the child side: read the input, measure, print the result as JSON.
func runChild(ctx context.Context, mode, input string) error {
	raw, err := os.ReadFile(input)
	if err != nil {
		return err
	}
	in := &childInput{}
	if err := json.Unmarshal(raw, in); err != nil {
		return err
	}
	var out any
	switch mode {
	case "memory":
		out, err = memoryChild(ctx, in)
	case "load":
		out, err = loadChild(ctx, in)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
