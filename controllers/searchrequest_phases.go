package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// findCollection finds the collection to search; a missing one fails the search, one whose
// index is not serving yet makes it wait.
func (r *SearchRequestReconciler) findCollection(ctx context.Context, s *searchRequestScope) (ctrl.Result, bool, error) {
	name := s.sr.Spec.CollectionRef.Name
	_, coll, err := collectionFor(ctx, r.Client, r.Search, s.sr.Namespace, name, true)
	switch {
	case apierrors.IsNotFound(err):
		s.failed = errs.New(errs.ResourceNotFound, "collection %s not found", name)
		r.Recorder.Eventf(s.sr, corev1.EventTypeWarning, facesearchv1.CollectionNotFoundReason, "Search failed: %v", s.failed)
		return ctrl.Result{}, true, nil
	case err != nil:
		return ctrl.Result{}, true, err
	case coll == nil:
		s.waiting = errs.New(errs.ResourceNotReady, "collection %s is not ready yet", name)
		return ctrl.Result{RequeueAfter: indexPollAfter}, true, nil
	}
	s.coll = coll
	return ctrl.Result{}, false, nil
}

// readImage reads the image source; a bad reference fails the search, an API server that
// did not answer is retried.
func (r *SearchRequestReconciler) readImage(ctx context.Context, s *searchRequestScope) (ctrl.Result, bool, error) {
	img, err := imageFrom(ctx, r.Client, s.sr.Namespace, s.sr.Spec.Image)
	if errs.CodeOf(err) == errs.Internal {
		return ctrl.Result{}, true, err
	}
	if err != nil {
		r.fail(s, err)
		return ctrl.Result{}, true, nil
	}
	s.img = img
	return ctrl.Result{}, false, nil
}

// search runs the search through the one search path.
func (r *SearchRequestReconciler) search(ctx context.Context, s *searchRequestScope) (ctrl.Result, bool, error) {
	spec := s.sr.Spec
	maxUsers := 0
	if spec.MaxUsers != nil {
		maxUsers = int(*spec.MaxUsers)
	}
	res, err := r.Search.InNamespace(s.sr.Namespace).SearchUsersByImage(ctx, s.coll.ID, s.img, search.SearchUsersOptions{
		UserMatchThreshold: float32(spec.EffectiveUserMatchThreshold()), MaxUsers: maxUsers, QualityFilter: face.QualityFilter(spec.QualityFilter),
	})
	switch {
	case err != nil && errs.IsRetryable(err):
		s.waiting = err
		log.FromContext(ctx).Info("Search will be retried", "reason", err.Error())
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	case err != nil:
		r.fail(s, err)
		return ctrl.Result{}, true, nil
	}
	s.result = res
	r.Recorder.Event(s.sr, corev1.EventTypeNormal, facesearchv1.CompletedReason, completedEventMessage(res, spec.MatchesInEvents == facesearchv1.MatchesInEventsBestMatch))
	return ctrl.Result{}, false, nil
}

// fail records a failure that a retry cannot mend.
func (r *SearchRequestReconciler) fail(s *searchRequestScope, err error) {
	s.failed = err
	r.Recorder.Eventf(s.sr, corev1.EventTypeWarning, reasonFor(err, facesearchv1.InternalErrorReason), "Search failed: %v", err)
}

// reconcileTTL deletes a finished SearchRequest once ttlSecondsAfterFinished has passed.
func (r *SearchRequestReconciler) reconcileTTL(ctx context.Context, sr *facesearchv1.SearchRequest) (ctrl.Result, error) {
	res := r.ttlResult(sr)
	if res.RequeueAfter > 0 {
		return res, nil
	}
	if err := r.Delete(ctx, sr, client.Preconditions{UID: &sr.UID}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// ttlResult says when a finished SearchRequest's TTL runs out (zero: now; a finished one
// with no completionTime has nothing to wait for).
func (r *SearchRequestReconciler) ttlResult(sr *facesearchv1.SearchRequest) ctrl.Result {
	if sr.Status.CompletionTime == nil {
		return ctrl.Result{}
	}
	expires := sr.Status.CompletionTime.Add(time.Duration(ttlSecondsAfterFinished(sr)) * time.Second)
	if wait := time.Until(expires); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}
	}
	return ctrl.Result{}
}

// ttlSecondsAfterFinished is the SearchRequest's TTL, or the default when the installed CRD
// is older than the default and left it unset: no answer stays in etcd for ever.
func ttlSecondsAfterFinished(sr *facesearchv1.SearchRequest) int32 {
	if sr.Spec.TTLSecondsAfterFinished == nil {
		return facesearchv1.DefaultTTLSecondsAfterFinished
	}
	return *sr.Spec.TTLSecondsAfterFinished
}
