package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// SearchRequestReconciler answers a SearchRequest once per generation, through the same
// search path as the HTTP API.
type SearchRequestReconciler struct {
	client.Client
	Recorder record.EventRecorder
	Search   *search.Service
	// RecordGrace is how long a recorded search may wait for its answer (default a minute).
	RecordGrace time.Duration
}

// searchRequestScope carries what the phases of one reconcile found out.
type searchRequestScope struct {
	sr *facesearchv1.SearchRequest
	// coll is set once the collection is found with its index serving.
	coll *search.Collection
	// img is set once the image source was read.
	img search.Image
	// waiting is set when the search cannot run yet and will be retried (collection not
	// ready, storage outage).
	waiting error
	// failed is set when the search failed for good.
	failed error
	// result is set when the search ran.
	result *search.SearchUsersResult
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
	if sr.Spec.Image.Digest != nil {
		return r.reconcileUnfinishedRecord(ctx, sr)
	}
	before := sr.DeepCopy()
	s := &searchRequestScope{sr: sr}
	defer func() {
		setSearchRequestStatus(s)
		reterr = finishReconcile(ctx, r.Client, sr, before, &result, reterr)
		if reterr == nil && sr.IsFinished() {
			result = soonest(result, r.ttlResult(sr))
		}
	}()
	return doReconcile(ctx, s, r.findCollection, r.readImage, r.search)
}

// SetupWithManager registers the reconciler.
func (r *SearchRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&facesearchv1.SearchRequest{}).Named("searchrequest").Complete(r)
}
