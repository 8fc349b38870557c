package rekognition

import (
	"bytes"
	"context"
	"image/color"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// DetectFaces and CompareFaces through the AWS SDK against the handler over the real
// search path and face models. They use no collection, hence no storage: the endpoint here
// has engines and no MinIO.

const (
	detectKey     = "AKIDDETECTTEST000001" // admin
	detectIdxKey  = "AKIDDETECTINDEXONLY1" // IndexFaces only: neither operation
	detectSecret  = "detect-test-secret"
	detectSrchKey = "AKIDDETECTSEARCH0001" // search, on no collection
)

// newDetectEndpoint serves the pack's engine as the default; it returns a client maker.
func newDetectEndpoint(t *testing.T, pack string) func(key string, opts ...func(*rek.Options)) *rek.Client {
	t.Helper()
	m, err := face.LoadManifest(pack)
	if err != nil {
		t.Fatal(err)
	}
	engines, err := search.NewEngines(search.EnginesOptions{
		ModelPackDirs: []string{pack}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t),
		IntraOpThreads: 1, MaxConcurrent: 2, DefaultFaceModelVersion: m.FaceModelVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	searchScope, err := ParseScope("search")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(NewServiceBackend(search.NewService(engines), nil), HandlerOptions{
		Credentials: StaticCredentials{
			detectKey:     FullAccess(detectSecret),
			detectIdxKey:  {SecretAccessKey: detectSecret, AllowedOperations: []string{"IndexFaces"}, AllowedCollections: []string{AllCollections}},
			detectSrchKey: {SecretAccessKey: detectSecret, AllowedOperations: searchScope},
		},
		RateLimit: -1, MaxConcurrent: -1,
		Log: func(msg string, kv ...any) { t.Logf("handler: %s %v", msg, kv) },
	}))
	t.Cleanup(func() {
		srv.Close()
		_ = engines.Close()
	})
	return func(key string, opts ...func(*rek.Options)) *rek.Client {
		return rek.New(rek.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(key, detectSecret, ""),
			RetryMaxAttempts: 1, HTTPClient: srv.Client(),
		}, opts...)
	}
}

// withoutClientValidation lets a request the SDK would refuse (a required member missing)
// reach the server, to see its own answer.
func withoutClientValidation(o *rek.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

// annotatedBoxes are the faces dlib's example annotations mark in a photo of the test faces
// (their testing.xml), as pixel rectangles.
func annotatedBoxes(t *testing.T, photo string) [][4]float64 {
	t.Helper()
	images, err := facetest.ReadLabels(filepath.Join(testenv.TestFaces(t), "faces", "testing.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][4]float64
	for _, im := range images {
		if im.File == photo {
			for _, b := range im.Boxes {
				out = append(out, [4]float64{b.Left, b.Top, b.Width, b.Height})
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no annotation for %s", photo)
	}
	return out
}

func johnsPhoto(t *testing.T, person string, i int) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", person, "*.jpg"))
	if len(files) <= i {
		t.Fatalf("%s has %d photos", person, len(files))
	}
	return files[i]
}

// noUnmeasuredAttributes fails if a face carries an attribute no model here measures.
func noUnmeasuredAttributes(t *testing.T, what string, d types.FaceDetail) {
	t.Helper()
	if d.AgeRange != nil || d.Gender != nil || len(d.Emotions) != 0 || d.Smile != nil || d.Eyeglasses != nil ||
		d.Sunglasses != nil || d.Beard != nil || d.Mustache != nil || d.FaceOccluded != nil || d.EyeDirection != nil {
		t.Errorf("%s: an attribute no model here measures: %+v", what, d)
	}
}

func TestDetectFacesSDK(t *testing.T) {
	client := newDetectEndpoint(t, testenv.ModelPack(t))
	c := client(detectKey)
	ctx := context.Background()
	salley := readFile(t, johnsPhoto(t, "John_Salley", 0)) // a wide smile, eyes open
	groupName := "2008_004176.jpg"
	group := readFile(t, filepath.Join(testenv.TestFaces(t), "faces", groupName))
	groupW, groupH := 480.0, 438.0

	tests := []struct {
		name       string
		image      []byte
		attributes []types.Attribute
		faces      int
		eyes       bool // EyesOpen and MouthOpen present
		mouthOnly  bool // MouthOpen only
	}{
		{"one face, attributes absent", salley, nil, 1, false, false},
		{"one face, DEFAULT", salley, []types.Attribute{types.AttributeDefault}, 1, false, false},
		{"one face, ALL", salley, []types.Attribute{types.AttributeAll}, 1, true, false},
		{"one face, ALL and DEFAULT", salley, []types.Attribute{types.AttributeDefault, types.AttributeAll}, 1, true, false},
		{"one face, MOUTH_OPEN", salley, []types.Attribute{types.AttributeMouthOpen}, 1, false, true},
		{"one face, attributes no model here measures", salley, []types.Attribute{types.AttributeAgeRange, types.AttributeEmotions, types.AttributeEyeDirection}, 1, false, false},
		{"group, DEFAULT", group, nil, 7, false, false},
		{"group, ALL", group, []types.Attribute{types.AttributeAll}, 7, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(tt.image), Attributes: tt.attributes})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.FaceDetails) != tt.faces {
				t.Fatalf("%d faces, want %d", len(out.FaceDetails), tt.faces)
			}
			for i, d := range out.FaceDetails {
				b := d.BoundingBox
				if b == nil || d.Confidence == nil || *d.Confidence < 90 || d.Pose == nil || d.Quality == nil || len(d.Landmarks) != 5 {
					t.Fatalf("face %d: DEFAULT attributes missing: %+v", i, d)
				}
				if *b.Left < -0.1 || *b.Top < -0.1 || *b.Left+*b.Width > 1.1 || *b.Top+*b.Height > 1.1 || *b.Width <= 0 || *b.Height <= 0 {
					t.Errorf("face %d: box %+v outside the image", i, *b)
				}
				if i > 0 {
					p := out.FaceDetails[i-1].BoundingBox
					if *p.Width**p.Height < *b.Width**b.Height {
						t.Errorf("face %d is larger than face %d", i, i-1)
					}
				}
				if (d.EyesOpen != nil) != tt.eyes || (d.MouthOpen != nil) != (tt.eyes || tt.mouthOnly) {
					t.Fatalf("face %d: EyesOpen %+v MouthOpen %+v", i, d.EyesOpen, d.MouthOpen)
				}
				for _, a := range []*float32{confidenceOf(d.EyesOpen), confidenceOfMouth(d.MouthOpen)} {
					if a != nil && (*a < 50 || *a > 100) {
						t.Errorf("face %d: confidence %v", i, *a)
					}
				}
				noUnmeasuredAttributes(t, "face", d)
			}
			if tt.faces == 1 {
				d := out.FaceDetails[0]
				if *d.BoundingBox.Width < 0.4 || *d.BoundingBox.Height < 0.4 {
					t.Errorf("the face of a portrait crop is %+v", *d.BoundingBox)
				}
				// The labelled answer for this photo (internal/face/testdata/attributes.tsv).
				if tt.eyes && (!d.EyesOpen.Value || !d.MouthOpen.Value) {
					t.Errorf("eyes open %v, mouth open %v; the photo shows both open", d.EyesOpen.Value, d.MouthOpen.Value)
				}
			}
			if tt.faces == 7 {
				// Each face found is one that dlib's annotation marks.
				for i, d := range out.FaceDetails {
					b := d.BoundingBox
					cx, cy := float64(*b.Left+*b.Width/2)*groupW, float64(*b.Top+*b.Height/2)*groupH
					hit := false
					for _, a := range annotatedBoxes(t, groupName) {
						hit = hit || (cx > a[0] && cx < a[0]+a[2] && cy > a[1] && cy < a[1]+a[3])
					}
					if !hit {
						t.Errorf("face %d centred at %.0f,%.0f is in no annotated box", i, cx, cy)
					}
				}
			}
		})
	}

	// A pack with 5 landmarks measures neither attribute, even when asked for ALL.
	t.Run("dlib-blazeface pack, ALL", func(t *testing.T) {
		out, err := newDetectEndpoint(t, testenv.DlibBlazeFacePack(t))(detectKey).DetectFaces(ctx, &rek.DetectFacesInput{
			Image: imageBytes(salley), Attributes: []types.Attribute{types.AttributeAll},
		})
		if err != nil || len(out.FaceDetails) != 1 {
			t.Fatalf("%+v, %v", out, err)
		}
		d := out.FaceDetails[0]
		if d.EyesOpen != nil || d.MouthOpen != nil || len(d.Landmarks) != 5 {
			t.Fatalf("EyesOpen %+v MouthOpen %+v, %d landmarks", d.EyesOpen, d.MouthOpen, len(d.Landmarks))
		}
		noUnmeasuredAttributes(t, "dlib face", d)
	})

	// No face: an empty list, not an error.
	blank := facetest.JPEG(facetest.Solid(200, 200, color.RGBA{120, 130, 140, 255}), 90)
	out, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(blank)})
	if err != nil || out.FaceDetails == nil || len(out.FaceDetails) != 0 {
		t.Fatalf("blank image: %+v, %v", out, err)
	}
}

func confidenceOf(a *types.EyeOpen) *float32 {
	if a == nil {
		return nil
	}
	return a.Confidence
}

func confidenceOfMouth(a *types.MouthOpen) *float32 {
	if a == nil {
		return nil
	}
	return a.Confidence
}

func TestCompareFacesSDK(t *testing.T) {
	client := newDetectEndpoint(t, testenv.ModelPack(t))
	c := client(detectKey)
	ctx := context.Background()
	salley, salley2 := readFile(t, johnsPhoto(t, "John_Salley", 0)), readFile(t, johnsPhoto(t, "John_Salley", 5))
	savage := readFile(t, johnsPhoto(t, "John_Savage", 0))
	blank := facetest.JPEG(facetest.Solid(200, 200, color.RGBA{120, 130, 140, 255}), 90)
	// Three people in one scene; the source's person is the one at the left.
	scene := facetest.Solid(900, 360, color.RGBA{118, 124, 131, 255})
	for i, p := range []string{johnsPhoto(t, "John_Salley", 7), johnsPhoto(t, "John_Savage", 3), johnsPhoto(t, "John_Schneider", 2)} {
		m, err := facetest.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		facetest.Paste(scene, m, 40+i*290, 60, 220-i*20) // distinct sizes: largest first is Salley
	}
	three := facetest.JPEG(scene, 92)

	tests := []struct {
		name               string
		source, target     []byte
		threshold          *float32
		matches, unmatched int
	}{
		{"same person", salley, salley2, nil, 1, 0},
		{"another person", salley, savage, nil, 0, 1},
		{"one of three", salley, three, nil, 1, 2},
		{"one of three, threshold 0", salley, three, aws.Float32(0), 3, 0},
		{"same person, threshold 100", salley, salley2, aws.Float32(100), 0, 1},
		{"no face in the target", salley, blank, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(tt.source), TargetImage: imageBytes(tt.target), SimilarityThreshold: tt.threshold})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.FaceMatches) != tt.matches || len(out.UnmatchedFaces) != tt.unmatched || out.FaceMatches == nil || out.UnmatchedFaces == nil {
				t.Fatalf("%d matches, %d unmatched; want %d and %d", len(out.FaceMatches), len(out.UnmatchedFaces), tt.matches, tt.unmatched)
			}
			if s := out.SourceImageFace; s == nil || s.BoundingBox == nil || s.Confidence == nil || *s.Confidence < 90 {
				t.Fatalf("SourceImageFace %+v", s)
			}
			threshold := float32(80)
			if tt.threshold != nil {
				threshold = *tt.threshold
			}
			for i, m := range out.FaceMatches {
				if m.Similarity == nil || *m.Similarity < threshold || m.Face == nil || m.Face.BoundingBox == nil || len(m.Face.Landmarks) != 5 || m.Face.Pose == nil || m.Face.Quality == nil {
					t.Fatalf("match %d: %+v", i, m)
				}
				if i > 0 && *out.FaceMatches[i-1].Similarity < *m.Similarity {
					t.Errorf("matches not most similar first")
				}
				b := m.Face.BoundingBox
				t.Logf("match %d: similarity %.1f, box left %.2f top %.2f width %.2f", i, *m.Similarity, *b.Left, *b.Top, *b.Width)
			}
			for i, u := range out.UnmatchedFaces {
				if u.BoundingBox == nil || u.Confidence == nil || len(u.Landmarks) != 5 {
					t.Fatalf("unmatched %d: %+v", i, u)
				}
			}
			if tt.name == "one of three" && *out.FaceMatches[0].Face.BoundingBox.Left > 0.3 {
				t.Errorf("the match is at %+v, not the source's person at the left", *out.FaceMatches[0].Face.BoundingBox)
			}
		})
	}

	// Errors as Rekognition declares them for CompareFaces, decoded by the SDK.
	big := bytes.Repeat([]byte{0xff}, MaxImageBytes+1)
	notImage := []byte("not an image at all")
	// Two images of 4.9 MB: their body is over MaxBodyBytes but within CompareFaces' two.
	r := rand.New(rand.NewPCG(1, 2))
	large := func() []byte {
		b := make([]byte, MaxImageBytes-100<<10)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	s3 := &types.Image{S3Object: &types.S3Object{Bucket: aws.String("faces"), Name: aws.String("a.jpg")}}
	raw := client(detectKey, withoutClientValidation)
	errorCases := []struct {
		name    string
		call    func() error
		check   func(*testing.T, error)
		message string
	}{
		{"no face in the source", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(blank), TargetImage: imageBytes(salley)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "no faces in the source image"},
		{"threshold over 100", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(salley2), SimilarityThreshold: aws.Float32(100.5)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "'similarityThreshold' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{"negative threshold", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(salley2), SimilarityThreshold: aws.Float32(-1)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "'similarityThreshold'"},
		{"quality filter enum", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(salley2), QualityFilter: "BEST"})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "'qualityFilter'"},
		{"both images missing", func() error {
			_, err := raw.CompareFaces(ctx, &rek.CompareFacesInput{})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "2 validation errors detected: Value null at 'sourceImage' failed to satisfy constraint: Member must not be null; Value null at 'targetImage'"},
		{"empty target image", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: &types.Image{}})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "targetImage must have bytes or s3Object"},
		{"source over 5 MB", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(big), TargetImage: imageBytes(salley)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.ImageTooLargeException](t, "", err) }, "more than the 5242880 bytes"},
		{"two images of 4.9 MB are read", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(large()), TargetImage: imageBytes(large())})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidImageFormatException](t, "", err) }, ""},
		{"not an image", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(notImage)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidImageFormatException](t, "", err) }, ""},
		{"S3Object", func() error {
			_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: s3})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "send TargetImage.Bytes"},
		{"DetectFaces image missing", func() error {
			_, err := raw.DetectFaces(ctx, &rek.DetectFacesInput{})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "Value null at 'image' failed to satisfy constraint: Member must not be null"},
		{"DetectFaces attribute enum", func() error {
			_, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(salley), Attributes: []types.Attribute{"EYES"}})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "'attributes.1.member' failed to satisfy constraint: Member must satisfy enum value set"},
		{"DetectFaces over 5 MB", func() error {
			_, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(big)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.ImageTooLargeException](t, "", err) }, ""},
		{"DetectFaces not an image", func() error {
			_, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(notImage)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidImageFormatException](t, "", err) }, ""},
		{"DetectFaces S3Object", func() error {
			_, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: s3})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, "", err) }, "does not read S3Object images"},
		{"DetectFaces without the scope", func() error {
			_, err := client(detectIdxKey).DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(salley)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.AccessDeniedException](t, "", err) }, "User: " + detectIdxKey + " is not authorized to perform: rekognition:DetectFaces on resource: * because the access key's scope does not include this operation"},
		{"CompareFaces without the scope", func() error {
			_, err := client(detectIdxKey).CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(salley2)})
			return err
		}, func(t *testing.T, err error) { wantErr[*types.AccessDeniedException](t, "", err) }, "rekognition:CompareFaces on resource: *"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			tt.check(t, err)
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("%v does not say %q", err, tt.message)
			}
		})
	}

	// The search scope allows both, on a key that reaches no collection.
	s := client(detectSrchKey)
	if _, err := s.DetectFaces(ctx, &rek.DetectFacesInput{Image: imageBytes(salley)}); err != nil {
		t.Fatalf("DetectFaces with the search scope: %v", err)
	}
	if _, err := s.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: imageBytes(salley), TargetImage: imageBytes(salley2)}); err != nil {
		t.Fatalf("CompareFaces with the search scope: %v", err)
	}
}

// TestIndexFacesAttributesSDK: IndexFaces' DetectionAttributes give EyesOpen and MouthOpen
// to the faces it indexes and to those it does not, and nothing unasked.
func TestIndexFacesAttributesSDK(t *testing.T) {
	e := newSvcEnv(t, 1)
	c := e.sdk()
	ctx := context.Background()
	if _, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("attrs")}); err != nil {
		t.Fatal(err)
	}
	group := readFile(t, filepath.Join(testenv.TestFaces(t), "faces", "2008_004176.jpg"))
	for _, tt := range []struct {
		attributes []types.Attribute
		measured   bool
	}{{nil, false}, {[]types.Attribute{types.AttributeDefault}, false}, {[]types.Attribute{types.AttributeAll}, true}} {
		out, err := c.IndexFaces(ctx, &rek.IndexFacesInput{
			CollectionId: aws.String("attrs"), Image: imageBytes(group), MaxFaces: aws.Int32(2),
			QualityFilter: types.QualityFilterNone, DetectionAttributes: tt.attributes,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.FaceRecords) != 2 || len(out.UnindexedFaces) != 5 {
			t.Fatalf("%v: %d indexed, %d not", tt.attributes, len(out.FaceRecords), len(out.UnindexedFaces))
		}
		details := []*types.FaceDetail{}
		for _, r := range out.FaceRecords {
			details = append(details, r.FaceDetail)
		}
		for _, u := range out.UnindexedFaces {
			details = append(details, u.FaceDetail)
		}
		for i, d := range details {
			if (d.EyesOpen != nil && d.EyesOpen.Confidence != nil) != tt.measured || (d.MouthOpen != nil && d.MouthOpen.Confidence != nil) != tt.measured {
				t.Fatalf("%v, face %d: EyesOpen %+v MouthOpen %+v", tt.attributes, i, d.EyesOpen, d.MouthOpen)
			}
			noUnmeasuredAttributes(t, "indexed face", *d)
		}
	}
}
