package controllers

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

const (
	// storageRetryAfter is how long to wait after a storage or Secret problem.
	storageRetryAfter = 10 * time.Second
	// indexPollAfter is how soon to look again at shards that are still loading.
	indexPollAfter = 2 * time.Second
	// countsRefreshAfter keeps faceCount and userCount current while the collection is in use.
	countsRefreshAfter = 30 * time.Second
	// defaultCompactionInterval bounds how long a deleted face's bytes stay in storage:
	// compaction is what erases them for good.
	defaultCompactionInterval = 5 * time.Minute
	// compactionCommits compacts early once this many commits piled up, to keep loads short.
	compactionCommits = 256
)

// CollectionReconciler reconciles a Collection into its stored manifest and index workload,
// and publishes it to the search path.
type CollectionReconciler struct {
	client.Client
	// APIReader reads the API server without the cache; nil reads through Client.
	APIReader client.Reader
	Recorder  record.EventRecorder
	Search    *search.Service
	Indexes   workload.IndexRunner
	// CompactionInterval overrides defaultCompactionInterval.
	CompactionInterval time.Duration
	// compactions remembers, per collection, the generation and time of the last compaction.
	compactions sync.Map
}

// collectionScope carries what the phases of one reconcile found out.
type collectionScope struct {
	col *facesearchv1.Collection
	// conn is set once the credentials Secret was read.
	conn *store.Connection
	// storageErr is set when the Secret, the bucket or the manifest could not be used.
	storageErr error
	// desc is set once the collection exists in the store.
	desc *store.CollectionDescription
	// index is set once the index workload was ensured.
	index *workload.IndexState
	// indexErr is set when it could not be.
	indexErr error
	// deleting is set while a deletion waits or its erasure fails: why.
	deleting error
	// deletingReason goes with deleting.
	deletingReason string
}

// +kubebuilder:rbac:groups=facesearch.io,resources=collections,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=facesearch.io,resources=collections/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=facesearch.io,resources=collections/finalizers,verbs=update
// Secrets (storage credentials here, images in images.go, the endpoint's access keys) are
// read live, one at a time (UncachedObjects): get is all it takes, never list or watch.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// The index auth Secret (token, CA, serving certificate) of each Collection, read by name
// with the API reader (no list or watch for it), and each Collection's NetworkPolicy:
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update

// Reconcile brings one Collection closer to its spec, or erases it once deleted.
func (r *CollectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	col := &facesearchv1.Collection{}
	if err := r.Get(ctx, req.NamespacedName, col); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if added, err := ensureFinalizer(ctx, r.Client, col); added || err != nil {
		return ctrl.Result{}, err
	}
	before := col.DeepCopy()
	s := &collectionScope{col: col}
	defer func() {
		setCollectionStatus(s)
		reterr = finishReconcile(ctx, r.Client, col, before, &result, reterr)
	}()
	if !col.DeletionTimestamp.IsZero() {
		return doReconcile(ctx, s, r.stopServing, r.eraseData, r.releaseCollection)
	}
	return doReconcile(ctx, s, r.reconcileStorage, r.reconcileIndex, r.publish, r.reconcileCompaction)
}

// SetupWithManager registers the reconciler. It owns the index workloads it creates, and a
// User's change brings its Collection's faceCount and userCount up to date.
func (r *CollectionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&facesearchv1.Collection{}).
		Owns(&appsv1.Deployment{}).
		Watches(&facesearchv1.User{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			u := obj.(*facesearchv1.User)
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: u.Namespace, Name: u.Spec.CollectionRef.Name}}}
		})).
		Named("collection").Complete(r)
}
