package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestStorageOutage kills MinIO while a search and an enrolment are asked for: both wait,
// with a condition that says why, and finish once MinIO is back. Nothing is lost.
func TestStorageOutage(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "outage-" + ns
	faces := labelledFaces(t)
	col := newCollection(ns, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	var objs []string
	for _, f := range faces["John_Schneider"][:3] {
		objs = append(objs, uploadImage(t, bucket, f))
	}
	probe := uploadImage(t, bucket, faces["John_Schneider"][6])
	late := uploadImage(t, bucket, faces["John_Simm"][0])
	u := newUser(ns, "people", "John_Schneider", objs)
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, 3)

	testMinIO.Kill()
	restarted := false
	defer func() {
		if !restarted {
			_ = testMinIO.Restart(context.Background())
		}
	}()
	sr := newSearch(ns, "during-outage", "people", s3Image(probe))
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	u2 := newUser(ns, "people", "John_Simm", []string{late})
	g.Expect(k8sClient.Create(ctx, u2)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)).To(Succeed())
		c := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionUnknown))
		g.Expect(c.Reason).To(Equal(facesearchv1.StorageUnavailableReason))
	}, waitReady, pollEvery).Should(Succeed())
	g.Consistently(func() int32 {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(u2), u2)
		return u2.Status.FaceCount
	}, 2*time.Second, pollEvery).Should(BeZero())

	g.Expect(testMinIO.Restart(ctx)).To(Succeed())
	restarted = true
	cond := waitFinished(g, sr)
	g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
	g.Expect(sr.Status.UserMatches).NotTo(BeEmpty())
	g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal("John_Schneider"))
	waitUserReady(g, u2, 1)
	waitUserReady(g, u, 3)
}

// TestManagerRestartDuringEnrolment stops the manager while a User's faces are being
// indexed and associated, starts it again, and checks the store holds each face exactly
// once: the reconcile is idempotent because the store, not memory, is the truth.
func TestManagerRestartDuringEnrolment(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "restart-" + ns
	faces := labelledFaces(t)
	col := newCollection(ns, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	waitCollectionReady(g, col)
	var objs []string
	for _, f := range faces["John_Shimkus"][:6] {
		objs = append(objs, uploadImage(t, bucket, f))
	}
	u := newUser(ns, "people", "John_Shimkus", objs)
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())

	// Stop as soon as the first face is in the store, before the user is complete.
	coll, ok := searchSvc.Collections.InNamespace(ns).Get(col.EffectiveCollectionID())
	g.Expect(ok).To(BeTrue())
	st := storedCollection(col)
	g.Eventually(func() int {
		recs, _, _ := st.ListFaces(ctx, coll.ID, store.ListFacesOptions{})
		return len(recs)
	}, waitReady, 10*time.Millisecond).Should(BeNumerically(">=", 1))
	stopManager()
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
	t.Logf("manager stopped with %d faces on the user in status", u.Status.FaceCount)
	g.Expect(startManager()).To(Succeed())

	waitUserReady(g, u, 6)
	recs, _, err := st.ListFaces(ctx, coll.ID, store.ListFacesOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	perImage := map[string]int{}
	for _, r := range recs {
		perImage[r.ExternalImageID]++
		g.Expect(r.UserID).To(Equal("John_Shimkus"), "face %s is not on the user", r.FaceID)
	}
	g.Expect(recs).To(HaveLen(6), "faces per image: %v", perImage)
	for name, n := range perImage {
		g.Expect(n).To(Equal(1), "image %s stored %d times", name, n)
	}
}
