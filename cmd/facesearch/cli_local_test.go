package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	xdraw "golang.org/x/image/draw"

	"github.com/facesearch/facesearch-operator/internal/annotate"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestEnrolAndSearchCommands runs `facesearch enrol` and `facesearch search` against the
// local stack: enrol builds two users from a folder (with a photo without a face, and one
// photo indexed before by a run that was stopped before associating it), a second run
// indexes nothing twice, and search names the right person in a photo of two and frames
// both faces in the PNG.
func TestEnrolAndSearchCommands(t *testing.T) {
	ctx := context.Background()
	env := startLocalStack(t, "AKIDCLICOMMANDS", "cli-commands-secret")
	t.Setenv("FACESEARCH_ENDPOINT", "http://"+env["API_ENDPOINT"])
	sdk := localSDK(env["API_ENDPOINT"], "AKIDCLICOMMANDS", "cli-commands-secret")
	if _, err := sdk.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String("people")}); err != nil {
		t.Fatal(err)
	}

	// The folder: 3 photos of each of two people, and a photo without a face.
	johns := filepath.Join(testenv.TestFaces(t), "johns")
	crops := func(name string) []string {
		files, _ := filepath.Glob(filepath.Join(johns, name, "*.jpg"))
		sort.Strings(files)
		if len(files) < 4 {
			t.Fatalf("%s has %d photos", name, len(files))
		}
		return files
	}
	dir := t.TempDir()
	for _, name := range []string{"John_Salley", "John_Schneider"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range crops(name)[:3] {
			copyFile(t, f, filepath.Join(dir, name, filepath.Base(f)))
		}
	}
	blank := image.NewGray(image.Rect(0, 0, 200, 160))
	for i := range blank.Pix {
		blank.Pix[i] = uint8(i % 200) // a gradient: an image, but no face
	}
	writeImage(t, filepath.Join(dir, "John_Schneider", "blank.png"), blank)

	// A run stopped between IndexFaces and AssociateFaces left this face unassociated.
	first := crops("John_Salley")[0]
	img, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	left, err := sdk.IndexFaces(ctx, &rekognition.IndexFacesInput{CollectionId: aws.String("people"), Image: &types.Image{Bytes: img},
		ExternalImageId: aws.String("John_Salley:" + filepath.Base(first)), MaxFaces: aws.Int32(1)})
	if err != nil || len(left.FaceRecords) != 1 {
		t.Fatalf("IndexFaces: %v", err)
	}

	enrol := func(wantRows ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runEnrol(ctx, []string{"--collection", "people", "--dir", dir, "--parallel", "2"}, &stdout, &stderr); err != nil {
			t.Fatalf("enrol: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		var rows []string
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n")[1:] {
			rows = append(rows, strings.Join(strings.Fields(line), " "))
		}
		if strings.Join(rows, "\n") != strings.Join(wantRows, "\n") {
			t.Fatalf("enrol's summary:\n%s\nwant the rows\n%s\nstderr:\n%s", stdout.String(), strings.Join(wantRows, "\n"), stderr.String())
		}
		if !strings.Contains(stderr.String(), "blank.png: no face found") {
			t.Errorf("enrol did not say that blank.png has no face:\n%s", stderr.String())
		}
	}
	countFaces := func(user string) int {
		t.Helper()
		in := &rekognition.ListFacesInput{CollectionId: aws.String("people"), MaxResults: aws.Int32(4096)}
		if user != "" {
			in.UserId = aws.String(user)
		}
		out, err := sdk.ListFaces(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Faces)
	}
	checkCounts := func(when string) {
		t.Helper()
		if all, salley, schneider := countFaces(""), countFaces("John_Salley"), countFaces("John_Schneider"); all != 6 || salley != 3 || schneider != 3 {
			t.Fatalf("%s: %d faces, John_Salley %d, John_Schneider %d; want 6, 3, 3", when, all, salley, schneider)
		}
	}

	// USER PHOTOS INDEXED ALREADY-THERE NO-FACE FAILED. The face left behind is indexed
	// again as the same face and associated.
	enrol("John_Salley 3 3 0 0 0", "John_Schneider 4 3 0 1 0", "total: 2 users 7 6 0 1 0")
	checkCounts("after the first run")
	enrol("John_Salley 3 0 3 0 0", "John_Schneider 4 0 3 1 0", "total: 2 users 7 0 6 1 0")
	checkCounts("after the second run")

	// A photo of two: John_Schneider, not one of the photos he was enrolled with, and a
	// smaller John_Salley beside him, who is therefore not searched.
	photo := image.NewRGBA(image.Rect(0, 0, 340, 210))
	draw.Draw(photo, photo.Bounds(), image.NewUniform(color.RGBA{R: 90, G: 90, B: 100, A: 255}), image.Point{}, draw.Src)
	paste := func(file string, at image.Rectangle) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := jpeg.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		xdraw.BiLinear.Scale(photo, at, m, m.Bounds(), xdraw.Src, nil)
	}
	paste(crops("John_Schneider")[8], image.Rect(20, 40, 170, 190))
	paste(crops("John_Salley")[8], image.Rect(210, 70, 310, 170))
	photoPath := filepath.Join(dir, "two.jpg")
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(photoPath, jpg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if err := runSearch(ctx, []string{photoPath, "--collection", "people", "--quiet"}, &stdout, &stderr); err != nil {
		t.Fatalf("search: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("facesearch search:\n%s", out)
	lines := strings.Split(out, "\n")
	top := ""
	for i, l := range lines {
		if strings.HasPrefix(l, "RANK") && i+1 < len(lines) {
			top = strings.Join(strings.Fields(lines[i+1])[:2], " ")
		}
	}
	if top != "1 John_Schneider" {
		t.Fatalf("the table's first row is %q, want rank 1 John_Schneider:\n%s", top, out)
	}
	if !strings.Contains(out, "FACE_NOT_LARGEST") {
		t.Errorf("the smaller face is not listed as unsearched:\n%s", out)
	}
	annotated := filepath.Join(dir, "two.annotated.png")
	if !strings.Contains(out, "Annotated photo: "+annotated) {
		t.Errorf("search did not print the PNG's path %s:\n%s", annotated, out)
	}

	// The PNG: the photo's size, each face framed in its colour at its box's left edge.
	f, err := os.Open(annotated)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	png1, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", annotated, err)
	}
	if png1.Bounds() != photo.Bounds() {
		t.Fatalf("the PNG is %v, the photo %v", png1.Bounds(), photo.Bounds())
	}
	res, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{CollectionId: aws.String("people"), Image: &types.Image{Bytes: jpg.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UnsearchedFaces) != 1 {
		t.Fatalf("%d unsearched faces, want the smaller one", len(res.UnsearchedFaces))
	}
	for _, fc := range []struct {
		what string
		box  *types.BoundingBox
		want color.RGBA
	}{
		{"searched", res.SearchedFace.FaceDetail.BoundingBox, annotate.Searched},
		{"unsearched", res.UnsearchedFaces[0].FaceDetails.BoundingBox, annotate.Other},
	} {
		r, ok := annotate.PixelRect(ratioBox(fc.box), photo.Bounds().Size())
		if !ok {
			t.Fatalf("the %s face's box %+v is outside the photo", fc.what, fc.box)
		}
		at := image.Pt(r.Min.X, (r.Min.Y+r.Max.Y)/2)
		if got := color.RGBAModel.Convert(png1.At(at.X, at.Y)).(color.RGBA); got != fc.want {
			t.Errorf("the %s face's left edge at %v is %v, want %v", fc.what, at, got, fc.want)
		}
	}

	// An error of the endpoint: its type and message.
	err = runSearch(ctx, []string{"--collection", "nobody-here", "--quiet", photoPath}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "SearchUsersByImage: ResourceNotFoundException: ") {
		t.Fatalf("searching a missing collection: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
