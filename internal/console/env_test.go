package console

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/minio/minio-go/v7"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/net/html"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// The console's tests run on the real parts: a MinIO, the face engine of the default model
// pack, in-process index shards and the real search path, as the endpoint's tests do.

const testNamespace = "default"

// The access keys of the tests, one per scope the pages must respect.
const (
	adminKey, adminSecret   = "AKIDCONSOLEADMIN0001", "admin-secret/xyz"
	staffKey, staffSecret   = "AKIDCONSOLESTAFF0001", "staff-secret"
	lookKey, lookSecret     = "AKIDCONSOLELOOK00001", "look-secret" // reads, never searches
	searchKey, searchSecret = "AKIDCONSOLESRCH00001", "search-secret"
)

func keyData() map[string][]byte {
	return map[string][]byte{
		adminKey: []byte(adminSecret), adminKey + ".scope": []byte("admin"), adminKey + ".collections": []byte("*"),
		staffKey: []byte(staffSecret), staffKey + ".scope": []byte("read"), staffKey + ".collections": []byte("staff"),
		lookKey: []byte(lookSecret), lookKey + ".scope": []byte("DescribeCollection,ListCollections,ListUsers,ListFaces"), lookKey + ".collections": []byte("*"),
		searchKey: []byte(searchSecret), searchKey + ".scope": []byte("search"), searchKey + ".collections": []byte("staff"),
	}
}

// clock is a settable time, for session expiry and rate limit windows.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a namespace with two collections: staff (2 shards, 5 people with 3 faces each,
// enrolled from objects under enrol/ named by their ExternalImageIds) and visitors (1 shard,
// one face).
type env struct {
	svc     *search.Service
	bucket  *testenv.Bucket
	conn    store.Connection
	creds   *rekognition.SecretCredentials
	clock   *clock
	people  map[string][]string // person -> photo paths, sorted
	persons []string            // sorted
	// enrolled maps each person to the FaceIds indexed from its first 3 photos.
	enrolled map[string][]string
	log      logr.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{})
	engines, err := search.NewEngines(search.EnginesOptions{
		ModelPackDirs: []string{testenv.ModelPack(t)}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t),
		IntraOpThreads: 1, MaxConcurrent: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	e := &env{svc: search.NewService(engines).InNamespace(testNamespace), bucket: bucket, conn: bucket.Connection(),
		creds: &rekognition.SecretCredentials{}, clock: &clock{now: time.Now()}, enrolled: map[string][]string{}, log: testr.New(t)}
	if err := e.creds.Update(keyData()); err != nil {
		t.Fatal(err)
	}
	e.people = people(t)
	for p := range e.people {
		e.persons = append(e.persons, p)
	}
	sort.Strings(e.persons)
	e.collection(t, "staff", 2, []search.S3Location{{Prefix: "enrol/"}, {Prefix: "cameras/"}})
	e.collection(t, "visitors", 1, nil)
	for _, person := range e.persons {
		for i, f := range e.people[person][:3] {
			name := fmt.Sprintf("%s_%d.jpg", person, i)
			e.put(t, "enrol/"+name, readFile(t, f))
			res, err := e.svc.IndexFaces(ctx, "staff", search.Image{S3Object: &search.S3Object{Name: "enrol/" + name}},
				search.IndexFacesOptions{ExternalImageID: name, MaxFaces: 1})
			if err != nil || len(res.FaceRecords) != 1 {
				t.Fatalf("IndexFaces %s: %v, %+v", name, err, res)
			}
			e.enrolled[person] = append(e.enrolled[person], res.FaceRecords[0].Record.FaceID)
		}
		if err := e.svc.CreateUser(ctx, "staff", person, store.UserOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.AssociateFaces(ctx, "staff", person, e.enrolled[person], 0, store.UserOptions{})
		if err != nil || len(res.Associated) != 3 {
			t.Fatalf("AssociateFaces %s: %v, %+v", person, err, res)
		}
	}
	if _, err := e.svc.IndexFaces(ctx, "visitors", search.Image{Bytes: readFile(t, e.people[e.persons[0]][10])},
		search.IndexFacesOptions{ExternalImageID: "visitor", MaxFaces: 1}); err != nil {
		t.Fatal(err)
	}
	return e
}

// collection makes a stored collection, runs its shards in this process and publishes it
// once they have loaded, as the Collection controller does with in-process indexes.
func (e *env) collection(t *testing.T, id string, shards int, sources []search.S3Location) {
	t.Helper()
	ctx := context.Background()
	version := e.svc.Engines.Versions()[0]
	if _, err := e.svc.EnsureCollection(ctx, e.conn, id, search.EnsureOptions{FaceModelVersion: version, OwnerUID: "uid-" + id}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.Stores.Acquire("test-"+id, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var searchers []index.Searcher
	var replicas []search.ShardReplicas
	for i := 0; i < shards; i++ {
		sh := index.NewShard(st, id, index.ShardOptions{Shard: i, Shards: shards, PollInterval: 20 * time.Millisecond})
		wg.Add(1)
		go func() { defer wg.Done(); _ = sh.Run(runCtx) }()
		for deadline := time.Now().Add(time.Minute); !sh.Ready(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("shard %d of %s did not load", i, id)
			}
		}
		searchers = append(searchers, sh)
		replicas = append(replicas, search.ShardReplicas{Ready: 1, Desired: 1})
	}
	if err := e.svc.Publish(search.Collection{ID: id, Name: id + "-resource", ARN: "arn:facesearch:rekognition:" + testNamespace + "::collection/" + id,
		FaceModelVersion: version, Shards: searchers, Ready: true, Replicas: replicas, ImageSources: sources}, e.conn); err != nil {
		t.Fatal(err)
	}
}

// put stores an object in the collections' bucket.
func (e *env) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := e.bucket.Client.PutObject(context.Background(), e.bucket.Name, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// server serves a console of the env (a fresh one: its own sign-in limits), as one api
// replica would.
func (e *env) server(t *testing.T, reader client.Reader) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e.handler(reader))
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) handler(reader client.Reader) http.Handler {
	return New(Options{Search: e.svc, Credentials: e.creds, Namespace: testNamespace, Reader: reader, Log: e.log, Now: e.clock.Now})
}

func people(t *testing.T) map[string][]string {
	t.Helper()
	dir := filepath.Join(testenv.TestFaces(t), "johns")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, d := range entries {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, d.Name(), "*.jpg"))
		sort.Strings(files)
		if len(files) < 11 {
			t.Fatalf("%s has %d photos", d.Name(), len(files))
		}
		out[d.Name()] = files
	}
	if len(out) < 3 {
		t.Fatalf("found %d people in %s", len(out), dir)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tile is one face of a group photo: a person's photo, scaled to side pixels, at x.
type tile struct {
	person string
	photo  string
	side   int
	x, y   int
}

// groupPhoto composes the tiles on a grey canvas, as a JPEG.
func groupPhoto(t *testing.T, w, h int, tiles []tile) []byte {
	t.Helper()
	canvas := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.Draw(canvas, canvas.Bounds(), &image.Uniform{C: color.RGBA{R: 128, G: 128, B: 128, A: 255}}, image.Point{}, xdraw.Src)
	for _, tl := range tiles {
		src, err := jpeg.Decode(bytes.NewReader(readFile(t, tl.photo)))
		if err != nil {
			t.Fatal(err)
		}
		xdraw.CatmullRom.Scale(canvas, image.Rect(tl.x, tl.y, tl.x+tl.side, tl.y+tl.side), src, src.Bounds(), xdraw.Src, nil)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, canvas, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// browser is one person's browser: its own cookies, redirects not followed (the tests look
// at them).
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	c := *srv.Client() // the server's client is shared: each browser has its own cookies
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, c: &c, base: srv.URL}
}

// page is an answer, its body read and, for HTML, parsed.
type page struct {
	*http.Response
	body string
	doc  *html.Node
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{Response: resp, body: string(data)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(data)); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// postMultipart posts fields and, when image is not nil, a file "image", as the search form.
func (b *browser) postMultipart(path string, fields map[string]string, image []byte) *page {
	b.t.Helper()
	body, ct := multipartBody(b.t, fields, image)
	req, err := http.NewRequest(http.MethodPost, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

// signIn signs in as a person does: the form, then the pair. It returns the answer to the
// pair.
func (b *browser) signIn(keyID, secret string) *page {
	b.t.Helper()
	form := b.get("/console/signin")
	if form.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /console/signin: %s", form.Status)
	}
	return b.post("/console/signin", url.Values{"csrf": {inputValue(byID(form.doc, "signin-form"), "csrf")},
		"access_key_id": {keyID}, "secret_access_key": {secret}})
}

// mustSignIn signs in and fails the test unless the console lets the key in.
func (b *browser) mustSignIn(keyID, secret string) {
	b.t.Helper()
	if p := b.signIn(keyID, secret); p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("signing in as %s: %s\n%s", keyID, p.Status, p.body)
	}
}

// csrf is the session's token, from the sign-out form of a page.
func (b *browser) csrf() string {
	b.t.Helper()
	p := b.get("/console/collections")
	tok := inputValue(byID(p.doc, "signout-form"), "csrf")
	if tok == "" {
		b.t.Fatalf("no CSRF token on the collections page (%s)", p.Status)
	}
	return tok
}
