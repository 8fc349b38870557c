package search

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestStorageImagesReadWithinTheBudget checks that an image named by S3Object is read
// within the engines' decode budget: its bytes are counted while the request runs, a
// request finds no room while the read share is taken (and is throttled, retryably),
// inline images are not held up by it, and nothing stays held afterwards.
func TestStorageImagesReadWithinTheBudget(t *testing.T) {
	budget := face.NewDecodeBudget(face.DecodeBudgetOptions{Bytes: face.MinDecodeBudgetBytes, MaxWait: 50 * time.Millisecond})
	e := newUserEnvBudget(t, budget)
	ctx := context.Background()
	photo := photos(t, "John_Salley")[0]
	if _, err := e.bucket.Client.PutObject(ctx, e.bucket.Name, "t/uploads/p.jpg", bytes.NewReader(photo), int64(len(photo)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Inside the collection's storage prefix: the image sources it allows by default.
	fromStorage := Image{S3Object: &S3Object{Name: "t/uploads/p.jpg"}}
	if _, err := e.svc.SearchUsersByImage(ctx, "people", fromStorage, SearchUsersOptions{UserMatchThreshold: 80}); err != nil {
		t.Fatal(err)
	}
	if budget.Peak() < int64(len(photo)) || budget.InFlight() != 0 {
		t.Errorf("peak %d for a %d-byte object, %d still held", budget.Peak(), len(photo), budget.InFlight())
	}

	reads, err := budget.ReserveRead(ctx, budget.ReadBytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SearchUsersByImage(ctx, "people", fromStorage, SearchUsersOptions{UserMatchThreshold: 80})
	if !errs.Is(err, errs.ProvisionedThroughputExceeded) || !errs.IsRetryable(err) {
		t.Errorf("with the read share taken: %v, want a retryable ProvisionedThroughputExceeded", err)
	}
	if _, err := e.svc.IndexFaces(ctx, "people", fromStorage, IndexFacesOptions{}); !errs.Is(err, errs.ProvisionedThroughputExceeded) {
		t.Errorf("IndexFaces with the read share taken: %v", err)
	}
	if _, err := e.svc.SearchUsersByImage(ctx, "people", Image{Bytes: photo}, SearchUsersOptions{UserMatchThreshold: 80}); err != nil {
		t.Errorf("an inline image while storage reads wait: %v", err)
	}
	reads.Release()
	if _, err := e.svc.IndexFaces(ctx, "people", fromStorage, IndexFacesOptions{ExternalImageID: "p"}); err != nil {
		t.Errorf("with the room given back: %v", err)
	}
	if budget.InFlight() != 0 || budget.Peak() > budget.Bytes() {
		t.Errorf("in flight %d, peak %d of %d", budget.InFlight(), budget.Peak(), budget.Bytes())
	}
}

// TestEnginesShareOneBudget checks that every model pack's engine takes its room from the
// one budget of the Engines (given or the process's), not one each.
func TestEnginesShareOneBudget(t *testing.T) {
	lib := testenv.ONNXRuntimeLibrary(t)
	packs := []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)}
	given := face.NewDecodeBudget(face.DecodeBudgetOptions{Bytes: 128 << 20})
	for _, tt := range []struct {
		name   string
		budget *face.DecodeBudget
		want   *face.DecodeBudget
	}{
		{"given", given, given},
		{"default", nil, face.DefaultDecodeBudget()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			engines, err := NewEngines(EnginesOptions{ModelPackDirs: packs, ONNXRuntimeLibrary: lib, MaxConcurrent: 1, DecodeBudget: tt.budget})
			if err != nil {
				t.Fatal(err)
			}
			defer engines.Close()
			if engines.DecodeBudget() != tt.want {
				t.Fatalf("Engines budget %p, want %p", engines.DecodeBudget(), tt.want)
			}
			for _, v := range engines.Versions() {
				eng, err := engines.Get(v)
				if err != nil {
					t.Fatal(err)
				}
				if eng.DecodeBudget() != tt.want {
					t.Errorf("engine %s has its own budget", v)
				}
			}
		})
	}
}
