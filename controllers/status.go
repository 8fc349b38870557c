package controllers

import (
	"context"
	"fmt"

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
// object as it was read, with an optimistic lock so that a concurrent writer is not overwritten.
func patchStatus(ctx context.Context, c client.Client, obj, before client.Object) error {
	err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err = client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("while patching status: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
