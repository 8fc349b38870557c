package controllers

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

// setUserStatus derives the User's status from what the phases found.
func setUserStatus(s *userScope) {
	u := s.user
	if !u.DeletionTimestamp.IsZero() {
		setDeletingCondition(u, s.blocked, s.blockedReason)
		setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionFalse, facesearchv1.DeletingReason, "the user is being deleted")
		return
	}
	if s.blocked != nil {
		if u.Status.UserStatus == "" {
			u.Status.UserStatus = facesearchv1.UserStatusCreating
		}
		setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionFalse, s.blockedReason, s.blocked.Error())
		return
	}
	if s.synced == nil {
		// An error stopped the loop before the store answered; keep what status said.
		return
	}
	u.Status.UserStatus = facesearchv1.UserStatus(s.synced.User.UserStatus)
	names := map[string]string{}
	for _, f := range u.Spec.Faces {
		names[f.Name] = f.Name
	}
	u.Status.AssociatedFaces = nil
	for _, f := range s.synced.Faces {
		bb := facesearchv1.BoundingBox{Width: decimal(f.BoundingBox.Width), Height: decimal(f.BoundingBox.Height), Left: decimal(f.BoundingBox.Left), Top: decimal(f.BoundingBox.Top)}
		u.Status.AssociatedFaces = append(u.Status.AssociatedFaces, facesearchv1.AssociatedFace{
			FaceID: f.FaceID, Name: f.ExternalImageID, BoundingBox: &bb, Confidence: decimal(f.Confidence),
		})
	}
	u.Status.FaceCount = int32(len(s.synced.Faces))
	u.Status.UnsuccessfulFaceAssociations = nil
	for _, f := range s.synced.Unsuccessful {
		u.Status.UnsuccessfulFaceAssociations = append(u.Status.UnsuccessfulFaceAssociations, facesearchv1.UnsuccessfulFaceAssociation{
			Name: f.ExternalImageID, FaceID: f.FaceID, Confidence: decimalIfSet(f.FaceID, f.Confidence), Reasons: f.Reasons, Message: f.Message,
		})
	}
	if n := len(s.synced.Unsuccessful); n > 0 {
		setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionFalse, facesearchv1.FacesIncompleteReason,
			strconv.Itoa(n)+" image(s) gave no associated face: see status.unsuccessfulFaceAssociations")
		return
	}
	reason := facesearchv1.AvailableReason
	if u.Status.UserStatus == facesearchv1.UserStatusCreated {
		reason = "NoFaces"
	}
	setCondition(u, facesearchv1.ReadyCondition, metav1.ConditionTrue, reason, "every listed image has an associated face")
}

// decimalIfSet is the confidence of an indexed face, or "" when no face was indexed.
func decimalIfSet(faceID string, f float32) string {
	if faceID == "" {
		return ""
	}
	return decimal(f)
}

// decimal writes a Rekognition float as the decimal string Kubernetes status uses.
func decimal(f float32) string {
	return strconv.FormatFloat(float64(f), 'f', 4, 32)
}
