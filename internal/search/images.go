package search

import (
	"context"
	"strings"

	"github.com/go-logr/logr"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// S3Location is a place images may be read from: the objects of Bucket whose keys start with
// Prefix. An empty Bucket is the collection's own; an empty Prefix is every key.
type S3Location struct {
	Bucket, Prefix string
}

// holds says whether the object is in l.
func (l S3Location) holds(o S3Object) bool {
	return o.Bucket == l.Bucket && strings.HasPrefix(o.Name, l.Prefix)
}

// unreadableS3Object is Rekognition's one answer for an S3Object that cannot be read. It is
// the answer for a missing object, one the storage refuses and one outside the collection's
// image sources alike: a caller must not learn from it which objects exist, where its
// collection may not read. The cause is logged, never returned.
const unreadableS3Object = "Unable to get object metadata from S3. Check object key, region and/or access permissions."

// imageScope resolves a collection's image sources against its storage: by default the
// collection's own bucket under its storage prefix; a source with no bucket is in the
// collection's own. It also returns where the store keeps its own objects, which are never
// images.
func imageScope(sources []S3Location, conn store.Connection) (scope []S3Location, storeKeys S3Location) {
	if len(sources) == 0 {
		sources = []S3Location{{Prefix: store.NormalizePrefix(conn.Prefix)}}
	}
	for _, l := range sources {
		if l.Bucket == "" {
			l.Bucket = conn.Bucket
		}
		scope = append(scope, l)
	}
	return scope, S3Location{Bucket: conn.Bucket, Prefix: store.CollectionsPrefix(conn.Prefix)}
}

// refusal says why the collection may not read o, or "" if it may.
func (c *Collection) refusal(o S3Object) string {
	for _, seg := range strings.Split(o.Name, "/") {
		if seg == "." || seg == ".." {
			// Storage may resolve them (MinIO refuses them): the key would not be the one
			// checked against the scope.
			return "the key has a '.' or '..' segment"
		}
	}
	if c.storeKeys.holds(o) {
		return "the key is among the collection store's own objects"
	}
	for _, l := range c.scope {
		if l.holds(o) {
			return ""
		}
	}
	return "outside the collection's image sources"
}

// imageBytes returns the image's bytes and the size limit that applies to them. An S3Object
// is read only from the collection's image sources; every S3Object that cannot be read gets
// the same InvalidS3Object answer, and its cause goes to the log. It is read within the
// engines' decode budget: room for the largest object is taken before the read, shrunk to what was read,
// and held until the caller calls done (when it no longer needs the bytes). done is never
// nil.
func (s *Service) imageBytes(ctx context.Context, c *Collection, img Image) (_ []byte, _ face.ImageLimits, done func(), _ error) {
	none := func() {}
	if img.S3Object == nil {
		if len(img.Bytes) == 0 {
			return nil, face.ImageLimits{}, none, errs.New(errs.InvalidParameter, "the image has neither Bytes nor S3Object")
		}
		return img.Bytes, face.ImageLimits{MaxBytes: face.MaxImageBytes}, none, nil
	}
	limits := face.ImageLimits{MaxBytes: face.MaxStorageImageBytes}
	o := *img.S3Object
	if o.Bucket == "" {
		o.Bucket = c.storeKeys.Bucket
	}
	log := s.logger(ctx).WithValues("collectionId", c.ID, "namespace", c.Namespace, "bucket", o.Bucket, "key", o.Name, "version", o.Version)
	if why := c.refusal(o); why != "" {
		log.Info("S3Object refused", "reason", why)
		return nil, limits, none, errs.New(errs.InvalidS3Object, unreadableS3Object)
	}
	room, err := s.Engines.DecodeBudget().ReserveRead(ctx, face.MaxStorageImageBytes+1)
	if err != nil {
		return nil, limits, none, err
	}
	data, err := c.store.ReadImage(ctx, store.ImageObject(o), face.MaxStorageImageBytes)
	if err != nil {
		room.Release()
		if errs.Is(err, errs.InvalidS3Object) {
			log.Info("S3Object could not be read", "reason", err.Error())
			return nil, limits, none, errs.New(errs.InvalidS3Object, unreadableS3Object)
		}
		return nil, limits, none, err
	}
	room.Shrink(int64(len(data)))
	return data, limits, room.Release, nil
}

// logger is the context's logger, or the service's.
func (s *Service) logger(ctx context.Context) logr.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l
	}
	return s.Log
}
