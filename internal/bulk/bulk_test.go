package bulk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// tree uploads three users of three photos each, a user whose one photo has no face, a
// photo that is no image, a folder whose name is no UserId, and a photo that belongs to no
// user; it returns how many photos a worker lists (all but the last).
func (e *env) tree(t *testing.T) int {
	t.Helper()
	photos := map[string][]byte{
		photoPrefix + "nobody/blank.jpg":     blank(),
		photoPrefix + "John_Simm/broken.jpg": []byte("not an image at all"),
		photoPrefix + "bad user!/x.jpg":      johns(t, "John_Simm")[0],
		photoPrefix + "stray.jpg":            johns(t, "John_Simm")[1],
	}
	for _, p := range people[:3] {
		for i, data := range johns(t, p)[:3] {
			photos[fmt.Sprintf("%s%s/%d.jpg", photoPrefix, p, i)] = data
		}
	}
	e.put(t, photos)
	return len(photos) - 1
}

// TestBulkEnrolTwoWorkers enrols a small tree with two workers at once, then checks the
// users, faces and associations in the store and the progress objects; a second run of the
// job, and another job over the same photos, store nothing more.
func TestBulkEnrolTwoWorkers(t *testing.T) {
	e := newEnv(t)
	listed := e.tree(t)
	ps := e.runAll(t, "first", 2, nil)
	if ps[0].Listed+ps[1].Listed != listed || ps[0].Listed == 0 || ps[1].Listed == 0 {
		t.Fatalf("workers listed %d and %d photos of %d", ps[0].Listed, ps[1].Listed, listed)
	}
	byExt := e.checkOnce(t, testCollection, "first", listed, true)

	s := Merge(e.job(t, "first"))
	if s.Indexed != 9 || s.NoFace != 1 || s.Failed != 2 || s.Ignored != 1 || s.Batches < 2 || s.Workers != 2 || s.Restarts != 0 {
		t.Fatalf("summary %+v", s)
	}
	reasons := map[string]string{}
	for _, k := range s.Skipped {
		reasons[k.Key] = k.Reason
	}
	want := map[string]string{
		photoPrefix + "nobody/blank.jpg":     search.ReasonNoFace,
		photoPrefix + "John_Simm/broken.jpg": string(errs.InvalidImageFormat),
		photoPrefix + "bad user!/x.jpg":      string(errs.InvalidParameter),
	}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Fatalf("skipped %v, want %v", reasons, want)
	}
	for _, p := range people[:3] {
		for i := range 3 {
			if f, ok := byExt[fmt.Sprintf("%s:%d.jpg", p, i)]; !ok || f.UserID != p {
				t.Fatalf("photo %s/%d.jpg: face %+v", p, i, f)
			}
		}
	}
	// Every user of a folder with a valid name, with faces or not, as `facesearch enrol`.
	if got := e.users(t, testCollection); fmt.Sprint(got) != fmt.Sprint([]string{"John_Salley", "John_Savage", "John_Schneider", "John_Simm", "nobody"}) {
		t.Fatalf("users %v", got)
	}
	for _, u := range people[:3] {
		user, err := e.reader.GetUser(context.Background(), testCollection, u)
		if err != nil || user.UserStatus != store.UserStatusActive {
			t.Fatalf("user %s: %+v, %v", u, user, err)
		}
	}

	// The same job again finds every photo done; another job finds every face stored.
	ps = e.runAll(t, "first", 2, nil)
	if ps[0].Starts != 2 || ps[1].Starts != 2 || ps[0].Batches+ps[1].Batches != s.Batches {
		t.Fatalf("the job run again: %+v %+v", ps[0], ps[1])
	}
	e.runAll(t, "second", 3, nil)
	again := e.checkOnce(t, testCollection, "second", listed, true)
	for ext, f := range byExt {
		if again[ext].FaceID != f.FaceID {
			t.Fatalf("photo %s: face %s, then %s", ext, f.FaceID, again[ext].FaceID)
		}
	}

	// A job's settings are its own: other ones are refused, not mixed in.
	opts := e.options(t, "first", 0, 3)
	if _, err := e.run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "ran with 2 workers") {
		t.Fatalf("the job with other --workers: %v", err)
	}
	opts = e.options(t, "first", 0, 2)
	opts.NoUsers = true
	if _, err := e.run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "give the same flags") {
		t.Fatalf("the job with --no-users: %v", err)
	}
}

// TestBulkEnrolNoUsers indexes every photo under the prefix, at any depth, and makes no user.
func TestBulkEnrolNoUsers(t *testing.T) {
	e := newEnv(t)
	listed := e.tree(t) + 1 // the stray photo too
	e.runAll(t, "faces", 2, func(o *Options) { o.NoUsers = true })
	byExt := e.checkOnce(t, testCollection, "faces", listed, false)
	if _, ok := byExt["stray.jpg"]; !ok || len(byExt) != 11 {
		t.Fatalf("faces %v", byExt)
	}
	if users := e.users(t, testCollection); len(users) != 0 {
		t.Fatalf("users %v", users)
	}
}

// TestBulkEnrolRefusedFaces: a face the user refuses (not similar enough to its faces, or the
// user full) is counted failed with the reason and erased.
func TestBulkEnrolRefusedFaces(t *testing.T) {
	e := newEnv(t)
	salley, savage := johns(t, "John_Salley"), johns(t, "John_Savage")
	e.put(t, map[string][]byte{
		photoPrefix + "alice/1.jpg": salley[0], photoPrefix + "alice/2.jpg": salley[1],
		photoPrefix + "alice/3.jpg": savage[0], // another person, in the second batch
		"quota/full/1.jpg":          salley[2], "quota/full/2.jpg": salley[3], "quota/full/3.jpg": salley[4],
	})
	e.runAll(t, "refusals", 1, func(o *Options) { o.BatchSize = 2 })
	s := Merge(e.job(t, "refusals"))
	if s.Indexed != 2 || s.Failed != 1 || len(s.Skipped) != 1 || s.Skipped[0].Key != photoPrefix+"alice/3.jpg" ||
		s.Skipped[0].Reason != store.ReasonLowMatchConfidence {
		t.Fatalf("summary %+v", s)
	}
	for _, f := range e.faces(t, testCollection) {
		if f.ExternalImageID == "alice:3.jpg" || f.UserID != "alice" {
			t.Fatalf("face %+v: the refused face is stored, or a face is not on its user", f)
		}
	}

	// "full" holds 98 faces already (made-up vectors: a threshold of 0 takes any face): two
	// more join it, the third is one too many.
	ctx := context.Background()
	if err := e.reader.CreateUser(ctx, testCollection, "full", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	var faces []store.NewFace
	for i := range 98 {
		v := make([]float32, 512)
		v[i] = 1
		faces = append(faces, store.NewFace{ImageID: uuid.NewString(), ExternalImageID: fmt.Sprint("old-", i), Embedding: v})
	}
	recs, err := e.reader.ImportFaces(ctx, testCollection, faces, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.FaceID)
	}
	if _, err := e.reader.AssociateFaces(ctx, testCollection, "full", ids, store.AssociateFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	e.runAll(t, "quota", 1, func(o *Options) {
		zero := float32(0)
		o.BatchSize, o.SourcePrefix, o.UserMatchThreshold = 2, "quota/", &zero
	})
	s = Merge(e.job(t, "quota"))
	if s.Indexed != 2 || s.Failed != 1 || len(s.Skipped) != 1 || s.Skipped[0].Key != "quota/full/3.jpg" ||
		s.Skipped[0].Reason != string(errs.ServiceQuotaExceeded) {
		t.Fatalf("summary %+v", s)
	}
	on := 0
	for _, f := range e.faces(t, testCollection) {
		if f.ExternalImageID == "full:3.jpg" {
			t.Fatalf("the refused face %+v is stored", f)
		}
		if f.UserID == "full" {
			on++
		}
	}
	if on != store.MaxFacesPerUser {
		t.Fatalf("user full holds %d faces", on)
	}
}

// TestBulkEnrolStorageFaults fails one request to MinIO at a time, at each step of a worker
// (the client's own retries used up), and checks that the worker rides it out and enrols each
// photo once, and that a fault it cannot ride out (longer than RetryFor) stops it with an
// error that a run after it recovers from.
func TestBulkEnrolStorageFaults(t *testing.T) {
	isPut := func(part string) func(*http.Request) bool {
		return func(r *http.Request) bool { return r.Method == http.MethodPut && strings.Contains(r.URL.Path, part) }
	}
	isPhotoRead := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/"+photoPrefix)
	}
	isListing := func(r *http.Request) bool {
		return r.Method == http.MethodGet && r.URL.Query().Get("prefix") == photoPrefix
	}
	testCases := []struct {
		name   string
		match  func(*http.Request) bool
		nth    int
		landed bool
	}{
		{name: "the first commit", match: testenv.IsCommit, nth: 1},
		{name: "the third commit", match: testenv.IsCommit, nth: 3},
		{name: "a commit whose answer is lost", match: testenv.IsCommit, nth: 2, landed: true},
		{name: "a progress write", match: isPut("/bulk/"), nth: 2},
		{name: "a progress write whose answer is lost", match: isPut("/bulk/"), nth: 2, landed: true},
		{name: "a photo's read", match: isPhotoRead, nth: 3},
		{name: "the listing", match: isListing, nth: 1},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var photos = map[string][]byte{}
			for i, data := range johns(t, "John_Shimkus")[:6] {
				photos[fmt.Sprintf("%sJohn_Shimkus/%d.jpg", photoPrefix, i)] = data
			}
			e.put(t, photos)
			if tc.landed {
				e.proxy.FailAnswer(tc.match, tc.nth, 3)
			} else {
				e.proxy.Fail(tc.match, tc.nth, 3)
			}
			opts := e.options(t, "faults", 0, 1)
			opts.BatchSize = 2
			if _, err := e.run(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if e.proxy.Seen() < tc.nth {
				t.Fatalf("the fault was never injected: %d matching requests", e.proxy.Seen())
			}
			e.checkOnce(t, testCollection, "faults", 6, true)
			if s := Merge(e.job(t, "faults")); s.Indexed != 6 {
				t.Fatalf("summary %+v", s)
			}
		})
	}

	// Outages longer than RetryFor stop the worker: from the second commit on (between the
	// batch's faces and its user), and from the second progress write on (after the first
	// batch's commits, before its record: the next run does that batch again).
	outages := []struct {
		name     string
		match    func(*http.Request) bool
		replayed int
	}{
		{name: "commits", match: testenv.IsCommit},
		{name: "progress writes", match: isPut("/bulk/"), replayed: 2},
	}
	for _, o := range outages {
		t.Run("longer than RetryFor: "+o.name, func(t *testing.T) {
			e := newEnv(t)
			photos := map[string][]byte{}
			for i, data := range johns(t, "John_Shimkus")[:6] {
				photos[fmt.Sprintf("%sJohn_Shimkus/%d.jpg", photoPrefix, i)] = data
			}
			e.put(t, photos)
			e.proxy.Fail(o.match, 2, 1000)
			opts := e.options(t, "outage", 0, 1)
			opts.BatchSize, opts.RetryFor = 2, time.Second
			_, err := e.run(context.Background(), opts)
			if !errs.Is(err, errs.StorageUnavailable) || !strings.Contains(err.Error(), "gave up") {
				t.Fatalf("a worker through an outage: %v", err)
			}
			stored := len(e.faces(t, testCollection))
			if o.replayed > 0 && stored != o.replayed {
				t.Fatalf("%d faces stored before the outage, want the first batch's %d", stored, o.replayed)
			}
			e.proxy.Fail(nil, 0, 0)
			if _, err := e.run(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			e.checkOnce(t, testCollection, "outage", 6, true)
			if s := Merge(e.job(t, "outage")); s.Restarts != 1 || s.Indexed != 6 {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}

// TestBulkEnrolTwoProcessesOfOneWorker: a process whose progress object another process of
// the same worker wrote meanwhile stops, rather than both going on; the photos are enrolled
// once all the same.
func TestBulkEnrolTwoProcessesOfOneWorker(t *testing.T) {
	e := newEnv(t)
	photos := map[string][]byte{}
	for i, data := range johns(t, "John_Schneider")[:6] {
		photos[fmt.Sprintf("%sJohn_Schneider/%d.jpg", photoPrefix, i)] = data
	}
	e.put(t, photos)
	// The first process's second progress write is held in flight...
	isProgress := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/bulk/")
	}
	n := 0
	held, release := e.proxy.Hold(func(r *http.Request) bool {
		if isProgress(r) {
			n++
		}
		return isProgress(r) && n == 2
	})
	defer release()
	first := make(chan error, 1)
	go func() {
		opts := e.options(t, "twice", 0, 1)
		opts.BatchSize = 2
		_, err := e.run(context.Background(), opts)
		first <- err
	}()
	select {
	case <-held:
	case err := <-first:
		t.Fatalf("the first process ended before its progress write was held: %v", err)
	}
	// ...while a second one, not through the proxy, does the whole job.
	opts := e.options(t, "twice", 0, 1)
	opts.Storage = e.bucket.Connection()
	opts.BatchSize = 2
	if _, err := e.run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	release()
	err := <-first
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("the first process after the second wrote its progress: %v", err)
	}
	e.checkOnce(t, testCollection, "twice", 6, true)
}

// TestBulkEnrolMissingCollection: a collection that does not exist is a clear error.
func TestBulkEnrolMissingCollection(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t, "nope", 0, 1)
	opts.Collection = "nope"
	_, err := e.run(context.Background(), opts)
	if !errs.Is(err, errs.ResourceNotFound) || !strings.Contains(err.Error(), `collection "nope" does not exist in s3://`+e.bucket.Name+"/fs/") {
		t.Fatalf("a missing collection: %v", err)
	}
	var ee *errs.Error
	if !errors.As(err, &ee) {
		t.Fatal("no coded error")
	}
}
