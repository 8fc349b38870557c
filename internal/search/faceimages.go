package search

import (
	"context"
	"crypto/sha256"
	"strings"

	"github.com/go-logr/logr"
	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// What people look at besides the answers: the images faces came from. They are read with
// the same scope rules as the images searched.

// imageID is the ImageId of an image's bytes: the same bytes always get the same one.
func imageID(data []byte) string {
	return uuid.NewHash(sha256.New(), imageNamespace, data, 5).String()
}

// ReadImage reads an S3Object the collection may read (its image sources; InvalidS3Object
// otherwise, the one answer for missing, forbidden and out-of-scope objects, as for a
// search). The bytes take room in the decode budget's read share until done is called;
// done is never nil.
func (s *Service) ReadImage(ctx context.Context, collectionID string, o S3Object) (_ []byte, done func(), _ error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, func() {}, err
	}
	data, _, done, err := s.imageBytes(ctx, c, Image{S3Object: &o})
	return data, done, err
}

// FaceCrop returns a JPEG of a stored face, cut out of the image it was indexed from (see
// face.CropFace). The image is looked for among the candidates (images the caller knows of,
// such as those of a User resource's faces), then as the object its ExternalImageId names
// under each of the collection's image sources; only bytes that are the very image the face
// was indexed from (they hash to its ImageId) are used, and S3Objects only within the image
// sources. None found is ResourceNotFound: a face indexed from bytes nobody kept has no
// picture.
func (s *Service) FaceCrop(ctx context.Context, collectionID, faceID string, candidates []Image, opts face.CropOptions) ([]byte, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	recs, _, err := c.store.ListFaces(ctx, c.ID, store.ListFacesOptions{FaceIDs: []string{faceID}, MaxResults: 1})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errs.New(errs.ResourceNotFound, "face %s is not in collection %s", faceID, collectionID)
	}
	rec := recs[0]
	all := candidates
	// ExternalImageIds have no "/": the name is a key right under a source's prefix.
	if ext := rec.ExternalImageID; ext != "" && !strings.Contains(ext, "/") {
		for _, l := range c.scope {
			all = append(all, Image{S3Object: &S3Object{Bucket: l.Bucket, Name: l.Prefix + ext}})
		}
	}
	// Candidates that are not there are the usual case, not news for the log.
	quiet := logr.NewContext(ctx, s.logger(ctx).V(1))
	for _, img := range all {
		data, limits, done, err := s.imageBytes(quiet, c, img)
		if errs.Is(err, errs.InvalidS3Object) || errs.Is(err, errs.InvalidParameter) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if imageID(data) != rec.ImageID {
			done()
			continue
		}
		opts.ImageLimits = limits
		out, err := face.CropFace(ctx, s.Engines.DecodeBudget(), data, face.BoundingBox(rec.BoundingBox), opts)
		done()
		return out, err
	}
	return nil, errs.New(errs.ResourceNotFound, "the image face %s was indexed from is not at hand", faceID)
}
