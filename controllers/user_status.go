package controllers

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

// setUserStatus derives the User's status from what the phases found.
func setUserStatus(s *userScope) {
	u := s.user
	if s.blocked != nil {
		if u.Status.UserStatus == "" {
			u.Status.UserStatus = facesearchv1.UserStatusCreating
		}
		setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionFalse, s.blockedReason, s.blocked.Error())
		return
	}
	if s.storeUser == nil {
		// An error stopped the loop before the store answered; keep what status said.
		return
	}
	u.Status.UserStatus = facesearchv1.UserStatus(s.storeUser.UserStatus)
	names := map[string]string{}
	for _, f := range u.Spec.Faces {
		names[f.Name] = f.Name
	}
	u.Status.AssociatedFaces = nil
	for _, f := range s.faces {
		bb := facesearchv1.BoundingBox{Width: decimal(f.BoundingBox.Width), Height: decimal(f.BoundingBox.Height), Left: decimal(f.BoundingBox.Left), Top: decimal(f.BoundingBox.Top)}
		u.Status.AssociatedFaces = append(u.Status.AssociatedFaces, facesearchv1.AssociatedFace{
			FaceID: f.FaceID, Name: f.ExternalImageID, BoundingBox: &bb, Confidence: decimal(f.Confidence),
		})
	}
	u.Status.FaceCount = int32(len(s.faces))
	u.Status.UnsuccessfulFaceAssociations = s.unsuccessful
	if len(s.unsuccessful) > 0 {
		setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionFalse, facesearchv1.FacesIncompleteReason,
			strconv.Itoa(len(s.unsuccessful))+" image(s) gave no associated face: see status.unsuccessfulFaceAssociations")
		return
	}
	reason := facesearchv1.AvailableReason
	if u.Status.UserStatus == facesearchv1.UserStatusCreated {
		reason = "NoFaces"
	}
	setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionTrue, reason, "every listed image has an associated face")
}

// decimal writes a Rekognition float as the decimal string Kubernetes status uses.
func decimal(f float32) string {
	return strconv.FormatFloat(float64(f), 'f', 4, 32)
}
