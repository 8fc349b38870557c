package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// reasonNoFace marks an image in which no face was found at all; Rekognition's IndexFaces
// then answers empty FaceRecords with no reason, which a User must still explain.
const reasonNoFace = "NO_FACE_DETECTED"

func (r *UserReconciler) findCollection(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	name := s.user.Spec.CollectionRef.Name
	_, coll, err := collectionFor(ctx, r.Client, r.Search, s.user.Namespace, name, false)
	if apierrors.IsNotFound(err) {
		s.blocked, s.blockedReason = fmt.Errorf("collection %s not found", name), facesearchv1.CollectionNotFoundReason
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	if err != nil {
		return ctrl.Result{}, true, err
	}
	if coll == nil {
		s.blocked, s.blockedReason = notReadyError(name), facesearchv1.CollectionNotReadyReason
		return ctrl.Result{RequeueAfter: indexPollAfter}, true, nil
	}
	s.coll = coll
	return ctrl.Result{}, false, nil
}

// checkConflict refuses a second User object for a userId that an older one already manages:
// two owners would undo each other's faces.
func (r *UserReconciler) checkConflict(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	var users facesearchv1.UserList
	if err := r.List(ctx, &users, client.InNamespace(s.user.Namespace)); err != nil {
		return ctrl.Result{}, true, err
	}
	for _, other := range users.Items {
		if other.UID == s.user.UID || other.Spec.UserID != s.user.Spec.UserID || other.Spec.CollectionRef != s.user.Spec.CollectionRef {
			continue
		}
		if other.CreationTimestamp.Before(&s.user.CreationTimestamp) || (other.CreationTimestamp.Equal(&s.user.CreationTimestamp) && other.Name < s.user.Name) {
			s.blocked, s.blockedReason = fmt.Errorf("User %s already manages userId %s in this collection", other.Name, s.user.Spec.UserID), facesearchv1.UserConflictReason
			return ctrl.Result{}, true, nil
		}
	}
	return ctrl.Result{}, false, nil
}

func (r *UserReconciler) ensureUser(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	err := s.coll.Store.CreateUser(ctx, s.coll.ID, s.user.Spec.UserID, store.UserOptions{})
	switch errs.CodeOf(err) {
	case "", errs.ResourceAlreadyExists, errs.Conflict:
		return ctrl.Result{}, false, nil
	}
	return ctrl.Result{}, true, fmt.Errorf("while creating user %s: %w", s.user.Spec.UserID, err)
}

// reconcileFaces makes the user's faces in the store those of spec.faces: images not yet
// indexed are indexed and associated; faces whose entry left the spec are disassociated
// and erased. The store is the truth, so this is idempotent across restarts.
func (r *UserReconciler) reconcileFaces(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	coll, userID := s.coll, s.user.Spec.UserID
	current, err := listUserFaces(ctx, coll, userID)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	wanted := map[string]bool{}
	for _, f := range s.user.Spec.Faces {
		wanted[f.Name] = true
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
	if len(stale) > 0 {
		if err := eraseFaces(ctx, coll, userID, stale); err != nil {
			return ctrl.Result{}, true, err
		}
		r.Recorder.Eventf(s.user, corev1.EventTypeNormal, "FacesRemoved", "Removed %d face(s) no longer listed", len(stale))
	}

	// Index the images that have no face on the user yet, then associate them in one call.
	var newFaces []string
	nameOf := map[string]string{}
	for _, f := range s.user.Spec.Faces {
		if have[f.Name] {
			continue
		}
		faceID, failure, err := r.indexUserFace(ctx, s, f)
		if err != nil {
			return ctrl.Result{}, true, err
		}
		if failure != nil {
			s.unsuccessful = append(s.unsuccessful, *failure)
			continue
		}
		newFaces = append(newFaces, faceID)
		nameOf[faceID] = f.Name
	}
	if len(newFaces) > 0 {
		res, err := r.Search.InNamespace(s.user.Namespace).AssociateFaces(ctx, coll.ID, userID, newFaces, float32(s.user.Spec.UserMatchThreshold))
		if err != nil {
			return ctrl.Result{}, true, fmt.Errorf("while associating faces: %w", err)
		}
		var orphans []string
		for _, u := range res.Unsuccessful {
			s.unsuccessful = append(s.unsuccessful, facesearchv1.UnsuccessfulFaceAssociation{
				Name: nameOf[u.FaceID], FaceID: u.FaceID, Confidence: decimal(u.Confidence), Reasons: u.Reasons,
			})
			if u.UserID == "" || u.UserID == userID {
				orphans = append(orphans, u.FaceID)
			}
		}
		// A face that could not join the user is not kept: it is biometric data nobody asked for.
		if len(orphans) > 0 {
			if _, _, err := coll.Store.DeleteFaces(ctx, coll.ID, orphans); err != nil {
				return ctrl.Result{}, true, fmt.Errorf("while erasing unassociated faces: %w", err)
			}
		}
		if len(res.Associated) > 0 {
			r.Recorder.Eventf(s.user, corev1.EventTypeNormal, "FacesAssociated", "Associated %d face(s) with user %s", len(res.Associated), userID)
		}
	}
	if len(s.unsuccessful) > 0 {
		r.Recorder.Eventf(s.user, corev1.EventTypeWarning, facesearchv1.FacesIncompleteReason, "%d image(s) gave no associated face", len(s.unsuccessful))
	}

	if s.faces, err = listUserFaces(ctx, coll, userID); err != nil {
		return ctrl.Result{}, true, err
	}
	if s.storeUser, err = coll.Store.GetUser(ctx, coll.ID, userID); err != nil {
		return ctrl.Result{}, true, err
	}
	return ctrl.Result{}, false, nil
}

// indexUserFace indexes the largest face of one image. A bad image or a face refused by
// the quality filter is a failure to report; a storage outage is an error to retry.
func (r *UserReconciler) indexUserFace(ctx context.Context, s *userScope, f facesearchv1.UserFace) (string, *facesearchv1.UnsuccessfulFaceAssociation, error) {
	fail := func(msg string, reasons ...string) (string, *facesearchv1.UnsuccessfulFaceAssociation, error) {
		return "", &facesearchv1.UnsuccessfulFaceAssociation{Name: f.Name, Reasons: reasons, Message: msg}, nil
	}
	img, err := imageFrom(ctx, r.Client, s.user.Namespace, f.Image)
	if err != nil {
		if code := errs.CodeOf(err); code != errs.Internal {
			return fail(err.Error(), string(code))
		}
		return "", nil, err
	}
	res, err := r.Search.InNamespace(s.user.Namespace).IndexFaces(ctx, s.coll.ID, img, search.IndexFacesOptions{
		ExternalImageID: f.Name, MaxFaces: 1, QualityFilter: face.QualityFilter(s.user.Spec.QualityFilter),
	})
	if err != nil {
		if errs.IsRetryable(err) {
			return "", nil, fmt.Errorf("while indexing %s: %w", f.Name, err)
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
		return fail("no face found in the image", reasonNoFace)
	}
	return res.FaceRecords[0].Record.FaceID, nil, nil
}

func listUserFaces(ctx context.Context, coll *search.Collection, userID string) ([]store.FaceRecord, error) {
	var all []store.FaceRecord
	token := ""
	for {
		page, next, err := coll.Store.ListFaces(ctx, coll.ID, store.ListFacesOptions{UserID: userID, MaxResults: store.MaxListResults, NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("while listing the faces of user %s: %w", userID, err)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// eraseFaces takes faces off the user and deletes them from the collection.
func eraseFaces(ctx context.Context, coll *search.Collection, userID string, faceIDs []string) error {
	for start := 0; start < len(faceIDs); start += store.MaxFacesPerAssociation {
		batch := faceIDs[start:min(start+store.MaxFacesPerAssociation, len(faceIDs))]
		if _, err := coll.Store.DisassociateFaces(ctx, coll.ID, userID, batch, store.UserOptions{}); err != nil {
			return fmt.Errorf("while disassociating faces: %w", err)
		}
		if _, _, err := coll.Store.DeleteFaces(ctx, coll.ID, batch); err != nil {
			return fmt.Errorf("while deleting faces: %w", err)
		}
	}
	return nil
}

// reconcileDelete deletes the user from the store (which disassociates its faces), erases
// its faces, then lets the object go.
func (r *UserReconciler) reconcileDelete(ctx context.Context, user *facesearchv1.User) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(user, finalizer) {
		return ctrl.Result{}, nil
	}
	col, coll, err := collectionFor(ctx, r.Client, r.Search, user.Namespace, user.Spec.CollectionRef.Name, false)
	switch {
	case apierrors.IsNotFound(err):
		// No collection, nothing stored to clean.
	case err != nil:
		return ctrl.Result{}, err
	case coll == nil && col.DeletionTimestamp.IsZero():
		// The collection exists but cannot be reached yet: its data must not be left behind.
		return ctrl.Result{RequeueAfter: indexPollAfter}, nil
	case coll != nil:
		if err := r.eraseUser(ctx, coll, user); err != nil {
			r.Recorder.Eventf(user, corev1.EventTypeWarning, "EraseFailed", "Erasing user %s failed, will retry: %v", user.Spec.UserID, err)
			return ctrl.Result{RequeueAfter: storageRetryAfter}, nil
		}
	}
	controllerutil.RemoveFinalizer(user, finalizer)
	return ctrl.Result{}, r.Update(ctx, user)
}

func (r *UserReconciler) eraseUser(ctx context.Context, coll *search.Collection, user *facesearchv1.User) error {
	faces, err := listUserFaces(ctx, coll, user.Spec.UserID)
	if err != nil {
		return err
	}
	if err := coll.Store.DeleteUser(ctx, coll.ID, user.Spec.UserID, store.UserOptions{}); err != nil && !errs.Is(err, errs.ResourceNotFound) {
		return err
	}
	ids := make([]string, len(faces))
	for i, f := range faces {
		ids[i] = f.FaceID
	}
	for start := 0; start < len(ids); start += store.MaxFacesPerAssociation {
		if _, _, err := coll.Store.DeleteFaces(ctx, coll.ID, ids[start:min(start+store.MaxFacesPerAssociation, len(ids))]); err != nil {
			return err
		}
	}
	r.Recorder.Eventf(user, corev1.EventTypeNormal, "UserErased", "Deleted user %s and its %d face(s)", user.Spec.UserID, len(ids))
	return nil
}
