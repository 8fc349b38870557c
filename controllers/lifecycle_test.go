package controllers

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
)

// TestDeletionPolicy deletes a Collection of each policy: Delete erases the stored
// collection, Retain keeps it (TestCollectionAdoption declares it again and takes it over).
func TestDeletionPolicy(t *testing.T) {
	requireSuite(t)
	for _, policy := range []facesearchv1.DeletionPolicy{facesearchv1.DeletionPolicyDelete, facesearchv1.DeletionPolicyRetain} {
		t.Run(string(policy), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := newTestNamespace(t, g)
			bucket := "policy-" + ns
			faces := labelledFaces(t)
			col := newCollection(ns, "people", bucket, 1)
			col.Spec.DeletionPolicy = policy
			g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
			u := newUser(ns, "people", "John_Simm", []string{uploadImage(t, bucket, faces["John_Simm"][0])})
			g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
			waitCollectionReady(g, col)
			waitUserReady(g, u, 1)
			_, ok := searchSvc.Collections.InNamespace(ns).Get(col.EffectiveCollectionID())
			g.Expect(ok).To(BeTrue())
			st := storedCollection(col)

			g.Expect(k8sClient.Delete(ctx, col)).To(Succeed())
			g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(col), col)) }, waitReady, pollEvery).Should(BeTrue())
			_, published := searchSvc.Collections.InNamespace(ns).Get(col.EffectiveCollectionID())
			g.Expect(published).To(BeFalse(), "a deleted Collection must not be searchable")
			desc, err := st.DescribeCollection(ctx, col.EffectiveCollectionID())
			if policy == facesearchv1.DeletionPolicyDelete {
				g.Expect(errs.CodeOf(err)).To(Equal(errs.ResourceNotFound))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(desc.FaceCount).To(Equal(int64(1)))
		})
	}
}

// TestSearchRequestTTL checks that a finished SearchRequest is removed after
// ttlSecondsAfterFinished.
func TestSearchRequestTTL(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	col := newCollection(ns, "people", "ttl-"+ns, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	waitCollectionReady(g, col)
	faces := labelledFaces(t)
	sr := newSearch(ns, "short-lived", "people", s3Image(uploadImage(t, "ttl-"+ns, faces["John_Simm"][1])))
	sr.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(sr), sr)) }, waitReady, pollEvery).Should(BeTrue())
	// And one without a TTL stays.
	kept := newSearch(ns, "kept", "people", s3Image(uploadImage(t, "ttl-"+ns, faces["John_Simm"][2])))
	g.Expect(k8sClient.Create(ctx, kept)).To(Succeed())
	cond := waitFinished(g, kept)
	g.Expect(cond.Reason).To(Equal(facesearchv1.CompletedReason))
	g.Consistently(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(kept), kept) }, "2s", pollEvery).Should(Succeed())
}

// TestSameCollectionIdInTwoNamespaces: CollectionIds are unique per namespace, as resource
// names are. Two teams' "people" collections must not see each other's users.
func TestSameCollectionIdInTwoNamespaces(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	faces := labelledFaces(t)
	nsFor := map[string]string{}
	for _, person := range []string{"John_Salley", "John_Savage"} {
		ns := newTestNamespace(t, g)
		nsFor[person] = ns
		bucket := "twins-" + ns
		col := newCollection(ns, "people", bucket, 1)
		g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
		u := newUser(ns, "people", person, []string{uploadImage(t, bucket, faces[person][0]), uploadImage(t, bucket, faces[person][1])})
		g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
		waitCollectionReady(g, col)
		waitUserReady(g, u, 2)
	}
	for person, ns := range nsFor {
		for _, probe := range []string{"John_Salley", "John_Savage"} {
			sr := newSearch(ns, "probe-"+strings.ToLower(strings.ReplaceAll(probe, "_", "-")), "people", s3Image(uploadImage(t, "twins-"+ns, faces[probe][6])))
			g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
			cond := waitFinished(g, sr)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
			if probe == person {
				g.Expect(sr.Status.UserMatches).NotTo(BeEmpty())
				g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal(person))
			} else {
				g.Expect(sr.Status.UserMatches).To(BeEmpty(), "namespace %s found %s, who is enrolled in another namespace", ns, probe)
			}
		}
	}
}
