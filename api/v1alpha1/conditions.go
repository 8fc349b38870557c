package v1alpha1

// Condition types.
const (
	// ReadyCondition on a Collection: storage reachable, manifest written, index serving.
	// On a User: the user exists in the store and its faces are reconciled.
	ReadyCondition = "Ready"
	// StorageReadyCondition on a Collection: the credentials Secret is present and the bucket
	// and the collection's manifest can be read and written.
	StorageReadyCondition = "StorageReady"
	// IndexReadyCondition on a Collection: every shard has loaded its vectors.
	IndexReadyCondition = "IndexReady"
	// SucceededCondition on a SearchRequest: True once answered, False when it failed.
	SucceededCondition = "Succeeded"
	// DeletingCondition on a Collection or a User being deleted: True while the deletion
	// waits or its erasure fails, with the reason; absent otherwise.
	DeletingCondition = "Deleting"
)

// Condition reasons, in CamelCase. Failures of a search or an image keep Rekognition's
// error names without the Exception suffix.
const (
	// ObservedReason: the object was seen and is being reconciled.
	ObservedReason = "Observed"
	// AvailableReason: everything the condition covers works.
	AvailableReason = "Available"
	// CredentialsSecretNotFoundReason: storage.credentialsSecretRef names no Secret, or it lacks a key.
	CredentialsSecretNotFoundReason = "CredentialsSecretNotFound"
	// StorageUnavailableReason: the storage endpoint did not answer or refused the credentials.
	StorageUnavailableReason = "StorageUnavailable"
	// FaceModelMismatchReason: the stored collection was made with another face model version.
	FaceModelMismatchReason = "FaceModelMismatch"
	// CollectionOwnedElsewhereReason: the stored collection at this storage and collectionId
	// belongs to another Collection resource (of another namespace, or an earlier one of this
	// namespace); see spec.adoption.
	CollectionOwnedElsewhereReason = "CollectionOwnedElsewhere"
	// FaceModelUnavailableReason: this operator has no model pack for the faceModelVersion.
	FaceModelUnavailableReason = "FaceModelUnavailable"
	// IndexProgressingReason: shards are starting or loading.
	IndexProgressingReason = "IndexProgressing"
	// IndexScaledToZeroReason: index.replicas is 0.
	IndexScaledToZeroReason = "IndexScaledToZero"
	// DeletingReason: the object is being deleted and its data cleaned up.
	DeletingReason = "Deleting"
	// EraseFailedReason: erasing the stored data failed; it is retried, and the object stays
	// until it succeeds.
	EraseFailedReason = "EraseFailed"
	// CollectionNotFoundReason: collectionRef names no Collection (Rekognition: ResourceNotFound).
	CollectionNotFoundReason = "CollectionNotFound"
	// CollectionNotReadyReason: the Collection exists but is not Ready yet.
	CollectionNotReadyReason = "CollectionNotReady"
	// FacesIncompleteReason: some images gave no associated face; see unsuccessfulFaceAssociations.
	FacesIncompleteReason = "FacesIncomplete"
	// UserConflictReason: another User object already claims this userId in the collection.
	UserConflictReason = "UserConflict"
	// CompletedReason: the search ran and status holds its answer.
	CompletedReason = "Completed"
	// ImageNotKeptReason: a recorded search (its image a digest) whose answer was never
	// written, as the endpoint stopped between its two writes; it cannot be run again.
	ImageNotKeptReason = "ImageNotKept"
	// InvalidImageFormatReason: the image is not a JPEG, PNG or WebP that can be decoded.
	InvalidImageFormatReason = "InvalidImageFormat"
	// ImageTooLargeReason: the image is over the size or pixel limit.
	ImageTooLargeReason = "ImageTooLarge"
	// InvalidS3ObjectReason: the storage object, ConfigMap or Secret key could not be read.
	InvalidS3ObjectReason = "InvalidS3Object"
	// InvalidParameterReason: the request cannot be answered as asked.
	InvalidParameterReason = "InvalidParameter"
	// ProvisionedThroughputExceededReason: the operator was processing as many images as its
	// memory allows (its decode budget); the request is retried.
	ProvisionedThroughputExceededReason = "ProvisionedThroughputExceeded"
	// InternalErrorReason: an unexpected failure; see the message and the operator's log.
	InternalErrorReason = "InternalError"
)
