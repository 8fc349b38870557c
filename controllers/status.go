package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// statusObject is any of our kinds: it has status conditions and an observedGeneration.
type statusObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// setCondition stamps the object's generation on the condition, so a reader can tell whether
// it speaks of the current spec.
func setCondition(obj statusObject, condType string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, 32768),
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// finishReconcile is the end of every loop, for every kind: the one rule for
// observedGeneration (stamped when the loop ended without error, so that status speaks of
// the spec it saw; what it found wrong is in the conditions), then the one status write. A
// loop that failed returns its error alone, never with a Result.
func finishReconcile(ctx context.Context, c client.Client, obj, before statusObject, result *ctrl.Result, reterr error) error {
	if !obj.GetDeletionTimestamp().IsZero() && !controllerutil.ContainsFinalizer(obj, finalizer) {
		// Let go: the object is on its way out and no one reads its status any more.
		return reterr
	}
	if reterr == nil {
		obj.SetObservedGeneration(obj.GetGeneration())
	} else {
		*result = ctrl.Result{}
	}
	if err := patchStatus(ctx, c, obj, before, result); err != nil {
		if reterr == nil {
			return err
		}
		return fmt.Errorf("%w; and %w", reterr, err)
	}
	return reterr
}

// patchStatus sends the status write of a reconcile loop, as a merge patch against the
// object as it was read, with an optimistic lock so that a concurrent writer is not
// overwritten. Nothing is sent when the status did not change: every write would be an etcd
// write and an event for every watcher. A conflict only means the cache was behind (often our
// own finalizer update): it asks for a prompt retry instead of reporting an error.
func patchStatus(ctx context.Context, c client.Client, obj, before client.Object, result *ctrl.Result) error {
	if !statusChanged(before, obj) {
		return nil
	}
	err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		*result = soonest(*result, ctrl.Result{RequeueAfter: conflictRetryAfter})
		return nil
	}
	if err = client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("while patching status: %w", err)
	}
	return nil
}

// statusChanged says whether obj's status differs from before's.
func statusChanged(before, obj client.Object) bool {
	diff, err := client.MergeFrom(before).Data(obj)
	if err != nil {
		return true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(diff, &fields); err != nil {
		return true
	}
	_, changed := fields["status"]
	return changed
}

// conflictRetryAfter is how soon a reconcile whose status write lost a race runs again.
const conflictRetryAfter = 200 * time.Millisecond

// finalizer guards the cleanup of a Collection's index and data and of a User's faces.
const finalizer = "facesearch.io/finalizer"

// ensureFinalizer adds the finalizer to a live object; it reports whether it did, in which
// case the update brings the object back and the loop should end here.
func ensureFinalizer(ctx context.Context, c client.Client, obj client.Object) (bool, error) {
	if !obj.GetDeletionTimestamp().IsZero() || !controllerutil.AddFinalizer(obj, finalizer) {
		return false, nil
	}
	if err := c.Update(ctx, obj); err != nil {
		return true, fmt.Errorf("while adding the finalizer: %w", err)
	}
	return true, nil
}

// removeFinalizer lets a deleted object go: the last step of every deletion, once its
// cleanup is done.
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if !controllerutil.RemoveFinalizer(obj, finalizer) {
		return nil
	}
	if err := c.Update(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("while removing the finalizer: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
