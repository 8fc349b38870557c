package v1alpha1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// EffectiveCollectionID is spec.collectionId, or metadata.name when it is empty.
func (c *Collection) EffectiveCollectionID() string {
	if c.Spec.CollectionID != "" {
		return c.Spec.CollectionID
	}
	return c.Name
}

// ARN is the collection's ARN-like identifier.
func (c *Collection) ARN() string {
	return fmt.Sprintf("arn:facesearch:rekognition:%s::collection/%s", c.Namespace, c.EffectiveCollectionID())
}

// IsReady says whether the Ready condition is True for the current generation.
func (c *Collection) IsReady() bool {
	cond := meta.FindStatusCondition(c.Status.Conditions, ReadyCondition)
	return cond != nil && cond.Status == metav1.ConditionTrue
}

// GetConditions returns the status conditions.
func (c *Collection) GetConditions() []metav1.Condition { return c.Status.Conditions }

// SetConditions replaces the status conditions.
func (c *Collection) SetConditions(conds []metav1.Condition) { c.Status.Conditions = conds }

// SetObservedGeneration records the generation the status speaks of.
func (c *Collection) SetObservedGeneration(g int64) { c.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (u *User) GetConditions() []metav1.Condition { return u.Status.Conditions }

// SetConditions replaces the status conditions.
func (u *User) SetConditions(conds []metav1.Condition) { u.Status.Conditions = conds }

// SetObservedGeneration records the generation the status speaks of.
func (u *User) SetObservedGeneration(g int64) { u.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (s *SearchRequest) GetConditions() []metav1.Condition { return s.Status.Conditions }

// SetConditions replaces the status conditions.
func (s *SearchRequest) SetConditions(conds []metav1.Condition) { s.Status.Conditions = conds }

// SetObservedGeneration records the generation the status speaks of.
func (s *SearchRequest) SetObservedGeneration(g int64) { s.Status.ObservedGeneration = g }

// IsFinished says whether the search has an answer (or a failure) for its current generation.
func (s *SearchRequest) IsFinished() bool {
	cond := meta.FindStatusCondition(s.Status.Conditions, SucceededCondition)
	return cond != nil && cond.Status != metav1.ConditionUnknown && cond.ObservedGeneration == s.Generation
}

// The defaults below are the CRD's; the API server fills them in, so they matter only for an
// object that did not come from it.

// EffectiveReplicas is spec.index.replicas, 1 when unset.
func (s *IndexSpec) EffectiveReplicas() int32 { return ptr.Deref(s.Replicas, 1) }

// EffectiveUserMatchThreshold is spec.userMatchThreshold, 75 when unset (AssociateFaces').
func (s *UserSpec) EffectiveUserMatchThreshold() int32 { return ptr.Deref(s.UserMatchThreshold, 75) }

// EffectiveUserMatchThreshold is spec.userMatchThreshold, 80 when unset (SearchUsersByImage's).
func (s *SearchRequestSpec) EffectiveUserMatchThreshold() int32 {
	return ptr.Deref(s.UserMatchThreshold, 80)
}
