package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// reconcileStorage reads the credentials, makes sure the bucket and the collection's
// manifest exist, and checks that the stored collection uses the spec's model version.
func (r *CollectionReconciler) reconcileStorage(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	col := s.col
	conn, err := storageConnection(ctx, r.Client, col)
	if err != nil {
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	s.conn = conn
	st, _, err := r.stores.get(conn)
	if err != nil {
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	s.st = st
	if !r.Search.Engines.Has(col.Spec.FaceModelVersion) {
		s.storageErr = errs.New(errs.FaceModelUnavailable, "this operator has no model pack for faceModelVersion %q (it has %v)", col.Spec.FaceModelVersion, r.Search.Engines.Versions())
		return ctrl.Result{}, true, nil
	}
	if err := st.EnsureBucket(ctx); err != nil {
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	id := col.EffectiveCollectionID()
	desc, err := st.DescribeCollection(ctx, id)
	if errs.Is(err, errs.ResourceNotFound) {
		eng, gerr := r.Search.Engines.Get(col.Spec.FaceModelVersion)
		if gerr != nil {
			s.storageErr = gerr
			return ctrl.Result{}, true, nil
		}
		_, err = st.CreateCollection(ctx, id, store.CreateCollectionOptions{FaceModelVersion: col.Spec.FaceModelVersion, Dimension: eng.Dimension()})
		if err == nil || errs.Is(err, errs.ResourceAlreadyExists) {
			r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionCreated", "Created collection %s in s3://%s/%s", id, conn.Bucket, conn.Prefix)
			desc, err = st.DescribeCollection(ctx, id)
		}
	}
	if err != nil {
		s.storageErr = err
		return ctrl.Result{RequeueAfter: storageRetryAfter}, true, nil
	}
	if desc.FaceModelVersion != col.Spec.FaceModelVersion {
		s.storageErr = errs.New(errs.FaceModelMismatch, "the stored collection %s was made with faceModelVersion %q, not %q", id, desc.FaceModelVersion, col.Spec.FaceModelVersion)
		return ctrl.Result{}, true, nil
	}
	s.desc = desc
	return ctrl.Result{}, false, nil
}

// reconcileIndex runs the collection's shards as the spec asks.
func (r *CollectionReconciler) reconcileIndex(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	state, err := r.Indexes.EnsureIndex(ctx, s.col, s.st, s.conn)
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
func (r *CollectionReconciler) publish(ctx context.Context, s *collectionScope) (ctrl.Result, bool, error) {
	_, mc, err := r.stores.get(s.conn)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	r.Search.Collections.Put(&search.Collection{
		ID: s.col.EffectiveCollectionID(), Namespace: s.col.Namespace, Name: s.col.Name,
		FaceModelVersion: s.desc.FaceModelVersion, Store: s.st, Client: mc, Bucket: s.conn.Bucket,
		Shards: s.index.Shards, Ready: s.index.Ready,
	})
	return ctrl.Result{}, false, nil
}

// reconcileDelete stops the index, erases the data if the policy says so, then lets the
// Collection go.
func (r *CollectionReconciler) reconcileDelete(ctx context.Context, col *facesearchv1.Collection) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(col, finalizer) {
		return ctrl.Result{}, nil
	}
	id := col.EffectiveCollectionID()
	r.Search.Collections.InNamespace(col.Namespace).Delete(id)
	if err := r.Indexes.RemoveIndex(ctx, col); err != nil {
		return ctrl.Result{}, fmt.Errorf("while removing the index: %w", err)
	}
	if col.Spec.DeletionPolicy == facesearchv1.DeletionPolicyDelete {
		conn, err := storageConnection(ctx, r.Client, col)
		switch {
		case errs.Is(err, errs.CredentialsNotFound):
			// Without credentials nothing can be erased; say so and let the object go rather
			// than block namespace deletion forever.
			r.Recorder.Eventf(col, corev1.EventTypeWarning, "DataRetained", "Could not erase collection %s: %v", id, err)
		case err != nil:
			return ctrl.Result{}, err
		default:
			st, _, err := r.stores.get(conn)
			if err == nil {
				err = st.DeleteCollection(ctx, id)
			}
			if err != nil && !errs.Is(err, errs.ResourceNotFound) {
				r.Recorder.Eventf(col, corev1.EventTypeWarning, "EraseFailed", "Erasing collection %s failed, will retry: %v", id, err)
				return ctrl.Result{RequeueAfter: storageRetryAfter}, nil
			}
			r.Recorder.Eventf(col, corev1.EventTypeNormal, "CollectionErased", "Erased collection %s from storage", id)
			log.FromContext(ctx).Info("Erased collection", "collectionId", id)
		}
	}
	controllerutil.RemoveFinalizer(col, finalizer)
	return ctrl.Result{}, r.Update(ctx, col)
}

// lastCompaction is what the controller remembers of a collection's last compaction.
type lastCompaction struct {
	generation uint64
	at         time.Time
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
		last.generation = 0
		r.compactions.Store(key, last)
	}
	interval := r.CompactionInterval
	if interval <= 0 {
		interval = defaultCompactionInterval
	}
	pending := s.desc.Generation - min(last.generation, s.desc.Generation)
	due := pending > 0 && (pending >= compactionCommits || time.Since(last.at) >= interval)
	if !due {
		if pending > 0 {
			return ctrl.Result{RequeueAfter: interval - time.Since(last.at)}, false, nil
		}
		return ctrl.Result{}, false, nil
	}
	if err := s.st.Compact(ctx, s.desc.ID); err != nil {
		log.FromContext(ctx).Error(err, "Compaction failed; will retry", "collectionId", s.desc.ID)
		return ctrl.Result{RequeueAfter: storageRetryAfter}, false, nil
	}
	r.compactions.Store(key, lastCompaction{generation: s.desc.Generation, at: time.Now()})
	log.FromContext(ctx).Info("Compacted collection", "collectionId", s.desc.ID, "commits", pending)
	return ctrl.Result{}, false, nil
}
