package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// BucketOptions configure NewBucket.
type BucketOptions struct {
	// Prefix is the key prefix of the Stores in the bucket; may be empty.
	Prefix string
	// Store are the options of every Store that Bucket.Store returns.
	Store store.Options
}

// Bucket is a fresh bucket on a MinIO server of its own, made for one test.
type Bucket struct {
	// Server is the MinIO server: tests kill and restart it, or read its data directory.
	Server *local.MinIOServer
	// Client reaches the server with its root credentials, retrying as little as the
	// Stores do (store.NewClient).
	Client *minio.Client
	// Name is the bucket's name, unique to the test; Prefix is BucketOptions.Prefix.
	Name, Prefix string

	opts store.Options
}

// bucketReadyTimeout bounds how long NewBucket retries creating the bucket.
const bucketReadyTimeout = 30 * time.Second

// NewBucket starts a MinIO server for the test (see MinIO) and creates a bucket with a
// unique name on it. A MinIO that has just answered ready may still refuse the first
// requests for a moment: NewBucket retries while the error is retryable, for up to 30s.
func NewBucket(t testing.TB, opts BucketOptions) *Bucket {
	t.Helper()
	srv := MinIO(t)
	client, err := store.NewClient(srv.Endpoint, srv.AccessKey, srv.SecretKey, false)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	b := &Bucket{Server: srv, Client: client, Name: "test-" + hex.EncodeToString(id), Prefix: opts.Prefix, opts: opts.Store}
	st := b.Store()
	for deadline := time.Now().Add(bucketReadyTimeout); ; time.Sleep(100 * time.Millisecond) {
		err := st.EnsureBucket(context.Background())
		if err == nil {
			break
		}
		if !errs.IsRetryable(err) || time.Now().After(deadline) {
			t.Fatalf("creating bucket %s: %v", b.Name, err)
		}
	}
	return b
}

// Store returns a new Store on the bucket with its own cache, as another process would
// have: two of them on one collection are two writers.
func (b *Bucket) Store() *store.Store {
	return store.New(b.Client, b.Name, b.Prefix, b.opts)
}

// Connection describes the bucket as the controllers and search.Service reach storage.
func (b *Bucket) Connection() store.Connection {
	return store.Connection{Endpoint: b.Server.Endpoint, Bucket: b.Name, Prefix: b.Prefix, AccessKey: b.Server.AccessKey, SecretKey: b.Server.SecretKey}
}

// Collection creates the collection id of the face model version and dimension in the
// bucket and returns the new Store it was created through.
func (b *Bucket) Collection(t testing.TB, id, faceModelVersion string, dimension int) *store.Store {
	t.Helper()
	st := b.Store()
	CreateCollection(t, st, id, faceModelVersion, dimension)
	return st
}

// CreateCollection creates the collection id through st, or fails the test.
func CreateCollection(t testing.TB, st *store.Store, id, faceModelVersion string, dimension int) {
	t.Helper()
	opts := store.CreateCollectionOptions{FaceModelVersion: faceModelVersion, Dimension: dimension}
	if _, err := st.CreateCollection(context.Background(), id, opts); err != nil {
		t.Fatalf("creating collection %s: %v", id, err)
	}
}
