package rekognition

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"
)

const (
	testKey    = "AKIDTESTADMIN00000001"
	testSecret = "admin-secret/abc+def"
	limitedKey = "AKIDTESTLIMITED000001"
	limitedSec = "limited-secret"
	testRegion = "eu-west-3"
)

func testCreds() StaticCredentials {
	return StaticCredentials{
		testKey:    {SecretAccessKey: testSecret},
		limitedKey: {SecretAccessKey: limitedSec, AllowedCollections: []string{"team-a"}},
	}
}

type env struct {
	t       *testing.T
	backend *memBackend
	srv     *httptest.Server
}

func newEnv(t *testing.T, opts HandlerOptions) *env {
	t.Helper()
	if opts.Credentials == nil && !opts.AllowUnauthenticated {
		opts.Credentials = testCreds()
	}
	b := newMemBackend()
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

// TestRoundTrip runs every operation through the AWS SDK.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	c := e.admin()
	ctx := context.Background()

	for _, id := range []string{"team-a", "team-b", "team-c"} {
		out := must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(id), Tags: map[string]string{"team": "x"}}))
		if aws.ToInt32(out.StatusCode) != 200 || aws.ToString(out.FaceModelVersion) != testModelVersion || !strings.HasSuffix(aws.ToString(out.CollectionArn), id) {
			t.Fatalf("CreateCollection: %+v", out)
		}
	}

	// ListCollections, one per page, NextToken passed through.
	var ids []string
	var token *string
	for pages := 0; ; pages++ {
		out := must(c.ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(1), NextToken: token}))
		ids = append(ids, out.CollectionIds...)
		if len(out.FaceModelVersions) != len(out.CollectionIds) {
			t.Fatalf("FaceModelVersions %v", out.FaceModelVersions)
		}
		token = out.NextToken
		if token == nil {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(ids, ",") != "team-a,team-b,team-c" {
		t.Fatalf("collections %v", ids)
	}
	// The SDK paginator too.
	pg := rek.NewListCollectionsPaginator(c, &rek.ListCollectionsInput{MaxResults: aws.Int32(2)})
	n := 0
	for pg.HasMorePages() {
		n += len(must(pg.NextPage(ctx)).CollectionIds)
	}
	if n != 3 {
		t.Fatalf("paginator saw %d collections", n)
	}

	// IndexFaces from bytes and from an S3 object.
	idx := must(c.IndexFaces(ctx, &rek.IndexFacesInput{
		CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:alice,bob,carol")},
		ExternalImageId: aws.String("photo:1"), MaxFaces: aws.Int32(2), DetectionAttributes: []types.Attribute{types.AttributeDefault},
	}))
	if len(idx.FaceRecords) != 2 || len(idx.UnindexedFaces) != 1 || idx.UnindexedFaces[0].Reasons[0] != types.ReasonExceedsMaxFaces {
		t.Fatalf("IndexFaces: %+v", idx)
	}
	rec := idx.FaceRecords[0]
	if aws.ToString(rec.Face.ExternalImageId) != "photo:1" || aws.ToFloat32(rec.FaceDetail.Confidence) != 99.5 || aws.ToFloat32(rec.FaceDetail.BoundingBox.Width) != 0.5 {
		t.Fatalf("FaceRecord: %+v %+v", rec.Face, rec.FaceDetail)
	}
	aliceFace := aws.ToString(idx.FaceRecords[0].Face.FaceId)
	bobFace := aws.ToString(idx.FaceRecords[1].Face.FaceId)
	e.backend.objects["media/alice2.jpg"] = []byte("faces:alice")
	idx2 := must(c.IndexFaces(ctx, &rek.IndexFacesInput{
		CollectionId: aws.String("team-a"), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String("media"), Name: aws.String("alice2.jpg")}},
	}))
	alice2 := aws.ToString(idx2.FaceRecords[0].Face.FaceId)

	// ListFaces with pagination.
	var faces []types.Face
	token = nil
	for {
		out := must(c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("team-a"), MaxResults: aws.Int32(2), NextToken: token}))
		faces = append(faces, out.Faces...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(faces) != 3 {
		t.Fatalf("ListFaces: %d faces", len(faces))
	}

	// Users.
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice")}))
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob")}))
	lu := must(c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("team-a"), MaxResults: aws.Int32(1)}))
	if len(lu.Users) != 1 || aws.ToString(lu.Users[0].UserId) != "alice" || lu.Users[0].UserStatus != types.UserStatusCreated || lu.NextToken == nil {
		t.Fatalf("ListUsers: %+v", lu)
	}
	lu2 := must(c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("team-a"), NextToken: lu.NextToken}))
	if len(lu2.Users) != 1 || aws.ToString(lu2.Users[0].UserId) != "bob" || lu2.NextToken != nil {
		t.Fatalf("ListUsers page 2: %+v", lu2)
	}

	as := must(c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"),
		FaceIds: []string{aliceFace, alice2, "00000000-0000-0000-0000-000000000000"}, UserMatchThreshold: aws.Float32(70)}))
	if len(as.AssociatedFaces) != 2 || len(as.UnsuccessfulFaceAssociations) != 1 || as.UserStatus != types.UserStatusActive ||
		as.UnsuccessfulFaceAssociations[0].Reasons[0] != types.UnsuccessfulFaceAssociationReasonFaceNotFound {
		t.Fatalf("AssociateFaces: %+v", as)
	}
	must(c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob"), FaceIds: []string{bobFace}}))
	lf := must(c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice")}))
	if len(lf.Faces) != 2 || aws.ToString(lf.Faces[0].UserId) != "alice" {
		t.Fatalf("ListFaces by user: %+v", lf.Faces)
	}
	lf = must(c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String("team-a"), FaceIds: []string{bobFace}}))
	if len(lf.Faces) != 1 || aws.ToString(lf.Faces[0].FaceId) != bobFace {
		t.Fatalf("ListFaces by FaceIds: %+v", lf.Faces)
	}

	// Searches.
	sf := must(c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String("team-a"), FaceId: aws.String(aliceFace), MaxFaces: aws.Int32(10), FaceMatchThreshold: aws.Float32(90)}))
	if aws.ToString(sf.SearchedFaceId) != aliceFace || len(sf.FaceMatches) != 1 || aws.ToString(sf.FaceMatches[0].Face.FaceId) != alice2 || aws.ToFloat32(sf.FaceMatches[0].Similarity) != 99.25 {
		t.Fatalf("SearchFaces: %+v", sf)
	}
	sfi := must(c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:alice,bob")}, QualityFilter: types.QualityFilterLow}))
	if len(sfi.FaceMatches) != 2 || sfi.SearchedFaceBoundingBox == nil || aws.ToFloat32(sfi.SearchedFaceConfidence) != 99.5 || aws.ToString(sfi.FaceModelVersion) != testModelVersion {
		t.Fatalf("SearchFacesByImage: %+v", sfi)
	}
	su := must(c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("team-a"), FaceId: aws.String(bobFace), MaxUsers: aws.Int32(5)}))
	if len(su.UserMatches) != 1 || aws.ToString(su.UserMatches[0].User.UserId) != "bob" || aws.ToString(su.SearchedFace.FaceId) != bobFace || su.SearchedUser != nil {
		t.Fatalf("SearchUsers by face: %+v", su)
	}
	su = must(c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice")}))
	if aws.ToString(su.SearchedUser.UserId) != "alice" || su.SearchedFace != nil || su.UserMatches == nil {
		t.Fatalf("SearchUsers by user: %+v", su)
	}
	sui := must(c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:alice,nobody")}, UserMatchThreshold: aws.Float32(50), MaxUsers: aws.Int32(3)}))
	if len(sui.UserMatches) != 1 || aws.ToString(sui.UserMatches[0].User.UserId) != "alice" || sui.UserMatches[0].User.UserStatus != types.UserStatusActive ||
		aws.ToFloat32(sui.UserMatches[0].Similarity) != 98.5 || sui.SearchedFace == nil || sui.SearchedFace.FaceDetail.BoundingBox == nil ||
		len(sui.UnsearchedFaces) != 1 || sui.UnsearchedFaces[0].Reasons[0] != types.UnsearchedFaceReasonFaceNotLargest {
		t.Fatalf("SearchUsersByImage: %+v", sui)
	}
	// No face: empty UserMatches, no SearchedFace, not an error.
	sui = must(c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:")}}))
	if sui.UserMatches == nil || len(sui.UserMatches) != 0 || sui.SearchedFace != nil {
		t.Fatalf("SearchUsersByImage without face: %+v", sui)
	}

	// Disassociate, delete faces, users, collection.
	ds := must(c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"), FaceIds: []string{alice2, bobFace}}))
	if len(ds.DisassociatedFaces) != 1 || len(ds.UnsuccessfulFaceDisassociations) != 1 ||
		ds.UnsuccessfulFaceDisassociations[0].Reasons[0] != types.UnsuccessfulFaceDisassociationReasonAssociatedToADifferentUser {
		t.Fatalf("DisassociateFaces: %+v", ds)
	}
	df := must(c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String("team-a"), FaceIds: []string{alice2, bobFace}}))
	if len(df.DeletedFaces) != 1 || df.DeletedFaces[0] != alice2 || len(df.UnsuccessfulFaceDeletions) != 1 ||
		df.UnsuccessfulFaceDeletions[0].Reasons[0] != types.UnsuccessfulFaceDeletionReasonAssociatedToAnExistingUser {
		t.Fatalf("DeleteFaces: %+v", df)
	}
	must(c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob")}))
	desc := must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-a")}))
	if aws.ToInt64(desc.FaceCount) != 2 || aws.ToInt64(desc.UserCount) != 1 || desc.CreationTimestamp == nil ||
		time.Since(*desc.CreationTimestamp) > time.Minute || !strings.HasSuffix(aws.ToString(desc.CollectionARN), "team-a") {
		t.Fatalf("DescribeCollection: %+v", desc)
	}
	del := must(c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: aws.String("team-a")}))
	if aws.ToInt32(del.StatusCode) != 200 {
		t.Fatalf("DeleteCollection: %+v", del)
	}
}

// TestErrorTypes checks the SDK decodes each error as its typed error.
func TestErrorTypes(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	c := e.admin()
	ctx := context.Background()
	must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")}))
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")}))
	faceID := "11111111-2222-3333-4444-555555555555"
	big := bytes.Repeat([]byte("x"), MaxImageBytes+1)
	manyFaces := make([]string, 101)
	for i := range manyFaces {
		manyFaces[i] = faceID
	}

	tests := []struct {
		name    string
		call    func() error
		want    any    // pointer to a typed error, for errors.As
		message string // substring of the message
	}{
		{"not found", func() error {
			_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("nope")})
			return err
		}, new(*types.ResourceNotFoundException), "nope does not exist"},
		{"already exists", func() error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")})
			return err
		}, new(*types.ResourceAlreadyExistsException), "already exists"},
		{"conflict", func() error {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")})
			return err
		}, new(*types.ConflictException), "already exists"},
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
			_, err := c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String("c1"), FaceId: aws.String(faceID), FaceMatchThreshold: aws.Float32(100.5)})
			return err
		}, new(*types.InvalidParameterException), "'faceMatchThreshold'"},
		{"negative threshold", func() error {
			_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{faceID}, UserMatchThreshold: aws.Float32(-1)})
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
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:a")}, QualityFilter: "BEST"})
			return err
		}, new(*types.InvalidParameterException), "enum value set"},
		{"external image id", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:a")}, ExternalImageId: aws.String("a/b")})
			return err
		}, new(*types.InvalidParameterException), "'externalImageId'"},
		{"max faces zero", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:a")}, MaxFaces: aws.Int32(0)})
			return err
		}, new(*types.InvalidParameterException), "'maxFaces'"},
		{"image both bytes and s3", func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:a"), S3Object: &types.S3Object{Bucket: aws.String("bkt"), Name: aws.String("n")}}})
			return err
		}, new(*types.InvalidParameterException), "Only one of"},
		{"s3 bucket too short", func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String("b"), Name: aws.String("n")}}})
			return err
		}, new(*types.InvalidParameterException), "'image.s3Object.bucket'"},
		{"search users needs one of", func() error {
			_, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceId: aws.String(faceID)})
			return err
		}, new(*types.InvalidParameterException), "Only one of userId or faceId"},
		{"no face in image", func() error {
			_, err := c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:")}})
			return err
		}, new(*types.InvalidParameterException), "no faces"},
		{"image too large", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: big}})
			return err
		}, new(*types.ImageTooLargeException), "more than the 5242880 bytes"},
		{"invalid image format", func() error {
			_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("GIF89a")}})
			return err
		}, new(*types.InvalidImageFormatException), "invalid image format"},
		{"invalid s3 object", func() error {
			_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("c1"), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String("media"), Name: aws.String("missing.jpg")}}})
			return err
		}, new(*types.InvalidS3ObjectException), "S3"},
		{"invalid pagination token", func() error {
			_, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String("c1"), NextToken: aws.String("garbage")})
			return err
		}, new(*types.InvalidPaginationTokenException), "Invalid pagination token"},
		{"pagination token too long", func() error {
			_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{NextToken: aws.String(strings.Repeat("n", 256))})
			return err
		}, new(*types.InvalidParameterException), "'nextToken'"},
		{"tag key aws prefix", func() error {
			_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c2"), Tags: map[string]string{"aws:x": "y"}})
			return err
		}, new(*types.InvalidParameterException), "'tags.key'"},
	}
	for _, tt := range tests {
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
		})
	}
}

type errBackend struct {
	*memBackend
	err error
}

func (b errBackend) DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	return nil, b.err
}

func TestBackendErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want any
		code string
	}{
		// Not in DescribeCollection's model: the SDK gives a generic API error with the code.
		{"quota", ErrServiceQuotaExceeded("too many"), new(smithy.APIError), TypeServiceQuotaExceeded},
		{"wrapped", wrapErr{ErrResourceNotFound("gone")}, new(*types.ResourceNotFoundException), TypeResourceNotFound},
		{"plain error", errBoom, new(*types.InternalServerError), TypeInternalServerError},
		{"provisioned", ErrProvisionedThroughputExceeded("slow down"), new(*types.ProvisionedThroughputExceededException), TypeProvisionedThroughputExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := errBackend{newMemBackend(), tt.err}
			var logged []string
			srv := httptest.NewServer(NewHandler(b, HandlerOptions{Credentials: testCreds(), Log: func(msg string, kv ...any) {
				logged = append(logged, msg)
			}}))
			defer srv.Close()
			e := &env{t: t, srv: srv}
			_, err := e.admin().DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("c")})
			if !errors.As(err, tt.want) || errCode(err) != tt.code {
				t.Fatalf("got %T %v", err, err)
			}
			if tt.err == errBoom && strings.Contains(err.Error(), "disk on fire") {
				t.Fatal("internal error text leaked to the client")
			}
		})
	}
}

type wrapErr struct{ error }

func (w wrapErr) Unwrap() error { return w.error }

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
	json.Unmarshal(b, &m)
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
	must(open.backend.CreateCollection(context.Background(), &CreateCollectionInput{CollectionId: aws.String("c1")}))
	tests := []struct {
		name, target, body string
		status             int
		typ                string
	}{
		{"unknown operation", "RekognitionService.DetectLabels", "{}", 400, TypeUnknownOperation},
		{"wrong prefix", "Foo.ListCollections", "{}", 400, TypeUnknownOperation},
		{"no target", "", "{}", 400, TypeUnknownOperation},
		{"malformed json", "RekognitionService.ListCollections", "{", 400, TypeSerialization},
		{"wrong member type", "RekognitionService.ListCollections", `{"MaxResults":"ten"}`, 400, TypeSerialization},
		{"bad base64", "RekognitionService.IndexFaces", `{"CollectionId":"c1","Image":{"Bytes":"!!"}}`, 400, TypeSerialization},
		{"missing required", "RekognitionService.DescribeCollection", `{}`, 400, TypeInvalidParameter},
		{"missing image", "RekognitionService.SearchUsersByImage", `{"CollectionId":"c1"}`, 400, TypeInvalidParameter},
		{"missing face ids", "RekognitionService.AssociateFaces", `{"CollectionId":"c1","UserId":"u"}`, 400, TypeInvalidParameter},
		{"not found", "RekognitionService.DescribeCollection", `{"CollectionId":"zz"}`, 400, TypeResourceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := raw(t, open.srv.URL, tt.target, tt.body, nil)
			if status != tt.status || hdr != tt.typ || body["__type"] != tt.typ || body["message"] == "" {
				t.Fatalf("got %d %q %v", status, hdr, body)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		status, _, body := raw(t, open.srv.URL, "RekognitionService.ListCollections", "", nil)
		if status != 200 || body["CollectionIds"] == nil {
			t.Fatalf("got %d %v", status, body)
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
	for _, id := range []string{"team-a", "team-b"} {
		must(e.backend.CreateCollection(ctx, &CreateCollectionInput{CollectionId: aws.String(id)}))
	}

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
		})
	}

	t.Run("collection-limited key", func(t *testing.T) {
		c := e.client(limitedKey, limitedSec)
		must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-a")}))
		_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("team-b")})
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) || !strings.Contains(ad.ErrorMessage(), "not authorized") {
			t.Fatalf("got %v", err)
		}
		_, err = c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("team-z")})
		if !errors.As(err, &ad) {
			t.Fatalf("CreateCollection outside the allowed list: %v", err)
		}
		lc := must(c.ListCollections(ctx, &rek.ListCollectionsInput{}))
		if len(lc.CollectionIds) != 1 || lc.CollectionIds[0] != "team-a" || len(lc.FaceModelVersions) != 1 {
			t.Fatalf("ListCollections for the limited key: %v", lc.CollectionIds)
		}
		lc = must(e.admin().ListCollections(ctx, &rek.ListCollectionsInput{}))
		if len(lc.CollectionIds) != 2 {
			t.Fatalf("ListCollections for the admin: %v", lc.CollectionIds)
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
		{"stale date", signer(testKey, testSecret, time.Now().Add(-6*time.Minute), body), 403, TypeInvalidSignature},
		{"future date", signer(testKey, testSecret, time.Now().Add(6*time.Minute), body), 403, TypeInvalidSignature},
		{"within skew", signer(testKey, testSecret, time.Now().Add(-4*time.Minute), body), 200, ""},
		{"tampered body", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), `{"MaxResults":1}`)(r)
		}, 403, TypeInvalidSignature},
		{"wrong service", func(r *http.Request) {
			v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r, sha256Hex([]byte(body)), "s3", testRegion, time.Now())
		}, 403, TypeInvalidSignature},
		{"tampered target", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), body)(r)
			r.Header.Set("X-Amz-Target", "RekognitionService.ListFaces")
		}, 403, TypeInvalidSignature},
		{"garbage authorization", func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }, 403, TypeIncompleteSignature},
		{"content hash header mismatch", func(r *http.Request) {
			signer(testKey, testSecret, time.Now(), body)(r)
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
		}, 403, TypeInvalidSignature},
	}
	for _, tt := range rawCases {
		t.Run(tt.name, func(t *testing.T) {
			status, typ, resp := raw(t, e.srv.URL, target, body, tt.sign)
			if status != tt.status || typ != tt.typ {
				t.Fatalf("got %d %q %v", status, typ, resp)
			}
		})
	}

	t.Run("no credential store rejects all", func(t *testing.T) {
		srv := httptest.NewServer(NewHandler(newMemBackend(), HandlerOptions{}))
		defer srv.Close()
		status, typ, _ := raw(t, srv.URL, target, body, signer(testKey, testSecret, time.Now(), body))
		if status != 403 || typ != TypeUnrecognizedClient {
			t.Fatalf("got %d %q", status, typ)
		}
	})
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, HandlerOptions{})
	c := e.admin()
	ctx := context.Background()
	must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")}))
	idx := must(c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: []byte("faces:alice")}}))
	face := aws.ToString(idx.FaceRecords[0].Face.FaceId)

	calls := e.backend.calls.Load()
	in := &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), ClientRequestToken: aws.String("tok-1")}
	must(c.CreateUser(ctx, in))
	must(c.CreateUser(ctx, in)) // a repeat would be ConflictException without the token cache
	if got := e.backend.calls.Load() - calls; got != 1 {
		t.Fatalf("backend called %d times, want 1", got)
	}
	_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u2"), ClientRequestToken: aws.String("tok-1")})
	var mm *types.IdempotentParameterMismatchException
	if !errors.As(err, &mm) {
		t.Fatalf("same token, other parameters: %v", err)
	}
	// The same token in another collection or operation is another key.
	must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c2")}))
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c2"), UserId: aws.String("u2"), ClientRequestToken: aws.String("tok-1")}))

	// Without an explicit token the SDK generates a fresh one per call.
	_, err = c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u1")})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("CreateUser again with a new token: %v", err)
	}

	// AssociateFaces: the repeat answers the first response (face associated),
	// not the second-run answer (already associated, so empty).
	ain := &rek.AssociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{face}, ClientRequestToken: aws.String("assoc-1")}
	a1 := must(c.AssociateFaces(ctx, ain))
	a2 := must(c.AssociateFaces(ctx, ain))
	if len(a1.AssociatedFaces) != 1 || len(a2.AssociatedFaces) != 1 {
		t.Fatalf("AssociateFaces repeat: %+v %+v", a1, a2)
	}
	ain2 := *ain
	ain2.UserMatchThreshold = aws.Float32(90)
	if _, err := c.AssociateFaces(ctx, &ain2); !errors.As(err, &mm) {
		t.Fatalf("AssociateFaces other threshold: %v", err)
	}
	// A failed request is not cached: retrying after fixing the cause works.
	din := &rek.DeleteUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u3"), ClientRequestToken: aws.String("del-1")}
	if _, err := c.DeleteUser(ctx, din); errCode(err) != TypeResourceNotFound {
		t.Fatalf("DeleteUser missing: %v", err)
	}
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("c1"), UserId: aws.String("u3")}))
	must(c.DeleteUser(ctx, din))
	must(c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String("c1"), UserId: aws.String("u1"), FaceIds: []string{face}, ClientRequestToken: aws.String("dis-1")}))
}

func TestIdempotencyCacheBoundsAndTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newIdempotencyCache(time.Minute, 2, func() time.Time { return now })
	ctx := context.Background()
	n := 0
	fn := func() ([]byte, error) { n++; return []byte("r"), nil }
	var p [32]byte
	for _, tok := range []string{"a", "b", "c"} {
		c.do(ctx, idemKey{"Op", "c", tok}, p, fn)
	}
	if c.len() != 2 {
		t.Fatalf("len %d", c.len())
	}
	c.do(ctx, idemKey{"Op", "c", "a"}, p, fn) // evicted: runs again
	if n != 4 {
		t.Fatalf("calls %d", n)
	}
	now = now.Add(2 * time.Minute)
	c.do(ctx, idemKey{"Op", "c", "a"}, p, fn) // expired: runs again
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
			c.do(ctx, idemKey{"Op", "c", "z"}, p, func() ([]byte, error) { m++; <-block; return nil, nil })
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
}

func TestOverload(t *testing.T) {
	e := newEnv(t, HandlerOptions{MaxConcurrent: 1, QueueWait: 20 * time.Millisecond})
	ctx := context.Background()
	must(e.backend.CreateCollection(ctx, &CreateCollectionInput{CollectionId: aws.String("c1")}))
	e.backend.block = make(chan struct{})
	c := e.admin()
	done := make(chan error)
	go func() {
		_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
		done <- err
	}()
	for e.backend.calls.Load() < 2 { // first call from setup, second in flight
		time.Sleep(time.Millisecond)
	}
	_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Fatalf("overloaded: %v", err)
	}
	close(e.backend.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	must(c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")}))
}

func TestTimeout(t *testing.T) {
	e := newEnv(t, HandlerOptions{RequestTimeout: 30 * time.Millisecond})
	ctx := context.Background()
	must(e.backend.CreateCollection(ctx, &CreateCollectionInput{CollectionId: aws.String("c1")}))
	e.backend.block = make(chan struct{}) // never closed: backend waits for ctx
	_, err := e.admin().DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("c1")})
	var ise *types.InternalServerError
	if !errors.As(err, &ise) || !strings.Contains(ise.ErrorMessage(), "timed out") {
		t.Fatalf("got %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, HandlerOptions{MaxBodyBytes: 4096})
	ctx := context.Background()
	c := e.admin()
	must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")}))
	img := append([]byte("faces:"), bytes.Repeat([]byte("a"), 4096)...)
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
	// Default limit: a 5 MiB image (6.7 MiB as base64) passes the body limit.
	e2 := newEnv(t, HandlerOptions{})
	c2 := e2.admin()
	must(c2.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("c1")}))
	img = append([]byte("faces:alice,"), bytes.Repeat([]byte("a"), MaxImageBytes-12)...)
	out := must(c2.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("c1"), Image: &types.Image{Bytes: img}}))
	if len(out.FaceRecords) != 2 {
		t.Fatalf("5 MiB image: %d faces", len(out.FaceRecords))
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
	if k := keys["AKIDEXAMPLE000000001"]; k.SecretAccessKey != "secret-one" || len(k.AllowedCollections) != 0 || !k.Allows("anything") {
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
	got := make(chan string, 1)
	b := callerBackend{newMemBackend(), got}
	srv := httptest.NewServer(NewHandler(b, HandlerOptions{Credentials: testCreds()}))
	defer srv.Close()
	e := &env{t: t, srv: srv}
	e.admin().DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("c")})
	if k := <-got; k != testKey {
		t.Fatalf("caller %q", k)
	}
}

type callerBackend struct {
	*memBackend
	got chan string
}

func (b callerBackend) DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	b.got <- CallerFromContext(ctx)
	return &DescribeCollectionOutput{}, nil
}

func TestOperations(t *testing.T) {
	want := "AssociateFaces,CreateCollection,CreateUser,DeleteCollection,DeleteFaces,DeleteUser,DescribeCollection,DisassociateFaces,IndexFaces,ListCollections,ListFaces,ListUsers,SearchFaces,SearchFacesByImage,SearchUsers,SearchUsersByImage"
	ops := Operations()
	sort.Strings(ops)
	if got := strings.Join(ops, ","); got != want {
		t.Fatalf("operations %s", got)
	}
}

// TestConcurrentClients runs SDK clients in parallel through every layer
// (signatures, rate limiter, semaphore, idempotency cache); run with -race.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, HandlerOptions{RateLimit: -1, MaxConcurrent: 4, QueueWait: 5 * time.Second})
	ctx := context.Background()
	c := e.admin()
	must(c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("team-a")}))
	idx := must(c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:alice")}}))
	must(c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice")}))
	must(c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String("team-a"), UserId: aws.String("alice"), FaceIds: []string{*idx.FaceRecords[0].Face.FaceId}}))

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := e.client(limitedKey, limitedSec)
			for i := 0; i < 20; i++ {
				out, err := cl.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("team-a"), Image: &types.Image{Bytes: []byte("faces:alice")}})
				if err == nil && (len(out.UserMatches) != 1 || *out.UserMatches[0].User.UserId != "alice") {
					err = fmt.Errorf("unexpected matches %+v", out.UserMatches)
				}
				if err == nil {
					_, err = cl.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String("team-a"), UserId: aws.String("bob"), ClientRequestToken: aws.String("same-token")})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
