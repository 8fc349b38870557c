// Package v1alpha1 contains the facesearch.io/v1alpha1 API: Collection, User and SearchRequest.
// +kubebuilder:object:generate=true
// +groupName=facesearch.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "facesearch.io", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group version to a scheme. It is apimachinery's,
	// not controller-runtime's, so that importing the API does not import controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every root type and its list.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Collection{}, &CollectionList{},
		&User{}, &UserList{},
		&SearchRequest{}, &SearchRequestList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
