package rekognition

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	guuid "github.com/google/uuid"
	ort "github.com/yalue/onnxruntime_go"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// loadClient is an SDK client whose transport keeps a connection per concurrent caller.
func (e *svcEnv) loadClient(conns int) *rek.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return rek.New(rek.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(svcKey, svcSecret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: tr},
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// TestSearchUsersByImageLoad runs N concurrent SDK clients calling SearchUsersByImage with
// held-out photos over loopback for a bounded time (FACESEARCH_LOAD_CLIENTS, default 4;
// FACESEARCH_LOAD_SECONDS, default 5) and requires that no call fails. It reports the
// latency percentiles and throughput; it asserts no timing.
func TestSearchUsersByImageLoad(t *testing.T) {
	e := newSvcEnv(t, 2)
	ctx := context.Background()
	c := e.sdk()
	const coll = "load"
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		t.Fatal(err)
	}
	e.enroll(t, c, coll, 3)
	type probe struct {
		person string
		data   []byte
	}
	var probes []probe
	for person, files := range e.people(t) {
		for _, f := range files[3:] {
			probes = append(probes, probe{person, readFile(t, f)})
		}
	}
	sort.Slice(probes, func(i, j int) bool { return probes[i].person < probes[j].person })

	clients := envInt("FACESEARCH_LOAD_CLIENTS", 4)
	duration := time.Duration(envInt("FACESEARCH_LOAD_SECONDS", 5)) * time.Second
	lc := e.loadClient(clients)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		correct   int
	)
	deadline := time.Now().Add(duration)
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < clients; w++ {
		g.Go(func() error {
			var lat []time.Duration
			ok := 0
			for i := w; time.Now().Before(deadline); i += clients {
				p := probes[i%len(probes)]
				start := time.Now()
				out, err := lc.SearchUsersByImage(gctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(p.data)})
				if err != nil {
					return fmt.Errorf("client %d call %d: %w", w, len(lat), err)
				}
				lat = append(lat, time.Since(start))
				if len(out.UserMatches) > 0 && aws.ToString(out.UserMatches[0].User.UserId) == p.person {
					ok++
				}
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			correct += ok
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("a SearchUsersByImage call failed under load: %v", err)
	}
	if len(latencies) == 0 {
		t.Fatal("no call completed")
	}
	slices.Sort(latencies)
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	t.Logf("SearchUsersByImage load: %d clients for %v on %d CPUs: %d calls, %.1f calls/s, p50 %.1f ms, p99 %.1f ms, mean %.1f ms, max %.1f ms; top match right %d/%d",
		clients, duration, runtime.NumCPU(), len(latencies), float64(len(latencies))/duration.Seconds(),
		ms(percentile(latencies, 0.50)), ms(percentile(latencies, 0.99)), ms(sum/time.Duration(len(latencies))), ms(latencies[len(latencies)-1]),
		correct, len(latencies))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// rawInference runs the model pack's three networks straight through ONNX Runtime (one
// thread, like the engine's workers) on inputs of their fixed shapes: the detector once, the
// landmark and embedding networks once each, which is the network work of a one-face
// search. The face engine must have initialised ONNX Runtime already.
type rawInference struct {
	sessions []*ort.DynamicAdvancedSession
	inputs   []*ort.Tensor[float32]
	outputs  [][]ort.Value
}

func newRawInference(tb testing.TB, packDir string) *rawInference {
	tb.Helper()
	m, err := face.LoadManifest(packDir)
	if err != nil {
		tb.Fatal(err)
	}
	if !ort.IsInitialized() {
		tb.Fatal("ONNX Runtime is not initialised: load an engine first")
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = opts.Destroy() }()
	_ = opts.SetIntraOpNumThreads(1)
	_ = opts.SetInterOpNumThreads(1)
	r := &rawInference{}
	tb.Cleanup(r.close)
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, spec := range []face.ModelSpec{m.Detector, m.Landmarks, m.Embedder} {
		path := filepath.Join(packDir, spec.File)
		ins, outs, err := ort.GetInputOutputInfo(path)
		if err != nil {
			tb.Fatal(err)
		}
		channels := int64(3)
		if spec.ColorOrder == "GRAY" {
			channels = 1
		}
		in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, channels, int64(spec.InputHeight), int64(spec.InputWidth)))
		if err != nil {
			tb.Fatal(err)
		}
		for i := range in.GetData() {
			in.GetData()[i] = float32(rnd.NormFloat64() * 0.5)
		}
		var outNames []string
		for _, o := range outs {
			outNames = append(outNames, o.Name)
		}
		s, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, outNames, opts)
		if err != nil {
			tb.Fatal(err)
		}
		r.sessions = append(r.sessions, s)
		r.inputs = append(r.inputs, in)
		r.outputs = append(r.outputs, make([]ort.Value, len(outNames)))
	}
	return r
}

// run runs the three networks once and returns how long that took.
func (r *rawInference) run(tb testing.TB) time.Duration {
	start := time.Now()
	for i, s := range r.sessions {
		if err := s.Run([]ort.Value{r.inputs[i]}, r.outputs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}

func (r *rawInference) close() {
	for _, s := range r.sessions {
		_ = s.Destroy()
	}
	for _, in := range r.inputs {
		_ = in.Destroy()
	}
	for _, outs := range r.outputs {
		for _, o := range outs {
			if o != nil {
				_ = o.Destroy()
			}
		}
	}
}

// importSynthetic stores n random unit vectors (no user) through the store's bulk import.
func importSynthetic(tb testing.TB, st *store.Store, coll string, dim, n int) {
	tb.Helper()
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(5, 6))
	for done := 0; done < n; {
		batch := make([]store.NewFace, min(store.MaxImportFaces, n-done))
		for i := range batch {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(rnd.NormFloat64())
			}
			batch[i] = store.NewFace{
				ImageID: guuid.NewString(), ExternalImageID: "synthetic",
				BoundingBox: store.BoundingBox{Width: 0.3, Height: 0.4, Left: 0.3, Top: 0.2}, Confidence: 99.9,
				Embedding: v,
			}
		}
		if _, err := st.ImportFaces(ctx, coll, batch, store.IndexFacesOptions{}); err != nil {
			tb.Fatal(err)
		}
		done += len(batch)
	}
}

// BenchmarkSearchUsersByImage100k measures SearchUsersByImage end to end (AWS SDK client,
// SigV4, JSON, handler, engine, two in-process shards) for a 640x480 JPEG with one enrolled
// person's face against a collection of 100,000 synthetic random unit vectors plus the
// enrolled faces, and breaks it down, each stage measured in the same run:
//
//	e2e_ms      median of the rounds (e2e_mean_ms: the timed loop's mean)
//	engine_ms   decode + detect + landmarks + embed (face.Engine.SearchImage)
//	search_ms   both shards searched in parallel, merged, aggregated by user
//	service_ms  search.Service.SearchUsersByImage (engine + search + what joins them)
//	http_ms     median of (end to end - service) paired per round: SDK, SigV4 signing and
//	            checking, JSON, loopback (a few ms: within the noise of a shared machine)
//	infer_ms    the three networks run raw in ONNX Runtime (detector, landmarks, embedder)
//
// and each as a ratio to infer_ms (x_infer). FACESEARCH_BENCH_FACES changes the size. With
// -short (make bench-smoke, part of make test) the default is 1,000 faces and the stages are
// measured once: the run only proves that the benchmark works.
func BenchmarkSearchUsersByImage100k(b *testing.B) {
	e := newSvcEnv(b, 2)
	ctx := context.Background()
	c := e.sdk()
	const coll = "bench"
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		b.Fatal(err)
	}
	n, minRounds := 100_000, 15
	if testing.Short() {
		n, minRounds = 1_000, 1
	}
	n = envInt("FACESEARCH_BENCH_FACES", n)
	importSynthetic(b, e.store, coll, e.admin.dim, n)
	e.enroll(b, c, coll, 3)
	d, err := e.store.DescribeCollection(ctx, coll)
	if err != nil {
		b.Fatal(err)
	}

	// The probe: a held-out photo of one person on a plain 640x480 scene.
	people := e.people(b)
	var person string
	for p := range people {
		if person == "" || p < person {
			person = p
		}
	}
	portrait, err := facetest.Load(people[person][5])
	if err != nil {
		b.Fatal(err)
	}
	scene := facetest.Solid(640, 480, color.RGBA{118, 124, 131, 255})
	facetest.Paste(scene, portrait, 220, 120, 220)
	jpeg := facetest.JPEG(scene, 90)

	eng, err := e.engines.Get(e.admin.version)
	if err != nil {
		b.Fatal(err)
	}
	raw := newRawInference(b, testenv.ModelPack(b))
	col, ok := e.svc.Collections.Get(coll)
	if !ok {
		b.Fatalf("collection %q is not in the search registry", coll)
	}
	in := &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(jpeg)}
	check := func(out *rek.SearchUsersByImageOutput) {
		if len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != person {
			b.Fatalf("the probe did not find %s first: %+v", person, out.UserMatches)
		}
	}
	out, err := c.SearchUsersByImage(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	check(out)
	b.Logf("collection %s: %d faces (%d synthetic), %d users, 2 shards; probe JPEG %d bytes", coll, d.FaceCount, n, d.UserCount, len(jpeg))

	b.Run("640x480", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			out, err := c.SearchUsersByImage(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				check(out)
			}
		}
		e2e := time.Since(start) / time.Duration(b.N)
		b.StopTimer()

		// The stages, measured in rounds that run each once, so that the load of a shared
		// machine falls on all of them alike; medians of at least 15 rounds.
		rounds := max(b.N, minRounds)
		var e2eR, engineR, searchR, serviceR, inferR []time.Duration
		opts := index.SearchOptions{K: min(search.MaxUsers*store.MaxFacesPerUser, 4096), MinCosine: eng.CosineAtSimilarity(80)}
		for i := 0; i < rounds; i++ {
			t0 := time.Now()
			if _, err := c.SearchUsersByImage(ctx, in); err != nil {
				b.Fatal(err)
			}
			e2eR = append(e2eR, time.Since(t0))

			t0 = time.Now()
			if _, err := e.svc.SearchUsersByImage(ctx, coll, search.Image{Bytes: jpeg}, search.SearchUsersOptions{UserMatchThreshold: 80}); err != nil {
				b.Fatal(err)
			}
			serviceR = append(serviceR, time.Since(t0))

			t0 = time.Now()
			res, err := eng.SearchImage(ctx, jpeg, face.SearchOptions{})
			if err != nil || res.Face == nil {
				b.Fatalf("SearchImage: %v", err)
			}
			engineR = append(engineR, time.Since(t0))

			t0 = time.Now()
			lists := make([][]index.Match, len(col.Shards))
			var g errgroup.Group
			for j, sh := range col.Shards {
				g.Go(func() (err error) { lists[j], err = sh.Search(ctx, res.Face.Embedding, opts); return err })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			users := index.AggregateUsers(index.MergeTopK(lists, opts.K), search.MaxUsers)
			searchR = append(searchR, time.Since(t0))
			if len(users) == 0 || users[0].UserID != person {
				b.Fatalf("shard search: %+v", users)
			}

			inferR = append(inferR, raw.run(b))
		}
		// HTTP/protocol is the difference of two neighbouring calls, paired per round.
		httpR := make([]time.Duration, rounds)
		for i := range httpR {
			httpR[i] = e2eR[i] - serviceR[i]
		}
		med := func(d []time.Duration) float64 { slices.Sort(d); return ms(percentile(d, 0.5)) }
		e2eMS, serviceMS, engineMS, searchMS, inferMS, httpMS := med(e2eR), med(serviceR), med(engineR), med(searchR), med(inferR), med(httpR)
		b.ReportMetric(ms(e2e), "e2e_mean_ms")
		b.ReportMetric(e2eMS, "e2e_ms")
		b.ReportMetric(engineMS, "engine_ms")
		b.ReportMetric(searchMS, "search_ms")
		b.ReportMetric(serviceMS, "service_ms")
		b.ReportMetric(httpMS, "http_ms")
		b.ReportMetric(inferMS, "infer_ms")
		b.ReportMetric(e2eMS/inferMS, "e2e_x_infer")
		b.ReportMetric(engineMS/inferMS, "engine_x_infer")
		b.ReportMetric(searchMS/inferMS, "search_x_infer")
		b.ReportMetric(httpMS/inferMS, "http_x_infer")
	})
}
