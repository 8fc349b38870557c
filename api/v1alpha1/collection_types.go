package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to a collection's stored faces when its Collection is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps faces, vectors and users in storage.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete erases every object of the collection from storage.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// StorageSpec says where a collection's faces, vectors and users are kept.
type StorageSpec struct {
	// endpoint is host[:port] of the S3-compatible storage (MinIO), without scheme.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.\-\[\]:]+$`
	Endpoint string `json:"endpoint,omitempty"`
	// bucket holds the collection; it is created if missing. S3 bucket naming rules apply.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.\-]*[a-z0-9]$`
	Bucket string `json:"bucket,omitempty"`
	// prefix is prepended to every object key, so that several collections or tenants share a
	// bucket. Unset means no prefix.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9!_.*'()\-]+/)*$`
	Prefix string `json:"prefix,omitempty"`
	// credentialsSecretRef names a Secret in the same namespace with the keys accessKey and secretKey.
	// +required
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="credentialsSecretRef.name must name a Secret"
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef,omitempty"`
	// tls uses HTTPS to reach the storage.
	// +optional
	TLS bool `json:"tls,omitempty"`
}

// ImageLocation is a place images are read from: the objects of a bucket whose keys start
// with a prefix.
type ImageLocation struct {
	// bucket holds the images; without it, the Collection's own storage.bucket does. It is on the
	// Collection's storage endpoint and read with its credentials.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.\-]*[a-z0-9]$`
	Bucket string `json:"bucket,omitempty"`
	// prefix selects the objects whose keys start with it: a folder, ending in "/". Without it,
	// every object of the bucket is selected.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9!_.*'()\-]+/)*$`
	Prefix string `json:"prefix,omitempty"`
}

// AdoptionPolicy says which stored collection owned by another Collection resource a
// Collection may take over.
// +kubebuilder:validation:Enum=Never;SameNamespace;OwnerUID
type AdoptionPolicy string

const (
	// AdoptionNever takes over no stored collection that another Collection owns.
	AdoptionNever AdoptionPolicy = "Never"
	// AdoptionSameNamespace takes over one owned by a Collection of this namespace that no
	// longer exists: the stored collection of a Collection deleted with deletionPolicy
	// Retain and declared again (a new object, with a new UID).
	AdoptionSameNamespace AdoptionPolicy = "SameNamespace"
	// AdoptionOwnerUID takes over the one owned by the Collection whose UID is ownerUID, in
	// any namespace, once that Collection no longer exists: a hand-over.
	AdoptionOwnerUID AdoptionPolicy = "OwnerUID"
)

// CollectionAdoption lets a Collection take over a stored collection that another Collection
// resource owns. The stored manifest records its owner (namespace and UID); a Collection is
// refused (reason CollectionOwnedElsewhere) a stored collection it does not own, and never
// reads, serves or erases it, unless its adoption allows it and the owner no longer exists.
// +kubebuilder:validation:XValidation:rule="self.policy == 'OwnerUID' ? has(self.ownerUID) : !has(self.ownerUID)",message="ownerUID is set with policy OwnerUID, and only then"
type CollectionAdoption struct {
	// policy is Never, SameNamespace or OwnerUID.
	// +required
	Policy AdoptionPolicy `json:"policy,omitempty"`
	// ownerUID is the metadata.uid of the Collection to take over from, with policy OwnerUID.
	// Only those who can read that Collection know it: the refusal of a Collection of another
	// namespace does not tell it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	OwnerUID string `json:"ownerUID,omitempty"`
}

// IndexSpec sizes the index workload that holds the collection's vectors in memory.
// +kubebuilder:validation:MinProperties=1
type IndexSpec struct {
	// shards splits the vectors by FaceId hash across this many shards.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Shards int32 `json:"shards,omitempty"`
	// replicas of each shard; 0 stops the index (searches then fail with a clear condition).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16
	Replicas *int32 `json:"replicas,omitempty"`
	// resources of each index pod; unset means no requests or limits.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// CollectionSpec is the desired state of a Collection: Rekognition's CreateCollection.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.collectionId) || (has(self.collectionId) && self.collectionId == oldSelf.collectionId)",message="collectionId is immutable"
type CollectionSpec struct {
	// collectionId is Rekognition's CollectionId; empty means metadata.name. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.\-]+$`
	CollectionID string `json:"collectionId,omitempty"`
	// storage says where the faces live. Its endpoint, bucket and prefix are immutable:
	// moving a collection is a copy, not an edit.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.endpoint == oldSelf.endpoint && self.bucket == oldSelf.bucket && (has(self.prefix) ? self.prefix : '') == (has(oldSelf.prefix) ? oldSelf.prefix : '')",message="storage endpoint, bucket and prefix are immutable"
	Storage StorageSpec `json:"storage,omitempty,omitzero"`
	// faceModelVersion pins the face model pack; vectors of two versions are never compared,
	// so it is immutable: upgrading means a new collection and re-indexing.
	// +optional
	// +kubebuilder:default="faceplugin-1.0"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.\-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="faceModelVersion is immutable; create a new collection to change models"
	FaceModelVersion string `json:"faceModelVersion,omitempty"`
	// index sizes the search workload.
	// +optional
	// +kubebuilder:default={shards: 1, replicas: 1}
	Index IndexSpec `json:"index,omitempty,omitzero"`
	// deletionPolicy says what deleting the Collection does to its stored faces: Retain keeps
	// them, Delete erases them. Delete erases only a stored collection that this Collection
	// owns.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// imageSources lists where the images that Users and SearchRequests (and requests to the
	// Rekognition endpoint) name by s3Object are read from. Without it, only objects of
	// storage.bucket whose keys start with storage.prefix are. The store's own objects
	// (<prefix>collections/) never are. An s3Object anywhere else is answered as a missing one:
	// InvalidS3Object.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	ImageSources []ImageLocation `json:"imageSources,omitempty"`
	// adoption lets this Collection take over a stored collection owned by another Collection
	// resource, such as an earlier one of the same name; by default it takes over none.
	// +optional
	Adoption CollectionAdoption `json:"adoption,omitzero"`
}

// CollectionStatus is the observed state of a Collection: Rekognition's DescribeCollection.
// +kubebuilder:validation:MinProperties=1
type CollectionStatus struct {
	// conditions are Ready, StorageReady and IndexReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// collectionId in the store.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	CollectionID string `json:"collectionId,omitempty"`
	// faceModelVersion the collection's vectors were made with.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	FaceModelVersion string `json:"faceModelVersion,omitempty"`
	// faceCount is the number of faces indexed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FaceCount int64 `json:"faceCount,omitempty"`
	// userCount is the number of users.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UserCount int64 `json:"userCount,omitempty"`
	// collectionARN is an ARN-like identifier: arn:facesearch:rekognition:<namespace>::collection/<id>.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	CollectionARN string `json:"collectionARN,omitempty"`
	// endpoint is the in-cluster address of the index.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint,omitempty"`
	// creationTimestamp is when the collection was created in the store.
	// +optional
	CreationTimestamp *metav1.Time `json:"creationTimestamp,omitempty"`
}

// Collection is a face collection: faces, users and their vectors, kept in S3-compatible
// storage and served by an index workload.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fcol;facecol,categories=facesearch
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Faces",type=integer,JSONPath=`.status.faceCount`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.userCount`
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.status.faceModelVersion`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.spec.index.shards`,priority=1
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Collection struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec CollectionSpec `json:"spec,omitempty,omitzero"`
	// status is the observed state.
	// +optional
	Status CollectionStatus `json:"status,omitempty,omitzero"`
}

// CollectionList is a list of Collections.
// +kubebuilder:object:root=true
type CollectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Collection `json:"items"`
}
