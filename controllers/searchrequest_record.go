package controllers

import (
	"context"
	"fmt"
	"math"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

// Labels and annotations of a recorded search.
const (
	// RecordedLabel ("true") marks the SearchRequests the endpoint wrote as records.
	RecordedLabel = "facesearch.io/recorded"
	// RecordedServiceAccountLabel is the ServiceAccount that searched, for kubectl -l.
	RecordedServiceAccountLabel = "facesearch.io/service-account"
	// RequestedByAnnotation is the caller: a ServiceAccount's username or an access key id.
	RequestedByAnnotation = "facesearch.io/requested-by"
	// RequestedFromPodAnnotation is the pod the caller's token is bound to.
	RequestedFromPodAnnotation = "facesearch.io/requested-from-pod"
)

// recordGrace is how long a record may be without its answer: the endpoint writes the
// status right after creating it, so only a stop between the two writes leaves it so.
const recordGrace = time.Minute

// DefaultRecordTTL is how long a recorded search is kept (its ttlSecondsAfterFinished).
const DefaultRecordTTL = time.Hour

// SearchRecorder writes the searches whose callers ask for a record as SearchRequests: the
// request in spec (the image by its digest, never its bytes), the answer in status, deleted
// by the SearchRequest controller after TTL. It is the endpoint's rekognition.SearchRecorder.
type SearchRecorder struct {
	Client client.Client
	// TTL of the records (DefaultRecordTTL when 0).
	TTL time.Duration
}

// The api role writes the records, in the namespaces it serves (its RBAC markers are in
// cmd/facesearch/apirole.go).

var _ rekognition.SearchRecorder = (*SearchRecorder)(nil)

// RecordSearch creates the SearchRequest, then writes its status. A status that cannot be
// written removes the SearchRequest, so that no half record stays; the caller is told.
func (r *SearchRecorder) RecordSearch(ctx context.Context, rec rekognition.SearchRecord) error {
	sr := recordedSearchRequest(rec, r.TTL)
	if err := r.Client.Create(ctx, sr); err != nil {
		return fmt.Errorf("creating the SearchRequest: %w", err)
	}
	now := metav1.Now()
	started := metav1.NewTime(rec.Started)
	sr.Status = facesearchv1.SearchRequestStatus{ObservedGeneration: sr.Generation, StartTime: &started, CompletionTime: &now}
	setSearchResult(sr, rec.Result)
	setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionTrue, facesearchv1.CompletedReason, completedMessage(rec.Result))
	if err := r.Client.Status().Update(ctx, sr); err != nil {
		if derr := r.Client.Delete(ctx, sr); derr != nil && !apierrors.IsNotFound(derr) {
			log.FromContext(ctx).Error(derr, "Could not remove a record without its answer; the SearchRequest controller fails it after a minute", "searchRequest", client.ObjectKeyFromObject(sr))
		}
		return fmt.Errorf("writing the SearchRequest's status: %w", err)
	}
	return nil
}

// recordedSearchRequest is the SearchRequest of a search made through the endpoint.
func recordedSearchRequest(rec rekognition.SearchRecord, ttl time.Duration) *facesearchv1.SearchRequest {
	if ttl <= 0 {
		ttl = DefaultRecordTTL
	}
	sr := &facesearchv1.SearchRequest{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    rec.Collection.Namespace,
			GenerateName: rec.Collection.Name + "-",
			Labels:       map[string]string{RecordedLabel: "true"},
			Annotations:  map[string]string{RequestedByAnnotation: rec.Caller},
		},
		Spec: facesearchv1.SearchRequestSpec{
			CollectionRef:           facesearchv1.CollectionReference{Name: rec.Collection.Name},
			TTLSecondsAfterFinished: ptr.To(int32(min(ttl/time.Second, math.MaxInt32))),
			MatchesInEvents:         facesearchv1.MatchesInEventsCount,
			QualityFilter:           facesearchv1.QualityFilter(rec.QualityFilter),
		},
	}
	if len(sr.GenerateName) > 200 {
		sr.GenerateName = sr.GenerateName[:200]
	}
	if sa := rec.ServiceAccount; sa != "" && len(sa) <= 63 { // a label value's limit
		sr.Labels[RecordedServiceAccountLabel] = sa
	}
	if rec.Pod != "" {
		sr.Annotations[RequestedFromPodAnnotation] = rec.Pod
	}
	if sr.Spec.QualityFilter == "" {
		sr.Spec.QualityFilter = facesearchv1.QualityFilterNone
	}
	if rec.S3Object != nil {
		sr.Spec.Image.S3Object = &facesearchv1.S3Object{Bucket: rec.S3Object.Bucket, Name: rec.S3Object.Name, Version: rec.S3Object.Version}
	} else {
		sr.Spec.Image.Digest = &facesearchv1.ImageDigest{SHA256: rec.ImageSHA256, SizeBytes: int64(rec.ImageSize)}
	}
	if rec.MaxUsers > 0 {
		sr.Spec.MaxUsers = ptr.To(int32(min(rec.MaxUsers, 500)))
	}
	// The threshold as given; the CRD holds whole numbers, so a fraction is rounded down
	// (the answer in status is the one the given threshold produced).
	threshold := int32(80)
	if rec.UserMatchThreshold > 0 {
		threshold = int32(math.Floor(float64(rec.UserMatchThreshold)))
	}
	sr.Spec.UserMatchThreshold = &threshold
	return sr
}

// reconcileUnfinishedRecord waits for a record's answer, then fails the record that never
// got one: its image was not kept, so it cannot be run.
func (r *SearchRequestReconciler) reconcileUnfinishedRecord(ctx context.Context, sr *facesearchv1.SearchRequest) (ctrl.Result, error) {
	grace := r.RecordGrace
	if grace == 0 {
		grace = recordGrace
	}
	if wait := grace - time.Since(sr.CreationTimestamp.Time); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	now := metav1.Now()
	sr.Status.ObservedGeneration = sr.Generation
	if sr.Status.StartTime == nil {
		sr.Status.StartTime = &now
	}
	sr.Status.CompletionTime = &now
	setCondition(sr, facesearchv1.SucceededCondition, metav1.ConditionFalse, facesearchv1.ImageNotKeptReason,
		"a recorded search whose answer was never written; its image was not kept, so it cannot be run")
	if err := r.Status().Update(ctx, sr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return r.ttlResult(sr), nil
}
