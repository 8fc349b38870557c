package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// waitCollectionRefused waits until the Collection is not Ready because another Collection
// resource owns its stored collection.
func waitCollectionRefused(g *WithT, col *facesearchv1.Collection) {
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(col), col)).To(Succeed())
		c := meta.FindStatusCondition(col.Status.Conditions, facesearchv1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "conditions: %+v", col.Status.Conditions)
		g.Expect(c.Reason).To(Equal(facesearchv1.CollectionOwnedElsewhereReason), "conditions: %+v", col.Status.Conditions)
	}, waitReady, pollEvery).Should(Succeed())
}

// TestCollectionOwnedByAnotherNamespace: a Collection of another namespace that names the
// same bucket, prefix and collectionId as a collection in use is refused. It neither reads
// nor serves the stored collection, and deleting it with deletionPolicy Delete leaves the
// owner's data alone.
func TestCollectionOwnedByAnotherNamespace(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	faces := labelledFaces(t)
	owner := newTestNamespace(t, g)
	bucket := "owned-" + owner
	col := newCollection(owner, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	u := newUser(owner, "people", "John_Simm", []string{uploadImage(t, bucket, faces["John_Simm"][0])})
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, 1)

	other := newTestNamespace(t, g)
	intruder := newCollection(other, "people", bucket, 1) // deletionPolicy Delete
	g.Expect(k8sClient.Create(ctx, intruder)).To(Succeed())
	waitCollectionRefused(g, intruder)
	g.Expect(intruder.Status.FaceCount).To(BeZero(), "the refused Collection reports the owner's counts")
	_, published := searchSvc.Collections.InNamespace(other).Get("people")
	g.Expect(published).To(BeFalse(), "a refused Collection must not be searchable")

	g.Expect(k8sClient.Delete(ctx, intruder)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(intruder), intruder))
	}, waitReady, pollEvery).Should(BeTrue())
	desc, err := storedCollection(col).DescribeCollection(ctx, "people")
	g.Expect(err).NotTo(HaveOccurred(), "deleting the refused Collection erased the owner's collection")
	g.Expect(desc.FaceCount).To(Equal(int64(1)))
	waitCollectionReady(g, col)
	_, published = searchSvc.Collections.InNamespace(owner).Get("people")
	g.Expect(published).To(BeTrue())

	// The endpoint's CreateCollection in the other namespace, on the same storage: the id is
	// taken, and the Collection it made for the request is gone again.
	admin := &CollectionAdmin{Client: k8sClient, Search: searchSvc.InNamespace(other), Namespace: other, Storage: col.Spec.Storage, Timeout: waitReady}
	err = admin.CreateCollection(ctx, "people", nil)
	g.Expect(errs.CodeOf(err)).To(Equal(errs.CollectionOwnedElsewhere), "CreateCollection: %v", err)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: other, Name: "people"}, &facesearchv1.Collection{}))
	}, waitReady, pollEvery).Should(BeTrue())
	desc, err = storedCollection(col).DescribeCollection(ctx, "people")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.FaceCount).To(Equal(int64(1)))
	g.Expect(desc.Owner()).To(Equal(store.Owner{Namespace: owner, UID: string(col.UID)}))
}

// TestCollectionAdoption: a Collection deleted with deletionPolicy Retain and declared again
// is a new object, so it does not own the stored collection until spec.adoption says so;
// then another namespace takes it over by the owner's UID once the owner is deleted.
func TestCollectionAdoption(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	faces := labelledFaces(t)
	ns := newTestNamespace(t, g)
	bucket := "adopt-" + ns
	col := newCollection(ns, "people", bucket, 1)
	col.Spec.DeletionPolicy = facesearchv1.DeletionPolicyRetain
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	u := newUser(ns, "people", "John_Simm", []string{uploadImage(t, bucket, faces["John_Simm"][0])})
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, 1)
	first := col.UID

	// GitOps declares it again after a deletion.
	g.Expect(k8sClient.Delete(ctx, col)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(col), col)) }, waitReady, pollEvery).Should(BeTrue())
	again := newCollection(ns, "people", bucket, 1)
	again.Spec.DeletionPolicy = facesearchv1.DeletionPolicyRetain
	g.Expect(k8sClient.Create(ctx, again)).To(Succeed())
	waitCollectionRefused(g, again)
	g.Expect(meta.FindStatusCondition(again.Status.Conditions, facesearchv1.ReadyCondition).Message).To(ContainSubstring(string(first)),
		"within the namespace the refusal names the owner")
	again.Spec.Adoption = facesearchv1.CollectionAdoption{Policy: facesearchv1.AdoptionSameNamespace}
	g.Expect(k8sClient.Update(ctx, again)).To(Succeed())
	waitCollectionReady(g, again)
	g.Expect(again.Status.FaceCount).To(Equal(int64(1)), "the adopted collection is the stored one")

	// A hand-over to another namespace by the owner's UID waits until the owner is gone.
	other := newTestNamespace(t, g)
	heir := newCollection(other, "people", bucket, 1)
	heir.Spec.Adoption = facesearchv1.CollectionAdoption{Policy: facesearchv1.AdoptionOwnerUID, OwnerUID: string(again.UID)}
	g.Expect(k8sClient.Create(ctx, heir)).To(Succeed())
	waitCollectionRefused(g, heir)
	g.Expect(meta.FindStatusCondition(heir.Status.Conditions, facesearchv1.ReadyCondition).Message).To(ContainSubstring("still exists"))
	g.Expect(k8sClient.Delete(ctx, again)).To(Succeed())
	waitCollectionReady(g, heir)
	g.Expect(heir.Status.FaceCount).To(Equal(int64(1)))
	desc, err := storedCollection(heir).DescribeCollection(ctx, "people")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.Owner()).To(Equal(store.Owner{Namespace: other, UID: string(heir.UID)}))
}

// TestImageSources: a Collection reads S3Objects from its storage prefix by default, and
// from its spec.imageSources instead when it has them; anything else is InvalidS3Object,
// with the same message as a missing object.
func TestImageSources(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	faces := labelledFaces(t)
	ns := newTestNamespace(t, g)
	bucket := "sources-" + ns
	cameras := "cameras-" + ns
	col := newCollection(ns, "people", bucket, 1)
	col.Spec.ImageSources = []facesearchv1.ImageLocation{{Prefix: "enrol/"}, {Bucket: cameras, Prefix: "door/"}}
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	u := newUser(ns, "people", "John_Simm", []string{uploadImageAt(t, bucket, "enrol/", faces["John_Simm"][0])})
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, 1)

	probe := faces["John_Simm"][6]
	door := newSearch(ns, "door", "people", facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Bucket: cameras, Name: uploadImageAt(t, cameras, "door/", probe)}})
	g.Expect(k8sClient.Create(ctx, door)).To(Succeed())
	cond := waitFinished(g, door)
	g.Expect(cond.Reason).To(Equal(facesearchv1.CompletedReason), cond.Message)
	g.Expect(door.Status.UserMatches).NotTo(BeEmpty())

	var messages []string
	for name, img := range map[string]facesearchv1.ImageSource{
		// The storage prefix is not a source once imageSources are given.
		"prefix":  s3Image(uploadImage(t, bucket, probe)),
		"bucket":  {S3Object: &facesearchv1.S3Object{Bucket: cameras, Name: uploadImageAt(t, cameras, "enrol/", probe)}},
		"missing": s3Image("enrol/nobody.jpg"),
	} {
		sr := newSearch(ns, name, "people", img)
		g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		cond := waitFinished(g, sr)
		g.Expect(cond.Reason).To(Equal(facesearchv1.InvalidS3ObjectReason), "%s: %s", name, cond.Message)
		messages = append(messages, cond.Message)
	}
	g.Expect(messages).To(HaveEach(messages[0]), "the refusals differ")
}
