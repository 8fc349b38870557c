package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// userEnv is a published collection on a real MinIO with the default model pack and one
// in-process shard, reached only through the Service, as the controllers reach it.
type userEnv struct {
	svc  *Service
	conn store.Connection
	// proxy stands between the service and MinIO, to fail a chosen step.
	proxy *testenv.FaultProxy
	// reader reads the storage apart from the service: what it sees is what is stored.
	reader *store.Store
	// bucket is the collection's bucket, with a client of root credentials.
	bucket *testenv.Bucket
}

func newUserEnv(t *testing.T) *userEnv { return newUserEnvBudget(t, nil) }

// newUserEnvBudget is newUserEnv with the engines' decode budget given (nil: the default).
func newUserEnvBudget(t *testing.T, budget *face.DecodeBudget) *userEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "t/"})
	engines, err := NewEngines(EnginesOptions{ModelPackDirs: []string{testenv.ModelPack(t)}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t), DecodeBudget: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	svc := NewService(engines).InNamespace("team-a")
	proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	conn := bucket.ProxiedConnection(proxy)
	opts := EnsureOptions{FaceModelVersion: "faceplugin-1.0", OwnerUID: "uid-a"}
	ensured, err := svc.EnsureCollection(ctx, conn, "people", opts)
	if err != nil || !ensured.Created {
		t.Fatalf("EnsureCollection: %+v, %v", ensured, err)
	}
	desc := ensured.Description
	if again, err := svc.EnsureCollection(ctx, conn, "people", opts); err != nil || again.Created || again.Claimed {
		t.Fatalf("EnsureCollection twice: %+v, %v", again, err)
	}
	if _, err := svc.EnsureCollection(ctx, conn, "people", EnsureOptions{FaceModelVersion: "dlib-blazeface-1.0", OwnerUID: "uid-a"}); !errs.Is(err, errs.FaceModelUnavailable) && !errs.Is(err, errs.FaceModelMismatch) {
		t.Fatalf("another model version on the same collection: %v", err)
	}
	st, err := svc.Stores.Acquire("test-shard", conn)
	if err != nil {
		t.Fatal(err)
	}
	shard := index.NewShard(st, desc.ID, index.ShardOptions{Shard: 0, Shards: 1})
	go func() { _ = shard.Run(ctx) }()
	for !shard.Ready() {
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	if err := svc.Publish(Collection{ID: "people", Name: "people", FaceModelVersion: desc.FaceModelVersion, Shards: []index.Searcher{shard}, Ready: true}, conn); err != nil {
		t.Fatal(err)
	}
	return &userEnv{svc: svc, conn: conn, proxy: proxy, reader: bucket.Store(), bucket: bucket}
}

// photos returns a person's labelled photos, sorted.
func photos(t *testing.T, person string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", person, "*.jpg"))
	sort.Strings(files)
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	if len(out) < 3 {
		t.Fatalf("%d photos of %s", len(out), person)
	}
	return out
}

func bytesFace(name string, data []byte) UserFace {
	return UserFace{ExternalImageID: name, Image: func(context.Context) (Image, error) { return Image{Bytes: data}, nil }}
}

func (e *userEnv) storedFaces(t *testing.T, userID string) map[string]string {
	t.Helper()
	recs, _, err := e.reader.ListFaces(context.Background(), "people", store.ListFacesOptions{MaxResults: store.MaxListResults})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{} // FaceId -> ExternalImageId, of this user or of no user
	for _, r := range recs {
		if r.UserID == userID || r.UserID == "" {
			out[r.FaceID] = r.ExternalImageID
		}
	}
	return out
}

func TestSyncUserFaces(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	simm, salley := photos(t, "John_Simm"), photos(t, "John_Salley")
	imageErr := UserFace{ExternalImageID: "from-a-secret", Image: func(context.Context) (Image, error) {
		return Image{}, errs.New(errs.InvalidS3Object, "Secret s has no key %q", "k")
	}}
	opts := SyncUserFacesOptions{UserMatchThreshold: 75}

	// Two photos of the person, one that is not an image, one reference that cannot be read.
	want := []UserFace{bytesFace("simm-0", simm[0]), bytesFace("simm-1", simm[1]), bytesFace("garbage", []byte("not an image at all")), imageErr}
	res, err := e.svc.SyncUserFaces(ctx, "people", "simm", want, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Associated != 2 || len(res.Faces) != 2 || res.User.UserStatus != store.UserStatusActive {
		t.Fatalf("first sync: associated %d, faces %d, status %s", res.Associated, len(res.Faces), res.User.UserStatus)
	}
	reasons := map[string]string{}
	for _, u := range res.Unsuccessful {
		reasons[u.ExternalImageID] = u.Reasons[0]
	}
	if reasons["garbage"] != string(errs.InvalidImageFormat) || reasons["from-a-secret"] != string(errs.InvalidS3Object) || len(reasons) != 2 {
		t.Fatalf("unsuccessful %+v", res.Unsuccessful)
	}

	// The same list again changes nothing: the store is the truth.
	again, err := e.svc.SyncUserFaces(ctx, "people", "simm", want, opts)
	if err != nil || again.Associated != 0 || again.Removed != 0 || len(again.Faces) != 2 {
		t.Fatalf("second sync: %+v, %v", again, err)
	}

	// A photo of someone else cannot join the user: the face is reported and not kept.
	withStranger := append(want[:2:2], bytesFace("salley-0", salley[0]))
	res, err = e.svc.SyncUserFaces(ctx, "people", "simm", withStranger, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unsuccessful) != 1 || res.Unsuccessful[0].ExternalImageID != "salley-0" || res.Unsuccessful[0].FaceID == "" ||
		res.Unsuccessful[0].Reasons[0] != store.ReasonLowMatchConfidence {
		t.Fatalf("stranger: %+v", res.Unsuccessful)
	}
	for id, name := range e.storedFaces(t, "simm") {
		if name == "salley-0" {
			t.Fatalf("the face %s that could not join the user is still stored", id)
		}
	}

	// Dropping a photo from the list erases its face.
	res, err = e.svc.SyncUserFaces(ctx, "people", "simm", want[:1], opts)
	if err != nil || res.Removed != 1 || len(res.Faces) != 1 || res.Faces[0].ExternalImageID != "simm-0" {
		t.Fatalf("after dropping simm-1: %+v, %v", res, err)
	}
	if stored := e.storedFaces(t, "simm"); len(stored) != 1 {
		t.Fatalf("stored after dropping one photo: %v", stored)
	}

	// Erasing the user erases its faces.
	n, err := e.svc.EraseUser(ctx, "people", "simm")
	if err != nil || n != 1 {
		t.Fatalf("EraseUser: %d, %v", n, err)
	}
	if _, err := e.reader.GetUser(ctx, "people", "simm"); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("the erased user is still stored: %v", err)
	}
	if stored := e.storedFaces(t, "simm"); len(stored) != 0 {
		t.Fatalf("faces left after erasure: %v", stored)
	}
	if n, err := e.svc.EraseUser(ctx, "people", "simm"); err != nil || n != 0 {
		t.Fatalf("erasing an erased user: %d, %v", n, err)
	}

	// An unpublished collection is not found; its Store is let go.
	e.svc.Unpublish("people")
	if _, err := e.svc.SyncUserFaces(ctx, "people", "simm", want, opts); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("sync on an unpublished collection: %v", err)
	}
	if err := e.svc.EraseCollection(ctx, e.conn, "people", "uid-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reader.DescribeCollection(ctx, "people"); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("the erased collection is still stored: %v", err)
	}
}

// enrol gives a user faces from the photos, named <userID>-<i>.
func (e *userEnv) enrol(t *testing.T, userID string, imgs [][]byte) []UserFace {
	t.Helper()
	var want []UserFace
	for i, img := range imgs {
		want = append(want, bytesFace(fmt.Sprintf("%s-%d", userID, i), img))
	}
	e.proxy.Count(testenv.IsCommit)
	res, err := e.svc.SyncUserFaces(context.Background(), "people", userID, want, SyncUserFacesOptions{UserMatchThreshold: 75})
	if err != nil || len(res.Faces) != len(imgs) {
		t.Fatalf("enrolling %s: %v %+v", userID, err, res)
	}
	return want
}

// storedOf is what storage holds of a user: whether it exists, and the stored faces of its
// images (by ExternalImageId) with the user each belongs to.
func (e *userEnv) storedOf(t *testing.T, userID string) (bool, map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, userErr := e.reader.GetUser(ctx, "people", userID)
	if userErr != nil && !errs.Is(userErr, errs.ResourceNotFound) {
		t.Fatal(userErr)
	}
	recs, _, err := e.reader.ListFaces(ctx, "people", store.ListFacesOptions{MaxResults: store.MaxListResults})
	if err != nil {
		t.Fatal(err)
	}
	faces := map[string]string{}
	for _, r := range recs {
		if strings.HasPrefix(r.ExternalImageID, userID+"-") {
			faces[r.ExternalImageID] = r.UserID
		}
	}
	return userErr == nil, faces
}

// TestErasureIsNeverHalfDone fails each storage commit of an erasure in turn. Whatever step
// fails, the user is never found erased while a face of it is still stored, and a retry
// erases everything: biometric data is never reported erased while a copy is readable.
func TestErasureIsNeverHalfDone(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	simm := photos(t, "John_Simm")
	retry := func(op func() error) {
		t.Helper()
		e.proxy.Count(testenv.IsCommit)
		for i := 0; ; i++ {
			err := op()
			if err == nil {
				return
			}
			if !errs.IsRetryable(err) || i == 20 {
				t.Fatalf("retry: %v", err)
			}
		}
	}

	t.Run("EraseUser", func(t *testing.T) {
		for step := 1; ; step++ {
			user := fmt.Sprintf("erase%d", step)
			e.enrol(t, user, simm[:2])
			e.proxy.Fail(testenv.IsCommit, step, 3)
			_, err := e.svc.EraseUser(ctx, "people", user)
			reached := e.proxy.Seen() >= step
			exists, faces := e.storedOf(t, user)
			if err != nil {
				if !reached {
					t.Fatalf("step %d: failed with no fault injected: %v", step, err)
				}
				if !exists && len(faces) > 0 {
					t.Fatalf("step %d failed: the user is gone but %d of its faces are still stored: %v", step, len(faces), faces)
				}
				if exists && len(faces) != 2 {
					t.Fatalf("step %d failed: the user stands with %d of its 2 faces", step, len(faces))
				}
			}
			retry(func() error { _, err := e.svc.EraseUser(ctx, "people", user); return err })
			if exists, faces := e.storedOf(t, user); exists || len(faces) > 0 {
				t.Fatalf("after step %d failed and a retry succeeded: user stored %v, faces %v", step, exists, faces)
			}
			if !reached {
				t.Logf("EraseUser takes %d commit(s); each was failed in turn", step-1)
				return
			}
		}
	})

	t.Run("faces dropped from the list", func(t *testing.T) {
		for step := 1; ; step++ {
			user := fmt.Sprintf("drop%d", step)
			want := e.enrol(t, user, simm[:3])
			e.proxy.Fail(testenv.IsCommit, step, 3)
			_, err := e.svc.SyncUserFaces(ctx, "people", user, want[:1], SyncUserFacesOptions{UserMatchThreshold: 75})
			reached := e.proxy.Seen() >= step
			_, faces := e.storedOf(t, user)
			if err != nil {
				for name, owner := range faces {
					if owner != user {
						t.Fatalf("step %d failed: face %s is stored but no longer on the user (owner %q)", step, name, owner)
					}
				}
			}
			retry(func() error {
				_, err := e.svc.SyncUserFaces(ctx, "people", user, want[:1], SyncUserFacesOptions{UserMatchThreshold: 75})
				return err
			})
			if _, faces := e.storedOf(t, user); len(faces) != 1 || faces[user+"-0"] != user {
				t.Fatalf("after step %d failed and a retry succeeded: %v", step, faces)
			}
			if !reached {
				t.Logf("dropping faces takes %d commit(s); each was failed in turn", step-1)
				return
			}
		}
	})
}
