package main

import (
	"flag"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"

	"github.com/facesearch/facesearch-operator/internal/annotate"
)

func TestSearchCommandArguments(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		collection string
		rest       []string
	}{
		{[]string{"--collection", "people", "photo.jpg"}, "people", []string{"photo.jpg"}},
		{[]string{"photo.jpg", "--collection", "people"}, "people", []string{"photo.jpg"}},
		{[]string{"a.jpg", "--collection=people", "b.jpg"}, "people", []string{"a.jpg", "b.jpg"}},
		{[]string{"--collection", "people", "--", "--odd-name.jpg"}, "people", []string{"--odd-name.jpg"}},
		{[]string{"a.jpg", "--", "--collection", "x"}, "", []string{"a.jpg", "--collection", "x"}},
		{nil, "", nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		collection := fs.String("collection", "", "")
		rest, err := parseInterspersed(fs, tc.args)
		if err != nil || *collection != tc.collection || !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("%q: collection %q, rest %q, %v; want %q, %q", tc.args, *collection, rest, err, tc.collection, tc.rest)
		}
	}
}

func box(l, t, w, h float32) *types.BoundingBox {
	return &types.BoundingBox{Left: aws.Float32(l), Top: aws.Float32(t), Width: aws.Float32(w), Height: aws.Float32(h)}
}

// TestSearchCommandFaces merges DetectFaces' faces with the search's answer, and draws the
// searched face last, in its colour, with the top user.
func TestSearchCommandFaces(t *testing.T) {
	searched, unsearched, onlyDetected := box(0.1, 0.1, 0.3, 0.4), box(0.6, 0.2, 0.2, 0.3), box(0.5, 0.7, 0.1, 0.1)
	res := &rekognition.SearchUsersByImageOutput{
		SearchedFace: &types.SearchedFaceDetails{FaceDetail: &types.FaceDetail{BoundingBox: searched}},
		UnsearchedFaces: []types.UnsearchedFace{{FaceDetails: &types.FaceDetail{BoundingBox: unsearched},
			Reasons: []types.UnsearchedFaceReason{types.UnsearchedFaceReasonFaceNotLargest}}},
		UserMatches: []types.UserMatch{{User: &types.MatchedUser{UserId: aws.String("alice")}, Similarity: aws.Float32(99.24)}},
	}
	// DetectFaces' boxes differ a little from the search's: they are matched by overlap.
	detected := []types.FaceDetail{{BoundingBox: box(0.11, 0.1, 0.3, 0.4)}, {BoundingBox: onlyDetected}, {BoundingBox: box(0.6, 0.21, 0.2, 0.3)}}
	marks := searchFaces(detected, res).marks()
	want := []annotate.Mark{
		{Box: ratioBox(unsearched), Label: "FACE_NOT_LARGEST", Color: annotate.Other},
		{Box: ratioBox(onlyDetected), Label: "not searched", Color: annotate.Other},
		{Box: ratioBox(searched), Label: "alice 99.2%", Color: annotate.Searched},
	}
	if !reflect.DeepEqual(marks, want) {
		t.Fatalf("marks:\n got %+v\nwant %+v", marks, want)
	}

	res.UserMatches = nil
	if marks := searchFaces(nil, res).marks(); marks[len(marks)-1].Label != "no match" {
		t.Fatalf("without a match the searched face says %q", marks[len(marks)-1].Label)
	}
}

func TestSearchCommandOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b *types.BoundingBox
		want float64
	}{
		{box(0, 0, 0.5, 0.5), box(0, 0, 0.5, 0.5), 1},
		{box(0, 0, 0.5, 0.5), box(0.25, 0, 0.5, 0.5), 1.0 / 3},
		{box(0, 0, 0.2, 0.2), box(0.5, 0.5, 0.2, 0.2), 0},
	} {
		if got := iou(tc.a, tc.b); got < tc.want-1e-6 || got > tc.want+1e-6 {
			t.Errorf("iou = %v, want %v", got, tc.want)
		}
	}
}

// TestSearchCommandOutputPath writes beside the photo by default, to --out when given, and
// into a temporary directory where the photo's directory cannot be written.
func TestSearchCommandOutputPath(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(0, 0, color.White)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, photo, out string
		want             func(string) bool
	}{
		{"beside the photo", filepath.Join(dir, "door.cam.jpg"), "", func(p string) bool { return p == filepath.Join(dir, "door.cam.annotated.png") }},
		{"--out", filepath.Join(dir, "a.jpg"), filepath.Join(dir, "result.png"), func(p string) bool { return p == filepath.Join(dir, "result.png") }},
		// Not even root can write into /proc.
		{"read-only directory", "/proc/photo.png", "", func(p string) bool {
			return strings.HasPrefix(p, os.TempDir()) && filepath.Base(p) == "photo.annotated.png"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := writeAnnotated(img, tc.photo, tc.out)
			if err != nil || !tc.want(path) {
				t.Fatalf("wrote %q, %v", path, err)
			}
			if d := filepath.Dir(path); d != dir {
				defer os.RemoveAll(d) // the temporary directory made for it
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, _, err := image.Decode(f); err != nil || got.Bounds() != img.Bounds() {
				t.Fatalf("%s: %v", path, err)
			}
		})
	}
}

func TestSearchCommandRotation(t *testing.T) {
	for oc, want := range map[types.OrientationCorrection]int{
		"": 0, types.OrientationCorrectionRotate0: 0, types.OrientationCorrectionRotate90: 90,
		types.OrientationCorrectionRotate180: 180, types.OrientationCorrectionRotate270: 270,
	} {
		if got := rotation(oc); got != want {
			t.Errorf("rotation(%q) = %d, want %d", oc, got, want)
		}
	}
}
