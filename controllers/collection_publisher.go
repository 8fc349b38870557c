package controllers

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

const (
	// publishPollAfter is how soon the publisher looks again at a collection that is not
	// made or not serving yet.
	publishPollAfter = 2 * time.Second
	// publishRefreshAfter re-reads a serving collection's Secrets now and then: the storage
	// keys and the index token may rotate without the Collection changing.
	publishRefreshAfter = 30 * time.Second
)

// CollectionPublisher keeps an api replica's search path in step with the Collections of
// the namespaces it serves. It only reads: each Collection, its storage Secret, its stored manifest
// (CheckCollection) and its shards (workload.IndexObserver), and publishes or withdraws it.
// Any number of api replicas run it at once; none needs to be elected, and none serves a
// collection the manager has not made or has refused.
type CollectionPublisher struct {
	client.Client
	Search  *search.Service
	Indexes workload.IndexObserver
	// Namespaces are those whose Collections are published: the endpoint's own, where
	// access keys reach, and those whose pods search with their ServiceAccount tokens.
	Namespaces []string
	// WarmUpTimeout bounds how long Synced waits for the records of the collections that
	// existed at the first look to load (0: it does not wait for them).
	WarmUpTimeout time.Duration

	// published maps each resource (namespace/name) to the CollectionId it was published under, so that
	// it can be withdrawn once the resource is gone.
	published sync.Map
	// seen holds the resources reconciled at least once; synced latches once all the
	// Collections that existed at the first look were.
	seen   sync.Map
	synced atomic.Bool
	// warming holds, per resource, when the load of its records began, until it ends;
	// warmMu has the loads run one at a time.
	warming sync.Map
	warmMu  sync.Mutex
}

// The api role's RBAC markers are in cmd/facesearch/apirole.go: they make a ClusterRole of
// their own (api-role), bound in the api's namespace only.

// Reconcile publishes one Collection as it is now, or withdraws it.
func (p *CollectionPublisher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if !p.serves(req.Namespace) {
		return ctrl.Result{}, nil
	}
	defer p.seen.Store(req.String(), true)
	svc := p.Search.InNamespace(req.Namespace)
	col := &facesearchv1.Collection{}
	err := p.Get(ctx, req.NamespacedName, col)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	if err != nil || !col.DeletionTimestamp.IsZero() {
		// Searches stop before the data goes, as in the manager's stopServing.
		p.withdraw(svc, req.NamespacedName)
		return ctrl.Result{}, nil
	}
	id := col.EffectiveCollectionID()
	if prev, ok := p.published.Load(req.String()); ok && prev.(string) != id {
		svc.Withdraw(prev.(string), col.Name)
	}
	conn, err := storageConnection(ctx, p.Client, col)
	if err != nil {
		// Keep serving what was published: the manager reports the Secret's problem.
		log.FromContext(ctx).Info("Storage Secret unreadable; keeping the published view", "reason", err.Error())
		return ctrl.Result{RequeueAfter: storageRetryAfter}, nil
	}
	_, err = svc.CheckCollection(ctx, conn, id, string(col.UID), col.Spec.FaceModelVersion)
	switch {
	case errs.Is(err, errs.ResourceNotFound):
		// The manager has not made it yet.
		return ctrl.Result{RequeueAfter: publishPollAfter}, nil
	case errs.Is(err, errs.CollectionOwnedElsewhere), errs.Is(err, errs.FaceModelMismatch):
		p.withdraw(svc, req.NamespacedName)
		return ctrl.Result{RequeueAfter: ownedElsewhereRetryAfter}, nil
	case err != nil:
		// Storage away: the shards serve what they hold, so the view stays.
		log.FromContext(ctx).Info("Stored collection unreadable; keeping the published view", "reason", err.Error())
		return ctrl.Result{RequeueAfter: storageRetryAfter}, nil
	}
	state, err := p.Indexes.ObserveIndex(ctx, workload.IndexSpecOf(col, conn))
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := svc.Publish(search.Collection{
		ID: id, Name: col.Name, ARN: col.ARN(), FaceModelVersion: col.Spec.FaceModelVersion,
		Shards: state.Shards, Ready: state.Ready, Replicas: shardReplicas(state), ImageSources: imageSources(col.Spec.ImageSources),
	}, conn); err != nil {
		return ctrl.Result{}, err
	}
	if prev, loaded := p.published.Swap(req.String(), id); !loaded || prev.(string) != id {
		p.warm(ctx, svc, req.String(), id)
	}
	if !state.Ready {
		return ctrl.Result{RequeueAfter: publishPollAfter}, nil
	}
	return ctrl.Result{RequeueAfter: publishRefreshAfter}, nil
}

// warm loads a newly published collection's records in the background: at 20M faces they
// take minutes, which the first calls after an api replica's start would otherwise wait for,
// past their timeout.
func (p *CollectionPublisher) warm(ctx context.Context, svc *search.Service, key, id string) {
	logger := log.FromContext(ctx).WithValues("collectionId", id)
	p.warming.Store(key, time.Now())
	go func() {
		defer p.warming.Delete(key)
		p.warmMu.Lock()
		defer p.warmMu.Unlock()
		start := time.Now()
		if err := svc.Warm(context.WithoutCancel(ctx), id); err != nil {
			logger.Info("Records not loaded ahead; the first call that needs them loads them", "reason", err.Error())
			return
		}
		logger.Info("Loaded the collection's records", "took", time.Since(start).Round(time.Millisecond))
	}()
}

func (p *CollectionPublisher) withdraw(svc *search.Service, key types.NamespacedName) {
	if id, ok := p.published.LoadAndDelete(key.String()); ok {
		svc.Withdraw(id.(string), key.Name)
	}
	p.Indexes.ForgetIndex(key)
}

// Synced says whether every Collection of the served namespaces that existed when it was first asked
// has been reconciled once, and the records of those published have loaded (or failed to, or
// WarmUpTimeout passed): until then an api replica does not take requests, as it would
// answer ResourceNotFound for collections that exist, or keep calls waiting for a load.
func (p *CollectionPublisher) Synced(ctx context.Context, reader client.Reader) (bool, error) {
	if p.synced.Load() {
		return true, nil
	}
	for _, ns := range p.Namespaces {
		var list facesearchv1.CollectionList
		if err := reader.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range list.Items {
			key := client.ObjectKeyFromObject(&list.Items[i]).String()
			if _, ok := p.seen.Load(key); !ok {
				return false, nil
			}
			if since, ok := p.warming.Load(key); ok && time.Since(since.(time.Time)) < p.WarmUpTimeout {
				return false, nil
			}
		}
	}
	p.synced.Store(true)
	return true, nil
}

// SetupWithManager registers the publisher under its own name, watching the Collections of
// the served namespaces and their index Deployments (whose readiness is the collection's).
func (p *CollectionPublisher) SetupWithManager(mgr ctrl.Manager) error {
	inNamespace := func(obj client.Object) bool { return p.serves(obj.GetNamespace()) }
	return ctrl.NewControllerManagedBy(mgr).Named("collection-publisher").
		For(&facesearchv1.Collection{}).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			name := obj.GetLabels()[workload.LabelCollection]
			if name == "" || !inNamespace(obj) {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
		})).
		WithEventFilter(predicate.NewPredicateFuncs(inNamespace)).
		Complete(p)
}

func (p *CollectionPublisher) serves(namespace string) bool {
	return slices.Contains(p.Namespaces, namespace)
}

// shardReplicas carries the shards' replicas into the search path, where the console reads
// them.
func shardReplicas(state *workload.IndexState) []search.ShardReplicas {
	out := make([]search.ShardReplicas, len(state.Replicas))
	for i, r := range state.Replicas {
		out[i] = search.ShardReplicas{Ready: r.Ready, Desired: r.Desired}
	}
	return out
}
