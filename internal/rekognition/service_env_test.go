package rekognition

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// storeAdmin is a CollectionAdmin with no Kubernetes: it creates the collection in the
// store on a real MinIO, runs its index shards in this process and publishes it in the
// registry once every shard has loaded, the way the Collection controller does with the
// in-process index runner.
type storeAdmin struct {
	svc     *search.Service
	conn    store.Connection
	st      *store.Store
	version string
	dim     int
	shards  int

	mu      sync.Mutex
	running map[string]*adminIndex
}

type adminIndex struct {
	shards []*index.Shard
	cancel context.CancelFunc
	done   sync.WaitGroup
}

var _ CollectionAdmin = (*storeAdmin)(nil)

// adminUID stands for the UID of the Collection resources the endpoint would create.
const adminUID = "uid-of-the-endpoint-collections"

func (a *storeAdmin) CreateCollection(ctx context.Context, id string, _ map[string]string) error {
	ensured, err := a.svc.EnsureCollection(ctx, a.conn, id, search.EnsureOptions{FaceModelVersion: a.version, OwnerUID: adminUID})
	if err != nil {
		return err
	}
	if !ensured.Created {
		return errs.New(errs.ResourceAlreadyExists, "The collection id: %s already exists", id)
	}
	return a.start(ctx, id)
}

// start runs the collection's shards and publishes it once they have loaded.
func (a *storeAdmin) start(ctx context.Context, id string) error {
	runCtx, cancel := context.WithCancel(context.Background())
	ix := &adminIndex{cancel: cancel}
	var searchers []index.Searcher
	for i := 0; i < a.shards; i++ {
		sh := index.NewShard(a.st, id, index.ShardOptions{Shard: i, Shards: a.shards, PollInterval: 20 * time.Millisecond})
		ix.shards = append(ix.shards, sh)
		searchers = append(searchers, sh)
		ix.done.Add(1)
		go func() { defer ix.done.Done(); _ = sh.Run(runCtx) }()
	}
	for _, sh := range ix.shards {
		for !sh.Ready() {
			select {
			case <-ctx.Done():
				cancel()
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	a.mu.Lock()
	a.running[id] = ix
	a.mu.Unlock()
	return a.svc.Publish(search.Collection{ID: id, ARN: "arn:aws:rekognition:test:000000000000:collection/" + id, FaceModelVersion: a.version, Shards: searchers, Ready: true}, a.conn)
}

func (a *storeAdmin) DeleteCollection(ctx context.Context, id string) error {
	if _, ok := a.svc.Collections.Get(id); !ok {
		return ErrResourceNotFound("The collection id: " + id + " does not exist")
	}
	a.svc.Unpublish(id)
	a.mu.Lock()
	ix := a.running[id]
	delete(a.running, id)
	a.mu.Unlock()
	if ix != nil {
		ix.cancel()
		ix.done.Wait()
	}
	return a.svc.EraseCollection(ctx, a.conn, id, adminUID)
}

// sync waits until every shard of the collection reflects the store's last commit, so
// that a search after a write sees it (the shards follow the store asynchronously).
func (a *storeAdmin) sync(t testing.TB, id string) {
	t.Helper()
	d, err := a.st.DescribeCollection(context.Background(), id)
	if err != nil {
		t.Fatalf("describing %s: %v", id, err)
	}
	a.mu.Lock()
	ix := a.running[id]
	a.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for _, sh := range ix.shards {
		for sh.Generation() < d.Generation {
			if time.Now().After(deadline) {
				t.Fatalf("shard of %s stuck at generation %d < %d", id, sh.Generation(), d.Generation)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (a *storeAdmin) stopAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, ix := range a.running {
		ix.cancel()
		ix.done.Wait()
		delete(a.running, id)
	}
}

const (
	svcKey    = "AKIDSERVICETEST000001"
	svcSecret = "service-secret/xyz"
)

// svcEnv is the endpoint over the real search path: MinIO, the face engine with the
// default model pack, in-process shards, the handler on an httptest server.
type svcEnv struct {
	minio   *local.MinIOServer
	client  *minio.Client
	bucket  string
	store   *store.Store
	engines *search.Engines
	svc     *search.Service
	admin   *storeAdmin
	backend *ServiceBackend
	srv     *httptest.Server
	faces   string // johns/ directory
}

func newSvcEnv(t testing.TB, shards int) *svcEnv {
	t.Helper()
	return newSvcEnvPack(t, shards, testenv.ModelPack(t))
}

// newSvcEnvPack is newSvcEnv with the model pack in dir; collections created through the
// endpoint get its FaceModelVersion.
func newSvcEnvPack(t testing.TB, shards int, pack string) *svcEnv {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{})
	engines, err := search.NewEngines(search.EnginesOptions{
		ModelPackDirs:      []string{pack},
		ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t),
		IntraOpThreads:     1, MaxConcurrent: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	version := engines.Versions()[0]
	eng, err := engines.Get(version)
	if err != nil {
		t.Fatal(err)
	}
	svc := search.NewService(engines)
	conn := bucket.Connection()
	// The shards and the test read through the service's own Store, as in-process shards do.
	st, err := svc.Stores.Acquire("test", conn)
	if err != nil {
		t.Fatal(err)
	}
	admin := &storeAdmin{svc: svc, conn: conn, st: st, version: version, dim: eng.Dimension(), shards: shards, running: map[string]*adminIndex{}}
	backend := NewServiceBackend(svc, admin)
	srv := httptest.NewServer(NewHandler(backend, HandlerOptions{
		Credentials: StaticCredentials{svcKey: FullAccess(svcSecret)},
		RateLimit:   -1, MaxConcurrent: -1,
		Log: func(msg string, kv ...any) { t.Logf("handler: %s %v", msg, kv) },
	}))
	t.Cleanup(func() {
		srv.Close()
		admin.stopAll()
		_ = engines.Close()
	})
	return &svcEnv{minio: bucket.Server, client: bucket.Client, bucket: bucket.Name, store: st, engines: engines, svc: svc, admin: admin, backend: backend, srv: srv,
		faces: filepath.Join(testenv.TestFaces(t), "johns")}
}

func (e *svcEnv) sdk() *rek.Client { return sdkAt(e.srv) }

// sdkAt is a client of the endpoint srv serves, with the service test's key.
func sdkAt(srv *httptest.Server) *rek.Client {
	return rek.New(rek.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(svcKey, svcSecret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.Client(),
	})
}

// people returns each labelled person's photo paths, sorted.
func (e *svcEnv) people(t testing.TB) map[string][]string {
	t.Helper()
	dirs, err := os.ReadDir(e.faces)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(e.faces, d.Name(), "*.jpg"))
		sort.Strings(files)
		if len(files) < 5 {
			t.Fatalf("%s has %d photos", d.Name(), len(files))
		}
		out[d.Name()] = files
	}
	if len(out) < 3 {
		t.Fatalf("found %d people in %s", len(out), e.faces)
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enrolled is what enroll made: per person, the FaceIds of the indexed photos.
type enrolled map[string][]string

// enroll indexes the first n photos of each person, creates a user per person (UserId =
// the person's directory name) and associates the faces, through the SDK.
func (e *svcEnv) enroll(t testing.TB, c *rek.Client, coll string, n int) enrolled {
	t.Helper()
	ctx := context.Background()
	out := enrolled{}
	for person, files := range e.people(t) {
		for i, f := range files[:n] {
			res, err := c.IndexFaces(ctx, &rek.IndexFacesInput{
				CollectionId: aws.String(coll), Image: imageBytes(readFile(t, f)),
				ExternalImageId: aws.String(fmt.Sprintf("%s_%d", person, i)), MaxFaces: aws.Int32(1),
			})
			if err != nil {
				t.Fatalf("IndexFaces %s: %v", f, err)
			}
			if len(res.FaceRecords) != 1 {
				t.Fatalf("IndexFaces %s: %d face records, unindexed %+v", f, len(res.FaceRecords), res.UnindexedFaces)
			}
			out[person] = append(out[person], aws.ToString(res.FaceRecords[0].Face.FaceId))
		}
		if _, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String(person)}); err != nil {
			t.Fatalf("CreateUser %s: %v", person, err)
		}
		res, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(person), FaceIds: out[person]})
		if err != nil {
			t.Fatalf("AssociateFaces %s: %v", person, err)
		}
		if len(res.AssociatedFaces) != n {
			t.Fatalf("AssociateFaces %s: %d associated, unsuccessful %+v", person, len(res.AssociatedFaces), res.UnsuccessfulFaceAssociations)
		}
	}
	e.admin.sync(t, coll)
	return out
}
