package controllers

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Waits sized for a loaded 2-core machine: they bound how long a failure takes to show, not
// how fast anything must be.
const (
	waitReady  = 3 * time.Minute
	pollEvery  = 200 * time.Millisecond
	enrolFaces = 3
)

// labelledFaces lists the test set: person -> image paths, sorted.
func labelledFaces(t testing.TB) map[string][]string {
	t.Helper()
	dir, err := assets.TestFaces.Path()
	if err != nil {
		t.Fatal(err)
	}
	people, err := os.ReadDir(filepath.Join(dir, "johns"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range people {
		files, _ := filepath.Glob(filepath.Join(dir, "johns", p.Name(), "*.jpg"))
		sort.Strings(files)
		out[p.Name()] = files
	}
	return out
}

// newTestNamespace gives each test its own namespace, bucket and collection.
func newTestNamespace(_ testing.TB, g *WithT) string {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fs-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "minio-credentials", Namespace: ns.Name},
		StringData: map[string]string{AccessKeySecretKey: testMinIO.AccessKey, SecretKeySecretKey: testMinIO.SecretKey},
	}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	return ns.Name
}

// testPrefix is the storage prefix of the tests' Collections. uploadImage puts images under
// it, where a Collection reads S3Objects by default.
const testPrefix = "tests/"

func newCollection(ns, name, bucket string, shards int32) *facesearchv1.Collection {
	return &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: facesearchv1.CollectionSpec{
			Storage: facesearchv1.StorageSpec{
				Endpoint: testMinIO.Endpoint, Bucket: bucket, Prefix: testPrefix,
				CredentialsSecretRef: corev1LocalRef("minio-credentials"),
			},
			Index:          facesearchv1.IndexSpec{Shards: shards, Replicas: ptr.To[int32](1)},
			DeletionPolicy: facesearchv1.DeletionPolicyDelete,
		},
	}
}

// storedCollection opens a collection's storage as a reader (or writer) of its own, apart
// from the operator's: what it sees is what is stored.
func storedCollection(col *facesearchv1.Collection) *store.Store {
	return store.New(minioClient, col.Spec.Storage.Bucket, col.Spec.Storage.Prefix, store.Options{})
}

// uploadImage puts a file into the bucket under the Collections' storage prefix, where they
// read images by default, and returns its object name.
func uploadImage(t testing.TB, bucket, path string) string {
	t.Helper()
	return uploadImageAt(t, bucket, testPrefix+"images/", path)
}

// uploadImageAt puts a file into the bucket under prefix and returns its object name.
func uploadImageAt(t testing.TB, bucket, prefix, path string) string {
	t.Helper()
	ctx := context.Background()
	if ok, _ := minioClient.BucketExists(ctx, bucket); !ok {
		if err := minioClient.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil && !strings.Contains(err.Error(), "already own") {
			t.Fatal(err)
		}
	}
	name := prefix + filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
	if _, err := minioClient.FPutObject(ctx, bucket, name, path, minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	return name
}

func newUser(ns, collection, person string, objects []string) *facesearchv1.User {
	u := &facesearchv1.User{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(strings.ReplaceAll(person, "_", "-")), Namespace: ns},
		Spec:       facesearchv1.UserSpec{CollectionRef: facesearchv1.CollectionReference{Name: collection}, UserID: person},
	}
	for i, o := range objects {
		u.Spec.Faces = append(u.Spec.Faces, facesearchv1.UserFace{
			Name:  fmt.Sprintf("%s-%d", person, i),
			Image: facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: o}},
		})
	}
	return u
}

func newSearch(ns, name, collection string, img facesearchv1.ImageSource) *facesearchv1.SearchRequest {
	return &facesearchv1.SearchRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       facesearchv1.SearchRequestSpec{CollectionRef: facesearchv1.CollectionReference{Name: collection}, Image: img},
	}
}

func s3Image(name string) facesearchv1.ImageSource {
	return facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: name}}
}

func waitCollectionReady(g *WithT, col *facesearchv1.Collection) {
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(col), col)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(col.Status.Conditions, facesearchv1.ReadyCondition)).To(BeTrue(), "conditions: %+v", col.Status.Conditions)
	}, waitReady, pollEvery).Should(Succeed())
}

func waitUserReady(g *WithT, u *facesearchv1.User, faces int) {
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(u), u)).To(Succeed())
		g.Expect(u.Status.ObservedGeneration).To(Equal(u.Generation))
		g.Expect(u.Status.FaceCount).To(Equal(int32(faces)), "status: %+v", u.Status)
	}, waitReady, pollEvery).Should(Succeed())
}

// waitFinished waits for the Succeeded condition of the current generation and returns it.
func waitFinished(g *WithT, sr *facesearchv1.SearchRequest) metav1.Condition {
	var cond metav1.Condition
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sr), sr)).To(Succeed())
		c := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).NotTo(Equal(metav1.ConditionUnknown), "still running: %s", c.Message)
		cond = *c
	}, waitReady, pollEvery).Should(Succeed())
	return cond
}

func similarity(g *WithT, s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	g.Expect(err).NotTo(HaveOccurred())
	return f
}

// TestSearchFindsTheRightPerson is the mission through the API server: a Collection, Users
// enrolled from labelled photos, and SearchRequests with photos not used for enrolment. The
// right user must be the top match and a stranger must match nobody at the default threshold.
// TestSearchFindsTheRightPerson enrols people and searches for them with SearchRequests, in
// a collection of each model pack.
func TestSearchFindsTheRightPerson(t *testing.T) {
	requireSuite(t)
	for _, version := range []string{"faceplugin-1.0", "dlib-blazeface-1.0"} {
		t.Run(version, func(t *testing.T) { testSearchFindsTheRightPerson(t, version) })
	}
}

func testSearchFindsTheRightPerson(t *testing.T, version string) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "flow-" + ns
	faces := labelledFaces(t)
	people := make([]string, 0, len(faces))
	for p := range faces {
		people = append(people, p)
	}
	sort.Strings(people)
	stranger, enrolled := people[len(people)-1], people[:len(people)-1]

	col := newCollection(ns, "people", bucket, 2)
	col.Spec.FaceModelVersion = version
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	users := map[string]*facesearchv1.User{}
	for _, p := range enrolled {
		var objs []string
		for _, f := range faces[p][:enrolFaces] {
			objs = append(objs, uploadImage(t, bucket, f))
		}
		users[p] = newUser(ns, "people", p, objs)
		g.Expect(k8sClient.Create(ctx, users[p])).To(Succeed())
	}
	waitCollectionReady(g, col)
	for _, p := range enrolled {
		waitUserReady(g, users[p], enrolFaces)
		g.Expect(users[p].Status.UserStatus).To(Equal(facesearchv1.UserStatusActive))
		g.Expect(users[p].Status.UnsuccessfulFaceAssociations).To(BeEmpty())
	}

	// Every enrolled person is found from two photos that were not enrolled.
	for _, p := range enrolled {
		for _, f := range faces[p][enrolFaces+2 : enrolFaces+4] {
			sr := newSearch(ns, "find-"+strings.ToLower(strings.ReplaceAll(filepath.Base(f), "_", "-")), "people", s3Image(uploadImage(t, bucket, f)))
			g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
			cond := waitFinished(g, sr)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
			g.Expect(sr.Status.SearchedFace).NotTo(BeNil())
			g.Expect(sr.Status.UserMatches).NotTo(BeEmpty(), "%s not found from %s", p, f)
			g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal(p), "searched %s", f)
			g.Expect(similarity(g, sr.Status.UserMatches[0].Similarity)).To(BeNumerically(">=", 80))
			g.Expect(sr.Status.FaceModelVersion).To(Equal(version))
		}
	}

	// A stranger matches nobody at the default threshold.
	for _, f := range faces[stranger][:3] {
		sr := newSearch(ns, "stranger-"+strings.ToLower(strings.ReplaceAll(filepath.Base(f), "_", "-")), "people", s3Image(uploadImage(t, bucket, f)))
		g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
		cond := waitFinished(g, sr)
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
		g.Expect(sr.Status.SearchedFace).NotTo(BeNil())
		g.Expect(sr.Status.UserMatches).To(BeEmpty(), "stranger %s matched", f)
	}

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(col), col)).To(Succeed())
		g.Expect(col.Status.UserCount).To(Equal(int64(len(enrolled))))
		g.Expect(col.Status.FaceCount).To(Equal(int64(len(enrolled) * enrolFaces)))
		g.Expect(col.Status.FaceModelVersion).To(Equal(version))
	}, waitReady, pollEvery).Should(Succeed())
}

// TestSearchFailuresHaveReasons checks that bad inputs end in Failed with Rekognition's
// error name, and that an image with no face is an empty answer, not a failure.
func TestSearchFailuresHaveReasons(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	col := newCollection(ns, "people", "fail-"+ns, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	waitCollectionReady(g, col)

	var blank bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(10, 10, color.Black)
	g.Expect(jpeg.Encode(&blank, img, nil)).To(Succeed())

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns}, BinaryData: map[string][]byte{"blank.jpg": blank.Bytes()}}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())

	cases := []struct {
		name       string
		collection string
		image      facesearchv1.ImageSource
		status     metav1.ConditionStatus
		reason     string
	}{
		{"corrupt-bytes", "people", facesearchv1.ImageSource{Bytes: []byte("\xff\xd8\xff\xe0 this is not a jpeg")}, metav1.ConditionFalse, facesearchv1.InvalidImageFormatReason},
		{"gif-bytes", "people", facesearchv1.ImageSource{Bytes: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")}, metav1.ConditionFalse, facesearchv1.InvalidImageFormatReason},
		{"missing-object", "people", s3Image(testPrefix + "no/such/object.jpg"), metav1.ConditionFalse, facesearchv1.InvalidS3ObjectReason},
		{"missing-configmap-key", "people", facesearchv1.ImageSource{ConfigMapKeyRef: &facesearchv1.KeySelector{Name: "photos", Key: "nope.jpg"}}, metav1.ConditionFalse, facesearchv1.InvalidS3ObjectReason},
		{"unknown-collection", "nobody", s3Image("x.jpg"), metav1.ConditionFalse, facesearchv1.CollectionNotFoundReason},
		{"no-face", "people", facesearchv1.ImageSource{ConfigMapKeyRef: &facesearchv1.KeySelector{Name: "photos", Key: "blank.jpg"}}, metav1.ConditionTrue, facesearchv1.CompletedReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sr := newSearch(ns, tc.name, tc.collection, tc.image)
			g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
			cond := waitFinished(g, sr)
			g.Expect(cond.Status).To(Equal(tc.status), cond.Message)
			g.Expect(cond.Reason).To(Equal(tc.reason), cond.Message)
			g.Expect(sr.Status.UserMatches).To(BeEmpty())
			if tc.status == metav1.ConditionTrue {
				g.Expect(sr.Status.SearchedFace).To(BeNil())
			}
		})
	}
}

// TestUserEditsAndDeletion edits a User's list of faces and deletes it: removed faces are
// disassociated and deleted from the store, and so are all of a deleted user's faces.
func TestUserEditsAndDeletion(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "edit-" + ns
	faces := labelledFaces(t)
	person := "John_Salley"
	col := newCollection(ns, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	var objs []string
	for _, f := range faces[person][:3] {
		objs = append(objs, uploadImage(t, bucket, f))
	}
	u := newUser(ns, "people", person, objs)
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, 3)
	removed := u.Status.AssociatedFaces[0]
	for _, f := range u.Status.AssociatedFaces {
		if f.Name == person+"-2" {
			removed = f
		}
	}

	// Drop the last image: its face must leave the user and the collection.
	g.Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		u.Spec.Faces = u.Spec.Faces[:2]
		return k8sClient.Update(ctx, u)
	}).Should(Succeed())
	waitUserReady(g, u, 2)
	coll, ok := searchSvc.Collections.InNamespace(ns).Get(col.EffectiveCollectionID())
	g.Expect(ok).To(BeTrue())
	st := storedCollection(col)
	recs, _, err := st.ListFaces(ctx, coll.ID, store.ListFacesOptions{FaceIDs: []string{removed.FaceID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recs).To(BeEmpty(), "face %s of the removed image is still stored", removed.FaceID)

	// Deleting the User deletes the user and every face it had.
	g.Expect(k8sClient.Delete(ctx, u)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)) }, waitReady, pollEvery).Should(BeTrue())
	_, err = st.GetUser(ctx, coll.ID, person)
	g.Expect(errs.CodeOf(err)).To(Equal(errs.ResourceNotFound))
	all, _, err := st.ListFaces(ctx, coll.ID, store.ListFacesOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all).To(BeEmpty())
}

// TestManySearchesAtOnce applies 20 SearchRequests together; each gets the right answer.
func TestManySearchesAtOnce(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "many-" + ns
	faces := labelledFaces(t)
	col := newCollection(ns, "people", bucket, 2)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	people := []string{"John_Salley", "John_Savage"}
	for _, p := range people {
		var objs []string
		for _, f := range faces[p][:enrolFaces] {
			objs = append(objs, uploadImage(t, bucket, f))
		}
		u := newUser(ns, "people", p, objs)
		g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
		waitUserReady(g, u, enrolFaces)
	}
	want := map[string]string{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 20; i++ {
		p := people[i%2]
		f := faces[p][enrolFaces+(i/2)%(len(faces[p])-enrolFaces)]
		name := fmt.Sprintf("many-%02d", i)
		want[name] = p
		obj := uploadImage(t, bucket, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := k8sClient.Create(ctx, newSearch(ns, name, "people", s3Image(obj)))
			mu.Lock()
			defer mu.Unlock()
			g.Expect(err).NotTo(HaveOccurred())
		}()
	}
	wg.Wait()
	for name, p := range want {
		sr := &facesearchv1.SearchRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		cond := waitFinished(g, sr)
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
		g.Expect(sr.Status.UserMatches).NotTo(BeEmpty(), name)
		g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal(p), name)
	}
}
