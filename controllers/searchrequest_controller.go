package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// SearchRequestReconciler answers a SearchRequest once per generation, through the same
// search path as the HTTP API.
type SearchRequestReconciler struct {
	client.Client
	Recorder record.EventRecorder
	Search   *search.Service
}

// +kubebuilder:rbac:groups=facesearch.io,resources=searchrequests,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=facesearch.io,resources=searchrequests/status,verbs=get;update;patch

// Reconcile answers one SearchRequest, or deletes it once its TTL after finishing has passed.
func (r *SearchRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	sr := &facesearchv1.SearchRequest{}
	if err := r.Get(ctx, req.NamespacedName, sr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if sr.IsFinished() {
		return r.reconcileTTL(ctx, sr)
	}

	before := sr.DeepCopy()
	defer func() {
		if reterr == nil {
			sr.Status.ObservedGeneration = sr.Generation
		}
		reterr = errors.Join(reterr, patchStatus(ctx, r.Client, sr, before, &result))
	}()
	now := metav1.Now()
	if sr.Status.StartTime == nil || sr.Status.ObservedGeneration != sr.Generation {
		sr.Status.StartTime = &now
		sr.Status.CompletionTime = nil
	}

	_, coll, err := collectionFor(ctx, r.Client, r.Search, sr.Namespace, sr.Spec.CollectionRef.Name, true)
	switch {
	case apierrors.IsNotFound(err):
		r.finish(sr, nil, errs.New(errs.ResourceNotFound, "collection %s not found", sr.Spec.CollectionRef.Name))
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case coll == nil:
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionUnknown, facesearchv1.CollectionNotReadyReason, notReadyError(sr.Spec.CollectionRef.Name).Error())
		return ctrl.Result{RequeueAfter: indexPollAfter}, nil
	}

	img, err := imageFrom(ctx, r.Client, sr.Namespace, sr.Spec.Image)
	if err != nil && errs.CodeOf(err) == errs.Internal {
		return ctrl.Result{}, err
	}
	var res *search.SearchUsersResult
	if err == nil {
		maxUsers := 0
		if sr.Spec.MaxUsers != nil {
			maxUsers = int(*sr.Spec.MaxUsers)
		}
		res, err = r.Search.InNamespace(sr.Namespace).SearchUsersByImage(ctx, coll.ID, img, search.SearchUsersOptions{
			UserMatchThreshold: float32(sr.Spec.UserMatchThreshold), MaxUsers: maxUsers,
			QualityFilter: face.QualityFilter(sr.Spec.QualityFilter),
		})
	}
	if err != nil && errs.IsRetryable(err) {
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionUnknown, reasonFor(err, facesearchv1.InternalErrorReason), err.Error())
		log.FromContext(ctx).Info("Search will be retried", "reason", err.Error())
		return ctrl.Result{RequeueAfter: storageRetryAfter}, nil
	}
	r.finish(sr, res, err)
	return r.ttlResult(sr), nil
}

// finish writes the answer, or the failure with Rekognition's error name as the reason.
func (r *SearchRequestReconciler) finish(sr *facesearchv1.SearchRequest, res *search.SearchUsersResult, err error) {
	now := metav1.Now()
	sr.Status.CompletionTime = &now
	if err != nil {
		reason := reasonFor(err, facesearchv1.InternalErrorReason)
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionFalse, reason, err.Error())
		r.Recorder.Eventf(sr, corev1.EventTypeWarning, reason, "Search failed: %v", err)
		return
	}
	sr.Status.FaceModelVersion = res.FaceModelVersion
	sr.Status.SearchedFace = nil
	if res.SearchedFace != nil {
		d := faceDetail(*res.SearchedFace)
		sr.Status.SearchedFace = &d
	}
	sr.Status.UserMatches = make([]facesearchv1.UserMatch, 0, len(res.UserMatches))
	for _, m := range res.UserMatches {
		sr.Status.UserMatches = append(sr.Status.UserMatches, facesearchv1.UserMatch{
			Similarity: decimal(m.Similarity),
			User:       facesearchv1.MatchedUser{UserID: m.UserID, UserStatus: facesearchv1.UserStatus(m.UserStatus)},
		})
	}
	sr.Status.UnsearchedFaces = nil
	for i, u := range res.UnsearchedFaces {
		if i == 100 {
			break
		}
		reasons := make([]string, len(u.Reasons))
		for j, reason := range u.Reasons {
			reasons[j] = string(reason)
		}
		sr.Status.UnsearchedFaces = append(sr.Status.UnsearchedFaces, facesearchv1.UnsearchedFace{FaceDetail: faceDetail(u.Detail), Reasons: reasons})
	}
	msg := "no face found in the image"
	switch {
	case len(res.UserMatches) > 0:
		msg = fmt.Sprintf("best match %s at %s", res.UserMatches[0].UserID, decimal(res.UserMatches[0].Similarity))
	case res.SearchedFace != nil:
		msg = "no user matched at or above the threshold"
	}
	setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionTrue, facesearchv1.CompletedReason, msg)
	r.Recorder.Event(sr, corev1.EventTypeNormal, facesearchv1.CompletedReason, msg)
}

func faceDetail(d face.FaceDetail) facesearchv1.FaceDetail {
	return facesearchv1.FaceDetail{
		BoundingBox: facesearchv1.BoundingBox{Width: decimal(d.BoundingBox.Width), Height: decimal(d.BoundingBox.Height), Left: decimal(d.BoundingBox.Left), Top: decimal(d.BoundingBox.Top)},
		Confidence:  decimal(d.Confidence),
	}
}

// reconcileTTL deletes a finished SearchRequest once ttlSecondsAfterFinished has passed.
func (r *SearchRequestReconciler) reconcileTTL(ctx context.Context, sr *facesearchv1.SearchRequest) (ctrl.Result, error) {
	res := r.ttlResult(sr)
	if res.RequeueAfter > 0 || sr.Spec.TTLSecondsAfterFinished == nil {
		return res, nil
	}
	if err := r.Delete(ctx, sr, client.Preconditions{UID: &sr.UID}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// ttlResult says when a finished SearchRequest's TTL runs out (zero: now, or never).
func (r *SearchRequestReconciler) ttlResult(sr *facesearchv1.SearchRequest) ctrl.Result {
	if sr.Spec.TTLSecondsAfterFinished == nil || sr.Status.CompletionTime == nil {
		return ctrl.Result{}
	}
	expires := sr.Status.CompletionTime.Add(time.Duration(*sr.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := time.Until(expires); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}
	}
	return ctrl.Result{}
}

// SetupWithManager registers the reconciler.
func (r *SearchRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&facesearchv1.SearchRequest{}).Named("searchrequest").Complete(r)
}
