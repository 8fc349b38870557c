package rekognition

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

// webpOf is the photo at path encoded by cwebp with its options; without cwebp the test
// is skipped.
func webpOf(t *testing.T, path string, options ...string) []byte {
	t.Helper()
	m, err := facetest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return facetest.WebPOrSkip(t, m, options...)
}

// TestWebPImagesSDK: the endpoint takes WebP, beyond Rekognition (which refuses it). Faces
// indexed from lossy WebPs are found by a lossless WebP of another photo of the person, and
// a WebP claiming 16383x16383 pixels, or a cut one, gets Rekognition's exceptions.
func TestWebPImagesSDK(t *testing.T) {
	e := newSvcEnv(t, 1)
	c := e.sdk()
	ctx := context.Background()
	coll := "webp"
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		t.Fatal(err)
	}
	people := e.people(t)
	var names []string
	for p := range people {
		names = append(names, p)
	}
	sort.Strings(names)
	names = names[:2]
	for _, p := range names {
		var ids []string
		for i, f := range people[p][:2] {
			res, err := c.IndexFaces(ctx, &rek.IndexFacesInput{
				CollectionId: aws.String(coll), Image: imageBytes(webpOf(t, f, "-q", "90")),
				ExternalImageId: aws.String(fmt.Sprintf("%s_%d", p, i)), MaxFaces: aws.Int32(1),
			})
			if err != nil {
				t.Fatalf("IndexFaces %s as WebP: %v", f, err)
			}
			if len(res.FaceRecords) != 1 {
				t.Fatalf("IndexFaces %s as WebP: %d face records, unindexed %+v", f, len(res.FaceRecords), res.UnindexedFaces)
			}
			ids = append(ids, aws.ToString(res.FaceRecords[0].Face.FaceId))
		}
		if _, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: aws.String(coll), UserId: aws.String(p)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: aws.String(coll), UserId: aws.String(p), FaceIds: ids}); err != nil {
			t.Fatal(err)
		}
	}
	e.admin.sync(t, coll)
	for _, p := range names {
		f := people[p][3]
		out, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(webpOf(t, f, "-lossless"))})
		if err != nil {
			t.Fatalf("SearchUsersByImage %s as WebP: %v", f, err)
		}
		if len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != p || aws.ToFloat32(out.UserMatches[0].Similarity) < 80 {
			t.Fatalf("SearchUsersByImage %s as WebP: %+v", f, out.UserMatches)
		}
	}
	// A lossy frame header claiming 16383x16383, and nothing after it.
	bomb := binary.LittleEndian.AppendUint32([]byte("RIFF"), 4+8+10)
	bomb = binary.LittleEndian.AppendUint32(append(bomb, "WEBPVP8 "...), 10)
	bomb = append(bomb, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f)
	_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: aws.String(coll), Image: imageBytes(bomb)})
	wantErr[*types.ImageTooLargeException](t, "SearchUsersByImage WebP bomb", err)
	cut := webpOf(t, people[names[0]][4], "-q", "90")
	_, err = c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes(cut[:len(cut)/2])})
	wantErr[*types.InvalidImageFormatException](t, "IndexFaces cut WebP", err)
}
