package rekognition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	guuid "github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

func imageBytes(b []byte) *types.Image { return &types.Image{Bytes: b} }

// hugePNGHeader is a PNG that claims w x h pixels and holds no pixel data: the engine must
// refuse it from its header, before decoding.
func hugePNGHeader(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	return append(out, chunk("IEND", nil)...)
}

// wantErr fails unless err decodes, through the SDK, to the error type of target.
func wantErr[T error](t *testing.T, what string, err error) {
	t.Helper()
	asErr[T](t, what, err)
}

// asErr is wantErr returning the typed error, for a test that looks into it.
func asErr[T error](t *testing.T, what string, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("%s: got %v (%T), want %T", what, err, err, target)
	}
	return target
}

// personOf is the person of an ExternalImageId made by enroll ("<person>_<i>").
func personOf(externalImageID string) string {
	i := strings.LastIndexByte(externalImageID, '_')
	if i < 0 {
		return externalImageID
	}
	return externalImageID[:i]
}

// TestServiceBackendSDK runs every operation through the real AWS SDK client against the
// endpoint over the real search path: MinIO, the face models, in-process shards; once with
// each model pack.
func TestServiceBackendSDK(t *testing.T) {
	for _, pack := range []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)} {
		m, err := face.LoadManifest(pack)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(m.FaceModelVersion, func(t *testing.T) { testServiceBackendSDK(t, newSvcEnvPack(t, 2, pack)) })
	}
}

func testServiceBackendSDK(t *testing.T, e *svcEnv) {
	c := e.sdk()
	ctx := context.Background()
	const coll = "people"

	// --- collections ---
	cc, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll), Tags: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	version := e.engines.Versions()[0]
	if aws.ToInt32(cc.StatusCode) != 200 || aws.ToString(cc.FaceModelVersion) != version || !strings.HasSuffix(aws.ToString(cc.CollectionArn), ":collection/"+coll) {
		t.Fatalf("CreateCollection: %+v", cc)
	}
	_, err = c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)})
	wantErr[*types.ResourceAlreadyExistsException](t, "CreateCollection again", err)
	for _, id := range []string{"other-a", "other-b"} {
		if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := c.ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(1), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CollectionIds) != 1 || len(out.FaceModelVersions) != 1 || out.FaceModelVersions[0] != version {
			t.Fatalf("ListCollections page %d: %+v", pages, out)
		}
		ids = append(ids, out.CollectionIds...)
		if token = out.NextToken; token == nil {
			break
		}
		if pages > 5 {
			t.Fatal("ListCollections pagination does not end")
		}
	}
	if fmt.Sprint(ids) != "[other-a other-b people]" {
		t.Fatalf("ListCollections: %v", ids)
	}
	_, err = c.ListCollections(ctx, &rek.ListCollectionsInput{NextToken: aws.String("bm90LWEtdG9rZW4")})
	wantErr[*types.InvalidPaginationTokenException](t, "ListCollections bad token", err)
	_, err = c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, "DescribeCollection missing", err)
	if _, err := c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: aws.String("other-b")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: aws.String("other-b")})
	wantErr[*types.ResourceNotFoundException](t, "DeleteCollection again", err)
	_, err = c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String("other-b")})
	wantErr[*types.ResourceNotFoundException](t, "DescribeCollection deleted", err)

	// --- IndexFaces: shapes and no duplicate on re-indexing ---
	people := e.people(t)
	names := make([]string, 0, len(people))
	for p := range people {
		names = append(names, p)
	}
	sort.Strings(names)
	first := people[names[0]][0]
	ix, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, first)), ExternalImageId: aws.String(names[0] + "_0")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.FaceRecords) != 1 {
		t.Fatalf("IndexFaces: %+v", ix)
	}
	fr := ix.FaceRecords[0]
	if _, err := guuid.Parse(aws.ToString(fr.Face.FaceId)); err != nil || aws.ToString(fr.Face.ImageId) == "" ||
		aws.ToString(fr.Face.ExternalImageId) != names[0]+"_0" || aws.ToFloat32(fr.Face.Confidence) <= 50 ||
		aws.ToString(fr.Face.IndexFacesModelVersion) != version || fr.Face.BoundingBox == nil || aws.ToFloat32(fr.Face.BoundingBox.Width) <= 0 ||
		fr.FaceDetail == nil || fr.FaceDetail.BoundingBox == nil || len(fr.FaceDetail.Landmarks) != 5 || fr.FaceDetail.Pose == nil || fr.FaceDetail.Quality == nil ||
		aws.ToString(ix.FaceModelVersion) != version {
		t.Fatalf("IndexFaces record: %+v / %+v", fr.Face, fr.FaceDetail)
	}
	again, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, first)), ExternalImageId: aws.String(names[0] + "_0")})
	if err != nil || len(again.FaceRecords) != 1 || aws.ToString(again.FaceRecords[0].Face.FaceId) != aws.ToString(fr.Face.FaceId) {
		t.Fatalf("IndexFaces again: %v %+v", err, again)
	}

	// --- enrol: 3 photos per person, one user each ---
	faces := e.enroll(t, c, coll, 3)
	nFaces := 3 * len(people)
	d, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: aws.String(coll)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(d.FaceCount) != int64(nFaces) || aws.ToInt64(d.UserCount) != int64(len(people)) || aws.ToString(d.FaceModelVersion) != version ||
		!strings.HasSuffix(aws.ToString(d.CollectionARN), coll) || d.CreationTimestamp == nil || d.CreationTimestamp.IsZero() {
		t.Fatalf("DescribeCollection: faces %d users %d %+v", aws.ToInt64(d.FaceCount), aws.ToInt64(d.UserCount), d)
	}

	// --- SearchUsersByImage: held-out photos find their person first ---
	for _, p := range names {
		for _, f := range people[p][3:5] {
			out, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, f))})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != p || aws.ToFloat32(out.UserMatches[0].Similarity) < 80 ||
				out.UserMatches[0].User.UserStatus != types.UserStatusActive || out.SearchedFace == nil || out.SearchedFace.FaceDetail == nil {
				t.Fatalf("SearchUsersByImage %s: %+v", f, out.UserMatches)
			}
			for _, m := range out.UserMatches[1:] {
				if aws.ToFloat32(m.Similarity) > aws.ToFloat32(out.UserMatches[0].Similarity) {
					t.Fatalf("SearchUsersByImage %s: not sorted: %+v", f, out.UserMatches)
				}
			}
		}
	}
	// A stranger (the largest face of a photo of other people) matches no one at 80.
	stranger := readFile(t, filepath.Join(testenv.TestFaces(t), "faces", "2008_002506.jpg"))
	out, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(stranger)})
	if err != nil {
		t.Fatal(err)
	}
	if out.SearchedFace == nil || len(out.UserMatches) != 0 || len(out.UnsearchedFaces) == 0 {
		t.Fatalf("SearchUsersByImage stranger: searched %v matches %+v unsearched %d", out.SearchedFace != nil, out.UserMatches, len(out.UnsearchedFaces))
	}
	for _, u := range out.UnsearchedFaces {
		if len(u.Reasons) == 0 || u.FaceDetails == nil {
			t.Fatalf("UnsearchedFace: %+v", u)
		}
	}
	// No face: empty answer for SearchUsersByImage, InvalidParameter for SearchFacesByImage.
	blank := facetest.JPEG(facetest.Solid(200, 200, color.RGBA{120, 130, 140, 255}), 90)
	out, err = c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(blank)})
	if err != nil || out.SearchedFace != nil || len(out.UserMatches) != 0 {
		t.Fatalf("SearchUsersByImage blank: %v %+v", err, out)
	}
	_, err = c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String(coll), Image: imageBytes(blank)})
	wantErr[*types.InvalidParameterException](t, "SearchFacesByImage blank", err)

	// --- SearchFacesByImage / SearchFaces ---
	p0 := names[0]
	sf, err := c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, people[p0][4])), MaxFaces: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sf.FaceMatches) == 0 || len(sf.FaceMatches) > 3 || sf.SearchedFaceBoundingBox == nil || aws.ToFloat32(sf.SearchedFaceConfidence) <= 0 {
		t.Fatalf("SearchFacesByImage: %+v", sf)
	}
	for _, m := range sf.FaceMatches {
		if personOf(aws.ToString(m.Face.ExternalImageId)) != p0 || aws.ToString(m.Face.UserId) != p0 || aws.ToFloat32(m.Similarity) < 80 {
			t.Fatalf("SearchFacesByImage match: %.1f %+v", aws.ToFloat32(m.Similarity), m.Face)
		}
	}
	sfi, err := c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String(coll), FaceId: aws.String(faces[p0][0]), FaceMatchThreshold: aws.Float32(50)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(sfi.SearchedFaceId) != faces[p0][0] || len(sfi.FaceMatches) == 0 || aws.ToString(sfi.FaceModelVersion) != version {
		t.Fatalf("SearchFaces: %+v", sfi)
	}
	for _, m := range sfi.FaceMatches {
		if aws.ToString(m.Face.FaceId) == faces[p0][0] {
			t.Fatal("SearchFaces returned the searched face")
		}
	}
	if top := sfi.FaceMatches[0].Face; personOf(aws.ToString(top.ExternalImageId)) != p0 {
		t.Fatalf("SearchFaces top match: %+v", top)
	}
	// An unknown FaceId is a bad parameter to Rekognition, not a missing resource.
	_, err = c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: aws.String(coll), FaceId: aws.String(guuid.NewString())})
	if ip := asErr[*types.InvalidParameterException](t, "SearchFaces unknown face", err); !strings.Contains(ip.ErrorMessage(), "faceId was not found in the collection") {
		t.Errorf("SearchFaces unknown face: %q", ip.ErrorMessage())
	}

	// --- SearchUsers ---
	su, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String(coll), FaceId: aws.String(faces[p0][1])})
	if err != nil {
		t.Fatal(err)
	}
	if len(su.UserMatches) == 0 || aws.ToString(su.UserMatches[0].User.UserId) != p0 || su.SearchedFace == nil || aws.ToString(su.SearchedFace.FaceId) != faces[p0][1] {
		t.Fatalf("SearchUsers by face: %+v", su)
	}
	su, err = c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String(coll), UserId: aws.String(p0), UserMatchThreshold: aws.Float32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if su.SearchedUser == nil || aws.ToString(su.SearchedUser.UserId) != p0 {
		t.Fatalf("SearchUsers by user: %+v", su)
	}
	for _, m := range su.UserMatches {
		if aws.ToString(m.User.UserId) == p0 {
			t.Fatal("SearchUsers by user returned the user itself")
		}
	}
	_, err = c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String(coll), UserId: aws.String("nobody")})
	wantErr[*types.ResourceNotFoundException](t, "SearchUsers unknown user", err)
	_, err = c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: aws.String(coll), FaceId: aws.String(guuid.NewString())})
	if ip := asErr[*types.InvalidParameterException](t, "SearchUsers unknown face", err); !strings.Contains(ip.ErrorMessage(), "faceId was not found in the collection") {
		t.Errorf("SearchUsers unknown face: %q", ip.ErrorMessage())
	}

	// --- ListFaces / ListUsers pagination ---
	var listed []string
	token = nil
	for pages := 0; ; pages++ {
		lf, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(coll), MaxResults: aws.Int32(4), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(lf.Faces) > 4 || aws.ToString(lf.FaceModelVersion) != version {
			t.Fatalf("ListFaces page: %+v", lf)
		}
		for _, f := range lf.Faces {
			listed = append(listed, aws.ToString(f.FaceId))
		}
		if token = lf.NextToken; token == nil {
			break
		}
		if pages > nFaces {
			t.Fatal("ListFaces pagination does not end")
		}
	}
	if len(listed) != nFaces || !sort.StringsAreSorted(listed) {
		t.Fatalf("ListFaces: %d faces, want %d, sorted %v", len(listed), nFaces, sort.StringsAreSorted(listed))
	}
	lf, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0)})
	if err != nil || len(lf.Faces) != 3 {
		t.Fatalf("ListFaces by user: %v %+v", err, lf)
	}
	_, err = c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(coll), NextToken: aws.String("!!!")})
	wantErr[*types.InvalidPaginationTokenException](t, "ListFaces bad token", err)
	var users []string
	token = nil
	for pages := 0; ; pages++ {
		lu, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String(coll), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range lu.Users {
			if u.UserStatus != types.UserStatusActive {
				t.Fatalf("ListUsers: %+v", u)
			}
			users = append(users, aws.ToString(u.UserId))
		}
		if token = lu.NextToken; token == nil {
			break
		}
		if pages > 10 {
			t.Fatal("ListUsers pagination does not end")
		}
	}
	if fmt.Sprint(users) != fmt.Sprint(names) {
		t.Fatalf("ListUsers: %v, want %v", users, names)
	}
	_, err = c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String(coll), NextToken: aws.String("!!!")})
	wantErr[*types.InvalidPaginationTokenException](t, "ListUsers bad token", err)

	// --- CreateUser idempotency ---
	cu := &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String("new-user"), ClientRequestToken: aws.String("tok-1")}
	if _, err := c.CreateUser(ctx, cu); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, cu); err != nil {
		t.Fatalf("CreateUser with the same token: %v", err)
	}
	_, err = c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String("new-user")})
	wantErr[*types.ConflictException](t, "CreateUser existing", err)
	_, err = c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String("other-user"), ClientRequestToken: aws.String("tok-1")})
	wantErr[*types.IdempotentParameterMismatchException](t, "CreateUser token reused", err)

	// --- AssociateFaces failures ---
	p1 := names[1]
	af, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0), FaceIds: []string{faces[p0][0], faces[p1][0], guuid.NewString()}})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, u := range af.UnsuccessfulFaceAssociations {
		reasons[aws.ToString(u.FaceId)] = fmt.Sprint(u.Reasons)
	}
	// A face already on the user is not a failure (the store reports it as associated).
	if len(af.AssociatedFaces) != 1 || aws.ToString(af.AssociatedFaces[0].FaceId) != faces[p0][0] || reasons[faces[p1][0]] != "[ASSOCIATED_TO_A_DIFFERENT_USER]" || len(reasons) != 2 || af.UserStatus != types.UserStatusActive {
		t.Fatalf("AssociateFaces: %+v %v", af, reasons)
	}
	// Another person's unassociated face is too far from the user's faces.
	other, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, people[p1][5])), ExternalImageId: aws.String(p1 + "_5")})
	if err != nil || len(other.FaceRecords) != 1 {
		t.Fatalf("IndexFaces: %v", err)
	}
	otherID := aws.ToString(other.FaceRecords[0].Face.FaceId)
	af, err = c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0), FaceIds: []string{otherID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(af.UnsuccessfulFaceAssociations) != 1 || fmt.Sprint(af.UnsuccessfulFaceAssociations[0].Reasons) != "[LOW_MATCH_CONFIDENCE]" || af.UnsuccessfulFaceAssociations[0].Confidence == nil {
		t.Fatalf("AssociateFaces low match: %+v", af)
	}
	// An explicit UserMatchThreshold of 0 is a threshold, not "the default 75": the face joins.
	af, err = c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0), FaceIds: []string{otherID}, UserMatchThreshold: aws.Float32(0)})
	if err != nil || len(af.AssociatedFaces) != 1 || len(af.UnsuccessfulFaceAssociations) != 0 {
		t.Fatalf("AssociateFaces with threshold 0: %+v %v", af, err)
	}
	if _, err := c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0), FaceIds: []string{otherID}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String("nobody"), FaceIds: []string{otherID}})
	wantErr[*types.ResourceNotFoundException](t, "AssociateFaces unknown user", err)

	// --- DisassociateFaces, DeleteFaces, DeleteUser ---
	df, err := c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p0), FaceIds: []string{faces[p0][2], faces[p1][1]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(df.DisassociatedFaces) != 1 || aws.ToString(df.DisassociatedFaces[0].FaceId) != faces[p0][2] || len(df.UnsuccessfulFaceDisassociations) != 1 ||
		fmt.Sprint(df.UnsuccessfulFaceDisassociations[0].Reasons) != "[ASSOCIATED_TO_A_DIFFERENT_USER]" {
		t.Fatalf("DisassociateFaces: %+v", df)
	}
	missing := guuid.NewString()
	del, err := c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: aws.String(coll), FaceIds: []string{faces[p0][2], faces[p0][0], missing}})
	if err != nil {
		t.Fatal(err)
	}
	delReasons := map[string]string{}
	for _, u := range del.UnsuccessfulFaceDeletions {
		delReasons[aws.ToString(u.FaceId)] = fmt.Sprint(u.Reasons)
	}
	if fmt.Sprint(del.DeletedFaces) != "["+faces[p0][2]+"]" || delReasons[faces[p0][0]] != "[ASSOCIATED_TO_AN_EXISTING_USER]" || delReasons[missing] != "[FACE_NOT_FOUND]" {
		t.Fatalf("DeleteFaces: %+v %v", del, delReasons)
	}
	if _, err := c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String(coll), UserId: aws.String(p1)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: aws.String(coll), UserId: aws.String(p1)})
	wantErr[*types.ResourceNotFoundException](t, "DeleteUser again", err)
	lf, err = c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(coll), FaceIds: faces[p1]})
	if err != nil || len(lf.Faces) != 3 || lf.Faces[0].UserId != nil {
		t.Fatalf("faces of a deleted user: %v %+v", err, lf)
	}
	e.admin.sync(t, coll)
	out, err = c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, people[p1][4]))})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.UserMatches {
		if aws.ToString(m.User.UserId) == p1 {
			t.Fatalf("a deleted user still matches: %+v", out.UserMatches)
		}
	}

	// --- images: S3Object, bad format, missing object ---
	if _, err := e.client.PutObject(ctx, e.bucket, "uploads/p0.jpg", bytes.NewReader(readFile(t, people[p0][6])), -1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String(e.bucket), Name: aws.String("uploads/p0.jpg")}}})
	if err != nil || len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != p0 {
		t.Fatalf("SearchUsersByImage S3Object: %v %+v", err, out)
	}
	_, err = c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: &types.Image{S3Object: &types.S3Object{Bucket: aws.String(e.bucket), Name: aws.String("uploads/none.jpg")}}})
	wantErr[*types.InvalidS3ObjectException](t, "IndexFaces missing object", err)
	_, err = c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes([]byte("this is not an image at all"))})
	wantErr[*types.InvalidImageFormatException](t, "IndexFaces text", err)
	_, err = c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: aws.String(coll), Image: imageBytes(hugePNGHeader(10000, 10000))})
	wantErr[*types.ImageTooLargeException](t, "SearchFacesByImage 100 Mpx", err)
	_, err = c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("nope"), Image: imageBytes(blank)})
	wantErr[*types.ResourceNotFoundException](t, "SearchUsersByImage unknown collection", err)

	// --- quota: a user holds at most 100 faces ---
	t.Run("ServiceQuotaExceeded", func(t *testing.T) {
		base := make([]float32, e.admin.dim)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range base {
			base[i] = float32(r.NormFloat64())
		}
		nf := make([]store.NewFace, 101)
		for i := range nf {
			v := append([]float32(nil), base...)
			v[i%len(v)] += 0.01
			nf[i] = store.NewFace{ImageID: guuid.NewString(), BoundingBox: store.BoundingBox{Width: 0.5, Height: 0.5}, Confidence: 99, Embedding: v}
		}
		recs, err := e.store.ImportFaces(ctx, coll, nf, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var fids []string
		for _, r := range recs {
			fids = append(fids, r.FaceID)
		}
		if _, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String("crowd")}); err != nil {
			t.Fatal(err)
		}
		af, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String("crowd"), FaceIds: fids[:100]})
		if err != nil || len(af.AssociatedFaces) != 100 {
			t.Fatalf("AssociateFaces 100: %v %d %+v", err, len(af.AssociatedFaces), af.UnsuccessfulFaceAssociations)
		}
		_, err = c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String("crowd"), FaceIds: fids[100:]})
		wantErr[*types.ServiceQuotaExceededException](t, "AssociateFaces 101st", err)
	})

	// --- an index still loading answers ThrottlingException: declared by the searches, and
	// retried by the SDKs (ResourceNotReadyException is not declared there) ---
	t.Run("ResourceNotReady", func(t *testing.T) {
		pc, _ := e.svc.Collections.Get(coll)
		if err := e.svc.Publish(search.Collection{ID: "loading", FaceModelVersion: version, Shards: pc.Shards, Ready: false}, e.admin.conn); err != nil {
			t.Fatal(err)
		}
		defer e.svc.Unpublish("loading")
		_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String("loading"), Image: imageBytes(readFile(t, people[p0][4]))})
		if te := asErr[*types.ThrottlingException](t, "SearchUsersByImage while the index loads", err); !strings.Contains(te.ErrorMessage(), "loading") {
			t.Fatalf("message %q does not say the index is loading", te.ErrorMessage())
		}
	})

	// --- a storage outage is InternalServerError (the SDK retries it) ---
	t.Run("StorageOutage", func(t *testing.T) {
		e.minio.Kill()
		_, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: aws.String(coll)})
		ise := asErr[*types.InternalServerError](t, "ListUsers with MinIO down", err)
		if !strings.Contains(ise.ErrorMessage(), "retry") {
			t.Fatalf("message: %q", ise.ErrorMessage())
		}
		// Searching by image needs only the engine and the shards, which hold their vectors
		// in memory: it goes on answering while the storage is away.
		out, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(readFile(t, people[p0][4]))})
		if err != nil || len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != p0 {
			t.Fatalf("SearchUsersByImage with MinIO down: %v %+v", err, out)
		}
	})
}

func TestMapErrorStorageTimeouts(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantType string // "" when the handler answers the raw error
		wantMsg  string
	}{
		{"storage refused", &errs.Error{Code: errs.StorageUnavailable, Message: "while reading", Err: errors.New("connection refused")}, TypeInternalServerError, "retry later"},
		{"storage call timed out", &errs.Error{Code: errs.StorageUnavailable, Message: "while reading the manifest", Err: context.DeadlineExceeded}, TypeInternalServerError, "retry later"},
		{"caller went away during a storage call", &errs.Error{Code: errs.StorageUnavailable, Message: "while reading (canceled)", Err: context.Canceled}, "", ""},
		{"request deadline", fmt.Errorf("searching: %w", context.DeadlineExceeded), "", ""},
		// The store's commit that lost its race too often: contention, retried by the SDKs.
		{"too many concurrent writers", fmt.Errorf("committing: %w", &errs.Error{Code: errs.Conflict, Message: "too many concurrent writers", Retryable: true}), TypeThrottling, "retry later"},
		{"user exists", errs.New(errs.Conflict, "user u already exists"), TypeConflict, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MapError(tt.err)
			var re *Error
			if !errors.As(got, &re) {
				if tt.wantType != "" {
					t.Fatalf("got raw %v, want %s", got, tt.wantType)
				}
				return
			}
			if re.Type != tt.wantType || !strings.Contains(re.Message, tt.wantMsg) {
				t.Fatalf("got %s %q, want %s containing %q", re.Type, re.Message, tt.wantType, tt.wantMsg)
			}
		})
	}
}

// TestS3ObjectScopeSDK: through the endpoint, an S3Object outside the collection's storage,
// one among the store's own objects and a missing one all answer the same
// InvalidS3ObjectException, with Rekognition's message and nothing of the cause.
func TestS3ObjectScopeSDK(t *testing.T) {
	e := newSvcEnv(t, 1)
	c := e.sdk()
	ctx := context.Background()
	const coll = "people"
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		t.Fatal(err)
	}
	photo := readFile(t, e.people(t)["John_Simm"][0])
	other := e.bucket + "-other"
	if err := e.client.MakeBucket(ctx, other, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{e.bucket, other} {
		if _, err := e.client.PutObject(ctx, b, "uploads/simm.jpg", bytes.NewReader(photo), int64(len(photo)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s3 := func(bucket, name string) *types.Image {
		return &types.Image{S3Object: &types.S3Object{Bucket: aws.String(bucket), Name: aws.String(name)}}
	}
	out, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: s3(e.bucket, "uploads/simm.jpg")})
	if err != nil || out.SearchedFace == nil {
		t.Fatalf("an object of the collection's own storage: %v %+v", err, out)
	}
	const want = "Unable to get object metadata from S3. Check object key, region and/or access permissions."
	for what, img := range map[string]*types.Image{
		"another bucket":          s3(other, "uploads/simm.jpg"),
		"the store's own objects": s3(e.bucket, "collections/"+coll+"/manifest.json"),
		"a missing object":        s3(e.bucket, "uploads/none.jpg"),
	} {
		_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: img})
		if got := asErr[*types.InvalidS3ObjectException](t, what, err); got.ErrorMessage() != want {
			t.Errorf("%s: message %q, want %q", what, got.ErrorMessage(), want)
		}
	}
}

// TestCreateCollectionOwnedElsewhereSDK: CreateCollection of an id whose stored collection
// belongs to another owner answers ResourceAlreadyExistsException, naming neither the owner
// nor the storage, and leaves that collection whole.
func TestCreateCollectionOwnedElsewhereSDK(t *testing.T) {
	e := newSvcEnv(t, 1)
	ctx := context.Background()
	other := store.Owner{Namespace: "team-b", UID: "uid-b"}
	if _, err := e.store.CreateCollection(ctx, "taken", store.CreateCollectionOptions{FaceModelVersion: e.admin.version, Dimension: e.admin.dim, Owner: other}); err != nil {
		t.Fatal(err)
	}
	_, err := e.sdk().CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("taken")})
	got := asErr[*types.ResourceAlreadyExistsException](t, "CreateCollection of another owner's collection", err)
	for _, secret := range []string{"team-b", "uid-b", e.bucket} {
		if strings.Contains(got.ErrorMessage(), secret) {
			t.Errorf("the message %q tells %q", got.ErrorMessage(), secret)
		}
	}
	if m, err := e.store.Manifest(ctx, "taken"); err != nil || m.Owner() != other {
		t.Fatalf("the other owner's collection after the refusal: %+v, %v", m, err)
	}
}
