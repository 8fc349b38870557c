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
)

func validCollection(name string) *facesearchv1.Collection {
	return &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{
			Storage: facesearchv1.StorageSpec{
				Endpoint: "127.0.0.1:9000", Bucket: "faces",
				CredentialsSecretRef: corev1LocalRef("minio-credentials"),
			},
		},
	}
}

func validUser(name string) *facesearchv1.User {
	return &facesearchv1.User{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: facesearchv1.UserSpec{
			CollectionRef: facesearchv1.CollectionReference{Name: "people"},
			UserID:        "alice",
			Faces: []facesearchv1.UserFace{{
				Name:  "alice-1",
				Image: facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "alice/1.jpg"}},
			}},
		},
	}
}

func validSearchRequest(name string) *facesearchv1.SearchRequest {
	return &facesearchv1.SearchRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: facesearchv1.SearchRequestSpec{
			CollectionRef: facesearchv1.CollectionReference{Name: "people"},
			Image:         facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "probe.jpg"}},
		},
	}
}

// TestInvalidSpecsAreRefused sends bad objects to the real API server and checks that the
// schema (markers and CEL) refuses each with a message a person understands.
func TestInvalidSpecsAreRefused(t *testing.T) {
	requireSuite(t)
	tooMany := make([]facesearchv1.UserFace, 101)
	for i := range tooMany {
		tooMany[i] = facesearchv1.UserFace{Name: "f" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Image: facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "x.jpg"}}}
	}
	cases := []struct {
		name    string
		obj     client.Object
		message string
	}{
		{"collectionId with a space", with(validCollection("bad-id"), func(c *facesearchv1.Collection) { c.Spec.CollectionID = "my faces" }), "spec.collectionId"},
		{"collectionId too long", with(validCollection("long-id"), func(c *facesearchv1.Collection) { c.Spec.CollectionID = strings.Repeat("a", 256) }), "spec.collectionId"},
		{"negative shards", with(validCollection("negative-shards"), func(c *facesearchv1.Collection) { c.Spec.Index.Shards = -1 }), "spec.index.shards"},
		{"unknown deletion policy", with(validCollection("bad-policy"), func(c *facesearchv1.Collection) { c.Spec.DeletionPolicy = "Destroy" }), `Unsupported value: "Destroy"`},
		{"bucket with capitals", with(validCollection("bad-bucket"), func(c *facesearchv1.Collection) { c.Spec.Storage.Bucket = "My_Bucket" }), "spec.storage.bucket"},
		{"missing bucket", with(validCollection("no-bucket"), func(c *facesearchv1.Collection) { c.Spec.Storage.Bucket = "" }), "spec.storage.bucket"},
		{"userId too long", with(validUser("long-user"), func(u *facesearchv1.User) { u.Spec.UserID = strings.Repeat("u", 129) }), "spec.userId"},
		{"userId with a slash", with(validUser("slash-user"), func(u *facesearchv1.User) { u.Spec.UserID = "team/alice" }), "spec.userId"},
		{"userMatchThreshold over 100", with(validUser("high-threshold"), func(u *facesearchv1.User) { u.Spec.UserMatchThreshold = ptr.To[int32](101) }), "spec.userMatchThreshold"},
		{"face with two sources", with(validUser("two-sources"), func(u *facesearchv1.User) {
			u.Spec.Faces[0].Image.ConfigMapKeyRef = &facesearchv1.KeySelector{Name: "cm", Key: "k"}
		}), "spec.faces[0].image"},
		{"face with no source", with(validUser("no-source"), func(u *facesearchv1.User) { u.Spec.Faces[0].Image = facesearchv1.ImageSource{} }), "should have at least 1 properties"},
		{"101 faces", with(validUser("too-many-faces"), func(u *facesearchv1.User) { u.Spec.Faces = tooMany }), "spec.faces: Too many"},
		{"unknown quality filter", with(validUser("bad-quality"), func(u *facesearchv1.User) { u.Spec.QualityFilter = "ULTRA" }), `Unsupported value: "ULTRA"`},
		{"maxUsers over 500", with(validSearchRequest("many-users"), func(s *facesearchv1.SearchRequest) { s.Spec.MaxUsers = ptr.To[int32](501) }), "spec.maxUsers"},
		{"maxUsers zero", with(validSearchRequest("zero-users"), func(s *facesearchv1.SearchRequest) { s.Spec.MaxUsers = ptr.To[int32](0) }), "spec.maxUsers"},
		{"negative ttl", with(validSearchRequest("negative-ttl"), func(s *facesearchv1.SearchRequest) { s.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) }), "spec.ttlSecondsAfterFinished"},
		{"search image without source", with(validSearchRequest("no-image"), func(s *facesearchv1.SearchRequest) { s.Spec.Image = facesearchv1.ImageSource{} }), "spec.image in body should have at least 1 properties"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8sClient.Create(context.Background(), tc.obj)
			if err == nil {
				_ = k8sClient.Delete(context.Background(), tc.obj)
			}
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

// TestImmutableFieldsAreRefused checks the CEL transition rules on update.
func TestImmutableFieldsAreRefused(t *testing.T) {
	requireSuite(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		obj     client.Object
		mutate  func(client.Object)
		message string
	}{
		{"faceModelVersion", validCollection("immutable-model"), func(o client.Object) {
			o.(*facesearchv1.Collection).Spec.FaceModelVersion = "other-2.0"
		}, "faceModelVersion is immutable"},
		{"storage bucket", validCollection("immutable-bucket"), func(o client.Object) {
			o.(*facesearchv1.Collection).Spec.Storage.Bucket = "elsewhere"
		}, "storage endpoint, bucket and prefix are immutable"},
		{"collectionId", with(validCollection("immutable-id"), func(c *facesearchv1.Collection) { c.Spec.CollectionID = "one" }), func(o client.Object) {
			o.(*facesearchv1.Collection).Spec.CollectionID = "two"
		}, "collectionId is immutable"},
		{"userId", validUser("immutable-user"), func(o client.Object) {
			o.(*facesearchv1.User).Spec.UserID = "bob"
		}, "userId is immutable"},
		{"user collectionRef", validUser("immutable-ref"), func(o client.Object) {
			o.(*facesearchv1.User).Spec.CollectionRef.Name = "others"
		}, "collectionRef is immutable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(k8sClient.Create(ctx, tc.obj)).To(Succeed())
			t.Cleanup(func() { _ = k8sClient.Delete(ctx, tc.obj) })
			g.Eventually(func() error {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc.obj), tc.obj); err != nil {
					return err
				}
				tc.mutate(tc.obj)
				return k8sClient.Update(ctx, tc.obj)
			}).Should(WithTransform(func(err error) string {
				if err == nil || !apierrors.IsInvalid(err) {
					return "not Invalid: " + errString(err)
				}
				return err.Error()
			}, ContainSubstring(tc.message)))
		})
	}
}

func with[T any](obj T, mutate func(T)) T {
	mutate(obj)
	return obj
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
