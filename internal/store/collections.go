package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// CreateCollection creates a collection pinned to a face model version and dimension.
func (s *Store) CreateCollection(ctx context.Context, id string, opts CreateCollectionOptions) (*Collection, error) {
	if err := validCollectionID(id); err != nil {
		return nil, err
	}
	if opts.Dimension < 1 || opts.Dimension > MaxDimension {
		return nil, errorf(errs.InvalidParameter, "Dimension %d must be in 1..%d", opts.Dimension, MaxDimension)
	}
	if opts.FaceModelVersion == "" {
		return nil, errorf(errs.InvalidParameter, "FaceModelVersion is required")
	}
	c := &Collection{
		ID: id, FaceModelVersion: opts.FaceModelVersion, Dimension: opts.Dimension,
		CreationTimestamp: time.Now().UTC().Truncate(time.Millisecond),
		Incarnation:       uuid.NewString(),
		OwnerNamespace:    opts.Owner.Namespace, OwnerUID: opts.Owner.UID,
	}
	js, _ := json.Marshal(c)
	created, err := s.putNew(ctx, s.manifestKey(id), js)
	if err != nil {
		return nil, storageError("creating the collection manifest", err)
	}
	if !created {
		return nil, errorf(errs.ResourceAlreadyExists, "collection %s already exists", id)
	}
	// Leftovers of an earlier collection with this ID whose deletion was interrupted.
	if err := s.sweepIncarnations(ctx, id, c.Incarnation); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) sweepIncarnations(ctx context.Context, id, keep string) error {
	dirs, err := s.list(ctx, s.collPrefix(id)+"data/", "", false, 0)
	if err != nil {
		return storageError("listing incarnations", err)
	}
	for _, d := range dirs {
		inc := strings.TrimSuffix(strings.TrimPrefix(d.Key, s.collPrefix(id)+"data/"), "/")
		if inc != keep && strings.HasSuffix(d.Key, "/") {
			if err := s.removePrefix(ctx, d.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// readManifest reads a live collection's manifest and its ETag; a collection being deleted
// is not found.
func (s *Store) readManifest(ctx context.Context, id string) (*Collection, string, error) {
	c, etag, err := s.readManifestAny(ctx, id)
	if err == nil && c.Deleting {
		return nil, "", errorf(errs.ResourceNotFound, "collection %s not found (being deleted)", id)
	}
	return c, etag, err
}

// readManifestAny reads the manifest whatever its state.
func (s *Store) readManifestAny(ctx context.Context, id string) (*Collection, string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	o, err := s.client.GetObject(ctx, s.bucket, s.manifestKey(id), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", storageError("reading the manifest", err)
	}
	defer o.Close()
	data, err := io.ReadAll(o)
	if err != nil {
		if isNotFound(err) {
			return nil, "", errorf(errs.ResourceNotFound, "collection %s not found", id)
		}
		return nil, "", storageError("reading the manifest", err)
	}
	info, err := o.Stat()
	if err != nil {
		return nil, "", storageError("reading the manifest", err)
	}
	c := &Collection{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, "", &errs.Error{Code: errs.Corrupt, Message: "bad manifest of " + id, Err: err}
	}
	return c, info.ETag, nil
}

// Manifest returns a collection's manifest, read from storage without loading its faces:
// enough to know its owner and model before anything else is read.
func (s *Store) Manifest(ctx context.Context, id string) (*Collection, error) {
	if err := validCollectionID(id); err != nil {
		return nil, err
	}
	c, _, err := s.readManifest(ctx, id)
	return c, err
}

// SetOwner hands a collection from one owner to another: it rewrites the manifest with to
// as the owner if from is the owner when the write lands. The write is conditional on the
// manifest's ETag (If-Match), so of two callers that saw the same owner only one wins; the
// other, and a caller whose from is not the owner any more, get Conflict and must read the
// manifest again before deciding anything.
func (s *Store) SetOwner(ctx context.Context, id string, from, to Owner) (*Collection, error) {
	if err := validCollectionID(id); err != nil {
		return nil, err
	}
	c, etag, err := s.readManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Owner() != from {
		return nil, errorf(errs.Conflict, "the owner of collection %s changed", id)
	}
	c.OwnerNamespace, c.OwnerUID = to.Namespace, to.UID
	js, _ := json.Marshal(c)
	opts := minio.PutObjectOptions{}
	opts.SetMatchETag(etag)
	if err := s.put(ctx, s.manifestKey(id), js, opts); err != nil {
		if isPreconditionFailed(err) || isNotFound(err) {
			return nil, errorf(errs.Conflict, "the manifest of collection %s changed", id)
		}
		return nil, storageError("writing the collection manifest", err)
	}
	return c, nil
}

// DescribeCollection returns a collection with its face and user counts.
func (s *Store) DescribeCollection(ctx context.Context, id string) (*CollectionDescription, error) {
	var d *CollectionDescription
	err := s.read(ctx, id, func(c *Collection, st *state) error {
		d = &CollectionDescription{Collection: *c, FaceCount: int64(len(st.faces)), UserCount: int64(len(st.users)), Generation: st.gen}
		return nil
	})
	return d, err
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
func decodeToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 {
		return "", errorf(errs.InvalidPaginationToken, "invalid NextToken")
	}
	return string(b), nil
}

func pageSize(n, def, limit int) (int, error) {
	if n < 0 || n > limit {
		return 0, errorf(errs.InvalidParameter, "MaxResults %d must be in 0..%d", n, limit)
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}

// page reads a listing's MaxResults and NextToken: the page size and the key to list after.
func page(maxResults int, nextToken string, def, limit int) (int, string, error) {
	size, err := pageSize(maxResults, def, limit)
	if err != nil || nextToken == "" {
		return size, "", err
	}
	after, err := decodeToken(nextToken)
	return size, after, err
}

// ListCollections lists collections in ID order.
func (s *Store) ListCollections(ctx context.Context, opts ListOptions) ([]Collection, string, error) {
	limit, err := pageSize(opts.MaxResults, 1000, MaxListResults)
	if err != nil {
		return nil, "", err
	}
	after := ""
	if opts.NextToken != "" {
		if after, err = decodeToken(opts.NextToken); err != nil {
			return nil, "", err
		}
		after = CollectionsPrefix(s.prefix) + after + "/"
	}
	dirs, err := s.list(ctx, CollectionsPrefix(s.prefix), after, false, 0)
	if err != nil {
		return nil, "", storageError("listing collections", err)
	}
	var out []Collection
	for _, d := range dirs {
		id := strings.TrimSuffix(strings.TrimPrefix(d.Key, CollectionsPrefix(s.prefix)), "/")
		if !strings.HasSuffix(d.Key, "/") || id == "" {
			continue
		}
		c, _, err := s.readManifest(ctx, id)
		if errs.Is(err, errs.ResourceNotFound) {
			continue // a deletion in progress, or one that was interrupted
		}
		if err != nil {
			return nil, "", err
		}
		if len(out) == limit {
			return out, encodeToken(out[len(out)-1].ID), nil
		}
		out = append(out, *c)
	}
	return out, "", nil
}

// DeleteCollection erases a collection in steps that leave it, after a failure at any point,
// not found to every reader yet resumable by the next call, and that never report it erased
// while a byte of its faces is stored:
//
//  1. tombstone: the manifest is rewritten as deleting (conditionally on its ETag); from then
//     on readers and writers find no collection;
//  2. fence: a deletion marker takes the next commit key, so that a commit in flight (whose
//     writer read the manifest before the tombstone) loses its race, reloads and finds the
//     tombstone, and cannot land after the sweep;
//  3. sweep: every commit object is overwritten with the marker (its faces and vectors gone,
//     its key still taken) and the snapshots are removed;
//  4. the manifest goes last: once it is gone, DeleteCollection answers ResourceNotFound.
//
// The markers hold no face data; the next CreateCollection of the ID removes them.
func (s *Store) DeleteCollection(ctx context.Context, id string) error {
	return s.deleteCollection(ctx, id, nil)
}

// DeleteOwnedCollection is DeleteCollection of a collection that belongs to owner: one
// whose manifest names another owner, or none, is left whole and the answer is
// CollectionOwnedElsewhere.
func (s *Store) DeleteOwnedCollection(ctx context.Context, id string, owner Owner) error {
	return s.deleteCollection(ctx, id, &owner)
}

func (s *Store) deleteCollection(ctx context.Context, id string, owner *Owner) error {
	if err := validCollectionID(id); err != nil {
		return err
	}
	c, err := s.tombstone(ctx, id, owner)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.colls, id)
	s.mu.Unlock()
	if err := s.fence(ctx, c); err != nil {
		return err
	}
	commits, err := s.listLog(ctx, c, 0, 0)
	if err != nil {
		return err
	}
	for _, k := range commits {
		if k.size == int64(len(deletedMagic)) {
			continue
		}
		if err := s.put(ctx, k.key, deletedMagic, minio.PutObjectOptions{}); err != nil {
			return storageError("erasing a commit", err)
		}
	}
	if err := s.removePrefix(ctx, s.snapPrefix(id, c.Incarnation)); err != nil {
		return err
	}
	rctx, cancel := s.timeout(ctx)
	defer cancel()
	if err := s.client.RemoveObject(rctx, s.bucket, s.manifestKey(id), minio.RemoveObjectOptions{}); err != nil {
		return storageError("removing the manifest", err)
	}
	return nil
}

// tombstone marks the collection deleting (or finds it marked) and returns its manifest; a
// collection of another owner than a non-nil owner is left whole.
func (s *Store) tombstone(ctx context.Context, id string, owner *Owner) (*Collection, error) {
	for {
		c, etag, err := s.readManifestAny(ctx, id)
		if err != nil {
			return nil, err
		}
		if owner != nil && c.Owner() != *owner {
			return nil, errorf(errs.CollectionOwnedElsewhere, "collection %s belongs to another owner; it was not erased", id)
		}
		if c.Deleting {
			return c, nil
		}
		c.Deleting = true
		js, _ := json.Marshal(c)
		opts := minio.PutObjectOptions{ContentType: "application/json"}
		opts.SetMatchETag(etag)
		err = s.put(ctx, s.manifestKey(id), js, opts)
		if err == nil {
			return c, nil
		}
		if !isPreconditionFailed(err) {
			return nil, storageError("writing the deletion tombstone", err)
		}
		// The manifest changed meanwhile (another deleter): read it again.
	}
}

// fence takes the commit key after the last one with a deletion marker.
func (s *Store) fence(ctx context.Context, c *Collection) error {
	commits, err := s.listLog(ctx, c, 0, 0)
	if err != nil {
		return err
	}
	next := uint64(1)
	if len(commits) > 0 {
		next = commits[len(commits)-1].gen + 1
	}
	for ; ; next++ {
		created, err := s.putNew(ctx, s.logKey(c.ID, c.Incarnation, next), deletedMagic)
		if err != nil {
			return storageError("fencing the commit log", err)
		}
		if created {
			return nil
		}
	}
}
