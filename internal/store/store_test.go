package store_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

const dim = 16

func TestMain(m *testing.M) {
	if os.Getenv(writerEnv) != "" {
		os.Exit(runWriter())
	}
	os.Exit(m.Run())
}

// newFixture is a fresh bucket; its Store method returns a new Store with its own cache, as
// another process would have.
func newFixture(t *testing.T) *testenv.Bucket {
	t.Helper()
	return testenv.NewBucket(t, testenv.BucketOptions{Prefix: "tenant-a", Store: store.Options{SegmentVectors: 7}})
}

// vec is a deterministic unit vector for a seed.
func vec(seed int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := math.Sin(float64(seed*31+i*7) + 0.5)
		v[i] = float32(x)
		n += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

func face(img int) store.NewFace {
	return store.NewFace{
		ExternalImageID: fmt.Sprintf("ext-%d", img), ImageID: fmt.Sprintf("img-%d", img),
		BoundingBox: store.BoundingBox{Width: 0.5, Height: 0.5, Left: 0.1, Top: 0.2}, Confidence: 99.5,
		Embedding: vec(img),
	}
}

func mustCreate(t *testing.T, s *store.Store, id string) {
	t.Helper()
	testenv.CreateCollection(t, s, id, "test-1", dim)
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if errs.CodeOf(err) != code {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}

func TestCollections(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	for _, id := range []string{"c1", "c2", "c3"} {
		mustCreate(t, s, id)
	}
	_, err := s.CreateCollection(ctx, "c2", store.CreateCollectionOptions{FaceModelVersion: "test-1", Dimension: dim})
	wantCode(t, err, errs.ResourceAlreadyExists)
	_, err = s.CreateCollection(ctx, "bad/id", store.CreateCollectionOptions{FaceModelVersion: "test-1", Dimension: dim})
	wantCode(t, err, errs.InvalidParameter)

	var ids []string
	token := ""
	for {
		page, next, err := s.ListCollections(ctx, store.ListOptions{MaxResults: 2, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if !slices.Equal(ids, []string{"c1", "c2", "c3"}) {
		t.Fatalf("listed %v", ids)
	}
	_, _, err = s.ListCollections(ctx, store.ListOptions{NextToken: "!!"})
	wantCode(t, err, errs.InvalidPaginationToken)

	if _, err := s.IndexFaces(ctx, "c2", []store.NewFace{face(1), face(2)}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := s.DescribeCollection(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if d.FaceCount != 2 || d.Dimension != dim || d.FaceModelVersion != "test-1" || d.CreationTimestamp.IsZero() {
		t.Fatalf("described %+v", d)
	}
	if err := s.DeleteCollection(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.DescribeCollection(ctx, "c2")
	wantCode(t, err, errs.ResourceNotFound)
	wantCode(t, s.DeleteCollection(ctx, "c2"), errs.ResourceNotFound)
	// What stays are the deletion markers that keep the commit keys taken (no commit in
	// flight may land after the deletion): four bytes each, no face data.
	for _, o := range listAll(t, f, "tenant-a/collections/c2/") {
		if !strings.Contains(o.key, "/log/") || string(o.data) != "FSD1" {
			t.Fatalf("object left after DeleteCollection: %s (%d bytes)", o.key, len(o.data))
		}
	}
	// The ID can be used again, and starts empty; the markers of the old one go.
	mustCreate(t, s, "c2")
	if objs := listAll(t, f, "tenant-a/collections/c2/data/"); len(objs) != 0 {
		t.Fatalf("the old collection's markers stay after the ID is created again: %v", objs)
	}
	d, err = f.Store().DescribeCollection(ctx, "c2")
	if err != nil || d.FaceCount != 0 {
		t.Fatalf("recreated: %+v %v", d, err)
	}
}

func TestFacesAndUsers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	recs, err := s.IndexFaces(ctx, "c", []store.NewFace{face(1)}, store.IndexFacesOptions{})
	if err != nil || len(recs) != 1 || recs[0].FaceID == "" || recs[0].IndexFacesModelVersion != "test-1" {
		t.Fatalf("indexed %+v %v", recs, err)
	}
	// Same image and external ID again: the same record, no duplicate.
	again, err := f.Store().IndexFaces(ctx, "c", []store.NewFace{face(1)}, store.IndexFacesOptions{})
	if err != nil || len(again) != 1 || again[0].FaceID != recs[0].FaceID {
		t.Fatalf("re-indexed %+v %v", again, err)
	}
	bad := face(2)
	bad.Embedding = bad.Embedding[:3]
	_, err = s.IndexFaces(ctx, "c", []store.NewFace{bad}, store.IndexFacesOptions{})
	wantCode(t, err, errs.InvalidParameter)

	var ids []string
	ids = append(ids, recs[0].FaceID)
	for i := 2; i <= 10; i++ {
		r, err := s.IndexFaces(ctx, "c", []store.NewFace{face(i)}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r[0].FaceID)
	}
	// Paging through ListFaces returns every face once.
	var listed []string
	token := ""
	for {
		page, next, err := s.ListFaces(ctx, "c", store.ListFacesOptions{MaxResults: 3, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			listed = append(listed, r.FaceID)
		}
		if next == "" {
			break
		}
		token = next
	}
	slices.Sort(listed)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}

	if err := s.CreateUser(ctx, "c", "alice", store.UserOptions{ClientRequestToken: "t1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "c", "alice", store.UserOptions{ClientRequestToken: "t1"}); err != nil {
		t.Fatalf("idempotent CreateUser: %v", err)
	}
	wantCode(t, s.CreateUser(ctx, "c", "alice", store.UserOptions{}), errs.Conflict)
	if err := s.CreateUser(ctx, "c", "bob", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "c", "alice")
	if err != nil || u.UserStatus != store.UserStatusCreated {
		t.Fatalf("user %+v %v", u, err)
	}
	// The first face needs no threshold; the next ones must resemble it.
	res, err := s.AssociateFaces(ctx, "c", "alice", []string{ids[0]}, store.AssociateFacesOptions{})
	if err != nil || len(res.Associated) != 1 || res.UserStatus != store.UserStatusActive {
		t.Fatalf("associate %+v %v", res, err)
	}
	always := func(float32) float32 { return 100 }
	never := func(float32) float32 { return 10 }
	res, err = s.AssociateFaces(ctx, "c", "alice", []string{ids[1], ids[0], "00000000-0000-0000-0000-000000000000"}, store.AssociateFacesOptions{Similarity: never})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, u := range res.Unsuccessful {
		reasons[u.FaceID] = u.Reasons[0]
	}
	if reasons[ids[1]] != store.ReasonLowMatchConfidence || reasons["00000000-0000-0000-0000-000000000000"] != store.ReasonFaceNotFound || !slices.Equal(res.Associated, []string{ids[0]}) {
		t.Fatalf("associate %+v", res)
	}
	res, err = s.AssociateFaces(ctx, "c", "alice", []string{ids[1]}, store.AssociateFacesOptions{Similarity: always})
	if err != nil || len(res.Associated) != 1 {
		t.Fatalf("associate %+v %v", res, err)
	}
	res, err = s.AssociateFaces(ctx, "c", "bob", []string{ids[1]}, store.AssociateFacesOptions{})
	if err != nil || len(res.Unsuccessful) != 1 || res.Unsuccessful[0].Reasons[0] != store.ReasonAssociatedToADifferentUser || res.Unsuccessful[0].UserID != "alice" {
		t.Fatalf("associate to bob %+v %v", res, err)
	}
	faces, _, err := s.ListFaces(ctx, "c", store.ListFacesOptions{UserID: "alice"})
	if err != nil || len(faces) != 2 {
		t.Fatalf("alice's faces %+v %v", faces, err)
	}
	del, unsucc, err := s.DeleteFaces(ctx, "c", []string{ids[0], ids[9], "00000000-0000-0000-0000-000000000001"})
	if err != nil || !slices.Equal(del, []string{ids[9]}) || len(unsucc) != 2 || unsucc[0].Reasons[0] != store.ReasonAssociatedToAnExistingUser || unsucc[1].Reasons[0] != store.ReasonFaceNotFound {
		t.Fatalf("delete %v %+v %v", del, unsucc, err)
	}
	res, err = s.DisassociateFaces(ctx, "c", "alice", []string{ids[1]}, store.UserOptions{})
	if err != nil || len(res.Associated) != 1 || res.UserStatus != store.UserStatusActive {
		t.Fatalf("disassociate %+v %v", res, err)
	}
	// Deleting a user frees its faces.
	if err := s.DeleteUser(ctx, "c", "alice", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteUser(ctx, "c", "alice", store.UserOptions{}), errs.ResourceNotFound)
	faces, _, err = f.Store().ListFaces(ctx, "c", store.ListFacesOptions{FaceIDs: []string{ids[0]}})
	if err != nil || len(faces) != 1 || faces[0].UserID != "" {
		t.Fatalf("face of a deleted user %+v %v", faces, err)
	}
	users, _, err := s.ListUsers(ctx, "c", store.ListOptions{})
	if err != nil || len(users) != 1 || users[0].UserID != "bob" {
		t.Fatalf("users %+v %v", users, err)
	}
}

func TestUserFaceQuota(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	var ids []string
	for batch := 0; batch < 2; batch++ {
		var nf []store.NewFace
		for i := 0; i < 51; i++ {
			nf = append(nf, face(batch*100+i))
		}
		// One image with many faces: same image, distinct external IDs per face.
		recs, err := s.IndexFaces(ctx, "c", nf, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ids = append(ids, r.FaceID)
		}
	}
	if err := s.CreateUser(ctx, "c", "u", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	always := func(float32) float32 { return 100 }
	if _, err := s.AssociateFaces(ctx, "c", "u", ids[:100], store.AssociateFacesOptions{Similarity: always}); err != nil {
		t.Fatal(err)
	}
	_, err := s.AssociateFaces(ctx, "c", "u", ids[100:], store.AssociateFacesOptions{Similarity: always})
	wantCode(t, err, errs.ServiceQuotaExceeded)
}

// TestReindexAddsMissingFaces indexes an image's largest face, then the same image (same
// ImageId and ExternalImageId) with its three faces, as a larger MaxFaces does: the first
// face keeps its record, the two others are added, and each face of the call gets one
// record in order. A third call with two of them adds nothing; under another
// ExternalImageId the faces are new.
func TestReindexAddsMissingFaces(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	boxes := []store.BoundingBox{
		{Width: 0.4, Height: 0.5, Left: 0.05, Top: 0.1},
		{Width: 0.2, Height: 0.25, Left: 0.6, Top: 0.1},
		{Width: 0.1, Height: 0.12, Left: 0.6, Top: 0.6},
	}
	faceOf := func(i int, ext string) store.NewFace {
		nf := store.NewFace{ExternalImageID: ext, ImageID: "img-group", BoundingBox: boxes[i], Confidence: 99, Embedding: vec(100 + i)}
		// A detection of the same bytes again may move by a hair.
		nf.BoundingBox.Left += 0.001
		return nf
	}
	first, err := s.IndexFaces(ctx, "c", []store.NewFace{faceOf(0, "group")}, store.IndexFacesOptions{})
	if err != nil || len(first) != 1 {
		t.Fatalf("first index: %+v %v", first, err)
	}
	all, err := f.Store().IndexFaces(ctx, "c", []store.NewFace{faceOf(0, "group"), faceOf(1, "group"), faceOf(2, "group")}, store.IndexFacesOptions{})
	if err != nil || len(all) != 3 {
		t.Fatalf("re-index: %+v %v", all, err)
	}
	if all[0].FaceID != first[0].FaceID || all[1].FaceID == first[0].FaceID || all[2].FaceID == all[1].FaceID {
		t.Fatalf("re-index answered %v, %v, %v after %v", all[0].FaceID, all[1].FaceID, all[2].FaceID, first[0].FaceID)
	}
	for i, r := range all {
		if r.BoundingBox.Width != boxes[i].Width {
			t.Fatalf("record %d has the box %+v, want the face's %+v", i, r.BoundingBox, boxes[i])
		}
	}
	again, err := s.IndexFaces(ctx, "c", []store.NewFace{faceOf(0, "group"), faceOf(1, "group")}, store.IndexFacesOptions{})
	if err != nil || len(again) != 2 || again[0].FaceID != all[0].FaceID || again[1].FaceID != all[1].FaceID {
		t.Fatalf("index again: %+v %v", again, err)
	}
	listed, _, err := f.Store().ListFaces(ctx, "c", store.ListFacesOptions{})
	if err != nil || len(listed) != 3 {
		t.Fatalf("listed %d faces (%v), want 3", len(listed), err)
	}
	other, err := s.IndexFaces(ctx, "c", []store.NewFace{faceOf(0, "other")}, store.IndexFacesOptions{})
	if err != nil || len(other) != 1 || other[0].FaceID == all[0].FaceID {
		t.Fatalf("another ExternalImageId: %+v %v", other, err)
	}
}
