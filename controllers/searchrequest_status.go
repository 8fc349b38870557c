package controllers

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// maxUnsearchedFaces bounds status.unsearchedFaces (the CRD's MaxItems).
const maxUnsearchedFaces = 100

// setSearchRequestStatus derives the SearchRequest's status from what the phases found.
func setSearchRequestStatus(s *searchRequestScope) {
	sr := s.sr
	now := metav1.Now()
	if sr.Status.StartTime == nil || sr.Status.ObservedGeneration != sr.Generation {
		sr.Status.StartTime = &now
		sr.Status.CompletionTime = nil
	}
	switch {
	case s.result != nil:
		sr.Status.CompletionTime = &now
		setSearchResult(sr, s.result)
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionTrue, facesearchv1.CompletedReason, completedMessage(s.result))
	case s.failed != nil:
		sr.Status.CompletionTime = &now
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionFalse, reasonFor(s.failed, facesearchv1.InternalErrorReason), s.failed.Error())
	case s.waiting != nil:
		setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionUnknown, reasonFor(s.waiting, facesearchv1.InternalErrorReason), s.waiting.Error())
	}
}

// setSearchResult writes the answer in Rekognition's shapes.
func setSearchResult(sr *facesearchv1.SearchRequest, res *search.SearchUsersResult) {
	sr.Status.FaceModelVersion = res.FaceModelVersion
	sr.Status.SearchedFace = nil
	if res.SearchedFace != nil {
		d := faceDetail(*res.SearchedFace)
		sr.Status.SearchedFace = &d
	}
	sr.Status.UserMatches = make([]facesearchv1.UserMatch, 0, len(res.UserMatches))
	for _, m := range res.UserMatches {
		sr.Status.UserMatches = append(sr.Status.UserMatches, facesearchv1.UserMatch{
			Similarity: decimal(m.Similarity),
			User:       facesearchv1.MatchedUser{UserID: m.UserID, UserStatus: facesearchv1.UserStatus(m.UserStatus)},
		})
	}
	sr.Status.UnsearchedFaces = nil
	for _, u := range res.UnsearchedFaces[:min(len(res.UnsearchedFaces), maxUnsearchedFaces)] {
		reasons := make([]string, len(u.Reasons))
		for j, reason := range u.Reasons {
			reasons[j] = string(reason)
		}
		sr.Status.UnsearchedFaces = append(sr.Status.UnsearchedFaces, facesearchv1.UnsearchedFace{FaceDetail: faceDetail(u.Detail), Reasons: reasons})
	}
}

// completedMessage sums up an answer in one line, for the Succeeded condition. It names the
// best match: the condition is status, read by those who may read status.userMatches (and
// the Top-Match column) and deleted with them when the TTL runs out.
func completedMessage(res *search.SearchUsersResult) string {
	switch {
	case len(res.UserMatches) > 0:
		return fmt.Sprintf("best match %s at %s", res.UserMatches[0].UserID, decimal(res.UserMatches[0].Similarity))
	case res.SearchedFace != nil:
		return "no user matched at or above the threshold"
	}
	return "no face found in the image"
}

func faceDetail(d face.FaceDetail) facesearchv1.FaceDetail {
	return facesearchv1.FaceDetail{
		BoundingBox: facesearchv1.BoundingBox{Width: decimal(d.BoundingBox.Width), Height: decimal(d.BoundingBox.Height), Left: decimal(d.BoundingBox.Left), Top: decimal(d.BoundingBox.Top)},
		Confidence:  decimal(d.Confidence),
	}
}

// completedEventMessage sums up an answer for the Completed Event. Events are readable more
// widely than the SearchRequest (a namespace's viewers, cluster-wide event collectors) and
// outlive it, so the Event counts the matches and names the best one only when the
// SearchRequest asks for it (spec.matchesInEvents: BestMatch).
func completedEventMessage(res *search.SearchUsersResult, nameBestMatch bool) string {
	switch {
	case len(res.UserMatches) > 0 && nameBestMatch:
		return fmt.Sprintf("search completed: %d match(es); %s", len(res.UserMatches), completedMessage(res))
	case len(res.UserMatches) > 0 || res.SearchedFace != nil:
		return fmt.Sprintf("search completed: %d match(es)", len(res.UserMatches))
	}
	return "search completed: " + completedMessage(res)
}
