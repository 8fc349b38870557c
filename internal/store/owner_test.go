package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestCollectionOwner: the manifest records the owner given at creation; SetOwner hands
// it over only from the current owner; DeleteOwnedCollection erases only for the owner.
func TestCollectionOwner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.Store()
	a := store.Owner{Namespace: "team-a", UID: "uid-a"}
	b := store.Owner{Namespace: "team-b", UID: "uid-b"}
	if _, err := st.CreateCollection(ctx, "people", store.CreateCollectionOptions{FaceModelVersion: "test-1", Dimension: dim, Owner: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IndexFaces(ctx, "people", []store.NewFace{face(1)}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another process reads the owner from storage.
	m, err := f.Store().Manifest(ctx, "people")
	if err != nil || m.Owner() != a {
		t.Fatalf("Manifest: %+v, %v", m, err)
	}
	wantCode(t, f.Store().DeleteOwnedCollection(ctx, "people", b), errs.CollectionOwnedElsewhere)
	if _, err := st.SetOwner(ctx, "people", b, b); !errs.Is(err, errs.Conflict) {
		t.Fatalf("SetOwner from one that is not the owner: %v", err)
	}
	if _, err := st.SetOwner(ctx, "people", a, b); err != nil {
		t.Fatal(err)
	}
	// The collection is the same one: the new owner's Store sees its face.
	d, err := st.DescribeCollection(ctx, "people")
	if err != nil || d.Owner() != b || d.FaceCount != 1 {
		t.Fatalf("after the hand-over: %+v, %v", d, err)
	}
	wantCode(t, f.Store().DeleteOwnedCollection(ctx, "people", a), errs.CollectionOwnedElsewhere)
	if err := f.Store().DeleteOwnedCollection(ctx, "people", b); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.Store().DeleteOwnedCollection(ctx, "people", b), errs.ResourceNotFound)

	// A collection without owner (made before owners were recorded) is erased by nobody's
	// DeleteOwnedCollection but its own claimant's.
	mustCreate(t, st, "legacy")
	wantCode(t, st.DeleteOwnedCollection(ctx, "legacy", a), errs.CollectionOwnedElsewhere)
}

// TestSetOwnerOneWinner: claimants that all saw a collection without owner race to claim it;
// the manifest's ETag makes exactly one of them win, whatever the interleaving.
func TestSetOwnerOneWinner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustCreate(t, f.Store(), "people")
	const n = 8
	var wg sync.WaitGroup
	won := make(chan store.Owner, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := store.Owner{Namespace: fmt.Sprintf("ns-%d", i), UID: fmt.Sprintf("uid-%d", i)}
			_, err := f.Store().SetOwner(ctx, "people", store.Owner{}, o)
			switch {
			case err == nil:
				won <- o
			case !errs.Is(err, errs.Conflict):
				t.Errorf("claimant %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(won)
	var winners []store.Owner
	for o := range won {
		winners = append(winners, o)
	}
	m, err := f.Store().Manifest(ctx, "people")
	if err != nil {
		t.Fatal(err)
	}
	if len(winners) != 1 || m.Owner() != winners[0] {
		t.Fatalf("winners %v, stored owner %+v", winners, m.Owner())
	}
}
