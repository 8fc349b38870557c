package rekognition

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestReindexLargerMaxFacesSDK indexes a photo of 7 faces with MaxFaces 1, then the same
// bytes under the same ExternalImageId with MaxFaces 3: the second call indexes the two
// faces the first left out and answers the three, the first with its earlier FaceId. With
// MaxFaces 2 nothing is added; the collection holds 3 faces.
func TestReindexLargerMaxFacesSDK(t *testing.T) {
	e := newSvcEnv(t, 1)
	c := e.sdk()
	ctx := context.Background()
	const coll = "reindex"
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		t.Fatal(err)
	}
	photo := readFile(t, filepath.Join(testenv.TestFaces(t), "faces", "2008_004176.jpg"))
	index := func(maxFaces int32) *rek.IndexFacesOutput {
		t.Helper()
		out, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: aws.String(coll), Image: imageBytes(photo),
			ExternalImageId: aws.String("group"), MaxFaces: aws.Int32(maxFaces), QualityFilter: types.QualityFilterNone})
		if err != nil {
			t.Fatalf("MaxFaces %d: %v", maxFaces, err)
		}
		return out
	}
	ids := func(out *rek.IndexFacesOutput) []string {
		var s []string
		for _, r := range out.FaceRecords {
			s = append(s, aws.ToString(r.Face.FaceId))
		}
		return s
	}
	one := ids(index(1))
	three := index(3)
	if got := ids(three); len(got) != 3 || got[0] != one[0] || got[1] == got[0] || got[2] == got[1] {
		t.Fatalf("MaxFaces 3 after 1: %v, first %v", got, one)
	}
	if len(three.UnindexedFaces) != 4 {
		t.Fatalf("MaxFaces 3: %d unindexed, want 4", len(three.UnindexedFaces))
	}
	for i, r := range three.FaceRecords {
		fb, db := r.Face.BoundingBox, r.FaceDetail.BoundingBox
		if aws.ToFloat32(fb.Width) != aws.ToFloat32(db.Width) || aws.ToFloat32(fb.Left) != aws.ToFloat32(db.Left) {
			t.Fatalf("record %d: the Face's box %+v is not its FaceDetail's %+v", i, *fb, *db)
		}
	}
	if got := ids(index(2)); len(got) != 2 || got[0] != one[0] || got[1] != ids(three)[1] {
		t.Fatalf("MaxFaces 2 after 3: %v", got)
	}
	listed, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: aws.String(coll)})
	if err != nil || len(listed.Faces) != 3 {
		t.Fatalf("ListFaces: %d faces (%v), want 3", len(listed.Faces), err)
	}
}
