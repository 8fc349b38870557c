package controllers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// benchSizes are the benchmark's sizes: the faces in the collection searched (issue: 10k
// faces), the direct searches of the baseline and the SearchRequests created at once for
// throughput. With -short (make bench-smoke, part of make test) they are small: the run only
// proves that the benchmark still works, its figures mean nothing.
func benchSizes() (faces, direct, burst int) {
	if testing.Short() {
		return 2*enrolFaces + 100, 2, 5
	}
	return 10_000, 20, 50
}

// BenchmarkSearchRequest measures a SearchRequest from create to written status against a
// collection of 10k faces (6 real enrolled faces plus synthetic vectors), one at a time for
// latency and 50 at once for throughput (fewer with -short: see benchSizes). The baseline is
// the same search called directly on the search path in the same run, with the namespace
// scope the SearchRequest controller uses, so the ratio is what the Kubernetes round trip
// costs.
//
//	go test ./controllers -run '^$' -bench SearchRequest -benchtime 40x
func BenchmarkSearchRequest(b *testing.B) {
	requireSuite(b)
	g := NewWithT(b)
	ctx := context.Background()
	benchCollectionFaces, directSearches, burst := benchSizes()
	ns := newTestNamespace(b, g)
	// The search service as the SearchRequest controller uses it: scoped to the namespace.
	svc := searchSvc.InNamespace(ns)
	bucket := "bench-" + ns
	faces := labelledFaces(b)
	col := newCollection(ns, "people", bucket, 2)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	waitCollectionReady(g, col)
	for _, p := range []string{"John_Salley", "John_Savage"} {
		var objs []string
		for _, f := range faces[p][:enrolFaces] {
			objs = append(objs, uploadImage(b, bucket, f))
		}
		u := newUser(ns, "people", p, objs)
		g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
		waitUserReady(g, u, enrolFaces)
	}
	coll, ok := svc.Collections.Get(col.EffectiveCollectionID())
	if !ok {
		b.Fatalf("collection %q is not in the search registry of namespace %s", col.EffectiveCollectionID(), ns)
	}
	importSyntheticFaces(b, storedCollection(col), coll.ID, benchCollectionFaces-2*enrolFaces)
	g.Eventually(func() int {
		n := 0
		for _, sh := range coll.Shards {
			n += sh.(*index.Shard).Len()
		}
		return n
	}, waitReady, pollEvery).Should(BeNumerically(">=", benchCollectionFaces))
	probe := uploadImage(b, bucket, faces["John_Savage"][enrolFaces+1])

	// Baseline: the same search on the search path, no Kubernetes.
	direct := make([]time.Duration, 0, directSearches)
	for i := 0; i < directSearches; i++ {
		start := time.Now()
		res, err := svc.SearchUsersByImage(ctx, coll.ID, search.Image{S3Object: &search.S3Object{Name: probe}}, search.SearchUsersOptions{UserMatchThreshold: 80})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.UserMatches).NotTo(BeEmpty())
		direct = append(direct, time.Since(start))
	}

	b.ResetTimer()
	latencies := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		runSearchRequest(g, ns, fmt.Sprintf("seq-%d", i), probe)
		latencies = append(latencies, time.Since(start))
	}
	// Throughput: burst SearchRequests created at once.
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); runSearchRequest(g, ns, fmt.Sprintf("burst-%d", i), probe) }()
	}
	wg.Wait()
	perSecond := float64(burst) / time.Since(start).Seconds()
	b.StopTimer()

	p50, p99 := percentile(latencies, 0.50), percentile(latencies, 0.99)
	d50 := percentile(direct, 0.50)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(perSecond, "searchrequests/s")
	b.ReportMetric(float64(d50.Microseconds())/1000, "direct-p50-ms")
	b.ReportMetric(float64(p50)/float64(d50), "p50/direct")
	fmt.Fprintf(os.Stderr, "SearchRequest over %d faces: p50 %v p99 %v (%d sequential), %.1f/s with %d at once; direct search p50 %v; ratio %.2f\n",
		benchCollectionFaces, p50, p99, len(latencies), perSecond, burst, d50, float64(p50)/float64(d50))
}

// runSearchRequest creates a SearchRequest and waits for its answer.
func runSearchRequest(g *WithT, ns, name, object string) {
	ctx := context.Background()
	sr := newSearch(ns, name, "people", s3Image(object))
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)).To(Succeed())
		c := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	}, waitReady, 2*time.Millisecond).Should(Succeed())
	g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal("John_Savage"))
}

// importSyntheticFaces fills a collection with random unit vectors, in bulk commits.
func importSyntheticFaces(tb testing.TB, st *store.Store, collectionID string, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < n; {
		batch := make([]store.NewFace, min(store.MaxImportFaces, n-done))
		for i := range batch {
			v := make([]float32, 512)
			var norm float64
			for j := range v {
				v[j] = float32(rng.NormFloat64())
				norm += float64(v[j]) * float64(v[j])
			}
			for j := range v {
				v[j] /= float32(math.Sqrt(norm))
			}
			batch[i] = store.NewFace{ExternalImageID: fmt.Sprintf("synthetic-%d", done+i), ImageID: fmt.Sprintf("00000000-0000-4000-8000-%012d", done+i),
				BoundingBox: store.BoundingBox{Width: 0.5, Height: 0.5, Left: 0.25, Top: 0.25}, Confidence: 99, Embedding: v}
		}
		if _, err := st.ImportFaces(context.Background(), collectionID, batch, store.IndexFacesOptions{}); err != nil {
			tb.Fatal(err)
		}
		done += len(batch)
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}
