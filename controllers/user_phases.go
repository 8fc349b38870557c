package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// findCollection finds the published collection the user belongs to; a user waits while it is
// missing or not ready.
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
	if err := r.List(ctx, &users, client.InNamespace(s.user.Namespace),
		client.MatchingFields{userIDField: userIDKey(s.user.Spec.CollectionRef.Name, s.user.Spec.UserID)}); err != nil {
		return ctrl.Result{}, true, err
	}
	if owner := userIDOwner(users.Items); owner != nil && owner.UID != s.user.UID {
		s.blocked, s.blockedReason = fmt.Errorf("the User %s already manages userId %s in this collection", owner.Name, s.user.Spec.UserID), facesearchv1.UserConflictReason
		return ctrl.Result{}, true, nil
	}
	return ctrl.Result{}, false, nil
}

// userIDOwner is, of the Users that claim one userId in one collection, the one that manages
// it: the oldest, and of those created in the same second the first by name.
func userIDOwner(users []facesearchv1.User) *facesearchv1.User {
	var owner *facesearchv1.User
	for i := range users {
		u := &users[i]
		if owner == nil || u.CreationTimestamp.Before(&owner.CreationTimestamp) ||
			(u.CreationTimestamp.Equal(&owner.CreationTimestamp) && u.Name < owner.Name) {
			owner = u
		}
	}
	return owner
}

// reconcileFaces makes the user's faces in the store those of spec.faces, through the search
// path's one rule for it (SyncUserFaces).
func (r *UserReconciler) reconcileFaces(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	want := make([]search.UserFace, len(s.user.Spec.Faces))
	for i, f := range s.user.Spec.Faces {
		want[i] = search.UserFace{ExternalImageID: f.Name, Image: func(ctx context.Context) (search.Image, error) {
			return imageFrom(ctx, r.Client, s.user.Namespace, f.Image)
		}}
	}
	res, err := r.Search.InNamespace(s.user.Namespace).SyncUserFaces(ctx, s.coll.ID, s.user.Spec.UserID, want, search.SyncUserFacesOptions{
		UserMatchThreshold: float32(s.user.Spec.EffectiveUserMatchThreshold()), QualityFilter: face.QualityFilter(s.user.Spec.QualityFilter),
	})
	if err != nil {
		return ctrl.Result{}, true, err
	}
	s.synced = res
	if res.Removed > 0 {
		r.Recorder.Eventf(s.user, corev1.EventTypeNormal, "FacesRemoved", "Removed %d face(s) no longer listed", res.Removed)
	}
	if res.Associated > 0 {
		r.Recorder.Eventf(s.user, corev1.EventTypeNormal, "FacesAssociated", "Associated %d face(s) with the user", res.Associated)
	}
	if len(res.Unsuccessful) > 0 {
		r.Recorder.Eventf(s.user, corev1.EventTypeWarning, facesearchv1.FacesIncompleteReason, "%d image(s) gave no associated face", len(res.Unsuccessful))
	}
	return ctrl.Result{}, false, nil
}

// findCollectionToErase finds the collection a deleted User's faces are in. With no
// Collection, or one being deleted itself, there is nothing to erase through it; one that
// exists but cannot be reached yet makes the deletion wait: its data must not be left behind.
func (r *UserReconciler) findCollectionToErase(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	name := s.user.Spec.CollectionRef.Name
	col, coll, err := collectionFor(ctx, r.Client, r.Search, s.user.Namespace, name, false)
	switch {
	case apierrors.IsNotFound(err):
		s.collGone = true
	case err != nil:
		return ctrl.Result{}, true, err
	case coll == nil && col.DeletionTimestamp.IsZero():
		s.blocked, s.blockedReason = notReadyError(name), facesearchv1.CollectionNotReadyReason
		return ctrl.Result{RequeueAfter: indexPollAfter}, true, nil
	case coll == nil:
		s.collGone = true
	}
	s.coll = coll
	return ctrl.Result{}, false, nil
}

// eraseUser deletes the user from the store and erases its faces.
func (r *UserReconciler) eraseUser(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	if s.collGone {
		return ctrl.Result{}, false, nil
	}
	user := s.user
	n, err := r.Search.InNamespace(user.Namespace).EraseUser(ctx, s.coll.ID, user.Spec.UserID)
	if err != nil {
		s.blocked, s.blockedReason = fmt.Errorf("erasing user %s failed, will retry: %w", user.Spec.UserID, err), facesearchv1.EraseFailedReason
		r.Recorder.Eventf(user, corev1.EventTypeWarning, facesearchv1.EraseFailedReason, "Erasing the user failed, will retry: %v", redactUserID(err, user.Spec.UserID))
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	r.Recorder.Eventf(user, corev1.EventTypeNormal, "UserErased", "Deleted the user and its %d face(s)", n)
	return ctrl.Result{}, false, nil
}

// releaseUser lets the deleted User go: the last step of its deletion.
func (r *UserReconciler) releaseUser(ctx context.Context, s *userScope) (ctrl.Result, bool, error) {
	return ctrl.Result{}, false, removeFinalizer(ctx, r.Client, s.user)
}
