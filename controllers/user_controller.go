package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
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
	// blocked is set (with blockedReason) when the user cannot be reconciled yet.
	blocked       error
	blockedReason string
	// storeUser is the user as stored, set after reconcileFaces.
	storeUser *store.User
	// faces are the user's faces as stored, set after reconcileFaces.
	faces []store.FaceRecord
	// unsuccessful are the spec.faces entries that gave no associated face.
	unsuccessful []facesearchv1.UnsuccessfulFaceAssociation
}

// +kubebuilder:rbac:groups=facesearch.io,resources=users,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=facesearch.io,resources=users/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=facesearch.io,resources=users/finalizers,verbs=update

// Reconcile brings one User closer to its spec.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	user := &facesearchv1.User{}
	if err := r.Get(ctx, req.NamespacedName, user); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !user.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, user)
	}
	if controllerutil.AddFinalizer(user, finalizer) {
		return ctrl.Result{}, r.Update(ctx, user)
	}

	before := user.DeepCopy()
	s := &userScope{user: user}
	defer func() {
		setUserStatus(s)
		if reterr == nil && s.blocked == nil {
			user.Status.ObservedGeneration = user.Generation
		}
		reterr = errors.Join(reterr, patchStatus(ctx, r.Client, user, before, &result))
	}()
	return doReconcile(ctx, s, r.findCollection, r.checkConflict, r.ensureUser, r.reconcileFaces)
}

// SetupWithManager registers the reconciler.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager) error {
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
