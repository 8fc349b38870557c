package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxFacesPerUser is Rekognition's limit of faces associated with one user.
const MaxFacesPerUser = 100

// UserFace is one image of the user's face: IndexFaces takes its largest face and
// AssociateFaces adds it to the user.
type UserFace struct {
	// name identifies the face within the user; it becomes the face's ExternalImageId.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.\-:]+$`
	Name string `json:"name,omitempty"`
	// image is where the photo is.
	// +required
	Image ImageSource `json:"image"`
}

// UserSpec is the desired state of a User: Rekognition's CreateUser plus the faces to
// index and associate with it.
type UserSpec struct {
	// collectionRef names the Collection the user belongs to. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="collectionRef is immutable"
	CollectionRef CollectionReference `json:"collectionRef,omitempty,omitzero"`
	// userId is Rekognition's UserId. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.\-:]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userId is immutable"
	UserID string `json:"userId,omitempty"`
	// faces are the images of this person; at most 100, as Rekognition allows per user.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Faces []UserFace `json:"faces,omitempty"`
	// userMatchThreshold is AssociateFaces' UserMatchThreshold (0-100): once the user has a
	// face, a new face must match the user at least this well to be associated.
	// +optional
	// +kubebuilder:default=75
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	UserMatchThreshold *int32 `json:"userMatchThreshold,omitempty"`
	// qualityFilter is IndexFaces' QualityFilter for the user's images.
	// +optional
	// +kubebuilder:default=AUTO
	QualityFilter QualityFilter `json:"qualityFilter,omitempty"`
}

// AssociatedFace is a face indexed from one of the user's images and associated with the user.
type AssociatedFace struct {
	// faceId is the FaceId in the collection.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	FaceID string `json:"faceId,omitempty"`
	// name of the spec.faces entry it came from (the face's ExternalImageId); absent for a
	// face associated through the Rekognition API without an ExternalImageId.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name,omitempty"`
	// boundingBox of the face in its image.
	// +optional
	BoundingBox *BoundingBox `json:"boundingBox,omitempty,omitzero"`
	// confidence that it is a face, 0 to 100, as a decimal string.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Confidence string `json:"confidence,omitempty"`
}

// UnsuccessfulFaceAssociation is an image whose face could not be associated, with
// Rekognition's reasons (quality reasons from IndexFaces, or FACE_NOT_FOUND,
// ASSOCIATED_TO_A_DIFFERENT_USER, LOW_MATCH_CONFIDENCE from AssociateFaces), or an image
// that could not be read (InvalidImageFormat, ImageTooLarge, InvalidS3Object).
type UnsuccessfulFaceAssociation struct {
	// name of the spec.faces entry.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name,omitempty"`
	// faceId when the face was indexed but not associated.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	FaceID string `json:"faceId,omitempty"`
	// confidence of the match to the user, 0 to 100, for LOW_MATCH_CONFIDENCE.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Confidence string `json:"confidence,omitempty"`
	// reasons are Rekognition's words for what went wrong.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	Reasons []string `json:"reasons,omitempty"`
	// message says more, for a person.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`
}

// UserStatusFields is the observed state of a User.
// +kubebuilder:validation:MinProperties=1
type UserStatusFields struct {
	// conditions hold Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// userStatus is Rekognition's UserStatus.
	// +optional
	UserStatus UserStatus `json:"userStatus,omitempty"`
	// faceCount is the number of faces associated.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FaceCount int32 `json:"faceCount,omitempty"`
	// associatedFaces are the faces on the user.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	AssociatedFaces []AssociatedFace `json:"associatedFaces,omitempty"`
	// unsuccessfulFaceAssociations are the images that did not give the user a face.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	UnsuccessfulFaceAssociations []UnsuccessfulFaceAssociation `json:"unsuccessfulFaceAssociations,omitempty"`
}

// User is a person in a collection: Rekognition's user, with the images of their face.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fuser,categories=facesearch
// +kubebuilder:printcolumn:name="Collection",type=string,JSONPath=`.spec.collectionRef.name`
// +kubebuilder:printcolumn:name="UserId",type=string,JSONPath=`.spec.userId`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.userStatus`
// +kubebuilder:printcolumn:name="Faces",type=integer,JSONPath=`.status.faceCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type User struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec UserSpec `json:"spec,omitempty,omitzero"`
	// status is the observed state.
	// +optional
	Status UserStatusFields `json:"status,omitempty,omitzero"`
}

// UserList is a list of Users.
// +kubebuilder:object:root=true
type UserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []User `json:"items"`
}
