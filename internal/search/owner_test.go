package search

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// ownerEnv is one manager's service, seen from several namespaces, over one bucket.
type ownerEnv struct {
	root   *Service
	bucket *testenv.Bucket
	conn   store.Connection
}

func newOwnerEnv(t *testing.T) *ownerEnv {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "shared/"})
	engines, err := NewEngines(EnginesOptions{ModelPackDirs: []string{testenv.ModelPack(t)}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	return &ownerEnv{root: NewService(engines), bucket: bucket, conn: bucket.Connection()}
}

func (e *ownerEnv) ensure(namespace, uid string, adopt func(context.Context, store.Owner) (bool, error)) (*Ensured, error) {
	return e.root.InNamespace(namespace).EnsureCollection(context.Background(), e.conn, "people",
		EnsureOptions{FaceModelVersion: "faceplugin-1.0", OwnerUID: uid, Adopt: adopt})
}

// faces is the number of faces stored, read apart from the services.
func (e *ownerEnv) faces(t *testing.T) int64 {
	t.Helper()
	d, err := e.bucket.Store().DescribeCollection(context.Background(), "people")
	if err != nil {
		t.Fatalf("the stored collection: %v", err)
	}
	return d.FaceCount
}

func wantOwnedElsewhere(t *testing.T, what string, err error, mustNotSay ...string) {
	t.Helper()
	if !errs.Is(err, errs.CollectionOwnedElsewhere) {
		t.Fatalf("%s: got %v, want CollectionOwnedElsewhere", what, err)
	}
	for _, s := range mustNotSay {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q tells %q", what, err, s)
		}
	}
}

// TestCollectionOwner: two namespaces name the same bucket, prefix and CollectionId. The
// stored collection belongs to the first; the second can neither take it over, nor erase
// it, unless it asks to adopt it. A Collection created again (a new UID) is another owner
// too.
func TestCollectionOwner(t *testing.T) {
	e := newOwnerEnv(t)
	ctx := context.Background()
	adoptAny := func(context.Context, store.Owner) (bool, error) { return true, nil }

	a, err := e.ensure("team-a", "uid-a", nil)
	if err != nil || !a.Created || a.Description.Owner() != (store.Owner{Namespace: "team-a", UID: "uid-a"}) {
		t.Fatalf("the first Collection: %+v, %v", a, err)
	}
	st := e.bucket.Store()
	vec := make([]float32, a.Description.Dimension)
	vec[0] = 1
	if _, err := st.ImportFaces(ctx, "people", []store.NewFace{{ImageID: "i", Confidence: 99, Embedding: vec}}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}

	_, err = e.ensure("team-b", "uid-b", nil)
	wantOwnedElsewhere(t, "another namespace", err, "team-a", "uid-a")
	err = e.root.InNamespace("team-b").EraseCollection(ctx, e.conn, "people", "uid-b")
	wantOwnedElsewhere(t, "erasure from another namespace", err)
	if n := e.faces(t); n != 1 {
		t.Fatalf("%d faces after a refused erasure", n)
	}
	_, err = e.ensure("team-a", "uid-a2", nil)
	wantOwnedElsewhere(t, "a Collection created again", err)
	if !strings.Contains(err.Error(), "uid-a") {
		t.Errorf("within its namespace the refusal names the owner: %v", err)
	}
	refuse := errs.New(errs.CollectionOwnedElsewhere, "its owner still exists")
	if _, err := e.ensure("team-b", "uid-b", func(context.Context, store.Owner) (bool, error) { return false, refuse }); !errors.Is(err, refuse) {
		t.Fatalf("Adopt's own refusal: %v", err)
	}

	// Adoption, asked for: the same stored collection changes hands.
	var asked store.Owner
	b, err := e.ensure("team-b", "uid-b", func(_ context.Context, current store.Owner) (bool, error) { asked = current; return true, nil })
	if err != nil || !b.Claimed || b.Created || b.From != (store.Owner{Namespace: "team-a", UID: "uid-a"}) || asked != b.From || b.Description.FaceCount != 1 {
		t.Fatalf("adoption: %+v, %v (asked about %+v)", b, err, asked)
	}
	_, err = e.ensure("team-a", "uid-a", nil)
	wantOwnedElsewhere(t, "the former owner", err, "team-b", "uid-b")
	wantOwnedElsewhere(t, "erasure by the former owner", e.root.InNamespace("team-a").EraseCollection(ctx, e.conn, "people", "uid-a"))
	if err := e.root.InNamespace("team-b").EraseCollection(ctx, e.conn, "people", "uid-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Manifest(ctx, "people"); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("the owner's erasure left the collection: %v", err)
	}

	// A collection made before owners were recorded is claimed by the first to ensure it,
	// adoption or not; then it is owned like any other.
	testenv.CreateCollection(t, st, "people", "faceplugin-1.0", a.Description.Dimension)
	c, err := e.ensure("team-c", "uid-c", nil)
	if err != nil || !c.Claimed || !c.From.IsZero() {
		t.Fatalf("claiming a collection without owner: %+v, %v", c, err)
	}
	_, err = e.ensure("team-a", "uid-a", nil)
	wantOwnedElsewhere(t, "a claimed collection", err)
	// Adoption takes it over from its claimant as from any owner.
	_, err = e.root.InNamespace("team-a").EnsureCollection(ctx, e.conn, "people", EnsureOptions{FaceModelVersion: "faceplugin-1.0", OwnerUID: "uid-a", Adopt: adoptAny})
	if err != nil {
		t.Fatalf("adopting the claimed collection: %v", err)
	}

	// A collection it could not use (another model) is not claimed, so that deleting the
	// Collection that found it does not erase it.
	testenv.CreateCollection(t, st, "older", "another-model-1.0", 8)
	_, err = e.root.InNamespace("team-a").EnsureCollection(ctx, e.conn, "older", EnsureOptions{FaceModelVersion: "faceplugin-1.0", OwnerUID: "uid-a"})
	if !errs.Is(err, errs.FaceModelMismatch) {
		t.Fatalf("a collection of another model: %v", err)
	}
	if m, err := st.Manifest(ctx, "older"); err != nil || !m.Owner().IsZero() {
		t.Fatalf("a collection of another model was claimed: %+v, %v", m, err)
	}
	wantOwnedElsewhere(t, "erasing an unclaimed collection", e.root.InNamespace("team-a").EraseCollection(ctx, e.conn, "older", "uid-a"))
}

// TestCollectionOwnerRace: Collections of several namespaces ensure one stored collection
// at once, when it does not exist and when it exists without owner. Exactly one gets it;
// the others are refused.
func TestCollectionOwnerRace(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			e := newOwnerEnv(t)
			if legacy {
				testenv.CreateCollection(t, e.bucket.Store(), "people", "faceplugin-1.0", 512)
			}
			const n = 6
			var wg sync.WaitGroup
			var mu sync.Mutex
			var winners []string
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ns := fmt.Sprintf("team-%d", i)
					_, err := e.ensure(ns, "uid-"+ns, nil)
					switch {
					case err == nil:
						mu.Lock()
						winners = append(winners, ns)
						mu.Unlock()
					case !errs.Is(err, errs.CollectionOwnedElsewhere):
						t.Errorf("%s: %v", ns, err)
					}
				}()
			}
			wg.Wait()
			m, err := e.bucket.Store().Manifest(context.Background(), "people")
			if err != nil {
				t.Fatal(err)
			}
			if len(winners) != 1 || m.OwnerNamespace != winners[0] {
				t.Fatalf("winners %v, stored owner %+v", winners, m.Owner())
			}
		})
	}
}
