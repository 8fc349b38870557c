package controllers

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// TestDeletingAUserErasesTheirFace deletes a User and checks that, once the controller has
// compacted the collection, no object in the bucket holds the bytes of the user's face
// vector any more: biometric data is erasable for good, not just hidden.
func TestDeletingAUserErasesTheirFace(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "erase-" + ns
	faces := labelledFaces(t)
	col := newCollection(ns, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	keep := newUser(ns, "people", "John_Salley", []string{uploadImage(t, bucket, faces["John_Salley"][0])})
	gone := newUser(ns, "people", "John_Simm", []string{uploadImage(t, bucket, faces["John_Simm"][0])})
	g.Expect(k8sClient.Create(ctx, keep)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, gone)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, keep, 1)
	waitUserReady(g, gone, 1)
	coll, _ := searchSvc.Collections.InNamespace(ns).Get(col.EffectiveCollectionID())

	vs, err := storedCollection(col).LoadVectors(ctx, coll.ID, store.LoadVectorsOptions{Shard: 0, Shards: 1})
	g.Expect(err).NotTo(HaveOccurred())
	secret := vectorBytes(vs, gone.Status.AssociatedFaces[0].FaceID)
	kept := vectorBytes(vs, keep.Status.AssociatedFaces[0].FaceID)
	g.Expect(secret).NotTo(BeEmpty())
	// The scan must be able to find a vector before its absence means anything.
	g.Expect(bucketHolds(g, bucket, secret)).To(BeTrue(), "the scan does not find a stored vector")

	g.Expect(k8sClient.Delete(ctx, gone)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(gone), gone)) }, waitReady, pollEvery).Should(BeTrue())
	g.Eventually(func() bool { return bucketHolds(g, bucket, secret) }, waitReady, pollEvery).Should(BeFalse(),
		"the deleted user's face vector is still in storage")
	g.Expect(bucketHolds(g, bucket, kept)).To(BeTrue(), "compaction lost another user's face")
}

// vectorBytes are the forms a face's vector has in storage (vectors.StoredForms: float32 in
// a commit, fp16 and int8 codes in a snapshot), each of its first 64 values: specific
// enough to find it and to rule out a chance match.
func vectorBytes(vs *store.VectorSet, faceID string) [][]byte {
	for i, id := range vs.IDs {
		if id.String() == faceID {
			f32, f16, i8 := vectors.StoredForms(vs.Vectors[i*vs.Dimension:(i+1)*vs.Dimension], 64)
			return [][]byte{f32, f16, i8}
		}
	}
	return nil
}

// bucketHolds says whether any object of the bucket contains one of the needles.
func bucketHolds(g *WithT, bucket string, needles [][]byte) bool {
	ctx := context.Background()
	for obj := range minioClient.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		g.Expect(obj.Err).NotTo(HaveOccurred())
		r, err := minioClient.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		data, err := io.ReadAll(r)
		r.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			continue // removed by a compaction between the listing and the read
		}
		g.Expect(err).NotTo(HaveOccurred())
		for _, needle := range needles {
			if bytes.Contains(data, needle) {
				return true
			}
		}
	}
	return false
}
