package search

import (
	"context"
	"fmt"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// ReasonNoFace marks an image in which no face was found at all; Rekognition's IndexFaces
// then answers empty FaceRecords with no reason, which a declared user must still explain.
const ReasonNoFace = "NO_FACE_DETECTED"

// UserFace is one image that a user's faces should come from, named by its ExternalImageId.
type UserFace struct {
	ExternalImageID string
	// Image gives the image; it is called only for an image with no face on the user yet.
	Image func(ctx context.Context) (Image, error)
}

// SyncUserFacesOptions are the parameters of SyncUserFaces.
type SyncUserFacesOptions struct {
	// UserMatchThreshold is AssociateFaces' threshold (0-100).
	UserMatchThreshold float32
	// QualityFilter is IndexFaces' filter.
	QualityFilter face.QualityFilter
}

// UnsuccessfulUserFace is an image that gave no face on the user, and why.
type UnsuccessfulUserFace struct {
	ExternalImageID string
	// FaceID and Confidence are set when a face was indexed but could not join the user.
	FaceID     string
	Confidence float32
	Reasons    []string
	Message    string
}

// SyncUserFacesResult is what SyncUserFaces did and found.
type SyncUserFacesResult struct {
	// User and Faces are the user and its faces as stored after the sync.
	User  *store.User
	Faces []store.FaceRecord
	// Removed counts the faces erased because their image left the list; Associated the
	// faces that joined the user.
	Removed, Associated int
	Unsuccessful        []UnsuccessfulUserFace
}

// SyncUserFaces makes a user's faces those of a list of images: the user is created if
// absent; faces whose image left the list (or that repeat an image) are taken off the user
// and erased; each image with no face on the user yet has its largest face indexed, and the
// new faces are associated in batches of Rekognition's 100. A face that could not join the
// user is erased too: it is biometric data nobody asked for. The store is the truth, so this
// is idempotent across restarts. An image that cannot be used is reported in Unsuccessful; an
// error is returned only for what a retry may mend.
func (s *Service) SyncUserFaces(ctx context.Context, collectionID, userID string, want []UserFace, opts SyncUserFacesOptions) (*SyncUserFacesResult, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return nil, err
	}
	// A Conflict is the user existing, unless it is the store's retryable "too many
	// concurrent writers", which a retry may mend.
	err = c.store.CreateUser(ctx, c.ID, userID, store.UserOptions{})
	switch code := errs.CodeOf(err); {
	case code == "", code == errs.ResourceAlreadyExists, code == errs.Conflict && !errs.IsRetryable(err):
	default:
		return nil, fmt.Errorf("while creating the user: %w", err)
	}
	current, err := listUserFaces(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, f := range want {
		wanted[f.ExternalImageID] = true
	}
	have := map[string]bool{}
	var stale []string
	for _, f := range current {
		if wanted[f.ExternalImageID] && !have[f.ExternalImageID] {
			have[f.ExternalImageID] = true
			continue
		}
		stale = append(stale, f.FaceID)
	}
	out := &SyncUserFacesResult{}
	if err := eraseUserFaces(ctx, c, userID, stale); err != nil {
		return nil, err
	}
	out.Removed = len(stale)

	var newFaces []string
	nameOf := map[string]string{}
	for _, f := range want {
		if have[f.ExternalImageID] {
			continue
		}
		faceID, failure, err := s.indexUserFace(ctx, c, f, opts.QualityFilter)
		if err != nil {
			return nil, err
		}
		if failure != nil {
			out.Unsuccessful = append(out.Unsuccessful, *failure)
			continue
		}
		newFaces = append(newFaces, faceID)
		nameOf[faceID] = f.ExternalImageID
	}
	for start := 0; start < len(newFaces); start += store.MaxFacesPerAssociation {
		batch := newFaces[start:min(start+store.MaxFacesPerAssociation, len(newFaces))]
		// No token: a sync done again redoes only what is missing.
		res, err := s.AssociateFaces(ctx, c.ID, userID, batch, opts.UserMatchThreshold, store.UserOptions{})
		if err != nil {
			return nil, fmt.Errorf("while associating faces: %w", err)
		}
		var orphans []string
		for _, u := range res.Unsuccessful {
			out.Unsuccessful = append(out.Unsuccessful, UnsuccessfulUserFace{
				ExternalImageID: nameOf[u.FaceID], FaceID: u.FaceID, Confidence: u.Confidence, Reasons: u.Reasons,
			})
			if u.UserID == "" || u.UserID == userID {
				orphans = append(orphans, u.FaceID)
			}
		}
		if len(orphans) > 0 {
			if _, _, err := c.store.DeleteFaces(ctx, c.ID, orphans); err != nil {
				return nil, fmt.Errorf("while erasing unassociated faces: %w", err)
			}
		}
		out.Associated += len(res.Associated)
	}
	if out.Faces, err = listUserFaces(ctx, c, userID); err != nil {
		return nil, err
	}
	if out.User, err = c.store.GetUser(ctx, c.ID, userID); err != nil {
		return nil, err
	}
	return out, nil
}

// indexUserFace indexes the largest face of one image. A bad image or a face refused by the
// quality filter is a failure to report; a storage outage is an error to retry.
func (s *Service) indexUserFace(ctx context.Context, c *Collection, f UserFace, qf face.QualityFilter) (string, *UnsuccessfulUserFace, error) {
	fail := func(msg string, reasons ...string) (string, *UnsuccessfulUserFace, error) {
		return "", &UnsuccessfulUserFace{ExternalImageID: f.ExternalImageID, Reasons: reasons, Message: msg}, nil
	}
	img, err := f.Image(ctx)
	if err != nil {
		if code := errs.CodeOf(err); code != errs.Internal {
			return fail(err.Error(), string(code))
		}
		return "", nil, err
	}
	res, err := s.IndexFaces(ctx, c.ID, img, IndexFacesOptions{ExternalImageID: f.ExternalImageID, MaxFaces: 1, QualityFilter: qf})
	if err != nil {
		if errs.IsRetryable(err) {
			return "", nil, fmt.Errorf("while indexing an image of the user: %w", err)
		}
		return fail(err.Error(), string(errs.CodeOf(err)))
	}
	if len(res.FaceRecords) == 0 {
		if len(res.UnindexedFaces) > 0 {
			reasons := make([]string, len(res.UnindexedFaces[0].Reasons))
			for i, reason := range res.UnindexedFaces[0].Reasons {
				reasons[i] = string(reason)
			}
			return fail("the largest face was not indexed", reasons...)
		}
		return fail("no face found in the image", ReasonNoFace)
	}
	return res.FaceRecords[0].Record.FaceID, nil, nil
}

// EraseUser deletes a user and erases its faces in one atomic store operation; it returns
// how many faces were erased. A user already gone is not an error: a retry after a failure
// finds the user and its faces as they were, never half-erased.
func (s *Service) EraseUser(ctx context.Context, collectionID, userID string) (int, error) {
	c, err := s.Collection(collectionID)
	if err != nil {
		return 0, err
	}
	return c.store.EraseUser(ctx, c.ID, userID)
}

func listUserFaces(ctx context.Context, c *Collection, userID string) ([]store.FaceRecord, error) {
	var all []store.FaceRecord
	token := ""
	for {
		page, next, err := c.store.ListFaces(ctx, c.ID, store.ListFacesOptions{UserID: userID, MaxResults: store.MaxListResults, NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("while listing the user's faces: %w", err)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// eraseUserFaces takes faces off the user and erases them, each batch in one commit.
func eraseUserFaces(ctx context.Context, c *Collection, userID string, faceIDs []string) error {
	for start := 0; start < len(faceIDs); start += store.MaxFacesPerAssociation {
		batch := faceIDs[start:min(start+store.MaxFacesPerAssociation, len(faceIDs))]
		if _, err := c.store.EraseUserFaces(ctx, c.ID, userID, batch); err != nil {
			return fmt.Errorf("while erasing faces: %w", err)
		}
	}
	return nil
}
