package controllers

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// UserReconciler reconciles a User: the user in the store, its images indexed and their
// faces associated (Rekognition's CreateUser, IndexFaces and AssociateFaces).
type UserReconciler struct {
	client.Client
	Recorder record.EventRecorder
	Search   *search.Service
}

// userScope carries what the phases of one reconcile found out.
type userScope struct {
	user *facesearchv1.User
	// coll is set once the collection is found in the search path.
	coll *search.Collection
	// collGone is set when deleting and the Collection no longer exists or is itself being
	// deleted: there is nothing of this user left to erase through it.
	collGone bool
	// blocked is set (with blockedReason) when the user cannot be reconciled yet, or its
	// deletion must wait.
	blocked       error
	blockedReason string
	// synced is what the store holds after reconcileFaces made it match spec.faces.
	synced *search.SyncUserFacesResult
}

// userIDField indexes Users by collection and userId, for the conflict rule.
const userIDField = "facesearch.io/collection-user"

func userIDKey(collection, userID string) string { return collection + "/" + userID }

// +kubebuilder:rbac:groups=facesearch.io,resources=users,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=facesearch.io,resources=users/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=facesearch.io,resources=users/finalizers,verbs=update

// Reconcile brings one User closer to its spec, or erases it once deleted.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	user := &facesearchv1.User{}
	if err := r.Get(ctx, req.NamespacedName, user); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if added, err := ensureFinalizer(ctx, r.Client, user); added || err != nil {
		return ctrl.Result{}, err
	}
	before := user.DeepCopy()
	s := &userScope{user: user}
	defer func() {
		setUserStatus(s)
		reterr = finishReconcile(ctx, r.Client, user, before, &result, reterr)
		// controller-runtime logs the error: without the person's name.
		reterr = redactUserID(reterr, user.Spec.UserID)
	}()
	if !user.DeletionTimestamp.IsZero() {
		return doReconcile(ctx, s, r.findCollectionToErase, r.eraseUser, r.releaseUser)
	}
	return doReconcile(ctx, s, r.findCollection, r.checkConflict, r.reconcileFaces)
}

// SetupWithManager registers the reconciler and the index its conflict rule reads.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &facesearchv1.User{}, userIDField, func(obj client.Object) []string {
		u := obj.(*facesearchv1.User)
		return []string{userIDKey(u.Spec.CollectionRef.Name, u.Spec.UserID)}
	}); err != nil {
		return fmt.Errorf("while indexing Users by userId: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).For(&facesearchv1.User{}).Named("user").Complete(r)
}

// collectionFor finds a Collection resource and, once it is published, its collection in
// the search path. Writers need the whole Collection Ready; readers (searchOnly) need only
// its index, which keeps answering from memory while the storage is away.
func collectionFor(ctx context.Context, c client.Client, svc *search.Service, namespace, name string, searchOnly bool) (*facesearchv1.Collection, *search.Collection, error) {
	col := &facesearchv1.Collection{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, col); err != nil {
		return nil, nil, err
	}
	coll, ok := svc.Collections.InNamespace(namespace).Get(col.EffectiveCollectionID())
	if !ok || (searchOnly && !coll.Ready) || (!searchOnly && !col.IsReady()) {
		return col, nil, nil
	}
	return col, coll, nil
}

func notReadyError(name string) error {
	return fmt.Errorf("collection %s is not ready yet", name)
}
