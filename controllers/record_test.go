package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

func testRecord(ns string) rekognition.SearchRecord {
	return rekognition.SearchRecord{
		Collection: &search.Collection{Namespace: ns, Name: "people", ID: "people-id"},
		Caller:     "system:serviceaccount:" + ns + ":frontdesk", ServiceAccount: "frontdesk", Pod: "frontdesk-7d9f",
		ImageSHA256: strings.Repeat("ab", 32), ImageSize: 48213,
		UserMatchThreshold: 85.5, MaxUsers: 3,
		Result: &search.SearchUsersResult{
			FaceModelVersion: "faceplugin-1.0",
			SearchedFace:     &face.FaceDetail{BoundingBox: face.BoundingBox{Width: 0.2, Height: 0.3, Left: 0.4, Top: 0.1}, Confidence: 99.9},
			UserMatches:      []search.UserMatch{{UserID: "alice", Similarity: 98.25, UserStatus: "ACTIVE"}},
		},
		Started: time.Now().Add(-time.Second),
	}
}

func recordsIn(g Gomega, ns string) []facesearchv1.SearchRequest {
	var list facesearchv1.SearchRequestList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{RecordedLabel: "true"})).To(Succeed())
	return list.Items
}

// TestRecordedSearch: the record holds the request (the image by its digest), the caller
// and the answer, and the SearchRequest controller deletes it after its TTL without
// running it.
func TestRecordedSearch(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ns := newTestNamespace(t, g)
	rec := &SearchRecorder{Client: k8sClient, TTL: 3 * time.Second}
	g.Expect(rec.RecordSearch(context.Background(), testRecord(ns))).To(Succeed())

	items := recordsIn(g, ns)
	g.Expect(items).To(HaveLen(1))
	sr := items[0]
	g.Expect(sr.Name).To(HavePrefix("people-"))
	g.Expect(sr.Labels).To(HaveKeyWithValue(RecordedServiceAccountLabel, "frontdesk"))
	g.Expect(sr.Annotations).To(HaveKeyWithValue(RequestedByAnnotation, "system:serviceaccount:"+ns+":frontdesk"))
	g.Expect(sr.Annotations).To(HaveKeyWithValue(RequestedFromPodAnnotation, "frontdesk-7d9f"))
	g.Expect(sr.Spec.CollectionRef.Name).To(Equal("people"))
	g.Expect(sr.Spec.Image.Bytes).To(BeNil(), "the image's bytes are never kept")
	g.Expect(sr.Spec.Image.Digest).To(Equal(&facesearchv1.ImageDigest{SHA256: strings.Repeat("ab", 32), SizeBytes: 48213}))
	g.Expect(*sr.Spec.UserMatchThreshold).To(Equal(int32(85)))
	g.Expect(*sr.Spec.MaxUsers).To(Equal(int32(3)))
	g.Expect(*sr.Spec.TTLSecondsAfterFinished).To(Equal(int32(3)))
	cond := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(cond.Reason).To(Equal(facesearchv1.CompletedReason))
	g.Expect(sr.Status.ObservedGeneration).To(Equal(sr.Generation))
	g.Expect(sr.Status.UserMatches).To(HaveLen(1))
	g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal("alice"))
	g.Expect(sr.Status.UserMatches[0].Similarity).To(Equal("98.2500"))
	g.Expect(sr.Status.SearchedFace).NotTo(BeNil())
	g.Expect(sr.Status.FaceModelVersion).To(Equal("faceplugin-1.0"))

	// Never run (its image is a digest), deleted after its TTL.
	g.Eventually(func(g Gomega) { g.Expect(recordsIn(g, ns)).To(BeEmpty()) }, 30*time.Second, pollEvery).Should(Succeed())
}

// statusFails is the API server refusing a status write: a fault a real one does not
// produce on demand between the record's two writes.
type statusFails struct{ client.Client }

type failingStatus struct{ client.SubResourceWriter }

func (s statusFails) Status() client.SubResourceWriter {
	return failingStatus{s.Client.Status()}
}

func (failingStatus) Update(context.Context, client.Object, ...client.SubResourceUpdateOption) error {
	return errors.New("injected: etcd unavailable")
}

// TestRecordWithoutItsAnswer: a status that cannot be written removes the record and fails
// the call; a record left without one (the endpoint killed between its two writes) fails
// with ImageNotKept once its grace has passed.
func TestRecordWithoutItsAnswer(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)

	err := (&SearchRecorder{Client: statusFails{k8sClient}}).RecordSearch(ctx, testRecord(ns))
	g.Expect(err).To(MatchError(ContainSubstring("injected")))
	g.Expect(recordsIn(g, ns)).To(BeEmpty(), "a record without its answer stayed")

	// The kill between the two writes: created, never answered.
	sr := recordedSearchRequest(testRecord(ns), time.Hour)
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	r := &SearchRequestReconciler{Client: k8sClient, Search: searchSvc, RecordGrace: time.Hour}
	res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sr)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 59*time.Minute), "within its grace a record waits")
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)).To(Succeed())
	g.Expect(sr.Status.Conditions).To(BeEmpty())

	r.RecordGrace = time.Nanosecond
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sr)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)).To(Succeed())
	cond := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(facesearchv1.ImageNotKeptReason))
	g.Expect(sr.Status.CompletionTime).NotTo(BeNil())
}

// TestRecordedSearchRequestNames: a long collection name still makes a valid name, and a
// caller that is an access key gets no ServiceAccount label.
func TestRecordedSearchRequestNames(t *testing.T) {
	rec := testRecord("apps")
	rec.Collection = &search.Collection{Namespace: "apps", Name: strings.Repeat("c", 253)}
	rec.Caller, rec.ServiceAccount, rec.Pod = "AKIAEXAMPLE", "", ""
	rec.S3Object = &search.S3Object{Bucket: "photos", Name: "door/1.jpg"}
	sr := recordedSearchRequest(rec, 0)
	if len(sr.GenerateName) > 200 {
		t.Errorf("generateName of %d characters", len(sr.GenerateName))
	}
	if _, ok := sr.Labels[RecordedServiceAccountLabel]; ok {
		t.Errorf("an access key's record has a ServiceAccount label: %v", sr.Labels)
	}
	if sr.Spec.Image.S3Object == nil || sr.Spec.Image.Digest != nil || sr.Spec.Image.S3Object.Name != "door/1.jpg" {
		t.Errorf("an image read from storage is recorded as %+v", sr.Spec.Image)
	}
	if *sr.Spec.TTLSecondsAfterFinished != int32(DefaultRecordTTL/time.Second) {
		t.Errorf("TTL %d, want the default", *sr.Spec.TTLSecondsAfterFinished)
	}
}
