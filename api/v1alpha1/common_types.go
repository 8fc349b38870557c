package v1alpha1

// QualityFilter is how strictly faces of low quality are filtered out, as Rekognition's
// QualityFilter: NONE filters nothing, AUTO lets the service choose, LOW, MEDIUM and HIGH
// raise the bar step by step.
// +kubebuilder:validation:Enum=NONE;AUTO;LOW;MEDIUM;HIGH
type QualityFilter string

// The quality filters, from NONE (filter nothing) to HIGH (the strictest).
const (
	QualityFilterNone   QualityFilter = "NONE"
	QualityFilterAuto   QualityFilter = "AUTO"
	QualityFilterLow    QualityFilter = "LOW"
	QualityFilterMedium QualityFilter = "MEDIUM"
	QualityFilterHigh   QualityFilter = "HIGH"
)

// UserStatus is Rekognition's UserStatus.
// +kubebuilder:validation:Enum=CREATING;CREATED;UPDATING;ACTIVE
type UserStatus string

const (
	// UserStatusCreating means the user is being created in the store.
	UserStatusCreating UserStatus = "CREATING"
	// UserStatusCreated means the user exists and has no face yet.
	UserStatusCreated UserStatus = "CREATED"
	// UserStatusUpdating means the user has associations in flight.
	UserStatusUpdating UserStatus = "UPDATING"
	// UserStatusActive means the user has faces and can be matched.
	UserStatusActive UserStatus = "ACTIVE"
)

// CollectionReference names a Collection in the same namespace.
type CollectionReference struct {
	// name is the metadata.name of the Collection.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// S3Object names an object in S3-compatible storage, as Rekognition's S3Object.
type S3Object struct {
	// bucket holds the object; empty means the Collection's own bucket.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[0-9A-Za-z\.\-_]*$`
	Bucket string `json:"bucket,omitempty"`
	// name is the object key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Name string `json:"name,omitempty"`
	// version pins an object version when the bucket has versioning on.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Version string `json:"version,omitempty"`
}

// KeySelector names a key of a ConfigMap or Secret in the same namespace.
type KeySelector struct {
	// name of the ConfigMap or Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// key within its data (binaryData too, for a ConfigMap).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ImageSource says where an image is: exactly one of s3Object, configMapKeyRef,
// secretKeyRef or bytes; or, for a search the endpoint recorded, digest. (Property counts, not CEL: a CEL rule that touches an object with
// a bytes field fails to evaluate on the API server for ordinary base64 such as a JPEG's.)
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type ImageSource struct {
	// s3Object is an image in S3-compatible storage (at most 15 MB).
	// +optional
	S3Object *S3Object `json:"s3Object,omitempty,omitzero"`
	// configMapKeyRef is an image held in a ConfigMap key (binaryData).
	// +optional
	ConfigMapKeyRef *KeySelector `json:"configMapKeyRef,omitempty,omitzero"`
	// secretKeyRef is an image held in a Secret key, for photos that must not sit in a ConfigMap.
	// +optional
	SecretKeyRef *KeySelector `json:"secretKeyRef,omitempty,omitzero"`
	// bytes is the image inline, base64 in YAML: at most 1 MiB of base64 (768 KiB of image),
	// so that the object stays well within etcd's size limit. Larger images go in storage.
	// +optional
	// +kubebuilder:validation:MaxLength=1048576
	Bytes []byte `json:"bytes,omitempty"`
	// digest stands for an image that was not kept: a search the endpoint recorded (see
	// docs/sidecar.md) keeps only its SHA-256 and size. A SearchRequest with a digest is a
	// record, never run: without its answer in status it fails with reason ImageNotKept.
	// +optional
	Digest *ImageDigest `json:"digest,omitempty,omitzero"`
}

// ImageDigest identifies an image that was not kept.
type ImageDigest struct {
	// sha256 of the image's bytes, in lowercase hex.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +kubebuilder:validation:MinLength=64
	// +kubebuilder:validation:MaxLength=64
	SHA256 string `json:"sha256,omitempty"`
	// sizeBytes of the image.
	// +required
	// +kubebuilder:validation:Minimum=1
	SizeBytes int64 `json:"sizeBytes,omitempty"`
}

// BoundingBox is Rekognition's BoundingBox: ratios of the image width and height, as decimal
// strings because Kubernetes APIs avoid floats.
type BoundingBox struct {
	// width of the box as a ratio of the image width.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Width string `json:"width,omitempty"`
	// height of the box as a ratio of the image height.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Height string `json:"height,omitempty"`
	// left is the x of the box's left edge as a ratio of the image width.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Left string `json:"left,omitempty"`
	// top is the y of the box's top edge as a ratio of the image height.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Top string `json:"top,omitempty"`
}

// FaceDetail is the part of Rekognition's FaceDetail that status reports.
type FaceDetail struct {
	// boundingBox of the face in the image.
	// +required
	BoundingBox BoundingBox `json:"boundingBox,omitempty,omitzero"`
	// confidence that this is a face, 0 to 100, as a decimal string.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Confidence string `json:"confidence,omitempty"`
}
