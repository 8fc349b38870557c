package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SearchRequestSpec is Rekognition's SearchUsersByImage as an object: who is in this photo?
// It runs once per generation.
type SearchRequestSpec struct {
	// collectionRef names the Collection to search.
	// +required
	CollectionRef CollectionReference `json:"collectionRef,omitempty,omitzero"`
	// image to search with; its largest face is used.
	// +required
	Image ImageSource `json:"image"`
	// maxUsers is the most user matches to return (1-500); unset returns every match at or
	// above the threshold, up to 500.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	MaxUsers *int32 `json:"maxUsers,omitempty"`
	// userMatchThreshold is the least similarity (0-100) of a returned match.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	UserMatchThreshold *int32 `json:"userMatchThreshold,omitempty"`
	// qualityFilter for the searched face.
	// +optional
	// +kubebuilder:default=NONE
	QualityFilter QualityFilter `json:"qualityFilter,omitempty"`
	// ttlSecondsAfterFinished deletes the SearchRequest this long after it finished, and with
	// it the photo given inline and the answer, which are biometric data. It defaults to one
	// hour; 0 deletes it as soon as it finished. To keep an answer longer, copy it elsewhere or
	// set a larger value.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// matchesInEvents says what the Completed Event tells of the answer: Count (the default)
	// says only how many users matched; BestMatch adds the best match's userId and
	// similarity. Events can be read by more people than the SearchRequest and outlive it.
	// The answer is always in status.userMatches.
	// +optional
	// +kubebuilder:default=Count
	MatchesInEvents MatchesInEvents `json:"matchesInEvents,omitempty"`
}

// MatchesInEvents says what a SearchRequest's Completed Event tells of the answer.
// +kubebuilder:validation:Enum=Count;BestMatch
type MatchesInEvents string

const (
	// MatchesInEventsCount means the Event says how many users matched, and names no one.
	MatchesInEventsCount MatchesInEvents = "Count"
	// MatchesInEventsBestMatch means the Event names the best match and its similarity.
	MatchesInEventsBestMatch MatchesInEvents = "BestMatch"
)

// DefaultTTLSecondsAfterFinished is ttlSecondsAfterFinished when unset: the CRD's default,
// and the controller's when the installed CRD predates the default (helm upgrade does not
// update CRDs).
const DefaultTTLSecondsAfterFinished int32 = 3600

// MatchedUser is Rekognition's MatchedUser.
type MatchedUser struct {
	// userId of the matched user.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	UserID string `json:"userId,omitempty"`
	// userStatus of the matched user.
	// +optional
	UserStatus UserStatus `json:"userStatus,omitempty"`
}

// UserMatch is Rekognition's UserMatch.
type UserMatch struct {
	// similarity of the searched face to the user's best face, 0 to 100, as a decimal string.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Similarity string `json:"similarity,omitempty"`
	// user that matched.
	// +required
	User MatchedUser `json:"user,omitempty,omitzero"`
}

// UnsearchedFace is a face found in the image but not searched, with Rekognition's reasons.
type UnsearchedFace struct {
	// faceDetail of the face.
	// +required
	FaceDetail FaceDetail `json:"faceDetail,omitempty,omitzero"`
	// reasons are Rekognition's, such as FACE_NOT_LARGEST.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	Reasons []string `json:"reasons,omitempty"`
}

// SearchRequestStatus is the observed state of a SearchRequest.
// +kubebuilder:validation:MinProperties=1
type SearchRequestStatus struct {
	// conditions hold Succeeded: True, or False with the failure's reason.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the result answers.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// searchedFace is the face that was searched; absent when the image holds no usable face.
	// +optional
	SearchedFace *FaceDetail `json:"searchedFace,omitempty,omitzero"`
	// userMatches are the matches, best first, at or above the threshold, at most maxUsers.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	UserMatches []UserMatch `json:"userMatches,omitempty"`
	// unsearchedFaces are the other faces found.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	UnsearchedFaces []UnsearchedFace `json:"unsearchedFaces,omitempty"`
	// faceModelVersion of the collection searched.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	FaceModelVersion string `json:"faceModelVersion,omitempty"`
	// startTime is when the search started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime is when it finished, successfully or not.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// SearchRequest asks who is in a photo: Rekognition's SearchUsersByImage.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fsearch;fsr,categories=facesearch
// +kubebuilder:printcolumn:name="Collection",type=string,JSONPath=`.spec.collectionRef.name`
// +kubebuilder:printcolumn:name="Succeeded",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].reason`
// +kubebuilder:printcolumn:name="Top-Match",type=string,JSONPath=`.status.userMatches[0].user.userId`
// +kubebuilder:printcolumn:name="Similarity",type=string,JSONPath=`.status.userMatches[0].similarity`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SearchRequest struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec SearchRequestSpec `json:"spec,omitempty,omitzero"`
	// status is the observed state.
	// +optional
	Status SearchRequestStatus `json:"status,omitempty,omitzero"`
}

// SearchRequestList is a list of SearchRequests.
// +kubebuilder:object:root=true
type SearchRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SearchRequest `json:"items"`
}
