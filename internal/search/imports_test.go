package search

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestFacesOfImageThenImport: FacesOfImage and ImportFaces are IndexFaces in two halves (the
// bulk enrolment's way): the faces they store are the ones IndexFaces finds again for the
// same bytes and ExternalImageId, stored once.
func TestFacesOfImageThenImport(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	simm := photos(t, "John_Simm")
	var faces []store.NewFace
	for _, data := range simm[:2] {
		found, err := e.svc.FacesOfImage(ctx, "people", Image{Bytes: data}, IndexFacesOptions{ExternalImageID: "simm", MaxFaces: 1})
		if err != nil || len(found.Faces) != 1 || len(found.Details) != 1 || found.FaceModelVersion != "faceplugin-1.0" {
			t.Fatalf("FacesOfImage: %+v, %v", found, err)
		}
		faces = append(faces, found.Faces...)
	}
	if stored := e.storedFaces(t, ""); len(stored) != 0 {
		t.Fatalf("FacesOfImage stored faces: %v", stored)
	}
	recs, err := e.svc.ImportFaces(ctx, "people", faces)
	if err != nil || len(recs) != 2 || recs[0].FaceID == recs[1].FaceID {
		t.Fatalf("ImportFaces: %+v, %v", recs, err)
	}
	again, err := e.svc.ImportFaces(ctx, "people", faces)
	if err != nil || again[0].FaceID != recs[0].FaceID || again[1].FaceID != recs[1].FaceID {
		t.Fatalf("ImportFaces again: %+v, %v", again, err)
	}
	res, err := e.svc.IndexFaces(ctx, "people", Image{Bytes: simm[1]}, IndexFacesOptions{ExternalImageID: "simm", MaxFaces: 1})
	if err != nil || len(res.FaceRecords) != 1 || res.FaceRecords[0].Record.FaceID != recs[1].FaceID {
		t.Fatalf("IndexFaces of an imported image: %+v, %v", res, err)
	}
	if stored := e.storedFaces(t, ""); len(stored) != 2 {
		t.Fatalf("stored %v", stored)
	}
}

// TestPublishStored publishes a stored collection for a writer, whoever owns it, and answers
// ResourceNotFound for one that is not stored; an image source's object that the storage
// fails to serve (5xx) is StorageUnavailable, to retry, not InvalidS3Object.
func TestPublishStored(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	writer := NewService(e.svc.Engines)
	m, err := writer.PublishStored(ctx, e.conn, "people", []S3Location{{Prefix: "in/"}})
	if err != nil || m.OwnerUID != "uid-a" || m.FaceModelVersion != "faceplugin-1.0" {
		t.Fatalf("PublishStored: %+v, %v", m, err)
	}
	if _, err := writer.PublishStored(ctx, e.conn, "nobody", nil); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("PublishStored of a collection not stored: %v", err)
	}
	data := photos(t, "John_Simm")[0]
	if _, err := e.bucket.Client.PutObject(ctx, e.bucket.Name, "in/simm.jpg", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	img := Image{S3Object: &S3Object{Name: "in/simm.jpg"}}
	if found, err := writer.FacesOfImage(ctx, "people", img, IndexFacesOptions{MaxFaces: 1}); err != nil || len(found.Faces) != 1 {
		t.Fatalf("FacesOfImage of an S3Object: %+v, %v", found, err)
	}
	e.proxy.Fail(func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/in/simm.jpg")
	}, 1, 3)
	if _, err := writer.FacesOfImage(ctx, "people", img, IndexFacesOptions{MaxFaces: 1}); !errs.Is(err, errs.StorageUnavailable) || !errs.IsRetryable(err) {
		t.Fatalf("FacesOfImage while the storage fails: %v", err)
	}
	if _, err := writer.FacesOfImage(ctx, "people", Image{S3Object: &S3Object{Name: "in/none.jpg"}}, IndexFacesOptions{}); !errs.Is(err, errs.InvalidS3Object) {
		t.Fatalf("FacesOfImage of a missing object: %v", err)
	}
}
