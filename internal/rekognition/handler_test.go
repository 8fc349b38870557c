package rekognition

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// The tests in this file check the protocol layer: authentication, decoding,
// validation and defaults, what reaches the Backend, how its answers and
// errors are encoded, idempotency, limits. The Backend is stubBackend
// (stub_test.go); what the operations mean is tested on the real search path
// (service_backend_test.go).

const (
	testKey    = "AKIDTESTADMIN00000001"
	testSecret = "admin-secret/abc+def"
	limitedKey = "AKIDTESTLIMITED000001"
	limitedSec = "limited-secret"
	testRegion = "eu-west-3"

	testModelVersion = "7.0"
	testARN          = "arn:aws:rekognition:local:000000000000:collection/team-a"
	faceA            = "11111111-2222-3333-4444-555555555555"
	faceB            = "66666666-7777-8888-9999-aaaaaaaaaaaa"
)

var errBoom = errors.New("disk on fire")

func testCreds() StaticCredentials {
	return StaticCredentials{
		testKey:    FullAccess(testSecret),
		limitedKey: {SecretAccessKey: limitedSec, AllowedCollections: []string{"team-a"}, AllowedOperations: []string{AllOperations}},
	}
}

type env struct {
	t       *testing.T
	backend *stubBackend
	srv     *httptest.Server
}

func newEnv(t *testing.T, opts HandlerOptions) *env {
	t.Helper()
	if opts.Credentials == nil && !opts.AllowUnauthenticated {
		opts.Credentials = testCreds()
	}
	b := newStubBackend()
	srv := httptest.NewServer(NewHandler(b, opts))
	t.Cleanup(srv.Close)
	return &env{t: t, backend: b, srv: srv}
}

func (e *env) client(key, secret string) *rek.Client {
	var cp aws.CredentialsProvider = aws.AnonymousCredentials{}
	if key != "" {
		cp = credentials.NewStaticCredentialsProvider(key, secret, "")
	}
	return rek.New(rek.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      cp,
		RetryMaxAttempts: 1,
		HTTPClient:       e.srv.Client(),
	})
}

func (e *env) admin() *rek.Client { return e.client(testKey, testSecret) }

// must returns v or panics (failing the test with a stack trace) on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// errCode returns the error code the SDK decoded.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

var testBox = &BoundingBox{Width: ptr(float32(0.5)), Height: ptr(float32(0.25)), Left: ptr(float32(0.125)), Top: ptr(float32(0.375))}

var testDetail = &FaceDetail{BoundingBox: testBox, Confidence: ptr(float32(99.5))}

// testFace is a stored face as a Backend reports it; user "" for none.
func testFace(id, user string) *Face {
	f := &Face{FaceId: ptr(id), BoundingBox: testBox, ImageId: ptr("image-" + id[:8]), ExternalImageId: ptr("photo:" + id[:8]),
		Confidence: ptr(float32(99.25)), IndexFacesModelVersion: ptr(testModelVersion)}
	if user != "" {
		f.UserId = ptr(user)
	}
	return f
}

// checkFace fails unless the SDK decoded testFace(id, user).
func checkFace(t *testing.T, what string, f *types.Face, id, user string) {
	t.Helper()
	if f == nil || aws.ToString(f.FaceId) != id || aws.ToString(f.ImageId) != "image-"+id[:8] || aws.ToString(f.ExternalImageId) != "photo:"+id[:8] ||
		aws.ToFloat32(f.Confidence) != 99.25 || aws.ToString(f.IndexFacesModelVersion) != testModelVersion || aws.ToString(f.UserId) != user {
		t.Fatalf("%s: face %+v", what, f)
	}
	checkBox(t, what, f.BoundingBox)
}

func checkBox(t *testing.T, what string, b *types.BoundingBox) {
	t.Helper()
	if b == nil || aws.ToFloat32(b.Width) != 0.5 || aws.ToFloat32(b.Height) != 0.25 || aws.ToFloat32(b.Left) != 0.125 || aws.ToFloat32(b.Top) != 0.375 {
		t.Fatalf("%s: bounding box %+v", what, b)
	}
}

func checkDetail(t *testing.T, what string, d *types.FaceDetail) {
	t.Helper()
	if d == nil || aws.ToFloat32(d.Confidence) != 99.5 {
		t.Fatalf("%s: face detail %+v", what, d)
	}
	checkBox(t, what, d.BoundingBox)
}

// TestRoundTrip runs every operation through the AWS SDK: the backend gets
// the request the SDK sent, decoded, with the documented defaults filled in
// and explicit values (zero included) left alone; the SDK decodes what the
// backend answered.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	b, c, ctx := e.backend, e.admin(), context.Background()
	wantIn := func(op, want string) {
		t.Helper()
		if got := b.lastInput(t, op); got != want {
			t.Fatalf("%s input:\n got %s\nwant %s", op, got, want)
		}
	}
	img := []byte("\xff\xd8\xff image bytes the handler does not decode")
	img64 := base64.StdEncoding.EncodeToString(img)

	// --- collections ---
	b.answer("CreateCollection", &CreateCollectionOutput{StatusCode: ptr(int32(200)), CollectionArn: ptr(testARN), FaceModelVersion: ptr(testModelVersion)})
	cc := must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("team-a"), Tags: map[string]string{"team": "x", "env": "dev"}}))
	wantIn("CreateCollection", `{"CollectionId":"team-a","Tags":{"env":"dev","team":"x"}}`)
	if aws.ToInt32(cc.StatusCode) != 200 || aws.ToString(cc.FaceModelVersion) != testModelVersion || aws.ToString(cc.CollectionArn) != testARN {
		t.Fatalf("CreateCollection: %+v", cc)
	}

	created := time.UnixMilli(1700000000250)
	b.answer("DescribeCollection", &DescribeCollectionOutput{FaceCount: ptr(int64(3)), UserCount: ptr(int64(1)), FaceModelVersion: ptr(testModelVersion),
		CollectionARN: ptr(testARN), CreationTimestamp: &Timestamp{created}})
	desc := must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-a")}))
	wantIn("DescribeCollection", `{"CollectionId":"team-a"}`)
	if aws.ToInt64(desc.FaceCount) != 3 || aws.ToInt64(desc.UserCount) != 1 || aws.ToString(desc.FaceModelVersion) != testModelVersion ||
		aws.ToString(desc.CollectionARN) != testARN || !aws.ToTime(desc.CreationTimestamp).Equal(created) {
		t.Fatalf("DescribeCollection: %+v (created %v)", desc, aws.ToTime(desc.CreationTimestamp))
	}

	b.answer("DeleteCollection", &DeleteCollectionOutput{StatusCode: ptr(int32(200))})
	del := must(c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: aws.String("team-b")}))
	wantIn("DeleteCollection", `{"CollectionId":"team-b"}`)
	if aws.ToInt32(del.StatusCode) != 200 {
		t.Fatalf("DeleteCollection: %+v", del)
	}

	// ListCollections: NextToken goes out and comes back, through the SDK paginator.
	all := []string{"team-a", "team-b", "team-c"}
	var tokens []string
	b.answer("ListCollections", func(_ context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
		i := 0
		if in.NextToken != nil {
			tokens = append(tokens, *in.NextToken)
			i, _ = strconv.Atoi(strings.TrimPrefix(*in.NextToken, "page-"))
		}
		out := &ListCollectionsOutput{CollectionIds: all[i : i+1], FaceModelVersions: []string{testModelVersion}}
		if i+1 < len(all) {
			out.NextToken = ptr(fmt.Sprintf("page-%d", i+1))
		}
		return out, nil
	})
	var ids []string
	for pg := rek.NewListCollectionsPaginator(c, &rek.ListCollectionsInput{MaxResults: aws.Int32(1)}); pg.HasMorePages(); {
		out := must(pg.NextPage(ctx))
		if len(out.FaceModelVersions) != 1 || out.FaceModelVersions[0] != testModelVersion {
			t.Fatalf("FaceModelVersions %v", out.FaceModelVersions)
		}
		ids = append(ids, out.CollectionIds...)
		if len(ids) > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint(all) || fmt.Sprint(tokens) != "[page-1 page-2]" {
		t.Fatalf("collections %v, tokens %v", ids, tokens)
	}
	wantIn("ListCollections", `{"NextToken":"page-2","MaxResults":1}`)
	must(c.ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(0)}))
	wantIn("ListCollections", `{"MaxResults":0}`) // the model allows 0

	// --- faces ---
	b.answer("IndexFaces", &IndexFacesOutput{FaceModelVersion: ptr(testModelVersion),
		FaceRecords:    []FaceRecord{{Face: testFace(faceA, ""), FaceDetail: testDetail}},
		UnindexedFaces: []UnindexedFace{{Reasons: []Reason{ReasonExceedsMaxFaces}, FaceDetail: testDetail}}})
	idx := must(c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: img},
		ExternalImageId: aws.String("photo:1"), MaxFaces: aws.Int32(1), DetectionAttributes: []types.Attribute{types.AttributeDefault}}))
	wantIn("IndexFaces", `{"CollectionId":"team-a","Image":{"Bytes":"`+img64+`"},"ExternalImageId":"photo:1","DetectionAttributes":["DEFAULT"],"MaxFaces":1,"QualityFilter":"AUTO"}`)
	if len(idx.FaceRecords) != 1 || len(idx.UnindexedFaces) != 1 || idx.UnindexedFaces[0].Reasons[0] != types.ReasonExceedsMaxFaces ||
		aws.ToString(idx.FaceModelVersion) != testModelVersion {
		t.Fatalf("IndexFaces: %+v", idx)
	}
	checkFace(t, "IndexFaces", idx.FaceRecords[0].Face, faceA, "")
	checkDetail(t, "IndexFaces", idx.FaceRecords[0].FaceDetail)
	checkDetail(t, "IndexFaces unindexed", idx.UnindexedFaces[0].FaceDetail)
	must(c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("team-a"),
		Image:         &types.Image{S3Object: &types.S3Object{Bucket: aws.String("media"), Name: aws.String("alice2.jpg"), Version: aws.String("3")}},
		QualityFilter: types.QualityFilterHigh}))
	wantIn("IndexFaces", `{"CollectionId":"team-a","Image":{"S3Object":{"Bucket":"media","Name":"alice2.jpg","Version":"3"}},"QualityFilter":"HIGH"}`)

	b.answer("ListFaces", &ListFacesOutput{Faces: []Face{*testFace(faceA, "alice")}, NextToken: ptr("faces-2"), FaceModelVersion: ptr(testModelVersion)})
	lf := must(c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("team-a"), MaxResults: aws.Int32(2), NextToken: aws.String("faces-1"),
		UserId: aws.String("alice"), FaceIds: []string{faceA}}))
	wantIn("ListFaces", `{"CollectionId":"team-a","NextToken":"faces-1","MaxResults":2,"UserId":"alice","FaceIds":["`+faceA+`"]}`)
	if len(lf.Faces) != 1 || aws.ToString(lf.NextToken) != "faces-2" || aws.ToString(lf.FaceModelVersion) != testModelVersion {
		t.Fatalf("ListFaces: %+v", lf)
	}
	checkFace(t, "ListFaces", &lf.Faces[0], faceA, "alice")

	b.answer("DeleteFaces", &DeleteFacesOutput{DeletedFaces: []string{faceA},
		UnsuccessfulFaceDeletions: []UnsuccessfulFaceDeletion{{FaceId: ptr(faceB), UserId: ptr("bob"), Reasons: []string{DeletionAssociatedToExistingUser}}}})
	df := must(c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String("team-a"), FaceIds: []string{faceA, faceB}}))
	wantIn("DeleteFaces", `{"CollectionId":"team-a","FaceIds":["`+faceA+`","`+faceB+`"]}`)
	if fmt.Sprint(df.DeletedFaces) != "["+faceA+"]" || len(df.UnsuccessfulFaceDeletions) != 1 || aws.ToString(df.UnsuccessfulFaceDeletions[0].FaceId) != faceB ||
		aws.ToString(df.UnsuccessfulFaceDeletions[0].UserId) != "bob" ||
		df.UnsuccessfulFaceDeletions[0].Reasons[0] != types.UnsuccessfulFaceDeletionReasonAssociatedToAnExistingUser {
		t.Fatalf("DeleteFaces: %+v", df)
	}

	// --- users ---
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"), ClientRequestToken: aws.String("tok-create")}))
	wantIn("CreateUser", `{"CollectionId":"team-a","UserId":"alice","ClientRequestToken":"tok-create"}`)
	must(c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob"), ClientRequestToken: aws.String("tok-delete")}))
	wantIn("DeleteUser", `{"CollectionId":"team-a","UserId":"bob","ClientRequestToken":"tok-delete"}`)

	b.answer("ListUsers", &ListUsersOutput{Users: []User{{UserId: ptr("alice"), UserStatus: UserStatusCreated}, {UserId: ptr("bob"), UserStatus: UserStatusActive}},
		NextToken: ptr("users-2")})
	lu := must(c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("team-a"), MaxResults: aws.Int32(2), NextToken: aws.String("users-1")}))
	wantIn("ListUsers", `{"CollectionId":"team-a","MaxResults":2,"NextToken":"users-1"}`)
	if len(lu.Users) != 2 || aws.ToString(lu.Users[0].UserId) != "alice" || lu.Users[0].UserStatus != types.UserStatusCreated ||
		aws.ToString(lu.Users[1].UserId) != "bob" || lu.Users[1].UserStatus != types.UserStatusActive || aws.ToString(lu.NextToken) != "users-2" {
		t.Fatalf("ListUsers: %+v", lu)
	}

	b.answer("AssociateFaces", &AssociateFacesOutput{AssociatedFaces: []AssociatedFace{{FaceId: ptr(faceA)}}, UserStatus: UserStatusUpdating,
		UnsuccessfulFaceAssociations: []UnsuccessfulFaceAssociation{{FaceId: ptr(faceB), UserId: ptr("bob"), Confidence: ptr(float32(42.5)),
			Reasons: []string{AssociationAssociatedToDifferentUser}}}})
	as := must(c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"),
		FaceIds: []string{faceA, faceB}, ClientRequestToken: aws.String("tok-assoc")}))
	wantIn("AssociateFaces", `{"CollectionId":"team-a","UserId":"alice","FaceIds":["`+faceA+`","`+faceB+`"],"UserMatchThreshold":75,"ClientRequestToken":"tok-assoc"}`)
	if len(as.AssociatedFaces) != 1 || aws.ToString(as.AssociatedFaces[0].FaceId) != faceA || as.UserStatus != types.UserStatusUpdating ||
		len(as.UnsuccessfulFaceAssociations) != 1 || aws.ToString(as.UnsuccessfulFaceAssociations[0].FaceId) != faceB ||
		aws.ToString(as.UnsuccessfulFaceAssociations[0].UserId) != "bob" || aws.ToFloat32(as.UnsuccessfulFaceAssociations[0].Confidence) != 42.5 ||
		as.UnsuccessfulFaceAssociations[0].Reasons[0] != types.UnsuccessfulFaceAssociationReasonAssociatedToADifferentUser {
		t.Fatalf("AssociateFaces: %+v", as)
	}
	must(c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"),
		FaceIds: []string{faceA}, UserMatchThreshold: aws.Float32(0), ClientRequestToken: aws.String("tok-assoc-0")}))
	wantIn("AssociateFaces", `{"CollectionId":"team-a","UserId":"alice","FaceIds":["`+faceA+`"],"UserMatchThreshold":0,"ClientRequestToken":"tok-assoc-0"}`)

	b.answer("DisassociateFaces", &DisassociateFacesOutput{DisassociatedFaces: []DisassociatedFace{{FaceId: ptr(faceA)}}, UserStatus: UserStatusCreated,
		UnsuccessfulFaceDisassociations: []UnsuccessfulFaceDisassociation{{FaceId: ptr(faceB), Reasons: []string{AssociationFaceNotFound}}}})
	ds := must(c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"),
		FaceIds: []string{faceA, faceB}, ClientRequestToken: aws.String("tok-dis")}))
	wantIn("DisassociateFaces", `{"CollectionId":"team-a","UserId":"alice","ClientRequestToken":"tok-dis","FaceIds":["`+faceA+`","`+faceB+`"]}`)
	if len(ds.DisassociatedFaces) != 1 || aws.ToString(ds.DisassociatedFaces[0].FaceId) != faceA || ds.UserStatus != types.UserStatusCreated ||
		len(ds.UnsuccessfulFaceDisassociations) != 1 || aws.ToString(ds.UnsuccessfulFaceDisassociations[0].FaceId) != faceB ||
		ds.UnsuccessfulFaceDisassociations[0].Reasons[0] != types.UnsuccessfulFaceDisassociationReasonFaceNotFound {
		t.Fatalf("DisassociateFaces: %+v", ds)
	}

	// --- searches ---
	matches := []FaceMatch{{Similarity: ptr(float32(99.25)), Face: testFace(faceB, "bob")}}
	b.answer("SearchFaces", &SearchFacesOutput{SearchedFaceId: ptr(faceA), FaceMatches: matches, FaceModelVersion: ptr(testModelVersion)})
	sf := must(c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String("team-a"), FaceId: aws.String(faceA), MaxFaces: aws.Int32(10)}))
	wantIn("SearchFaces", `{"CollectionId":"team-a","FaceId":"`+faceA+`","MaxFaces":10,"FaceMatchThreshold":80}`)
	if aws.ToString(sf.SearchedFaceId) != faceA || len(sf.FaceMatches) != 1 || aws.ToFloat32(sf.FaceMatches[0].Similarity) != 99.25 ||
		aws.ToString(sf.FaceModelVersion) != testModelVersion {
		t.Fatalf("SearchFaces: %+v", sf)
	}
	checkFace(t, "SearchFaces", sf.FaceMatches[0].Face, faceB, "bob")

	b.answer("SearchFacesByImage", &SearchFacesByImageOutput{SearchedFaceBoundingBox: testBox, SearchedFaceConfidence: ptr(float32(99.5)),
		FaceMatches: matches, FaceModelVersion: ptr(testModelVersion)})
	sfi := must(c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: img}}))
	wantIn("SearchFacesByImage", `{"CollectionId":"team-a","Image":{"Bytes":"`+img64+`"},"FaceMatchThreshold":80,"QualityFilter":"NONE"}`)
	if len(sfi.FaceMatches) != 1 || aws.ToFloat32(sfi.SearchedFaceConfidence) != 99.5 || aws.ToString(sfi.FaceModelVersion) != testModelVersion {
		t.Fatalf("SearchFacesByImage: %+v", sfi)
	}
	checkBox(t, "SearchFacesByImage", sfi.SearchedFaceBoundingBox)
	checkFace(t, "SearchFacesByImage", sfi.FaceMatches[0].Face, faceB, "bob")
	must(c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: img},
		MaxFaces: aws.Int32(3), FaceMatchThreshold: aws.Float32(0), QualityFilter: types.QualityFilterLow}))
	wantIn("SearchFacesByImage", `{"CollectionId":"team-a","Image":{"Bytes":"`+img64+`"},"MaxFaces":3,"FaceMatchThreshold":0,"QualityFilter":"LOW"}`)

	userMatches := []UserMatch{{Similarity: ptr(float32(98.5)), User: &MatchedUser{UserId: ptr("bob"), UserStatus: UserStatusActive}}}
	b.answer("SearchUsers", &SearchUsersOutput{UserMatches: userMatches, SearchedFace: &SearchedFace{FaceId: ptr(faceA)}, FaceModelVersion: ptr(testModelVersion)})
	su := must(c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("team-a"), FaceId: aws.String(faceA), MaxUsers: aws.Int32(5)}))
	wantIn("SearchUsers", `{"CollectionId":"team-a","FaceId":"`+faceA+`","UserMatchThreshold":80,"MaxUsers":5}`)
	if len(su.UserMatches) != 1 || aws.ToString(su.UserMatches[0].User.UserId) != "bob" || su.UserMatches[0].User.UserStatus != types.UserStatusActive ||
		aws.ToFloat32(su.UserMatches[0].Similarity) != 98.5 || aws.ToString(su.SearchedFace.FaceId) != faceA || su.SearchedUser != nil ||
		aws.ToString(su.FaceModelVersion) != testModelVersion {
		t.Fatalf("SearchUsers by face: %+v", su)
	}
	b.answer("SearchUsers", &SearchUsersOutput{SearchedUser: &SearchedUser{UserId: ptr("alice")}})
	su = must(c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"), UserMatchThreshold: aws.Float32(0)}))
	wantIn("SearchUsers", `{"CollectionId":"team-a","UserId":"alice","UserMatchThreshold":0}`)
	if aws.ToString(su.SearchedUser.UserId) != "alice" || su.SearchedFace != nil || su.UserMatches == nil || len(su.UserMatches) != 0 {
		t.Fatalf("SearchUsers by user: %+v", su)
	}

	b.answer("SearchUsersByImage", &SearchUsersByImageOutput{UserMatches: userMatches, FaceModelVersion: ptr(testModelVersion),
		SearchedFace:    &SearchedFaceDetails{FaceDetail: testDetail},
		UnsearchedFaces: []UnsearchedFace{{FaceDetails: testDetail, Reasons: []UnsearchedFaceReason{UnsearchedFaceNotLargest}}}})
	sui := must(c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: img}}))
	wantIn("SearchUsersByImage", `{"CollectionId":"team-a","Image":{"Bytes":"`+img64+`"},"UserMatchThreshold":80,"QualityFilter":"NONE"}`)
	if len(sui.UserMatches) != 1 || aws.ToString(sui.UserMatches[0].User.UserId) != "bob" || sui.UserMatches[0].User.UserStatus != types.UserStatusActive ||
		aws.ToFloat32(sui.UserMatches[0].Similarity) != 98.5 || sui.SearchedFace == nil || len(sui.UnsearchedFaces) != 1 ||
		sui.UnsearchedFaces[0].Reasons[0] != types.UnsearchedFaceReasonFaceNotLargest || aws.ToString(sui.FaceModelVersion) != testModelVersion {
		t.Fatalf("SearchUsersByImage: %+v", sui)
	}
	checkDetail(t, "SearchUsersByImage searched", sui.SearchedFace.FaceDetail)
	checkDetail(t, "SearchUsersByImage unsearched", sui.UnsearchedFaces[0].FaceDetails)
	// Output slices left nil are sent as empty arrays.
	b.answer("SearchUsersByImage", nil)
	sui = must(c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"),
		Image:              &types.Image{S3Object: &types.S3Object{Bucket: aws.String("media"), Name: aws.String("x.png")}},
		UserMatchThreshold: aws.Float32(50), MaxUsers: aws.Int32(3), QualityFilter: types.QualityFilterMedium}))
	wantIn("SearchUsersByImage", `{"CollectionId":"team-a","Image":{"S3Object":{"Bucket":"media","Name":"x.png"}},"UserMatchThreshold":50,"MaxUsers":3,"QualityFilter":"MEDIUM"}`)
	if sui.UserMatches == nil || len(sui.UserMatches) != 0 || sui.UnsearchedFaces == nil || sui.SearchedFace != nil {
		t.Fatalf("SearchUsersByImage empty answer: %+v", sui)
	}
}

// TestErrorTypes checks that a request the service model forbids is answered
// by the handler without reaching the backend, and that the SDK decodes each
// error a backend returns as its typed error with the backend's message.
func TestErrorTypes(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	c := e.admin()
	ctx := context.Background()
	img := &types.Image{Bytes: []byte("img")}
	big := bytes.Repeat([]byte("x"), MaxImageBytes+1)
	manyFaces := make([]string, 101)
	for i := range manyFaces {
		manyFaces[i] = faceA
	}

	invalid := []struct {
		name    string
		call    func() error
		want    any    // pointer to a typed error, for errors.As
		message string // substring of the message
	}{
		{"collection id pattern", func() error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("bad/id")})
			return err
		}, new(*types.InvalidParameterException), "at 'collectionId' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"collection id too long", func() error {
			_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String(strings.Repeat("a", 256))})
			return err
		}, new(*types.InvalidParameterException), "length less than or equal to 255"},
		{"user id pattern", func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("a b")})
			return err
		}, new(*types.InvalidParameterException), "'userId'"},
		{"user id too long", func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String(strings.Repeat("u", 129))})
			return err
		}, new(*types.InvalidParameterException), "less than or equal to 128"},
		{"token pattern", func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u9"), ClientRequestToken: aws.String("has space")})
			return err
		}, new(*types.InvalidParameterException), "'clientRequestToken'"},
		{"token too long", func() error {
			_, err := c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), ClientRequestToken: aws.String(strings.Repeat("t", 65))})
			return err
		}, new(*types.InvalidParameterException), "less than or equal to 64"},
		{"max users", func() error {
			_, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), MaxUsers: aws.Int32(501)})
			return err
		}, new(*types.InvalidParameterException), "'maxUsers'"},
		{"list users max results", func() error {
			_, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("c1"), MaxResults: aws.Int32(0)})
			return err
		}, new(*types.InvalidParameterException), "greater than or equal to 1"},
		{"list faces max results", func() error {
			_, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("c1"), MaxResults: aws.Int32(4097)})
			return err
		}, new(*types.InvalidParameterException), "less than or equal to 4096"},
		{"threshold", func() error {
			_, err := c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String("c1"), FaceId: aws.String(faceA), FaceMatchThreshold: aws.Float32(100.5)})
			return err
		}, new(*types.InvalidParameterException), "'faceMatchThreshold'"},
		{"negative threshold", func() error {
			_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{faceA}, UserMatchThreshold: aws.Float32(-1)})
			return err
		}, new(*types.InvalidParameterException), "'userMatchThreshold'"},
		{"too many faces to associate", func() error {
			_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: manyFaces})
			return err
		}, new(*types.InvalidParameterException), "less than or equal to 100"},
		{"empty face id list", func() error {
			_, err := c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String("c1"), FaceIds: []string{}})
			return err
		}, new(*types.InvalidParameterException), "'faceIds'"},
		{"face id pattern", func() error {
			_, err := c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String("c1"), FaceIds: []string{"not-a-uuid"}})
			return err
		}, new(*types.InvalidParameterException), "'faceIds.1.member'"},
		{"quality filter enum", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: img, QualityFilter: "BEST"})
			return err
		}, new(*types.InvalidParameterException), "enum value set"},
		{"external image id", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: img, ExternalImageId: aws.String("a/b")})
			return err
		}, new(*types.InvalidParameterException), "'externalImageId'"},
		{"max faces zero", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: img, MaxFaces: aws.Int32(0)})
			return err
		}, new(*types.InvalidParameterException), "'maxFaces'"},
		{"image both bytes and s3", func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("img"), S3Object: &types.S3Object{Bucket: aws.String("bkt"), Name: aws.String("n")}}})
			return err
		}, new(*types.InvalidParameterException), "Only one of"},
		{"s3 bucket too short", func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String("b"), Name: aws.String("n")}}})
			return err
		}, new(*types.InvalidParameterException), "'image.s3Object.bucket'"},
		{"search users needs one of", func() error {
			_, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceId: aws.String(faceA)})
			return err
		}, new(*types.InvalidParameterException), "Only one of userId or faceId"},
		{"image too large", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: big}})
			return err
		}, new(*types.ImageTooLargeException), "more than the 5242880 bytes"},
		{"pagination token too long", func() error {
			_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{NextToken: aws.String(strings.Repeat("n", 256))})
			return err
		}, new(*types.InvalidParameterException), "'nextToken'"},
		{"tag key aws prefix", func() error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c2"), Tags: map[string]string{"aws:x": "y"}})
			return err
		}, new(*types.InvalidParameterException), "'tags.key'"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tt.want) {
				t.Fatalf("error %T %v, want %T", err, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("message %q does not contain %q", err.Error(), tt.message)
			}
			if n := e.backend.calls.Load(); n != 0 {
				t.Fatalf("an invalid request reached the backend (%d calls)", n)
			}
		})
	}

	fromBackend := []struct {
		name string
		op   string
		err  *Error
		call func() error
		want any
	}{
		{"not found", "DescribeCollection", ErrResourceNotFound("The collection id: nope does not exist"), func() error {
			_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("nope")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"already exists", "CreateCollection", ErrResourceAlreadyExists("The collection id: c1 already exists"), func() error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")})
			return err
		}, new(*types.ResourceAlreadyExistsException)},
		{"conflict", "CreateUser", ErrConflict("A user with id u1 already exists"), func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")})
			return err
		}, new(*types.ConflictException)},
		{"no face in image", "SearchFacesByImage", ErrInvalidParameter("There are no faces in the image. Should be at least 1."), func() error {
			_, err := c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("c1"), Image: img})
			return err
		}, new(*types.InvalidParameterException)},
		{"image too large (pixels)", "SearchFacesByImage", ErrImageTooLarge("The image is 10000x10000 pixels"), func() error {
			_, err := c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("c1"), Image: img})
			return err
		}, new(*types.ImageTooLargeException)},
		{"invalid image format", "IndexFaces", ErrInvalidImageFormat("Request has invalid image format"), func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: img})
			return err
		}, new(*types.InvalidImageFormatException)},
		{"invalid s3 object", "SearchUsersByImage", ErrInvalidS3Object("Unable to get object metadata from S3"), func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String("media"), Name: aws.String("missing.jpg")}}})
			return err
		}, new(*types.InvalidS3ObjectException)},
		{"invalid pagination token", "ListUsers", ErrInvalidPaginationToken("Invalid pagination token"), func() error {
			_, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("c1"), NextToken: aws.String("garbage")})
			return err
		}, new(*types.InvalidPaginationTokenException)},
		{"quota", "AssociateFaces", ErrServiceQuotaExceeded("A user may have at most 100 faces"), func() error {
			_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{faceA}})
			return err
		}, new(*types.ServiceQuotaExceededException)},
		{"provisioned", "SearchUsers", ErrProvisionedThroughputExceeded("slow down"), func() error {
			_, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")})
			return err
		}, new(*types.ProvisionedThroughputExceededException)},
		{"internal", "ListFaces", ErrInternalServer("index unreachable"), func() error {
			_, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("c1")})
			return err
		}, new(*types.InternalServerError)},
	}
	for _, tt := range fromBackend {
		t.Run(tt.name, func(t *testing.T) {
			e.backend.answer(tt.op, tt.err)
			before := e.backend.calls.Load()
			err := tt.call()
			if got := e.backend.calls.Load() - before; got != 1 {
				t.Fatalf("backend called %d times", got)
			}
			var ae smithy.APIError
			if !errors.As(err, tt.want) || !errors.As(err, &ae) || ae.ErrorMessage() != tt.err.Message {
				t.Fatalf("error %T %v, want %T with message %q", err, err, tt.want, tt.err.Message)
			}
		})
	}
}

type wrapErr struct{ error }

func (w wrapErr) Unwrap() error { return w.error }

// TestBackendErrors checks how an error a backend returns is answered: an
// *Error (wrapped or not) with its type and message, an errs.Error through
// MapError's table, anything else as InternalServerError with a generic
// message (the error's text is logged, never sent).
func TestBackendErrors(t *testing.T) {
	type errCase struct {
		name   string
		err    error
		typ    string
		msg    string // prefix of the message the client gets
		hidden string // text the client must not see
		logged string // log message, "" for none
	}
	const generic = "Internal server error (request "
	cases := []errCase{
		{"*Error", ErrServiceQuotaExceeded("too many"), TypeServiceQuotaExceeded, "too many", "", ""},
		{"wrapped *Error", wrapErr{ErrResourceNotFound("gone")}, TypeResourceNotFound, "gone", "", ""},
		{"provisioned", ErrProvisionedThroughputExceeded("slow down"), TypeProvisionedThroughputExceeded, "slow down", "", ""},
		{"access denied", ErrAccessDenied("This endpoint does not create collections"), TypeAccessDenied, "This endpoint does not create collections", "", "request rejected"},
		{"*Error internal", ErrInternalServer("index unreachable"), TypeInternalServerError, "index unreachable", "", "request rejected"},
		{"plain error", errBoom, TypeInternalServerError, generic, "disk on fire", "internal error"},
		{"errs code not in the table", errs.New(errs.Corrupt, "manifest checksum mismatch"), TypeInternalServerError, generic, "checksum", "internal error"},
		{"errs with a cause", errs.Wrap(errs.InvalidParameter, errors.New("decoder: secret detail"), "The image cannot be read"), TypeInvalidParameter, "The image cannot be read", "secret detail", ""},
		{"wrapped errs", fmt.Errorf("describing: %w", errs.New(errs.ResourceNotFound, "The collection id: c does not exist")), TypeResourceNotFound, "The collection id: c does not exist", "describing", ""},
		{"storage call timed out", errs.Wrap(errs.StorageUnavailable, context.DeadlineExceeded, "reading the manifest"), TypeInternalServerError, fixedMessages[errs.StorageUnavailable], "manifest", "request rejected"},
		{"context canceled", context.Canceled, TypeInternalServerError, "request timed out or was canceled", "", "internal error"},
	}
	codes := make([]string, 0, len(errorTypes))
	for code := range errorTypes {
		codes = append(codes, string(code))
	}
	sort.Strings(codes)
	for _, name := range codes {
		code, typ := errs.Code(name), errorTypes[errs.Code(name)]
		c := errCase{name: "errs." + string(code), err: errs.New(code, "message of %s", code), typ: typ, msg: "message of " + string(code)}
		if m, ok := fixedMessages[code]; ok {
			c.msg, c.hidden = m, "message of"
		}
		if typ == TypeInternalServerError {
			c.logged = "request rejected"
		}
		cases = append(cases, c)
	}

	// Each error is answered by an operation whose model declares it (an undeclared one is
	// an InternalServerError: TestUndeclaredErrors).
	type opCall struct {
		op   string
		body string // with %s for the collection id
		sdk  func(c *rek.Client, id string) error
	}
	ctx := context.Background()
	calls := []opCall{
		{"DescribeCollection", `{"CollectionId":"%s"}`, func(c *rek.Client, id string) error {
			_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String(id)})
			return err
		}},
		{"CreateCollection", `{"CollectionId":"%s"}`, func(c *rek.Client, id string) error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(id)})
			return err
		}},
		{"ListFaces", `{"CollectionId":"%s"}`, func(c *rek.Client, id string) error {
			_, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(id)})
			return err
		}},
		{"CreateUser", `{"CollectionId":"%s","UserId":"u"}`, func(c *rek.Client, id string) error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(id), UserId: aws.String("u")})
			return err
		}},
		{"IndexFaces", `{"CollectionId":"%s","Image":{"Bytes":"AAEC"}}`, func(c *rek.Client, id string) error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(id), Image: &types.Image{Bytes: []byte{0, 1, 2}}})
			return err
		}},
	}
	callFor := func(typ string) opCall {
		for _, c := range calls {
			if declaredErrors[c.op][typ] {
				return c
			}
		}
		t.Fatalf("no test operation declares %s", typ)
		return opCall{}
	}

	var mu sync.Mutex
	var logged []string
	e := newEnv(t, HandlerOptions{Log: func(msg string, kv ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, msg+" "+fmt.Sprint(kv...))
	}})
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			call := callFor(tt.typ)
			e.backend.answer(call.op, tt.err)
			mu.Lock()
			logged = nil
			mu.Unlock()
			// A collection id per request: a mutating request signed twice alike in one second
			// is refused as a replay.
			id := fmt.Sprintf("c%d", i)
			body := fmt.Sprintf(call.body, id)
			status, hdr, resp := raw(t, e.srv.URL, TargetPrefix+call.op, body, signer(testKey, testSecret, time.Now(), body))
			// Rekognition's API reference: InternalServerError and ThrottlingException are
			// 500, every other error (AccessDeniedException too) 400.
			want := http.StatusBadRequest
			switch tt.typ {
			case TypeInternalServerError, TypeThrottling:
				want = http.StatusInternalServerError
			}
			msg, _ := resp["Message"].(string)
			if status != want || hdr != tt.typ || resp["__type"] != tt.typ || !strings.HasPrefix(msg, tt.msg) ||
				(tt.hidden != "" && strings.Contains(msg, tt.hidden)) {
				t.Fatalf("%s: got %d %q %v, want %d %s %q", call.op, status, hdr, resp, want, tt.typ, tt.msg)
			}
			if _, lower := resp["message"]; lower {
				t.Fatalf("the body has \"message\" besides \"Message\": %v", resp)
			}
			mu.Lock()
			log := strings.Join(logged, "\n")
			mu.Unlock()
			if (tt.logged == "") != (log == "") || !strings.HasPrefix(log, tt.logged) {
				t.Fatalf("logged %q, want %q", log, tt.logged)
			}
			if tt.logged == "internal error" && !strings.Contains(log, tt.err.Error()) {
				t.Fatalf("the log %q lacks the error's text", log)
			}
			// The SDK decodes the type and the message.
			err := call.sdk(e.admin(), id+"-sdk")
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.typ || !strings.HasPrefix(ae.ErrorMessage(), tt.msg) {
				t.Fatalf("SDK: %T %v", err, err)
			}
		})
	}
}

// TestUndeclaredErrors checks that an error type an operation's model does not declare
// never reaches the wire for it: the SDK would turn it into a generic error its callers do
// not expect. It is answered as InternalServerError (its text logged), and the store's
// retryable "too many concurrent writers" Conflict as ThrottlingException, which every
// operation declares and the SDKs retry.
func TestUndeclaredErrors(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	e := newEnv(t, HandlerOptions{Log: func(msg string, kv ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, msg+" "+fmt.Sprint(kv...))
	}})
	ctx := context.Background()
	img := &types.Image{Bytes: []byte{0, 1, 2}}
	tooMany := &errs.Error{Code: errs.Conflict, Message: "too many concurrent writers", Retryable: true}
	tests := []struct {
		name string
		op   string
		err  error
		call func(*rek.Client) error
		want string
	}{
		{"conflict from IndexFaces", "IndexFaces", ErrConflict("clash"), func(c *rek.Client) error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c"), Image: img})
			return err
		}, TypeInternalServerError},
		{"errs.Conflict from DeleteFaces", "DeleteFaces", errs.New(errs.Conflict, "the manifest changed"), func(c *rek.Client) error {
			_, err := c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String("c"), FaceIds: []string{"11111111-2222-3333-4444-555555555555"}})
			return err
		}, TypeInternalServerError},
		{"pagination token from SearchFaces", "SearchFaces", ErrInvalidPaginationToken("?"), func(c *rek.Client) error {
			_, err := c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String("c"), FaceId: aws.String("11111111-2222-3333-4444-555555555555")})
			return err
		}, TypeInternalServerError},
		{"too many writers from IndexFaces", "IndexFaces", tooMany, func(c *rek.Client) error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c2"), Image: img})
			return err
		}, TypeThrottling},
		{"too many writers from CreateUser", "CreateUser", fmt.Errorf("committing: %w", tooMany), func(c *rek.Client) error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c"), UserId: aws.String("u")})
			return err
		}, TypeThrottling},
		{"declared conflict from CreateUser", "CreateUser", ErrConflict("A user with id u already exists"), func(c *rek.Client) error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c2"), UserId: aws.String("u")})
			return err
		}, TypeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.backend.answer(tt.op, tt.err)
			mu.Lock()
			logged = nil
			mu.Unlock()
			err := tt.call(e.admin())
			if got := errCode(err); got != tt.want {
				t.Fatalf("got %s (%v), want %s", got, err, tt.want)
			}
			var re *smithyhttp.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("no HTTP response in %v", err)
			}
			if want := httpStatus(tt.want); re.HTTPStatusCode() != want {
				t.Fatalf("status %d, want %d", re.HTTPStatusCode(), want)
			}
			mu.Lock()
			log := strings.Join(logged, "\n")
			mu.Unlock()
			if tt.want == TypeInternalServerError && !strings.Contains(log, "does not declare") {
				t.Fatalf("logged %q", log)
			}
		})
	}
}

// TestBackendBusyRetryAfter checks that the search path's "server full" (the face engines'
// decode budget in use) is answered like the handler's own concurrency limit:
// ProvisionedThroughputExceededException with Retry-After, which the SDKs retry.
func TestBackendBusyRetryAfter(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	e.backend.answer("DescribeCollection", errs.New(errs.ProvisionedThroughputExceeded, "decode budget of 512 MiB in use"))
	const body = `{"CollectionId":"c"}`
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"DescribeCollection")
	req.Header.Set("Content-Type", ContentType)
	signer(testKey, testSecret, time.Now(), body)(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("X-Amzn-ErrorType"); got != TypeProvisionedThroughputExceeded || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("type %q, Retry-After %q; want %s with Retry-After 1", got, resp.Header.Get("Retry-After"), TypeProvisionedThroughputExceeded)
	}
}

// raw sends a request by hand (optionally signed) and returns status, error
// type header and decoded body.
func raw(t *testing.T, url, target, body string, sign func(*http.Request)) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", ContentType)
	if sign != nil {
		sign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), m
}

func signer(key, secret string, at time.Time, body string) func(*http.Request) {
	return func(r *http.Request) {
		h := sha256Hex([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, r, h, "rekognition", testRegion, at)
		if err != nil {
			panic(err)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	open := newEnv(t, HandlerOptions{AllowUnauthenticated: true})
	open.backend.answer("DescribeCollection", ErrResourceNotFound("The collection id: zz does not exist"))
	tests := []struct {
		name, target, body string
		status             int
		typ                string
		backend            bool // the request reaches the backend
	}{
		{"unknown operation", "RekognitionService.DetectLabels", "{}", 400, TypeUnknownOperation, false},
		// The face operations docs/http-api.md lists as not served.
		{"video face detection", "RekognitionService.StartFaceDetection", "{}", 400, TypeUnknownOperation, false},
		{"video face search", "RekognitionService.GetFaceSearch", "{}", 400, TypeUnknownOperation, false},
		{"stream processor", "RekognitionService.CreateStreamProcessor", "{}", 400, TypeUnknownOperation, false},
		{"face liveness", "RekognitionService.CreateFaceLivenessSession", "{}", 400, TypeUnknownOperation, false},
		{"celebrities", "RekognitionService.RecognizeCelebrities", "{}", 400, TypeUnknownOperation, false},
		{"wrong prefix", "Foo.ListCollections", "{}", 400, TypeUnknownOperation, false},
		{"no target", "", "{}", 400, TypeUnknownOperation, false},
		{"malformed json", "RekognitionService.ListCollections", "{", 400, TypeSerialization, false},
		{"wrong member type", "RekognitionService.ListCollections", `{"MaxResults":"ten"}`, 400, TypeSerialization, false},
		{"bad base64", "RekognitionService.IndexFaces", `{"CollectionId":"c1","Image":{"Bytes":"!!"}}`, 400, TypeSerialization, false},
		{"missing required", "RekognitionService.DescribeCollection", `{}`, 400, TypeInvalidParameter, false},
		{"missing image", "RekognitionService.SearchUsersByImage", `{"CollectionId":"c1"}`, 400, TypeInvalidParameter, false},
		{"missing face ids", "RekognitionService.AssociateFaces", `{"CollectionId":"c1","UserId":"u"}`, 400, TypeInvalidParameter, false},
		{"not found", "RekognitionService.DescribeCollection", `{"CollectionId":"zz"}`, 400, TypeResourceNotFound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := open.backend.calls.Load()
			status, hdr, body := raw(t, open.srv.URL, tt.target, tt.body, nil)
			if status != tt.status || hdr != tt.typ || body["__type"] != tt.typ || body["Message"] == "" {
				t.Fatalf("got %d %q %v", status, hdr, body)
			}
			if reached := open.backend.calls.Load() > before; reached != tt.backend {
				t.Fatalf("reached the backend: %v", reached)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		// An empty body is an empty input; the empty output has its lists as [].
		status, _, body := raw(t, open.srv.URL, "RekognitionService.ListCollections", "", nil)
		if status != 200 || fmt.Sprint(body["CollectionIds"], body["FaceModelVersions"]) != "[] []" {
			t.Fatalf("got %d %v", status, body)
		}
		if got := open.backend.lastInput(t, "ListCollections"); got != `{}` {
			t.Fatalf("input %s", got)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(open.srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != TypeUnknownOperation {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
}

func TestSigV4(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	ctx := context.Background()
	// The backend lists three collections; the limited key may use team-a only.
	e.backend.answer("ListCollections", &ListCollectionsOutput{CollectionIds: []string{"team-b", "team-a", "team-c"},
		FaceModelVersions: []string{"5.0", "6.0", "7.0"}})

	sdkCases := []struct {
		name, key, secret string
		code              string
	}{
		{"unsigned", "", "", TypeMissingAuthenticationToken},
		{"wrong secret", testKey, "not-the-secret", TypeInvalidSignature},
		{"unknown key", "AKIDNOBODY0000000000", "x", TypeUnrecognizedClient},
	}
	for _, tt := range sdkCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client(tt.key, tt.secret).ListCollections(ctx, &rek.ListCollectionsInput{})
			if errCode(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if n := e.backend.calls.Load(); n != 0 {
				t.Fatalf("an unauthenticated request reached the backend (%d calls)", n)
			}
		})
	}

	t.Run("collection-limited key", func(t *testing.T) {
		c := e.client(limitedKey, limitedSec)
		must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-a")}))
		if got := e.backend.lastInput(t, "DescribeCollection"); got != `{"CollectionId":"team-a"}` {
			t.Fatalf("DescribeCollection input %s", got)
		}
		before := e.backend.calls.Load()
		_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-b")})
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) || !strings.Contains(ad.ErrorMessage(), "not authorized") {
			t.Fatalf("got %v", err)
		}
		_, err = c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("team-z")})
		if !errors.As(err, &ad) {
			t.Fatalf("CreateCollection outside the allowed list: %v", err)
		}
		if n := e.backend.calls.Load() - before; n != 0 {
			t.Fatalf("a denied request reached the backend (%d calls)", n)
		}
		// ListCollections is filtered, FaceModelVersions kept in step; the backend's NextToken
		// (which names a collection) is not passed to a limited key.
		lc := must(c.ListCollections(ctx, &rek.ListCollectionsInput{}))
		if fmt.Sprint(lc.CollectionIds, lc.FaceModelVersions) != "[team-a] [6.0]" || lc.NextToken != nil {
			t.Fatalf("ListCollections for the limited key: %v %v %v", lc.CollectionIds, lc.FaceModelVersions, aws.ToString(lc.NextToken))
		}
		lc = must(e.admin().ListCollections(ctx, &rek.ListCollectionsInput{}))
		if fmt.Sprint(lc.CollectionIds, lc.FaceModelVersions) != "[team-b team-a team-c] [5.0 6.0 7.0]" {
			t.Fatalf("ListCollections for the admin: %v %v", lc.CollectionIds, lc.FaceModelVersions)
		}
	})

	body := `{}`
	target := "RekognitionService.ListCollections"
	rawCases := []struct {
		name   string
		sign   func(*http.Request)
		status int
		typ    string
	}{
		{"valid", signer(testKey, testSecret, time.Now(), body), 200, ""},
		{"stale date", signer(testKey, testSecret, time.Now().Add(-6*time.Minute), body), 400, TypeInvalidSignature},
		{"future date", signer(testKey, testSecret, time.Now().Add(6*time.Minute), body), 400, TypeInvalidSignature},
		{"within skew", signer(testKey, testSecret, time.Now().Add(-4*time.Minute), body), 200, ""},
		{"tampered body", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), `{"MaxResults":1}`)(r)
		}, 400, TypeInvalidSignature},
		{"wrong service", func(r *http.Request) {
			_ = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r, sha256Hex([]byte(body)), "s3", testRegion, time.Now()) // a signature for the wrong service is the point
		}, 400, TypeInvalidSignature},
		{"tampered target", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), body)(r)
			r.Header.Set("X-Amz-Target", "RekognitionService.ListFaces")
		}, 400, TypeInvalidSignature},
		{"garbage authorization", func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }, 400, TypeIncompleteSignature},
		{"content hash header mismatch", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), body)(r)
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
		}, 400, TypeInvalidSignature},
	}
	for _, tt := range rawCases {
		t.Run(tt.name, func(t *testing.T) {
			before := e.backend.calls.Load()
			status, typ, resp := raw(t, e.srv.URL, target, body, tt.sign)
			if status != tt.status || typ != tt.typ {
				t.Fatalf("got %d %q %v", status, typ, resp)
			}
			if reached := e.backend.calls.Load() > before; reached != (status == 200) {
				t.Fatalf("status %d, reached the backend: %v", status, reached)
			}
		})
	}

	t.Run("no credential store rejects all", func(t *testing.T) {
		srv := httptest.NewServer(NewHandler(newStubBackend(), HandlerOptions{}))
		defer srv.Close()
		status, typ, _ := raw(t, srv.URL, target, body, signer(testKey, testSecret, time.Now(), body))
		if status != 400 || typ != TypeUnrecognizedClient {
			t.Fatalf("got %d %q", status, typ)
		}
	})
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	b, c, ctx := e.backend, e.admin(), context.Background()
	calls := func() int64 { return b.calls.Load() }

	// A repeated token with the same parameters is answered from the cache;
	// the token still reaches the backend the first time.
	in := &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), ClientRequestToken: aws.String("tok-1")}
	must(c.CreateUser(ctx, in))
	must(c.CreateUser(ctx, in))
	if calls() != 1 || b.lastInput(t, "CreateUser") != `{"CollectionId":"c1","UserId":"u1","ClientRequestToken":"tok-1"}` {
		t.Fatalf("backend called %d times, last input %s", calls(), b.lastInput(t, "CreateUser"))
	}
	// The same token with other parameters is refused before the backend.
	_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u2"), ClientRequestToken: aws.String("tok-1")})
	var mm *types.IdempotentParameterMismatchException
	if !errors.As(err, &mm) || calls() != 1 {
		t.Fatalf("same token, other parameters: %v (%d calls)", err, calls())
	}
	// The same token in another collection or operation is another key.
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c2"), UserId: aws.String("u2"), ClientRequestToken: aws.String("tok-1")}))
	must(c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), ClientRequestToken: aws.String("tok-1")}))
	if calls() != 3 {
		t.Fatalf("backend called %d times, want 3", calls())
	}

	// Without an explicit token the SDK generates a fresh one per call: each
	// call reaches the backend, with its token.
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")}))
	first := b.lastInput(t, "CreateUser")
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")}))
	second := b.lastInput(t, "CreateUser")
	if calls() != 5 || first == second || !strings.Contains(first, `"ClientRequestToken":"`) {
		t.Fatalf("SDK tokens: %d calls, inputs %s %s", calls(), first, second)
	}

	// AssociateFaces: the repeat gets the first response (face associated),
	// not what a second run would answer (already associated, so empty).
	var runs atomic.Int32
	b.answer("AssociateFaces", func(context.Context, *AssociateFacesInput) (*AssociateFacesOutput, error) {
		if runs.Add(1) > 1 {
			return &AssociateFacesOutput{UserStatus: UserStatusActive}, nil
		}
		return &AssociateFacesOutput{AssociatedFaces: []AssociatedFace{{FaceId: ptr(faceA)}}, UserStatus: UserStatusActive}, nil
	})
	ain := &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{faceA}, ClientRequestToken: aws.String("assoc-1")}
	a1 := must(c.AssociateFaces(ctx, ain))
	a2 := must(c.AssociateFaces(ctx, ain))
	if len(a1.AssociatedFaces) != 1 || len(a2.AssociatedFaces) != 1 || runs.Load() != 1 {
		t.Fatalf("AssociateFaces repeat: %+v %+v (%d runs)", a1, a2, runs.Load())
	}
	ain2 := *ain
	ain2.UserMatchThreshold = aws.Float32(90)
	if _, err := c.AssociateFaces(ctx, &ain2); !errors.As(err, &mm) || runs.Load() != 1 {
		t.Fatalf("AssociateFaces other threshold: %v", err)
	}

	// A failed request is not cached: after a backend failure the same token
	// runs again, and then its success is cached. For each of the four
	// operations that take a token.
	retried := []func() error{
		func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u3"), ClientRequestToken: aws.String("retry-1")})
			return err
		},
		func() error {
			_, err := c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u3"), ClientRequestToken: aws.String("retry-1")})
			return err
		},
		func() error {
			_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u3"), FaceIds: []string{faceB}, ClientRequestToken: aws.String("retry-1")})
			return err
		},
		func() error {
			_, err := c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u3"), FaceIds: []string{faceB}, ClientRequestToken: aws.String("retry-1")})
			return err
		},
	}
	b.failErr = ErrResourceNotFound("The user id: u3 does not exist")
	for i, call := range retried {
		if err := call(); errCode(err) != TypeResourceNotFound {
			t.Fatalf("call %d with the backend failing: %v", i, err)
		}
	}
	b.failErr = nil
	before := calls()
	for i, call := range retried {
		if err := call(); err != nil {
			t.Fatalf("call %d retried: %v", i, err)
		}
		if err := call(); err != nil {
			t.Fatalf("call %d repeated: %v", i, err)
		}
	}
	if calls()-before != int64(len(retried)) {
		t.Fatalf("retries after a failure: %d backend calls, want %d", calls()-before, len(retried))
	}
}

func TestIdempotencyCacheBoundsAndTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newIdempotencyCache(time.Minute, 2, func() time.Time { return now })
	ctx := context.Background()
	n := 0
	fn := func() ([]byte, error) { n++; return []byte("r"), nil }
	var p [32]byte
	for _, tok := range []string{"a", "b", "c"} {
		_, _ = c.do(ctx, idemKey{"Op", "c", tok}, p, fn)
	}
	if c.len() != 2 {
		t.Fatalf("len %d", c.len())
	}
	_, _ = c.do(ctx, idemKey{"Op", "c", "a"}, p, fn) // evicted: runs again
	if n != 4 {
		t.Fatalf("calls %d", n)
	}
	now = now.Add(2 * time.Minute)
	_, _ = c.do(ctx, idemKey{"Op", "c", "a"}, p, fn) // expired: runs again
	if n != 5 {
		t.Fatalf("calls %d", n)
	}
	// Concurrent requests with one token run the backend once.
	block := make(chan struct{})
	var wg sync.WaitGroup
	m := 0
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.do(ctx, idemKey{"Op", "c", "z"}, p, func() ([]byte, error) { m++; <-block; return nil, nil })
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(block)
	wg.Wait()
	if m != 1 {
		t.Fatalf("concurrent calls %d", m)
	}
}

func TestThrottling(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, HandlerOptions{RateLimit: 1, RateBurst: 2, Now: clock})
	ctx := context.Background()
	c := e.admin()
	for i := 0; i < 2; i++ {
		must(c.ListCollections(ctx, &rek.ListCollectionsInput{}))
	}
	_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{})
	var th *types.ThrottlingException
	if !errors.As(err, &th) {
		t.Fatalf("third request: %v", err)
	}
	// Buckets are per key: the other key still has its burst.
	must(e.client(limitedKey, limitedSec).ListCollections(ctx, &rek.ListCollectionsInput{}))
	// One second later one token is back.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	must(c.ListCollections(ctx, &rek.ListCollectionsInput{}))
	// The SDK's standard retryer treats ThrottlingException as retryable.
	retrying := rek.New(rek.Options{Region: testRegion, BaseEndpoint: aws.String(e.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""), RetryMaxAttempts: 2, HTTPClient: e.srv.Client()})
	_, err = retrying.ListCollections(ctx, &rek.ListCollectionsInput{})
	if !errors.As(err, &th) || !strings.Contains(err.Error(), "maximum number of attempts") {
		t.Fatalf("retried request: %v", err)
	}
	// Only the 4 requests let through reached the backend.
	if n := e.backend.calls.Load(); n != 4 {
		t.Fatalf("backend called %d times, want 4", n)
	}
}

func TestOverload(t *testing.T) {
	e := newEnv(t, HandlerOptions{MaxConcurrent: 1, QueueWait: 20 * time.Millisecond})
	ctx := context.Background()
	e.backend.block = make(chan struct{})
	c := e.admin()
	done := make(chan error)
	go func() {
		_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
		done <- err
	}()
	for e.backend.calls.Load() < 1 { // the first request holds the one slot
		time.Sleep(time.Millisecond)
	}
	_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Fatalf("overloaded: %v", err)
	}
	if n := e.backend.calls.Load(); n != 1 {
		t.Fatalf("the refused request reached the backend (%d calls)", n)
	}
	close(e.backend.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")}))
}

func TestTimeout(t *testing.T) {
	const timeout = 30 * time.Millisecond
	e := newEnv(t, HandlerOptions{RequestTimeout: timeout})
	ctx := context.Background()
	c := e.admin()
	e.backend.block = make(chan struct{}) // never closed: the backend waits for ctx
	_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
	var ise *types.InternalServerError
	if !errors.As(err, &ise) || !strings.Contains(ise.ErrorMessage(), "timed out") {
		t.Fatalf("got %v", err)
	}
	e.backend.block = nil

	// The backend's context carries the deadline.
	var left atomic.Int64
	e.backend.answer("DescribeCollection", func(ctx context.Context, _ *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
		if d, ok := ctx.Deadline(); ok {
			left.Store(int64(time.Until(d)))
		}
		return nil, nil
	})
	must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")}))
	if l := time.Duration(left.Load()); l <= 0 || l > timeout {
		t.Fatalf("deadline %v ahead, want within %v", l, timeout)
	}
	// A Rekognition error the backend returns after the deadline is sent as it is.
	e.backend.answer("DescribeCollection", func(ctx context.Context, _ *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
		<-ctx.Done()
		return nil, ErrResourceNotFound("The collection id: c1 does not exist")
	})
	_, err = c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("error after the deadline: %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, HandlerOptions{MaxBodyBytes: 4096})
	ctx := context.Background()
	c := e.admin()
	img := bytes.Repeat([]byte("a"), 4096)
	_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: img}})
	var tl *types.ImageTooLargeException
	if !errors.As(err, &tl) {
		t.Fatalf("IndexFaces over the body limit: %v", err)
	}
	_, err = c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: img}})
	if !errors.As(err, &tl) {
		t.Fatalf("SearchUsersByImage over the body limit: %v", err)
	}
	tags := map[string]string{}
	for i := 0; i < 100; i++ {
		tags[strings.Repeat("k", 20)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 40)
	}
	_, err = c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c2"), Tags: tags})
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Fatalf("CreateCollection over the body limit: %v", err)
	}
	if n := e.backend.calls.Load(); n != 0 {
		t.Fatalf("a body over the limit reached the backend (%d calls)", n)
	}
	// Default limit: a 5 MiB image (6.7 MiB as base64) passes the body limit
	// and reaches the backend whole.
	e2 := newEnv(t, HandlerOptions{})
	var got atomic.Int64
	e2.backend.answer("IndexFaces", func(_ context.Context, in *IndexFacesInput) (*IndexFacesOutput, error) {
		got.Store(int64(len(in.Image.Bytes)))
		return nil, nil
	})
	img = bytes.Repeat([]byte("a"), MaxImageBytes)
	must(e2.admin().IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: img}}))
	if got.Load() != MaxImageBytes {
		t.Fatalf("5 MiB image: the backend got %d bytes", got.Load())
	}
}

func TestParseSecretData(t *testing.T) {
	keys, err := ParseSecretData(map[string][]byte{
		"AKIDEXAMPLE000000001":             []byte("secret-one\n"),
		"AKIDEXAMPLE000000002":             []byte("secret-two"),
		"AKIDEXAMPLE000000002.collections": []byte("team-a, team-b\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if k := keys["AKIDEXAMPLE000000001"]; k.SecretAccessKey != "secret-one" || len(k.AllowedCollections) != 0 || k.Allows("anything") {
		t.Fatalf("key 1: %+v", k)
	}
	if k := keys["AKIDEXAMPLE000000002"]; k.SecretAccessKey != "secret-two" || strings.Join(k.AllowedCollections, ",") != "team-a,team-b" || k.Allows("team-c") {
		t.Fatalf("key 2: %+v", k)
	}
	for name, data := range map[string]map[string][]byte{
		"orphan collections": {"AKIDEXAMPLE000000003.collections": []byte("a")},
		"empty secret":       {"AKIDEXAMPLE000000003": []byte(" \n")},
		"short key id":       {"AKID": []byte("s")},
		"bad collection":     {"AKIDEXAMPLE000000003": []byte("s"), "AKIDEXAMPLE000000003.collections": []byte("a/b")},
	} {
		if _, err := ParseSecretData(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var s SecretCredentials
	if _, ok := s.Lookup("AKIDEXAMPLE000000001"); ok {
		t.Fatal("zero SecretCredentials has a key")
	}
	if err := s.Update(map[string][]byte{"AKIDEXAMPLE000000001": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(map[string][]byte{"bad": []byte("x")}); err == nil {
		t.Fatal("bad update accepted")
	}
	if c, ok := s.Lookup("AKIDEXAMPLE000000001"); !ok || c.SecretAccessKey != "x" {
		t.Fatal("keys lost after a bad update")
	}
}

func TestCallerInContext(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts HandlerOptions
		want string
	}{
		{"signed", HandlerOptions{}, testKey},
		{"unauthenticated", HandlerOptions{AllowUnauthenticated: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			got := make(chan string, 1)
			e.backend.answer("DescribeCollection", func(ctx context.Context, _ *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
				got <- CallerFromContext(ctx)
				return nil, nil
			})
			must(e.admin().DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("c")}))
			if k := <-got; k != tt.want {
				t.Fatalf("caller %q, want %q", k, tt.want)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	want := "AssociateFaces,CompareFaces,CreateCollection,CreateUser,DeleteCollection,DeleteFaces,DeleteUser,DescribeCollection,DetectFaces,DisassociateFaces,IndexFaces,ListCollections,ListFaces,ListTagsForResource,ListUsers,SearchFaces,SearchFacesByImage,SearchUsers,SearchUsersByImage,TagResource,UntagResource"
	ops := Operations()
	sort.Strings(ops)
	if got := strings.Join(ops, ","); got != want {
		t.Fatalf("operations %s", got)
	}
	// Each operation's declared errors are known, or every backend error would be an
	// InternalServerError for it.
	for _, op := range ops {
		if len(declaredErrors[op]) == 0 {
			t.Errorf("no declared errors for %s", op)
		}
	}
	if len(declaredErrors) != len(ops) {
		t.Errorf("declaredErrors has %d operations, the handler serves %d", len(declaredErrors), len(ops))
	}
}

// TestTagOperationsProtocol checks the tag operations' validation and wire shapes with the
// SDK: the model's limits are InvalidParameterException before the backend, the
// collection id at the end of the ARN is what a limited key's collections are checked
// against, Tags come back as sent ({} when none), and a replayed TagResource is refused.
func TestTagOperationsProtocol(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	c := e.admin()
	ctx := context.Background()
	const arn = "arn:facesearch:rekognition:ns::collection/c1"
	tooMany := map[string]string{}
	for i := 0; i <= 200; i++ {
		tooMany[fmt.Sprintf("k%d", i)] = ""
	}
	longKey := strings.Repeat("k", 129)
	tests := []struct {
		name string
		call func() error
	}{
		{"short ARN", func() error {
			_, err := c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String("arn:x")})
			return err
		}},
		{"201 tags", func() error {
			_, err := c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: tooMany})
			return err
		}},
		{"aws: key", func() error {
			_, err := c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"aws:x": "y"}})
			return err
		}},
		{"value with a quote", func() error {
			_, err := c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"k": `"`}})
			return err
		}},
		{"129-character key to remove", func() error {
			_, err := c.UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{longKey}})
			return err
		}},
		{"no TagKeys", func() error {
			_, _, resp := raw(t, e.srv.URL, TargetPrefix+"UntagResource", `{"ResourceArn":"`+arn+`"}`, signer(testKey, testSecret, time.Now(), `{"ResourceArn":"`+arn+`"}`))
			return &smithy.GenericAPIError{Code: fmt.Sprint(resp["__type"]), Message: fmt.Sprint(resp["Message"])}
		}},
	}
	for _, tt := range tests {
		before := e.backend.calls.Load()
		if err := tt.call(); errCode(err) != TypeInvalidParameter {
			t.Fatalf("%s: %v, want InvalidParameterException", tt.name, err)
		}
		if e.backend.calls.Load() != before {
			t.Fatalf("%s reached the backend", tt.name)
		}
	}

	must(c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"team": "a b", "x:y/z": ""}}))
	wantIn := func(op, want string) {
		t.Helper()
		if got := e.backend.lastInput(t, op); got != want {
			t.Fatalf("%s got %s, want %s", op, got, want)
		}
	}
	wantIn("TagResource", `{"ResourceArn":"`+arn+`","Tags":{"team":"a b","x:y/z":""}}`)
	must(c.UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{}}))
	wantIn("UntagResource", `{"ResourceArn":"`+arn+`","TagKeys":[]}`)
	out := must(c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)}))
	if out.Tags == nil || len(out.Tags) != 0 {
		t.Fatalf("no tags: %#v", out.Tags)
	}
	e.backend.answer("ListTagsForResource", &ListTagsForResourceOutput{Tags: map[string]string{"team": "a b"}})
	out = must(c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)}))
	if len(out.Tags) != 1 || out.Tags["team"] != "a b" {
		t.Fatalf("tags %#v", out.Tags)
	}

	// The same signed TagResource twice: the second is a replay.
	body := `{"ResourceArn":"` + arn + `","Tags":{"a":"b"}}`
	sign := signer(testKey, testSecret, time.Now(), body)
	if status, typ, _ := raw(t, e.srv.URL, TargetPrefix+"TagResource", body, sign); status != 200 {
		t.Fatalf("first TagResource: %d %s", status, typ)
	}
	if _, typ, _ := raw(t, e.srv.URL, TargetPrefix+"TagResource", body, sign); typ != TypeInvalidSignature {
		t.Fatalf("replayed TagResource: %s", typ)
	}

	// A key limited to team-a reaches team-a's ARN only; an ARN naming no collection id is
	// checked against the operation alone and left to the backend.
	lim := e.client(limitedKey, limitedSec)
	if _, err := lim.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)}); errCode(err) != TypeAccessDenied {
		t.Fatalf("limited key on another collection: %v", err)
	}
	must(lim.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String("arn:facesearch:rekognition:ns::collection/team-a")}))
	must(lim.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:s3:::some-bucket-of-no-one")}))
}

// TestConcurrentClients runs SDK clients in parallel through every layer
// (signatures, rate limiter, semaphore, idempotency cache); run with -race.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, HandlerOptions{RateLimit: -1, MaxConcurrent: 4, QueueWait: 5 * time.Second})
	ctx := context.Background()
	e.backend.answer("SearchUsersByImage", &SearchUsersByImageOutput{
		UserMatches: []UserMatch{{Similarity: ptr(float32(99)), User: &MatchedUser{UserId: ptr("alice"), UserStatus: UserStatusActive}}}})
	var creates atomic.Int32
	e.backend.answer("CreateUser", func(context.Context, *CreateUserInput) (*CreateUserOutput, error) {
		creates.Add(1)
		return nil, nil
	})

	var wg sync.WaitGroup
	failures := make(chan error, 200)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := e.client(limitedKey, limitedSec)
			for i := 0; i < 20; i++ {
				out, err := cl.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("img")}})
				if err == nil && (len(out.UserMatches) != 1 || *out.UserMatches[0].User.UserId != "alice") {
					err = fmt.Errorf("unexpected matches %+v", out.UserMatches)
				}
				if err == nil {
					_, err = cl.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob"), ClientRequestToken: aws.String("same-token")})
				}
				if err != nil {
					failures <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	// 160 CreateUser requests with one token and the same parameters: one backend call.
	if n := creates.Load(); n != 1 {
		t.Errorf("CreateUser reached the backend %d times, want 1", n)
	}
}
