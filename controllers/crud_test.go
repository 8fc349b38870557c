package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

// TestCRUD creates, reads, updates the status of and deletes each kind on the real API
// server, and checks that the schema defaults what Rekognition defaults.
func TestCRUD(t *testing.T) {
	requireSuite(t)
	cases := []struct {
		name     string
		obj      client.Object
		defaults func(g Gomega, obj client.Object)
		status   func(obj client.Object)
	}{
		{"Collection", validCollection("crud-collection"), func(g Gomega, obj client.Object) {
			c := obj.(*facesearchv1.Collection)
			g.Expect(c.Spec.FaceModelVersion).To(Equal("faceplugin-1.0"))
			g.Expect(c.Spec.Index.Shards).To(Equal(int32(1)))
			g.Expect(c.Spec.Index.Replicas).To(Equal(ptr.To[int32](1)))
			g.Expect(c.Spec.DeletionPolicy).To(Equal(facesearchv1.DeletionPolicyRetain))
		}, func(obj client.Object) { obj.(*facesearchv1.Collection).Status.FaceCount = 42 }},
		{"User", validUser("crud-user"), func(g Gomega, obj client.Object) {
			u := obj.(*facesearchv1.User)
			g.Expect(u.Spec.UserMatchThreshold).To(Equal(ptr.To[int32](75)))
			g.Expect(u.Spec.QualityFilter).To(Equal(facesearchv1.QualityFilterAuto))
		}, func(obj client.Object) { obj.(*facesearchv1.User).Status.UserStatus = facesearchv1.UserStatusCreated }},
		{"SearchRequest", validSearchRequest("crud-search"), func(g Gomega, obj client.Object) {
			s := obj.(*facesearchv1.SearchRequest)
			g.Expect(s.Spec.UserMatchThreshold).To(Equal(ptr.To[int32](80)))
			g.Expect(s.Spec.QualityFilter).To(Equal(facesearchv1.QualityFilterNone))
			g.Expect(s.Spec.MaxUsers).To(BeNil())
		}, func(obj client.Object) { obj.(*facesearchv1.SearchRequest).Status.FaceModelVersion = "faceplugin-1.0" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			key := client.ObjectKeyFromObject(tc.obj)
			g.Expect(k8sClient.Create(ctx, tc.obj)).To(Succeed())

			got := tc.obj.DeepCopyObject().(client.Object)
			g.Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
			tc.defaults(g, got)

			// The controller observes every new object and says so in a condition.
			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
				g.Expect(got.(statusObject).GetConditions()).NotTo(BeEmpty())
			}, waitReady, pollEvery).Should(Succeed())

			// The status subresource takes status writes.
			g.Eventually(func() error {
				if err := k8sClient.Get(ctx, key, got); err != nil {
					return err
				}
				tc.status(got)
				return k8sClient.Status().Update(ctx, got)
			}).Should(Succeed())

			g.Expect(k8sClient.Delete(ctx, got)).To(Succeed())
			g.Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, key, got))
			}).Should(BeTrue())
		})
	}
}
