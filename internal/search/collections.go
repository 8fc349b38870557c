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

// EnsureOptions say what EnsureCollection must find or make.
type EnsureOptions struct {
	// FaceModelVersion the collection is made with, and must have been made with.
	FaceModelVersion string
	// OwnerUID is the UID of the Collection resource that the stored collection must belong
	// to; with the service's namespace it is the Owner recorded in the manifest. Required.
	OwnerUID string
	// Adopt decides whether the stored collection, which current owns, may be taken over.
	// It answers false to refuse with CollectionOwnedElsewhere, or an error to refuse with
	// that error. nil takes over nothing. It is not asked about a collection without owner
	// (made before owners were recorded): the first to ensure it claims it.
	Adopt func(ctx context.Context, current store.Owner) (bool, error)
}

// Ensured is what EnsureCollection found or did.
type Ensured struct {
	// Description is the stored collection, with its counts.
	Description *store.CollectionDescription
	// Created: the collection did not exist and was created.
	Created bool
	// Claimed: the collection belonged to another owner (From), or to none (From zero), and
	// now belongs to this one.
	Claimed bool
	From    store.Owner
}

// EnsureCollection makes sure the bucket and the collection's manifest exist in storage,
// creating the collection with the dimension of the model version's engine and the owner
// recorded, and that the stored collection belongs to the owner and uses the model version.
//
// A stored collection that another owner holds is not read beyond its manifest: the answer
// is CollectionOwnedElsewhere, unless opts.Adopt takes it over. One without owner is claimed.
// A claim is a conditional write of the manifest, so of two claimants only one wins. The
// other errors are FaceModelUnavailable when no pack serves the model version and
// FaceModelMismatch when the stored collection has another.
func (s *Service) EnsureCollection(ctx context.Context, conn store.Connection, id string, opts EnsureOptions) (*Ensured, error) {
	if opts.OwnerUID == "" {
		return nil, errs.New(errs.InvalidParameter, "EnsureCollection of %s: no owner", id)
	}
	mine := store.Owner{Namespace: s.Collections.namespace, UID: opts.OwnerUID}
	eng, err := s.Engines.Get(opts.FaceModelVersion)
	if err != nil {
		return nil, err
	}
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return nil, err
	}
	if err := st.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	out := &Ensured{}
	// A lost race (a creation or a claim by another) is decided again on what it left; the
	// loser of a claim then finds the winner's owner.
	for attempt := 0; ; attempt++ {
		m, err := st.Manifest(ctx, id)
		if errs.Is(err, errs.ResourceNotFound) {
			_, err = st.CreateCollection(ctx, id, store.CreateCollectionOptions{FaceModelVersion: opts.FaceModelVersion, Dimension: eng.Dimension(), Owner: mine})
			if err == nil {
				out.Created = true
				break
			}
			if errs.Is(err, errs.ResourceAlreadyExists) && attempt < 3 {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		current := m.Owner()
		if current == mine {
			break
		}
		if !current.IsZero() {
			if err := s.adopt(ctx, conn, id, current, opts.Adopt); err != nil {
				return nil, err
			}
		}
		// Taking over a collection it could not use would leave it to be erased for nothing.
		if m.FaceModelVersion != opts.FaceModelVersion {
			return nil, modelMismatch(id, m.FaceModelVersion, opts.FaceModelVersion)
		}
		_, err = st.SetOwner(ctx, id, current, mine)
		if errs.Is(err, errs.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Claimed, out.From = true, current
		s.logger(ctx).Info("Claimed a stored collection", "collectionId", id, "bucket", conn.Bucket, "prefix", conn.Prefix,
			"owner", mine, "previousOwner", current)
		break
	}
	desc, err := st.DescribeCollection(ctx, id)
	if err != nil {
		return nil, err
	}
	if desc.Owner() != mine {
		// Taken over between the claim and this read.
		return nil, s.ownedElsewhere(ctx, conn, id, desc.Owner())
	}
	if desc.FaceModelVersion != opts.FaceModelVersion {
		return nil, modelMismatch(id, desc.FaceModelVersion, opts.FaceModelVersion)
	}
	out.Description = desc
	return out, nil
}

// CheckCollection is EnsureCollection for a reader: it makes, claims and changes nothing.
// It answers the stored collection's manifest when it belongs to the Collection resource
// ownerUID of this service's namespace and was made with faceModelVersion; ResourceNotFound
// while it is not made yet, CollectionOwnedElsewhere or FaceModelMismatch otherwise. The api
// role publishes only what passes, so that it never serves a collection the manager refused.
func (s *Service) CheckCollection(ctx context.Context, conn store.Connection, id, ownerUID, faceModelVersion string) (*store.Collection, error) {
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return nil, err
	}
	m, err := st.Manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if owner := m.Owner(); owner != (store.Owner{Namespace: s.Collections.namespace, UID: ownerUID}) {
		return nil, s.ownedElsewhere(ctx, conn, id, owner)
	}
	if m.FaceModelVersion != faceModelVersion {
		return nil, modelMismatch(id, m.FaceModelVersion, faceModelVersion)
	}
	return m, nil
}

// adopt asks whether a collection that current owns may be taken over, and answers nil if
// it may.
func (s *Service) adopt(ctx context.Context, conn store.Connection, id string, current store.Owner, adopt func(context.Context, store.Owner) (bool, error)) error {
	if adopt != nil {
		ok, err := adopt(ctx, current)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return s.ownedElsewhere(ctx, conn, id, current)
}

// ownedElsewhere is the refusal of a collection that current owns. It names the owner only
// within its own namespace: a Collection of another namespace learns that the collection
// is taken, not by whom (the log says).
func (s *Service) ownedElsewhere(ctx context.Context, conn store.Connection, id string, current store.Owner) error {
	where := "s3://" + conn.Bucket + "/" + store.NormalizePrefix(conn.Prefix)
	s.logger(ctx).Info("Stored collection belongs to another owner", "collectionId", id, "bucket", conn.Bucket, "prefix", conn.Prefix,
		"namespace", s.Collections.namespace, "owner", current)
	if current.Namespace == s.Collections.namespace {
		return errs.New(errs.CollectionOwnedElsewhere, "the stored collection %s in %s belongs to another Collection of this namespace (uid %s), such as an earlier one of the same name", id, where, current.UID)
	}
	return errs.New(errs.CollectionOwnedElsewhere, "the stored collection %s in %s belongs to a Collection of another namespace", id, where)
}

func modelMismatch(id, stored, want string) error {
	return errs.New(errs.FaceModelMismatch, "the stored collection %s was made with faceModelVersion %q, not %q", id, stored, want)
}

// Publish makes a collection searchable (or updates its shards and readiness) in this
// service's namespace; its storage is conn's. Its S3Objects are read from its ImageSources,
// or by default from conn's bucket under conn's prefix; never from the store's own objects.
func (s *Service) Publish(c Collection, conn store.Connection) error {
	st, err := s.Stores.Acquire(s.owner(c.ID), conn)
	if err != nil {
		return err
	}
	c.Namespace = s.Collections.namespace
	c.store = st
	c.scope, c.storeKeys = imageScope(c.ImageSources, conn)
	s.Collections.put(&c)
	return nil
}

// PublishStored publishes the collection stored under conn as it is, for a process that
// writes to it without serving searches (facesearch bulk-enrol): whoever owns it, with no
// shards, never Ready; its S3Objects are read from imageSources. It makes, claims and changes
// nothing, and answers the stored manifest: ResourceNotFound when no collection id is stored
// there, FaceModelUnavailable when no pack serves its model version (loading the engine now,
// so that a missing pack fails before any work).
func (s *Service) PublishStored(ctx context.Context, conn store.Connection, id string, imageSources []S3Location) (*store.Collection, error) {
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return nil, err
	}
	m, err := st.Manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.Engines.Get(m.FaceModelVersion); err != nil {
		return nil, err
	}
	if err := s.Publish(Collection{ID: id, Name: id, FaceModelVersion: m.FaceModelVersion, ImageSources: imageSources}, conn); err != nil {
		return nil, err
	}
	return m, nil
}

// Warm loads a published collection's records into this process (its writer state), so that
// the first call that needs them does not wait for the load: seconds per million faces.
func (s *Service) Warm(ctx context.Context, id string) error {
	c, err := s.Collection(id)
	if err != nil {
		return err
	}
	_, err = c.store.DescribeCollection(ctx, c.ID)
	return err
}

// Loaded says whether this process holds a published collection's records now.
func (s *Service) Loaded(id string) bool {
	c, err := s.Collection(id)
	return err == nil && c.store.Loaded(c.ID)
}

// Unpublish stops serving a collection and lets go of its Store.
func (s *Service) Unpublish(id string) {
	s.Collections.remove(id)
	s.Stores.Release(s.owner(id))
}

// Withdraw is Unpublish on behalf of the Collection resource name: it leaves alone a
// collection of this id that another resource of the namespace published.
func (s *Service) Withdraw(id, name string) {
	if c, ok := s.Collections.Get(id); ok && c.Name != name {
		return
	}
	s.Unpublish(id)
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

// EraseCollection deletes a collection's faces, users and vectors from storage, if it
// belongs to the Collection resource ownerUID of this service's namespace. A collection
// already gone is not an error; one that belongs to another owner, or to none, is left whole
// and the answer is CollectionOwnedElsewhere.
func (s *Service) EraseCollection(ctx context.Context, conn store.Connection, id, ownerUID string) error {
	if ownerUID == "" {
		return errs.New(errs.InvalidParameter, "EraseCollection of %s: no owner", id)
	}
	st, err := s.Stores.Acquire(s.owner(id), conn)
	if err != nil {
		return err
	}
	err = st.DeleteOwnedCollection(ctx, id, store.Owner{Namespace: s.Collections.namespace, UID: ownerUID})
	if errs.Is(err, errs.ResourceNotFound) {
		err = nil
	}
	if err == nil || errs.Is(err, errs.CollectionOwnedElsewhere) {
		s.Stores.Release(s.owner(id))
	}
	return err
}
