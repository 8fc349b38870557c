package search

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// wantUnreadable is the one answer, Rekognition's, for an S3Object that cannot be read,
// whatever the reason: missing, forbidden by the storage, or out of the collection's scope.
// Telling them apart would tell a caller which objects exist where.
const wantUnreadable = "InvalidS3Object: Unable to get object metadata from S3. Check object key, region and/or access permissions."

// put stores data in bucket under key with root credentials, making the bucket if needed.
func put(t *testing.T, c *minio.Client, bucket, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	if ok, err := c.BucketExists(ctx, bucket); err != nil {
		t.Fatal(err)
	} else if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestS3ObjectDefaultScope: without an allow-list, a collection reads images from its own
// bucket under its storage prefix only (here t/), and every object it may not read, or that
// is not there, gets the same answer.
func TestS3ObjectDefaultScope(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	photo := photos(t, "John_Simm")[0]
	own, other := e.bucket.Name, e.bucket.Name+"-other"
	put(t, e.bucket.Client, own, "t/images/simm.jpg", photo)
	put(t, e.bucket.Client, own, "t/images/forbidden.jpg", photo)
	put(t, e.bucket.Client, own, "images/simm.jpg", photo)
	put(t, e.bucket.Client, other, "t/images/simm.jpg", photo)
	// The storage refuses this object to the collection's credentials.
	e.proxy.Anonymous(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/forbidden.jpg") })

	search := func(o S3Object) error {
		res, err := e.svc.SearchUsersByImage(ctx, "people", Image{S3Object: &o}, SearchUsersOptions{})
		if err == nil && res.SearchedFace == nil {
			t.Fatalf("%+v: read, but no face found", o)
		}
		return err
	}
	for _, o := range []S3Object{{Name: "t/images/simm.jpg"}, {Bucket: own, Name: "t/images/simm.jpg"}} {
		if err := search(o); err != nil {
			t.Errorf("%+v is in the collection's scope: %v", o, err)
		}
	}
	for what, o := range map[string]S3Object{
		"another bucket":                {Bucket: other, Name: "t/images/simm.jpg"},
		"outside the prefix":            {Name: "images/simm.jpg"},
		"a dot-dot path":                {Name: "t/../images/simm.jpg"},
		"the store's own objects":       {Name: "t/collections/people/manifest.json"},
		"a missing object":              {Name: "t/images/none.jpg"},
		"a missing bucket":              {Bucket: own + "-none", Name: "t/images/simm.jpg"},
		"an object the storage refuses": {Name: "t/images/forbidden.jpg"},
	} {
		err := search(o)
		if !errs.Is(err, errs.InvalidS3Object) || err.Error() != wantUnreadable {
			t.Errorf("%s (%+v): got %v, want %q", what, o, err, wantUnreadable)
		}
	}
}

// TestS3ObjectImageSources: an explicit allow-list replaces the default scope. A source with
// no bucket is in the collection's own; the store's own objects stay out even when a source
// covers the whole bucket.
func TestS3ObjectImageSources(t *testing.T) {
	e := newUserEnv(t)
	ctx := context.Background()
	photo := photos(t, "John_Simm")[0]
	own, other := e.bucket.Name, e.bucket.Name+"-cams"
	for _, o := range []S3Object{{own, "enrol/simm.jpg", ""}, {own, "t/images/simm.jpg", ""}, {other, "cameras/simm.jpg", ""}, {other, "enrol/simm.jpg", ""}} {
		put(t, e.bucket.Client, o.Bucket, o.Name, photo)
	}
	published, _ := e.svc.Collections.Get("people")
	republish := func(sources ...S3Location) {
		t.Helper()
		c := *published
		c.ImageSources = sources
		if err := e.svc.Publish(c, e.conn); err != nil {
			t.Fatal(err)
		}
	}
	search := func(o S3Object) error {
		_, err := e.svc.SearchUsersByImage(ctx, "people", Image{S3Object: &o}, SearchUsersOptions{})
		return err
	}
	check := func(allowed []S3Object, refused []S3Object) {
		t.Helper()
		for _, o := range allowed {
			if err := search(o); err != nil {
				t.Errorf("%+v is in the image sources: %v", o, err)
			}
		}
		for _, o := range refused {
			if err := search(o); !errs.Is(err, errs.InvalidS3Object) || err.Error() != wantUnreadable {
				t.Errorf("%+v is not in the image sources: got %v", o, err)
			}
		}
	}

	republish(S3Location{Prefix: "enrol/"}, S3Location{Bucket: other, Prefix: "cameras/"})
	check([]S3Object{{Name: "enrol/simm.jpg"}, {Bucket: own, Name: "enrol/simm.jpg"}, {Bucket: other, Name: "cameras/simm.jpg"}},
		[]S3Object{{Name: "t/images/simm.jpg"}, {Bucket: other, Name: "enrol/simm.jpg"}, {Name: "cameras/simm.jpg"}})

	republish(S3Location{Bucket: own})
	check([]S3Object{{Name: "enrol/simm.jpg"}, {Name: "t/images/simm.jpg"}},
		[]S3Object{{Name: "t/collections/people/manifest.json"}, {Bucket: other, Name: "cameras/simm.jpg"}})
}
