package search

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// MaxUsers is the most user matches a search returns (Rekognition's MaxUsers range is 1-500).
const MaxUsers = 500

// maxCandidateFaces bounds the faces fetched per shard for one user search: enough for
// MaxUsers users even when the best ones hold many near-identical faces.
const maxCandidateFaces = 4096

// imageNamespace makes ImageIds: the same bytes always get the same ImageId, which is how
// indexing one image twice under one ExternalImageId stores no face twice (the store
// matches each face to the stored ones of that image by bounding box).
var imageNamespace = uuid.MustParse("6f1c8a52-3d7e-4f0b-9a51-2c4e8b7d9f10")

// Service runs Rekognition's operations over the registry's collections. It is the one door
// to a collection: the HTTP endpoint and the controllers alike reach storage, engines and
// shards only through it.
type Service struct {
	Engines     *Engines
	Collections *Registry
	// Stores keeps one store per storage connection in use.
	Stores *store.Pool
	// Log receives what callers are not told, such as why an S3Object could not be read,
	// when the context carries no logger of its own (the controllers' does).
	Log logr.Logger
}

// NewService returns a service with an empty registry over the engines.
func NewService(engines *Engines) *Service {
	return &Service{Engines: engines, Collections: NewRegistry(), Stores: store.NewPool(store.Options{})}
}

// InNamespace is the service for the collections of one namespace: the controllers use the
// namespace of the object they reconcile, the HTTP endpoint its configured one.
func (s *Service) InNamespace(namespace string) *Service {
	return &Service{Engines: s.Engines, Collections: s.Collections.InNamespace(namespace), Stores: s.Stores, Log: s.Log}
}

// Image is an image given as bytes or as an object in storage.
type Image struct {
	Bytes    []byte
	S3Object *S3Object
}

// S3Object names an image in storage; an empty Bucket is the collection's own. Only the
// objects of the collection's image sources are read (see S3Location).
type S3Object struct {
	Bucket, Name, Version string
}

// IndexFacesOptions are IndexFaces' parameters.
type IndexFacesOptions struct {
	ExternalImageID string
	MaxFaces        int
	QualityFilter   face.QualityFilter
	// Attributes are measured, when the collection's pack can, for every face reported.
	Attributes face.Attributes
}

// IndexedFace is a face stored by IndexFaces, with what the engine saw.
type IndexedFace struct {
	Record store.FaceRecord
	Detail face.FaceDetail
}

// IndexFacesResult is IndexFaces' answer.
type IndexFacesResult struct {
	FaceRecords           []IndexedFace
	UnindexedFaces        []face.UnindexedFace
	FaceModelVersion      string
	OrientationCorrection face.OrientationCorrection
}

// SearchUsersOptions are SearchUsersByImage's parameters.
type SearchUsersOptions struct {
	// UserMatchThreshold is the least similarity returned, 0-100.
	UserMatchThreshold float32
	// MaxUsers is the most matches returned; 0 means MaxUsers.
	MaxUsers      int
	QualityFilter face.QualityFilter
	// FaceIndex searches another face than the largest: the face at that index in the
	// largest-first order of DetectFaces (0, the largest, by default). Rekognition has no such
	// parameter and the endpoint never sets it; the console searches the face a person
	// clicked. UnsearchedFaces keep that order with the searched face left out.
	FaceIndex int
}

// UserMatch is one user found, with its similarity (0-100) to the searched face.
type UserMatch struct {
	UserID     string
	UserStatus string
	Similarity float32
}

// SearchUsersResult is SearchUsersByImage's answer. SearchedFace is nil when the image
// holds no usable face, which is not an error.
type SearchUsersResult struct {
	SearchedFace     *face.FaceDetail
	UserMatches      []UserMatch
	UnsearchedFaces  []face.UnindexedFace
	FaceModelVersion string
}

// collection finds a collection and its engine.
func (s *Service) collection(id string) (*Collection, *face.Engine, error) {
	c, ok := s.Collections.Get(id)
	if !ok {
		return nil, nil, errs.New(errs.ResourceNotFound, "collection %q not found", id)
	}
	eng, err := s.Engines.Get(c.FaceModelVersion)
	if err != nil {
		return nil, nil, err
	}
	return c, eng, nil
}

// IndexFaces detects faces in an image and stores up to MaxFaces of them, largest first.
func (s *Service) IndexFaces(ctx context.Context, collectionID string, img Image, opts IndexFacesOptions) (_ *IndexFacesResult, err error) {
	defer func(start time.Time) { observe("IndexFaces", start, err) }(time.Now())
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, err
	}
	found, err := s.facesOfImage(ctx, c, eng, img, opts)
	if err != nil {
		return nil, err
	}
	out := &IndexFacesResult{UnindexedFaces: found.UnindexedFaces, FaceModelVersion: found.FaceModelVersion, OrientationCorrection: found.OrientationCorrection}
	if len(found.Faces) == 0 {
		return out, nil
	}
	records, err := c.store.IndexFaces(ctx, c.ID, found.Faces, store.IndexFacesOptions{})
	if err != nil {
		return nil, err
	}
	// One record per face, in the engine's order (largest first): a face indexed before
	// under this ImageId and ExternalImageId answers with its stored record.
	if len(records) != len(found.Faces) {
		return nil, fmt.Errorf("the store answered %d records for %d faces", len(records), len(found.Faces))
	}
	for i, r := range records {
		out.FaceRecords = append(out.FaceRecords, IndexedFace{Record: r, Detail: found.Details[i]})
	}
	return out, nil
}

// ImageFaces are the faces IndexFaces would store for one image, not stored yet.
type ImageFaces struct {
	// Faces are ready for the store, largest first: named by the image's ImageId (a hash of
	// its bytes) and the ExternalImageID asked for, so that storing them again stores
	// nothing twice.
	Faces []store.NewFace
	// Details are what the engine saw of each of Faces, in the same order.
	Details               []face.FaceDetail
	UnindexedFaces        []face.UnindexedFace
	FaceModelVersion      string
	OrientationCorrection face.OrientationCorrection
}

// FacesOfImage is the first half of IndexFaces: it runs the engine of the collection's model
// version on an image, with IndexFaces' limits, and returns the faces it would store,
// without storing them. ImportFaces stores them later, those of many images in one commit:
// the bulk enrolment's way (internal/bulk).
func (s *Service) FacesOfImage(ctx context.Context, collectionID string, img Image, opts IndexFacesOptions) (*ImageFaces, error) {
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, err
	}
	return s.facesOfImage(ctx, c, eng, img, opts)
}

func (s *Service) facesOfImage(ctx context.Context, c *Collection, eng *face.Engine, img Image, opts IndexFacesOptions) (*ImageFaces, error) {
	data, limits, done, err := s.imageBytes(ctx, c, img)
	defer done()
	if err != nil {
		return nil, err
	}
	res, err := eng.IndexImage(ctx, data, face.IndexOptions{ImageLimits: limits, MaxFaces: opts.MaxFaces, QualityFilter: opts.QualityFilter, Attributes: opts.Attributes})
	if err != nil {
		return nil, err
	}
	out := &ImageFaces{UnindexedFaces: res.Unindexed, FaceModelVersion: eng.FaceModelVersion(), OrientationCorrection: res.OrientationCorrection}
	if len(res.Faces) == 0 {
		return out, nil
	}
	imgID := imageID(data)
	for _, f := range res.Faces {
		out.Faces = append(out.Faces, store.NewFace{
			ExternalImageID: opts.ExternalImageID, ImageID: imgID,
			BoundingBox: store.BoundingBox(f.Detail.BoundingBox), Confidence: f.Detail.Confidence,
			Embedding: f.Embedding,
		})
		out.Details = append(out.Details, f.Detail)
	}
	return out, nil
}

// ImportFaces stores faces that FacesOfImage found, of any number of images, in one commit
// (at most store.MaxImportFaces), with IndexFaces' rules: a face of an ImageId and
// ExternalImageId already stored answers with its stored record. It returns one record per
// face, in order.
func (s *Service) ImportFaces(ctx context.Context, collectionID string, faces []store.NewFace) ([]store.FaceRecord, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	records, err := c.store.ImportFaces(ctx, c.ID, faces, store.IndexFacesOptions{})
	if err != nil {
		return nil, err
	}
	if len(records) != len(faces) {
		return nil, fmt.Errorf("the store answered %d records for %d faces", len(records), len(faces))
	}
	return records, nil
}

// AssociateFaces adds faces to a user, checking each new face against the user's faces
// with the collection's calibrated similarity. opts carry the call's ClientRequestToken.
func (s *Service) AssociateFaces(ctx context.Context, collectionID, userID string, faceIDs []string, threshold float32, opts store.UserOptions) (*store.AssociateFacesResult, error) {
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, err
	}
	return c.store.AssociateFaces(ctx, c.ID, userID, faceIDs, store.AssociateFacesOptions{UserOptions: opts, UserMatchThreshold: &threshold, Similarity: eng.Similarity})
}

// SearchUsersByImage finds the users whose faces best match the largest face in an image
// (or the face opts.FaceIndex picks).
func (s *Service) SearchUsersByImage(ctx context.Context, collectionID string, img Image, opts SearchUsersOptions) (_ *SearchUsersResult, err error) {
	defer func(start time.Time) { observe("SearchUsersByImage", start, err) }(time.Now())
	c, eng, res, err := s.searchedFace(ctx, collectionID, img, face.SearchOptions{QualityFilter: opts.QualityFilter, FaceIndex: opts.FaceIndex})
	if err != nil {
		return nil, err
	}
	out := &SearchUsersResult{UnsearchedFaces: res.Unsearched, FaceModelVersion: eng.FaceModelVersion()}
	if res.Face == nil {
		return out, nil
	}
	detail := res.Face.Detail
	out.SearchedFace = &detail
	maxUsers := opts.MaxUsers
	if maxUsers <= 0 || maxUsers > MaxUsers {
		maxUsers = MaxUsers
	}
	indexStart := time.Now()
	withUser, err := userCandidates(ctx, c, res.Face.Embedding, maxUsers, eng.CosineAtSimilarity(opts.UserMatchThreshold))
	if err != nil {
		return nil, err
	}
	stageDuration.WithLabelValues("index").Observe(time.Since(indexStart).Seconds())
	for _, u := range index.AggregateUsers(withUser, maxUsers) {
		sim := eng.Similarity(u.Cosine)
		if sim < opts.UserMatchThreshold {
			continue
		}
		// A user with faces that match is ACTIVE: only such users have vectors to match.
		out.UserMatches = append(out.UserMatches, UserMatch{UserID: u.UserID, UserStatus: store.UserStatusActive, Similarity: sim})
	}
	sort.SliceStable(out.UserMatches, func(i, j int) bool { return out.UserMatches[i].Similarity > out.UserMatches[j].Similarity })
	return out, nil
}

// searchedFace finds the collection and runs the engine of its model version on an image:
// the first half of every search by image. The face searched is the largest unless
// opts.FaceIndex says otherwise.
func (s *Service) searchedFace(ctx context.Context, collectionID string, img Image, opts face.SearchOptions) (*Collection, *face.Engine, *face.SearchResult, error) {
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, nil, nil, err
	}
	data, limits, done, err := s.imageBytes(ctx, c, img)
	defer done()
	if err != nil {
		return nil, nil, nil, err
	}
	start := time.Now()
	opts.ImageLimits = limits
	res, err := eng.SearchImage(ctx, data, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	stageDuration.WithLabelValues("face").Observe(time.Since(start).Seconds())
	return c, eng, res, nil
}

// userCandidates returns the best-matching faces that belong to users, enough to rank
// maxUsers users. It asks the shards for few faces first (re-ranking thousands of
// candidates per query is what a large collection cannot afford) and asks for more only
// when the faces found were all above the threshold yet named fewer than maxUsers users:
// one user's many faces may have filled the page.
func userCandidates(ctx context.Context, c *Collection, query []float32, maxUsers int, minCosine float32) ([]index.Match, error) {
	k := min(max(maxUsers*4, 40), maxCandidateFaces)
	for {
		matches, err := searchShards(ctx, c, query, index.SearchOptions{K: k, MinCosine: minCosine})
		if err != nil {
			return nil, err
		}
		// Faces not associated with any user cannot make a user match.
		withUser := matches[:0]
		users := map[string]bool{}
		for _, m := range matches {
			if m.UserID != "" {
				withUser = append(withUser, m)
				users[m.UserID] = true
			}
		}
		if len(users) >= maxUsers || len(matches) < k || k >= maxCandidateFaces {
			return withUser, nil
		}
		k = min(k*4, maxCandidateFaces)
	}
}

// searchShards fans a query out to every shard at once and merges their top-k exactly.
func searchShards(ctx context.Context, c *Collection, query []float32, opts index.SearchOptions) ([]index.Match, error) {
	if !c.Ready || len(c.Shards) == 0 {
		return nil, errs.New(errs.ResourceNotReady, "the index of collection %q is not ready yet", c.ID)
	}
	// Whatever this process committed must be searchable now: faces just indexed and
	// associated are found by the very next search, as Rekognition's are.
	opts.MinGeneration = max(opts.MinGeneration, c.store.KnownGeneration(c.ID))
	// A model pack's similarity table may map 0 to a cosine below -1; no cosine is, and the
	// shards take only -1 to 1.
	opts.MinCosine = min(max(opts.MinCosine, -1), 1)
	lists := make([][]index.Match, len(c.Shards))
	g, gctx := errgroup.WithContext(ctx)
	for i, sh := range c.Shards {
		g.Go(func() error {
			m, err := sh.Search(gctx, query, opts)
			if err != nil {
				return fmt.Errorf("while searching shard %d of collection %q: %w", i, c.ID, err)
			}
			lists[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if errs.As(err) != nil || ctx.Err() != nil {
			return nil, err
		}
		return nil, errs.Wrap(errs.ResourceNotReady, err, "collection %q: a shard failed", c.ID)
	}
	return index.MergeTopK(lists, opts.K), nil
}
