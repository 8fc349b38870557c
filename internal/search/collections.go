package search

import (
	"context"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// The lifecycle of a collection in storage and in the registry, driven by the Collection
// controller: EnsureCollection, Publish, Compact, then Unpublish and EraseCollection.

// owner is the pool owner of a collection's Store: one per namespace and CollectionId.
func (s *Service) owner(id string) string { return key(s.Collections.namespace, id) }

// EnsureCollection makes sure the bucket and the collection's manifest exist in storage,
// creating the collection with the dimension of faceModelVersion's engine, and that the
// stored collection uses faceModelVersion. It answers FaceModelUnavailable when no pack
// serves faceModelVersion and FaceModelMismatch when the stored collection has another.
func (s *Service) EnsureCollection(ctx context.Context, conn store.Connection, id, faceModelVersion string) (desc *store.CollectionDescription, created bool, err error) {
	eng, err := s.Engines.Get(faceModelVersion)
	if err != nil {
		return nil, false, err
	}
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return nil, false, err
	}
	if err := st.EnsureBucket(ctx); err != nil {
		return nil, false, err
	}
	desc, err = st.DescribeCollection(ctx, id)
	if errs.Is(err, errs.ResourceNotFound) {
		_, err = st.CreateCollection(ctx, id, store.CreateCollectionOptions{FaceModelVersion: faceModelVersion, Dimension: eng.Dimension()})
		if err == nil || errs.Is(err, errs.ResourceAlreadyExists) {
			created = err == nil
			desc, err = st.DescribeCollection(ctx, id)
		}
	}
	if err != nil {
		return nil, false, err
	}
	if desc.FaceModelVersion != faceModelVersion {
		return nil, false, errs.New(errs.FaceModelMismatch, "the stored collection %s was made with faceModelVersion %q, not %q", id, desc.FaceModelVersion, faceModelVersion)
	}
	return desc, created, nil
}

// Publish makes a collection searchable (or updates its shards and readiness) in this
// service's namespace; its storage is conn's.
func (s *Service) Publish(c Collection, conn store.Connection) error {
	st, err := s.Stores.Acquire(s.owner(c.ID), conn)
	if err != nil {
		return err
	}
	c.Namespace = s.Collections.namespace
	c.store = st
	s.Collections.put(&c)
	return nil
}

// Unpublish stops serving a collection and lets go of its Store.
func (s *Service) Unpublish(id string) {
	s.Collections.remove(id)
	s.Stores.Release(s.owner(id))
}

// Compact folds a published collection's commit log into a snapshot, erasing the bytes of
// deleted faces for good.
func (s *Service) Compact(ctx context.Context, id string) error {
	c, err := s.Collection(id)
	if err != nil {
		return err
	}
	return c.store.Compact(ctx, c.ID)
}

// EraseCollection deletes a collection's faces, users and vectors from storage. A
// collection already gone is not an error.
func (s *Service) EraseCollection(ctx context.Context, conn store.Connection, id string) error {
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return err
	}
	if err := st.DeleteCollection(ctx, id); err != nil && !errs.Is(err, errs.ResourceNotFound) {
		return err
	}
	s.Stores.Release(s.owner(id))
	return nil
}
