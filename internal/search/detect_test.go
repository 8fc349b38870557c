package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestDefaultFaceModelVersionIsTheCRDs: DetectFaces and CompareFaces use the pack a
// collection made through CreateCollection gets, the Collection CRD's default.
func TestDefaultFaceModelVersionIsTheCRDs(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "facesearch.io_collections.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(crd), "faceModelVersion:\n")
	if !ok {
		t.Fatal("the CRD has no faceModelVersion")
	}
	line, _, _ := strings.Cut(after, "\n")
	if got := strings.TrimSpace(line); got != "default: "+DefaultFaceModelVersion {
		t.Fatalf("the CRD's faceModelVersion says %q, DefaultFaceModelVersion is %q", got, DefaultFaceModelVersion)
	}
}

func johnsPhoto(t *testing.T, person string, i int) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", person, "*.jpg"))
	if err != nil || len(files) <= i {
		t.Fatalf("photo %d of %s: %v", i, person, err)
	}
	b, err := os.ReadFile(files[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDetectAndCompareWithoutCollection runs both operations on each installed pack, made
// the default, and checks the refusals that do not depend on the pack.
func TestDetectAndCompareWithoutCollection(t *testing.T) {
	ctx := context.Background()
	lib := testenv.ONNXRuntimeLibrary(t)
	for _, pack := range []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)} {
		m, err := face.LoadManifest(pack)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(m.FaceModelVersion, func(t *testing.T) {
			engines, err := NewEngines(EnginesOptions{ModelPackDirs: []string{pack}, ONNXRuntimeLibrary: lib, MaxConcurrent: 1, DefaultFaceModelVersion: m.FaceModelVersion})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = engines.Close() })
			svc := NewService(engines)
			salley, salley2, savage := johnsPhoto(t, "John_Salley", 0), johnsPhoto(t, "John_Salley", 5), johnsPhoto(t, "John_Savage", 0)

			d, err := svc.DetectFaces(ctx, Image{Bytes: salley}, DetectFacesOptions{Attributes: face.AllAttributes})
			if err != nil || len(d.FaceDetails) != 1 || d.FaceModelVersion != m.FaceModelVersion {
				t.Fatalf("DetectFaces: %+v, %v", d, err)
			}
			measured := d.FaceDetails[0].EyesOpen != nil && d.FaceDetails[0].MouthOpen != nil
			if want := m.Landmarks.Type == face.Landmarks68; measured != want {
				t.Errorf("EyesOpen and MouthOpen measured: %v, want %v (landmarks %s)", measured, want, m.Landmarks.Type)
			}

			same, err := svc.CompareFaces(ctx, Image{Bytes: salley}, Image{Bytes: salley2}, CompareFacesOptions{SimilarityThreshold: 80})
			if err != nil || len(same.FaceMatches) != 1 || len(same.UnmatchedFaces) != 0 {
				t.Fatalf("same person: %+v, %v", same, err)
			}
			other, err := svc.CompareFaces(ctx, Image{Bytes: salley}, Image{Bytes: savage}, CompareFacesOptions{SimilarityThreshold: 80})
			if err != nil || len(other.FaceMatches) != 0 || len(other.UnmatchedFaces) != 1 {
				t.Fatalf("another person: %+v, %v", other, err)
			}
			t.Logf("similarity: same person %.1f, another %.1f", same.FaceMatches[0].Similarity, other.UnmatchedFaces[0].Similarity)
		})
	}

	engines, err := NewEngines(EnginesOptions{ModelPackDirs: []string{testenv.DlibBlazeFacePack(t)}, ONNXRuntimeLibrary: lib, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	svc := NewService(engines)
	img := Image{Bytes: johnsPhoto(t, "John_Salley", 0)}
	s3 := Image{S3Object: &S3Object{Bucket: "faces", Name: "a.jpg"}}
	for name, call := range map[string]func() error{
		"no default pack installed": func() error { _, err := svc.DetectFaces(ctx, img, DetectFacesOptions{}); return err },
		"DetectFaces S3Object":      func() error { _, err := svc.DetectFaces(ctx, s3, DetectFacesOptions{}); return err },
		"CompareFaces S3Object":     func() error { _, err := svc.CompareFaces(ctx, img, s3, CompareFacesOptions{}); return err },
	} {
		err := call()
		want := errs.InvalidParameter
		if name == "no default pack installed" {
			want = errs.FaceModelUnavailable
		}
		if !errs.Is(err, want) {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
}
