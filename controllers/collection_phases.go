package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// reconcileStorage reads the credentials, and has the search path make sure the bucket and
// the collection's manifest exist with the spec's model version and this Collection as the
// owner. A stored collection that another Collection owns is neither read nor served: this
// one stops serving it (it may have been taken over) and says why.
func (r *CollectionReconciler) reconcileStorage(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	col := s.col
	conn, err := storageConnection(ctx, r.Client, col)
	if err != nil {
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	s.conn = &conn
	id := col.EffectiveCollectionID()
	svc := r.Search.InNamespace(col.Namespace)
	ensured, err := svc.EnsureCollection(ctx, conn, id, search.EnsureOptions{
		FaceModelVersion: col.Spec.FaceModelVersion, OwnerUID: string(col.UID), Adopt: r.adoption(col),
	})
	switch {
	case errs.Is(err, errs.CollectionOwnedElsewhere):
		s.storageErr = fmt.Errorf("%w; %s", err, adoptionHint(col))
		svc.Withdraw(id, col.Name)
		if err := r.Indexes.RemoveIndex(ctx, types.NamespacedName{Namespace: col.Namespace, Name: col.Name}); err != nil {
			return ctrl.Result{}, true, fmt.Errorf("while removing the index: %w", err)
		}
		// The owner may go, or erase the collection, or the spec change: look again later.
		return ctrl.Result{RequeueAfter: ownedElsewhereRetryAfter}, true, nil
	case errs.Is(err, errs.FaceModelUnavailable), errs.Is(err, errs.FaceModelMismatch):
		// A missing model pack or a model mismatch waits for a change of spec or operator.
		s.storageErr = err
		return ctrl.Result{}, true, nil
	case err != nil:
		// Storage away, or a collection of this id still being deleted: look again.
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	switch {
	case ensured.Created:
		r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionCreated", "Created collection %s in s3://%s/%s", id, conn.Bucket, conn.Prefix)
	case ensured.Claimed && ensured.From.IsZero():
		r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionClaimed", "Recorded this Collection as the owner of collection %s in s3://%s/%s, which had none", id, conn.Bucket, conn.Prefix)
	case ensured.Claimed:
		r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionAdopted", "Took over collection %s in s3://%s/%s from the Collection %s of namespace %s", id, conn.Bucket, conn.Prefix, ensured.From.UID, ensured.From.Namespace)
	}
	s.desc = ensured.Description
	return ctrl.Result{}, false, nil
}

// reconcileIndex runs the collection's shards as the spec asks.
func (r *CollectionReconciler) reconcileIndex(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	state, err := r.Indexes.EnsureIndex(ctx, workload.IndexSpecOf(s.col, *s.conn))
	if err != nil {
		s.indexErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	s.index = state
	if !state.Ready {
		return ctrl.Result{RequeueAfter: indexPollAfter}, false, nil
	}
	return ctrl.Result{RequeueAfter: countsRefreshAfter}, false, nil
}

// publish makes the collection searchable through the one search path.
func (r *CollectionReconciler) publish(_ context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	err := r.Search.InNamespace(s.col.Namespace).Publish(search.Collection{
		ID: s.col.EffectiveCollectionID(), Name: s.col.Name, ARN: s.col.ARN(),
		FaceModelVersion: s.desc.FaceModelVersion, Shards: s.index.Shards, Ready: s.index.Ready, Replicas: shardReplicas(s.index),
		ImageSources: imageSources(s.col.Spec.ImageSources),
	}, *s.conn)
	return ctrl.Result{}, err != nil, err
}

// lastCompaction is what the controller remembers of a collection's last compaction.
type lastCompaction struct {
	generation uint64
	at         time.Time
	// waitingSince is when a due compaction began to wait for the index's rollout.
	waitingSince time.Time
}

// compactionPlan is what reconcileCompaction does now.
type compactionPlan struct {
	compact bool
	// waitSince is set when a due compaction waits for a rollout (kept while it waits).
	waitSince    time.Time
	requeueAfter time.Duration
}

// planCompaction decides whether a collection with pending commits since last compacts now.
// A compaction is due after compactionCommits commits or once the interval has passed. While
// the index rolls out it waits: pods of an older image may not read the snapshot format this
// binary writes. It waits one interval at most, so that a stuck rollout delays erasure by one
// interval, not for ever.
func planCompaction(now time.Time, last lastCompaction, pending uint64, interval time.Duration, rollingOut bool) compactionPlan {
	if pending == 0 {
		return compactionPlan{}
	}
	if pending < compactionCommits && now.Sub(last.at) < interval {
		return compactionPlan{requeueAfter: interval - now.Sub(last.at)}
	}
	if !rollingOut {
		return compactionPlan{compact: true}
	}
	since := last.waitingSince
	if since.IsZero() {
		since = now
	}
	if now.Sub(since) >= interval {
		return compactionPlan{compact: true, waitSince: since}
	}
	return compactionPlan{waitSince: since, requeueAfter: min(indexPollAfter, interval-now.Sub(since))}
}

// reconcileCompaction compacts the collection's log when commits piled up or when changes
// (deletes among them) have waited the compaction interval: until then a deleted face's vector
// is still in a log object, and biometric data must be erasable for good.
func (r *CollectionReconciler) reconcileCompaction(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	key := s.col.Namespace + "/" + s.col.Name
	last := lastCompaction{at: time.Now()}
	if v, ok := r.compactions.Load(key); ok {
		last = v.(lastCompaction)
	} else {
		// First sight (or a restart): count from now, so that a restart never delays by more
		// than one interval.
		r.compactions.Store(key, last)
	}
	interval := r.CompactionInterval
	if interval <= 0 {
		interval = defaultCompactionInterval
	}
	pending := s.desc.Generation - min(last.generation, s.desc.Generation)
	plan := planCompaction(time.Now(), last, pending, interval, s.index != nil && s.index.RollingOut)
	if !plan.compact {
		if !plan.waitSince.IsZero() && last.waitingSince.IsZero() {
			log.FromContext(ctx).Info("Compaction waits for the index rollout", "collectionId", s.desc.ID, "commits", pending)
		}
		last.waitingSince = plan.waitSince
		r.compactions.Store(key, last)
		return ctrl.Result{RequeueAfter: plan.requeueAfter}, false, nil
	}
	if !plan.waitSince.IsZero() {
		log.FromContext(ctx).Info("Compacting before the index rollout ended: pods of an older image may fail to load the new snapshot",
			"collectionId", s.desc.ID, "waited", time.Since(plan.waitSince).Round(time.Second))
	}
	if err := r.Search.InNamespace(s.col.Namespace).Compact(ctx, s.desc.ID); err != nil {
		log.FromContext(ctx).Error(err, "Compaction failed; will retry", "collectionId", s.desc.ID)
		return ctrl.Result{RequeueAfter: storageRetryAfter}, false, nil
	}
	r.compactions.Store(key, lastCompaction{generation: s.desc.Generation, at: time.Now()})
	log.FromContext(ctx).Info("Compacted collection", "collectionId", s.desc.ID, "commits", pending)
	return ctrl.Result{}, false, nil
}

// stopServing takes the collection out of the search path and stops its index: searches
// must stop before the data goes.
func (r *CollectionReconciler) stopServing(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	r.Search.InNamespace(s.col.Namespace).Withdraw(s.col.EffectiveCollectionID(), s.col.Name)
	if err := r.Indexes.RemoveIndex(ctx, types.NamespacedName{Namespace: s.col.Namespace, Name: s.col.Name}); err != nil {
		return ctrl.Result{}, true, fmt.Errorf("while removing the index: %w", err)
	}
	r.compactions.Delete(s.col.Namespace + "/" + s.col.Name)
	return ctrl.Result{}, false, nil
}

// eraseData erases the stored collection when deletionPolicy is Delete and the collection
// belongs to this Collection; a failure keeps the Collection (and says why) until a retry
// succeeds. A stored collection of another owner, or of none, is left whole.
func (r *CollectionReconciler) eraseData(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	col, id := s.col, s.col.EffectiveCollectionID()
	if col.Spec.DeletionPolicy != facesearchv1.DeletionPolicyDelete {
		return ctrl.Result{}, false, nil
	}
	conn, err := storageConnection(ctx, r.Client, col)
	switch {
	case errs.Is(err, errs.CredentialsNotFound):
		// Without credentials nothing can be erased; say so and let the object go rather
		// than block namespace deletion forever.
		r.Recorder.Eventf(col, corev1.EventTypeWarning, "DataRetained", "Could not erase collection %s: %v", id, err)
		return ctrl.Result{}, false, nil
	case err != nil:
		return ctrl.Result{}, true, err
	}
	err = r.Search.InNamespace(col.Namespace).EraseCollection(ctx, conn, id, string(col.UID))
	if errs.Is(err, errs.CollectionOwnedElsewhere) {
		r.Recorder.Eventf(col, corev1.EventTypeWarning, "DataRetained", "Did not erase collection %s: %v", id, err)
		log.FromContext(ctx).Info("Did not erase a stored collection this Collection does not own", "collectionId", id, "reason", err.Error())
		return ctrl.Result{}, false, nil
	}
	if err != nil {
		s.deleting, s.deletingReason = fmt.Errorf("erasing collection %s failed, will retry: %w", id, err), facesearchv1.EraseFailedReason
		r.Recorder.Eventf(col, corev1.EventTypeWarning, facesearchv1.EraseFailedReason, "Erasing collection %s failed, will retry: %v", id, err)
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionErased", "Erased collection %s from storage", id)
	log.FromContext(ctx).Info("Erased collection", "collectionId", id)
	return ctrl.Result{}, false, nil
}

// releaseCollection lets the deleted Collection go: the last step of its deletion.
func (r *CollectionReconciler) releaseCollection(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	return ctrl.Result{}, false, removeFinalizer(ctx, r.Client, s.col)
}
