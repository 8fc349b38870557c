package search

import (
	"context"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// The operations below complete Rekognition's set over the same collections, engines and
// shards as IndexFaces and SearchUsersByImage: the thin ones resolve the collection and call
// the store; the searches share searchShards with SearchUsersByImage.

// MaxFaces is the most face matches SearchFaces and SearchFacesByImage return (Rekognition's
// MaxFaces range is 1-4096).
const MaxFaces = 4096

// DefaultMaxFaces is the number of face matches returned when MaxFaces is not given.
const DefaultMaxFaces = 80

// Collection returns a published collection, or a ResourceNotFound error.
func (s *Service) Collection(id string) (*Collection, error) {
	c, ok := s.Collections.Get(id)
	if !ok {
		return nil, errs.New(errs.ResourceNotFound, "The collection id: %s does not exist", id)
	}
	return c, nil
}

// CollectionDescription is a collection's stored description with its ARN, the one the
// Collection resource shows.
type CollectionDescription struct {
	store.CollectionDescription
	ARN string
}

// DescribeCollection returns the collection's stored description with its face and user counts.
func (s *Service) DescribeCollection(ctx context.Context, collectionID string) (*CollectionDescription, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	d, err := c.store.DescribeCollection(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return &CollectionDescription{CollectionDescription: *d, ARN: c.ARN}, nil
}

// ListFaces lists the collection's faces in FaceId order (see store.ListFaces).
func (s *Service) ListFaces(ctx context.Context, collectionID string, opts store.ListFacesOptions) ([]store.FaceRecord, string, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, "", err
	}
	return c.store.ListFaces(ctx, c.ID, opts)
}

// DeleteFaces deletes faces that belong to no user.
func (s *Service) DeleteFaces(ctx context.Context, collectionID string, faceIDs []string) ([]string, []store.FaceFailure, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, nil, err
	}
	return c.store.DeleteFaces(ctx, c.ID, faceIDs)
}

// CreateUser creates a user with no faces. opts carry the call's ClientRequestToken: the
// store answers a retry with it in any process (see store.UserOptions).
func (s *Service) CreateUser(ctx context.Context, collectionID, userID string, opts store.UserOptions) error {
	c, err := s.Collection(collectionID)
	if err != nil {
		return err
	}
	return c.store.CreateUser(ctx, c.ID, userID, opts)
}

// DeleteUser disassociates a user's faces and deletes the user; opts as CreateUser's.
func (s *Service) DeleteUser(ctx context.Context, collectionID, userID string, opts store.UserOptions) error {
	c, err := s.Collection(collectionID)
	if err != nil {
		return err
	}
	return c.store.DeleteUser(ctx, c.ID, userID, opts)
}

// ListUsers lists the collection's users in UserId order.
func (s *Service) ListUsers(ctx context.Context, collectionID string, opts store.ListOptions) ([]store.User, string, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, "", err
	}
	return c.store.ListUsers(ctx, c.ID, opts)
}

// DisassociateFaces removes faces from a user; opts as CreateUser's.
func (s *Service) DisassociateFaces(ctx context.Context, collectionID, userID string, faceIDs []string, opts store.UserOptions) (*store.AssociateFacesResult, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	return c.store.DisassociateFaces(ctx, c.ID, userID, faceIDs, opts)
}

// FaceVectors returns the stored (L2-normalised) vectors of the given faces; faces that do
// not exist are absent from the map. The store reads those vectors alone, by range.
func (s *Service) FaceVectors(ctx context.Context, collectionID string, faceIDs []string) (map[string][]float32, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	return faceVectors(ctx, c, faceIDs)
}

func faceVectors(ctx context.Context, c *Collection, faceIDs []string) (map[string][]float32, error) {
	return c.store.FaceVectors(ctx, c.ID, faceIDs)
}

// SearchFacesOptions are SearchFaces' and SearchFacesByImage's parameters.
type SearchFacesOptions struct {
	// FaceMatchThreshold is the least similarity returned, 0-100.
	FaceMatchThreshold float32
	// MaxFaces is the most matches returned; 0 means DefaultMaxFaces.
	MaxFaces int
	// QualityFilter applies to SearchFacesByImage's face.
	QualityFilter face.QualityFilter
}

// FaceMatch is one stored face found, with its similarity (0-100) to the searched face.
type FaceMatch struct {
	Face       store.FaceRecord
	Similarity float32
}

// SearchFacesResult is the answer of SearchFaces and SearchFacesByImage. SearchedFace is set
// by SearchFacesByImage only.
type SearchFacesResult struct {
	SearchedFace     *face.FaceDetail
	FaceMatches      []FaceMatch
	FaceModelVersion string
}

// SearchFacesByImage finds the stored faces most similar to the largest face in an image.
// An image with no usable face is InvalidParameter, as in Rekognition.
func (s *Service) SearchFacesByImage(ctx context.Context, collectionID string, img Image, opts SearchFacesOptions) (*SearchFacesResult, error) {
	c, eng, res, err := s.searchedFace(ctx, collectionID, img, face.SearchOptions{QualityFilter: opts.QualityFilter})
	if err != nil {
		return nil, err
	}
	if res.Face == nil {
		return nil, errs.New(errs.InvalidParameter, "There are no faces in the image. Should be at least 1.")
	}
	matches, err := faceMatches(ctx, c, eng, res.Face.Embedding, "", opts)
	if err != nil {
		return nil, err
	}
	detail := res.Face.Detail
	return &SearchFacesResult{SearchedFace: &detail, FaceMatches: matches, FaceModelVersion: eng.FaceModelVersion()}, nil
}

// SearchFaces finds the stored faces most similar to a stored face, leaving that face out.
func (s *Service) SearchFaces(ctx context.Context, collectionID, faceID string, opts SearchFacesOptions) (*SearchFacesResult, error) {
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, err
	}
	vecs, err := faceVectors(ctx, c, []string{faceID})
	if err != nil {
		return nil, err
	}
	v, ok := vecs[faceID]
	if !ok {
		return nil, errs.New(errs.InvalidParameter, "faceId was not found in the collection.")
	}
	matches, err := faceMatches(ctx, c, eng, v, faceID, opts)
	if err != nil {
		return nil, err
	}
	return &SearchFacesResult{FaceMatches: matches, FaceModelVersion: eng.FaceModelVersion()}, nil
}

// faceMatches searches the shards and returns the matching faces' stored records, best first.
func faceMatches(ctx context.Context, c *Collection, eng *face.Engine, query []float32, exclude string, opts SearchFacesOptions) ([]FaceMatch, error) {
	maxFaces := opts.MaxFaces
	if maxFaces <= 0 {
		maxFaces = DefaultMaxFaces
	}
	maxFaces = min(maxFaces, MaxFaces)
	k := maxFaces
	if exclude != "" {
		k++
	}
	found, err := searchShards(ctx, c, query, index.SearchOptions{K: k, MinCosine: eng.CosineAtSimilarity(opts.FaceMatchThreshold)})
	if err != nil {
		return nil, err
	}
	sims := map[string]float32{}
	ids := make([]string, 0, len(found))
	for _, m := range found {
		if m.FaceID == exclude || len(ids) == maxFaces {
			continue
		}
		sim := eng.Similarity(m.Cosine)
		if sim < opts.FaceMatchThreshold {
			continue
		}
		sims[m.FaceID] = sim
		ids = append(ids, m.FaceID)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// The records come from the store: the shards know only IDs, and a face deleted since
	// the shard last followed the store is left out here.
	recs, _, err := c.store.ListFaces(ctx, c.ID, store.ListFacesOptions{FaceIDs: ids, MaxResults: len(ids)})
	if err != nil {
		return nil, err
	}
	out := make([]FaceMatch, 0, len(recs))
	for _, r := range recs {
		out = append(out, FaceMatch{Face: r, Similarity: sims[r.FaceID]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Similarity != out[j].Similarity {
			return out[i].Similarity > out[j].Similarity
		}
		return out[i].Face.FaceID < out[j].Face.FaceID
	})
	return out, nil
}

// SearchUsersByIDOptions are SearchUsers' parameters: exactly one of UserID and FaceID.
type SearchUsersByIDOptions struct {
	UserID, FaceID string
	// UserMatchThreshold is the least similarity returned, 0-100.
	UserMatchThreshold float32
	// MaxUsers is the most matches returned; 0 means MaxUsers.
	MaxUsers int
}

// SearchUsers finds the users most similar to a stored face (FaceID) or to a user (UserID).
// A user is searched with each of its faces and a match's similarity is its best over
// them; the searched user itself is left out of the answer. A user with no faces matches
// nobody.
func (s *Service) SearchUsers(ctx context.Context, collectionID string, opts SearchUsersByIDOptions) (*SearchUsersResult, error) {
	c, eng, err := s.collection(collectionID)
	if err != nil {
		return nil, err
	}
	out := &SearchUsersResult{FaceModelVersion: eng.FaceModelVersion()}
	var faceIDs []string
	if opts.FaceID != "" {
		faceIDs = []string{opts.FaceID}
	} else {
		if _, err := c.store.GetUser(ctx, c.ID, opts.UserID); err != nil {
			return nil, err
		}
		recs, _, err := c.store.ListFaces(ctx, c.ID, store.ListFacesOptions{UserID: opts.UserID, MaxResults: store.MaxFacesPerUser})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			faceIDs = append(faceIDs, r.FaceID)
		}
		if len(faceIDs) == 0 {
			return out, nil
		}
	}
	vecs, err := faceVectors(ctx, c, faceIDs)
	if err != nil {
		return nil, err
	}
	if opts.FaceID != "" && vecs[opts.FaceID] == nil {
		return nil, errs.New(errs.InvalidParameter, "faceId was not found in the collection.")
	}
	maxUsers := opts.MaxUsers
	if maxUsers <= 0 || maxUsers > MaxUsers {
		maxUsers = MaxUsers
	}
	searchOpts := index.SearchOptions{
		K:         min(maxUsers*store.MaxFacesPerUser, maxCandidateFaces),
		MinCosine: eng.CosineAtSimilarity(opts.UserMatchThreshold),
	}
	lists := make([][]index.Match, len(faceIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, id := range faceIDs {
		v := vecs[id]
		if v == nil {
			continue // deleted meanwhile
		}
		g.Go(func() error {
			m, err := searchShards(gctx, c, v, searchOpts)
			lists[i] = m
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []index.Match
	for _, l := range lists {
		for _, m := range l {
			if m.UserID != "" && m.UserID != opts.UserID {
				all = append(all, m)
			}
		}
	}
	out.UserMatches = userMatches(eng, all, opts.UserMatchThreshold, maxUsers)
	return out, nil
}

// userMatches aggregates face matches by user (best face) and keeps those at or above the
// threshold, best first.
func userMatches(eng *face.Engine, matches []index.Match, threshold float32, maxUsers int) []UserMatch {
	var out []UserMatch
	for _, u := range index.AggregateUsers(matches, maxUsers) {
		sim := eng.Similarity(u.Cosine)
		if sim < threshold {
			continue
		}
		out = append(out, UserMatch{UserID: u.UserID, UserStatus: store.UserStatusActive, Similarity: sim})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Similarity > out[j].Similarity })
	return out
}
