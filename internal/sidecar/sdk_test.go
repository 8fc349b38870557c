package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
)

// TestSidecarAWSSDK: the AWS SDK for Go v2, pointed at the sidecar with any keys, calls
// SearchUsersByImage; the endpoint gets the pod's token and no SigV4 signature, and the SDK
// decodes the endpoint's answer.
func TestSidecarAWSSDK(t *testing.T) {
	ep := newFakeEndpoint(t)
	ep.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-RequestId", "0f0e0d0c-0000-1111-2222-333344445555")
		_, _ = io.WriteString(w, `{"FaceModelVersion":"7.0","SearchedFace":{"FaceDetail":{"BoundingBox":{"Height":0.5,"Left":0.25,"Top":0.125,"Width":0.5},"Confidence":99.5}},`+
			`"UnsearchedFaces":[],"UserMatches":[{"Similarity":97.25,"User":{"UserId":"alice","UserStatus":"ACTIVE"}}]}`)
	})
	s := newTestSidecar(t, ep, nil)
	client := rek.New(rek.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDDUMMY", "dummy-secret", "dummy-session"),
		RetryMaxAttempts: 1,
	})
	img := []byte("\xff\xd8\xff\xe0 not really a JPEG")
	out, err := client.SearchUsersByImage(context.Background(), &rek.SearchUsersByImageInput{
		CollectionId: aws.String("people"), Image: &types.Image{Bytes: img}, MaxUsers: aws.Int32(5),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.UserMatches) != 1 || aws.ToString(out.UserMatches[0].User.UserId) != "alice" || aws.ToFloat32(out.UserMatches[0].Similarity) != 97.25 ||
		aws.ToString(out.FaceModelVersion) != "7.0" || out.SearchedFace == nil {
		t.Errorf("the SDK decoded %+v", out)
	}

	got := ep.last(t)
	if a := got.header.Get("Authorization"); a != "Bearer "+testToken {
		t.Errorf("Authorization %q, want the pod's bearer token", a)
	}
	for _, k := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if v := got.header.Get(k); v != "" {
			t.Errorf("%s %q reached the endpoint", k, v)
		}
	}
	if got.header.Get("X-Amz-Target") != "RekognitionService.SearchUsersByImage" {
		t.Errorf("X-Amz-Target %q", got.header.Get("X-Amz-Target"))
	}
	var in struct {
		CollectionID string `json:"CollectionId"`
		Image        struct{ Bytes []byte }
		MaxUsers     int
	}
	if err := json.Unmarshal(got.body, &in); err != nil || in.CollectionID != "people" || !bytes.Equal(in.Image.Bytes, img) || in.MaxUsers != 5 {
		t.Errorf("the endpoint got %q (%v)", got.body, err)
	}
}
