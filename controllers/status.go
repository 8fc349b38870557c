package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// conditionsObject is any of our kinds: it has status conditions.
type conditionsObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// setCondition stamps the object's generation on the condition, so a reader can tell whether
// it speaks of the current spec.
func setCondition(obj conditionsObject, condType string, status metav1.ConditionStatus, reason, message string) {
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

// patchStatus sends the one status write of a reconcile loop, as a merge patch against the
// object as it was read, with an optimistic lock so that a concurrent writer is not
// overwritten. A conflict only means the cache was behind (often our own finalizer update):
// it asks for a prompt retry instead of reporting an error.
func patchStatus(ctx context.Context, c client.Client, obj, before client.Object, result *ctrl.Result) error {
	err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		if result.RequeueAfter == 0 || result.RequeueAfter > conflictRetryAfter {
			result.RequeueAfter = conflictRetryAfter
		}
		return nil
	}
	if err = client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("while patching status: %w", err)
	}
	return nil
}

// conflictRetryAfter is how soon a reconcile whose status write lost a race runs again.
const conflictRetryAfter = 200 * time.Millisecond

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
