package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// ownedElsewhereRetryAfter is how soon a Collection refused a stored collection that
// another Collection owns looks again: the owner may be deleted, or erase the collection.
const ownedElsewhereRetryAfter = 30 * time.Second

// adoption is the Collection's answer to "may the stored collection that current owns be
// taken over?": only as spec.adoption allows, and only once that owner no longer exists, so
// that two live Collections never take a collection from each other in turn.
func (r *CollectionReconciler) adoption(col *facesearchv1.Collection) func(context.Context, store.Owner) (bool, error) {
	a := col.Spec.Adoption
	return func(ctx context.Context, current store.Owner) (bool, error) {
		switch a.Policy {
		case facesearchv1.AdoptionSameNamespace:
			if current.Namespace != col.Namespace {
				return false, nil
			}
		case facesearchv1.AdoptionOwnerUID:
			if current.UID != a.OwnerUID {
				return false, nil
			}
		default:
			return false, nil
		}
		name, err := r.collectionOf(ctx, current)
		if err != nil {
			return false, err
		}
		if name != "" {
			return false, errs.New(errs.CollectionOwnedElsewhere,
				"the stored collection belongs to Collection %s/%s (uid %s), which still exists; it is taken over once that Collection is deleted with deletionPolicy Retain",
				current.Namespace, name, current.UID)
		}
		return true, nil
	}
}

// collectionOf is the name of the Collection that is owner, or "" if none exists (one being
// deleted still does). It reads the API server, not the cache: a Collection created a moment
// ago must not be taken for gone.
func (r *CollectionReconciler) collectionOf(ctx context.Context, owner store.Owner) (string, error) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	var list facesearchv1.CollectionList
	if err := reader.List(ctx, &list, client.InNamespace(owner.Namespace)); err != nil {
		return "", fmt.Errorf("while looking for the Collection that owns the stored collection: %w", err)
	}
	for _, c := range list.Items {
		if string(c.UID) == owner.UID {
			return c.Name, nil
		}
	}
	return "", nil
}

// adoptionHint tells what spec.adoption can do about a stored collection owned elsewhere.
func adoptionHint(col *facesearchv1.Collection) string {
	switch col.Spec.Adoption.Policy {
	case facesearchv1.AdoptionSameNamespace, facesearchv1.AdoptionOwnerUID:
		return fmt.Sprintf("spec.adoption (policy %s) does not take it over now", col.Spec.Adoption.Policy)
	}
	return "it is not read, served or erased from this Collection; spec.adoption can take it over once its owner is deleted"
}

// imageSources are the spec's image sources as the search path takes them.
func imageSources(locs []facesearchv1.ImageLocation) []search.S3Location {
	var out []search.S3Location
	for _, l := range locs {
		out = append(out, search.S3Location{Bucket: l.Bucket, Prefix: l.Prefix})
	}
	return out
}
