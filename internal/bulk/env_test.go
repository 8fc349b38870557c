package bulk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// The tests run on the real parts: a MinIO server of their own, the default model pack and
// the labelled test faces (johns/: 5 people x 11 face crops of 150 px).

const (
	testCollection = "people"
	photoPrefix    = "photos/"
)

// env is a bucket holding a collection, photos under photoPrefix, and the engines that
// workers share (one set of ONNX sessions for the test, as one process has).
type env struct {
	bucket  *testenv.Bucket
	engines *search.Engines
	// proxy stands between the workers and MinIO, to fail chosen requests.
	proxy *testenv.FaultProxy
	// reader reads the store apart from the workers: what it sees is what is stored.
	reader *store.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "fs/"})
	engines, err := search.NewEngines(search.EnginesOptions{ModelPackDirs: []string{testenv.ModelPack(t)}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	e := &env{bucket: bucket, engines: engines, proxy: testenv.NewFaultProxy(t, bucket.Server.Endpoint), reader: bucket.Store()}
	e.createCollection(t, testCollection)
	return e
}

// createCollection makes a collection of the default pack's model.
func (e *env) createCollection(t testing.TB, id string) {
	t.Helper()
	eng, err := e.engines.Get(search.DefaultFaceModelVersion)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CreateCollection(t, e.reader, id, eng.FaceModelVersion(), eng.Dimension())
}

// options are a worker's, through the proxy.
func (e *env) options(t testing.TB, job string, worker, workers int) Options {
	return Options{
		Storage: e.bucket.ProxiedConnection(e.proxy), Collection: testCollection, SourcePrefix: photoPrefix,
		Job: job, Worker: worker, Workers: workers, Parallel: 2, BatchSize: 4, Log: logFor(t),
	}
}

// logFor logs to the test's log when verbose; quiet otherwise.
func logFor(t testing.TB) logr.Logger {
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		return testr.New(tt)
	}
	return logr.Discard()
}

// run runs one worker as a process of its own would: with a Service (and Store) of its own.
func (e *env) run(ctx context.Context, opts Options) (*Progress, error) {
	return Run(ctx, search.NewService(e.engines), opts)
}

// runAll runs workers 0 to n-1 of a job at once and fails the test if one fails.
func (e *env) runAll(t testing.TB, job string, n int, change func(*Options)) []*Progress {
	t.Helper()
	out := make([]*Progress, n)
	var g errgroup.Group
	for i := range n {
		opts := e.options(t, job, i, n)
		if change != nil {
			change(&opts)
		}
		g.Go(func() (err error) {
			out[i], err = e.run(context.Background(), opts)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// put uploads photos, by key, 8 at a time.
func (e *env) put(t testing.TB, photos map[string][]byte) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(8)
	for key, data := range photos {
		g.Go(func() error {
			_, err := e.bucket.Client.PutObject(context.Background(), e.bucket.Name, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "image/jpeg"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// faces lists every face of a collection.
func (e *env) faces(t testing.TB, coll string) []store.FaceRecord {
	t.Helper()
	var all []store.FaceRecord
	token := ""
	for {
		page, next, err := e.reader.ListFaces(context.Background(), coll, store.ListFacesOptions{MaxResults: store.MaxListResults, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		token = next
	}
}

// users lists every user of a collection.
func (e *env) users(t testing.TB, coll string) []string {
	t.Helper()
	var all []string
	token := ""
	for {
		page, next, err := e.reader.ListUsers(context.Background(), coll, store.ListOptions{MaxResults: store.MaxListUsersResults, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			all = append(all, u.UserID)
		}
		if next == "" {
			sort.Strings(all)
			return all
		}
		token = next
	}
}

// job reads a job's progress objects.
func (e *env) job(t testing.TB, job string) []Progress {
	t.Helper()
	ps, err := ReadJob(context.Background(), e.bucket.Client, e.bucket.Name, e.bucket.Prefix, job)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// checkOnce fails the test unless the job is complete over the listed photos and enrolled each
// exactly once: as many faces as photos counted indexed, no ExternalImageId twice, each face
// on the user its folder names (with users), every photo's ExternalImageId either a face or a
// skipped photo. It returns the faces by ExternalImageId.
func (e *env) checkOnce(t testing.TB, coll, job string, photos int, users bool) map[string]store.FaceRecord {
	t.Helper()
	s := Merge(e.job(t, job))
	if !s.Complete() || s.Listed != photos || s.Done != photos || s.Indexed+s.NoFace+s.Failed != photos {
		t.Fatalf("job %s: %+v, want complete over %d photos", job, s, photos)
	}
	faces := e.faces(t, coll)
	byExt := map[string]store.FaceRecord{}
	for _, f := range faces {
		if old, ok := byExt[f.ExternalImageID]; ok {
			t.Fatalf("photo %s enrolled twice: faces %s and %s", f.ExternalImageID, old.FaceID, f.FaceID)
		}
		byExt[f.ExternalImageID] = f
		if user, _, _ := strings.Cut(f.ExternalImageID, ":"); users && f.UserID != user {
			t.Fatalf("face %s of %s is on user %q", f.FaceID, f.ExternalImageID, f.UserID)
		}
		if !users && f.UserID != "" {
			t.Fatalf("face %s of %s is on user %q without users", f.FaceID, f.ExternalImageID, f.UserID)
		}
	}
	if len(faces) != s.Indexed {
		t.Fatalf("%d faces stored, %d photos counted indexed", len(faces), s.Indexed)
	}
	if len(s.Skipped) == s.NoFace+s.Failed { // every skipped photo is named: the sets add up
		for _, k := range s.Skipped {
			if f, ok := byExt[ExternalIDOf(strings.TrimPrefix(k.Key, photoPrefix))]; ok {
				t.Fatalf("skipped photo %s (%s) has face %s", k.Key, k.Reason, f.FaceID)
			}
		}
	}
	return byExt
}

// johns returns a person's labelled face crops, sorted by file name.
func johns(t testing.TB, person string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", person, "*.jpg"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("%d photos of %s in the test faces", len(files), person)
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// people are the labelled people of the test faces.
var people = []string{"John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm"}

// blank is a JPEG with nothing in it.
func blank() []byte {
	return facetest.JPEG(facetest.Solid(240, 180, color.RGBA{R: 90, G: 120, B: 150, A: 255}), 90)
}

// variants makes n distinct photos from the test faces, as <person>-<group>/<n>.jpg: each
// a face crop scaled, mirrored, trimmed and compressed its own way (240 ways per crop, 54
// distinct crops), so that no two have the same bytes. A user's photos are all of one
// person, at most 88 of them.
func variants(t testing.TB, n int) map[string][]byte {
	t.Helper()
	var bases []*image.RGBA
	var owners []string
	crops := map[[32]byte]bool{} // John_Shimkus has one crop twice, under two names
	for _, p := range people {
		files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", p, "*.jpg"))
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(data); !crops[sum] {
				crops[sum] = true
				m, err := facetest.Load(f)
				if err != nil {
					t.Fatal(err)
				}
				bases = append(bases, m)
				owners = append(owners, p)
			}
		}
	}
	if n > len(bases)*240 {
		t.Fatalf("%d photos asked; the test faces make %d distinct ones", n, len(bases)*240)
	}
	out := make(map[string][]byte, n)
	seen := map[[32]byte]string{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(4)
	for i := range n {
		g.Go(func() error {
			b, v := i%len(bases), i/len(bases)
			data := variant(bases[b], v)
			key := fmt.Sprintf("%s%s-%03d/%05d.jpg", photoPrefix, owners[b], v/8, i)
			sum := sha256.Sum256(data)
			mu.Lock()
			defer mu.Unlock()
			if other, ok := seen[sum]; ok {
				return fmt.Errorf("photos %s and %s have the same bytes", other, key)
			}
			seen[sum] = key
			out[key] = data
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// variant is the v-th way (0 to 239) of showing a crop: trimmed by 0, 4 or 8 pixels a side,
// scaled by 1, 1.15, 1.3 or 1.5, mirrored or not, at JPEG quality 85 to 94.
func variant(m *image.RGBA, v int) []byte {
	trim := 4 * (v % 3)
	scale := []float64{1, 1.15, 1.3, 1.5}[(v/3)%4]
	mirror := (v/12)%2 == 1
	quality := 85 + (v/24)%10
	r := m.Bounds()
	out := facetest.ToRGBA(m.SubImage(image.Rect(r.Min.X+trim, r.Min.Y+trim, r.Max.X-trim, r.Max.Y-trim)))
	if mirror {
		w := out.Rect.Dx()
		for y := 0; y < out.Rect.Dy(); y++ {
			for x := 0; x < w/2; x++ {
				a, b := out.RGBAAt(x, y), out.RGBAAt(w-1-x, y)
				out.SetRGBA(x, y, b)
				out.SetRGBA(w-1-x, y, a)
			}
		}
	}
	return facetest.JPEG(facetest.Scale(out, scale), quality)
}
