package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
)

// setCollectionStatus derives every status field and condition from what the phases found.
func setCollectionStatus(s *collectionScope) {
	col := s.col
	if !col.DeletionTimestamp.IsZero() {
		setDeletingCondition(s.col, s.deleting, s.deletingReason)
		setCondition(col, facesearchv1.ReadyCondition, metav1.ConditionFalse, facesearchv1.DeletingReason, "the collection is being deleted")
		return
	}
	col.Status.CollectionID = col.EffectiveCollectionID()
	col.Status.CollectionARN = col.ARN()
	if errs.Is(s.storageErr, errs.CollectionOwnedElsewhere) {
		// What the status said of the stored collection is another owner's now, if it was
		// taken over: none of it is this Collection's.
		col.Status.FaceModelVersion, col.Status.FaceCount, col.Status.UserCount = "", 0, 0
		col.Status.CreationTimestamp, col.Status.Endpoint = nil, ""
	}
	if s.desc != nil {
		col.Status.FaceModelVersion = s.desc.FaceModelVersion
		col.Status.FaceCount = s.desc.FaceCount
		col.Status.UserCount = s.desc.UserCount
		t := metav1.NewTime(s.desc.CreationTimestamp)
		col.Status.CreationTimestamp = &t
	}
	if s.index != nil {
		col.Status.Endpoint = s.index.Endpoint
	}
	setStorageReadyCondition(s)
	setIndexReadyCondition(s)
	setCollectionReadyCondition(s)
}

func setStorageReadyCondition(s *collectionScope) {
	if s.storageErr == nil && s.desc != nil {
		setCondition(s.col, facesearchv1.StorageReadyCondition, metav1.ConditionTrue, facesearchv1.AvailableReason,
			"bucket and collection manifest are in place")
		return
	}
	setCondition(s.col, facesearchv1.StorageReadyCondition, metav1.ConditionFalse, storageReason(s.storageErr), errText(s.storageErr))
}

// storageReason: whatever stops the storage phase without a code of its own is the storage
// (or the API server behind the Secret) not answering.
func storageReason(err error) string {
	return reasonFor(err, facesearchv1.StorageUnavailableReason)
}

func setIndexReadyCondition(s *collectionScope) {
	switch {
	case s.indexErr != nil:
		setCondition(s.col, facesearchv1.IndexReadyCondition, metav1.ConditionFalse, facesearchv1.InternalErrorReason, s.indexErr.Error())
	case s.index == nil:
		setCondition(s.col, facesearchv1.IndexReadyCondition, metav1.ConditionUnknown, facesearchv1.IndexProgressingReason, "waiting for storage")
	case s.col.Spec.Index.EffectiveReplicas() == 0:
		setCondition(s.col, facesearchv1.IndexReadyCondition, metav1.ConditionFalse, facesearchv1.IndexScaledToZeroReason, "index.replicas is 0: searches are refused")
	case !s.index.Ready:
		setCondition(s.col, facesearchv1.IndexReadyCondition, metav1.ConditionFalse, facesearchv1.IndexProgressingReason, s.index.Message)
	default:
		setCondition(s.col, facesearchv1.IndexReadyCondition, metav1.ConditionTrue, facesearchv1.AvailableReason, "every shard has loaded its vectors")
	}
}

// setCollectionReadyCondition summarises: Ready is the first of StorageReady and IndexReady
// that is not True.
func setCollectionReadyCondition(s *collectionScope) {
	for _, t := range []string{facesearchv1.StorageReadyCondition, facesearchv1.IndexReadyCondition} {
		for _, c := range s.col.Status.Conditions {
			if c.Type == t && c.Status != metav1.ConditionTrue {
				setCondition(s.col, facesearchv1.ReadyCondition, c.Status, c.Reason, c.Message)
				return
			}
		}
	}
	setCondition(s.col, facesearchv1.ReadyCondition, metav1.ConditionTrue, facesearchv1.AvailableReason, "collection is searchable")
}

// setDeletingCondition says why a deletion waits, for any kind: a person sees why an object
// is stuck in deletion without reading events.
func setDeletingCondition(obj statusObject, waiting error, reason string) {
	if waiting == nil {
		setCondition(obj, facesearchv1.DeletingCondition, metav1.ConditionTrue, facesearchv1.DeletingReason, "cleaning up")
		return
	}
	setCondition(obj, facesearchv1.DeletingCondition, metav1.ConditionTrue, reason, waiting.Error())
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
