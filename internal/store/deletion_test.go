package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// storedBytes are the byte forms a stored vector may have in storage (vectors.StoredForms:
// float32 in a commit, fp16 and int8 in a snapshot), three per face; vectors are stored
// normalised, so they are read back rather than computed.
func storedBytes(t *testing.T, st *store.Store, coll string) [][]byte {
	t.Helper()
	vs, err := st.LoadVectors(context.Background(), coll, store.LoadVectorsOptions{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range vs.IDs {
		out = append(out, forms(vs.Vectors[i*vs.Dimension:(i+1)*vs.Dimension])...)
	}
	return out
}

// forms are a vector's byte forms in storage.
func forms(v []float32) [][]byte {
	f32, f16, i8 := vectors.StoredForms(v, len(v))
	return [][]byte{f32, f16, i8}
}

// holding lists the objects of the bucket that contain any of the needles.
func holding(t *testing.T, b *testenv.Bucket, needles [][]byte) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for obj := range b.Client.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		r, err := b.Client.GetObject(ctx, b.Name, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(data, n) {
				keys = append(keys, obj.Key)
				break
			}
		}
	}
	return keys
}

// fill gives a collection faces in a snapshot (compacted) and in commits after it.
func fill(t *testing.T, st *store.Store, coll string) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		if _, err := st.IndexFaces(ctx, coll, []store.NewFace{face(i)}, store.IndexFacesOptions{}); err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			if err := st.Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDeleteCollectionNeverLies fails each storage write of a deletion in turn. Whatever
// step fails, the deletion is not reported done, a retry completes it, and once it is
// reported done no object holds a byte of the collection's vectors.
func TestDeleteCollectionNeverLies(t *testing.T) {
	b := newFixture(t)
	proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
	st, err := store.Open(b.ProxiedConnection(proxy), store.Options{SegmentVectors: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for step := 1; ; step++ {
		coll := fmt.Sprintf("del%d", step)
		mustCreate(t, st, coll)
		fill(t, st, coll)
		vectors := storedBytes(t, b.Store(), coll)
		if len(vectors) != 3*12 || len(holding(t, b, vectors)) == 0 {
			t.Fatalf("step %d: the scan cannot find the stored vectors (%d)", step, len(vectors))
		}

		proxy.Fail(testenv.IsWrite, step, 3)
		err := st.DeleteCollection(ctx, coll)
		reached := proxy.Seen() >= step
		if err == nil && reached {
			if keys := holding(t, b, vectors); len(keys) > 0 {
				t.Fatalf("step %d failed, yet the deletion was reported done while %v hold vectors", step, keys)
			}
		}
		if err != nil {
			// A reader must not find a half-deleted collection as if it were whole, and the
			// retry must finish the job.
			if !reached {
				t.Fatalf("step %d: failed with no fault injected: %v", step, err)
			}
			proxy.Count(testenv.IsWrite)
			if err := st.DeleteCollection(ctx, coll); err != nil {
				t.Fatalf("step %d: the retry failed: %v", step, err)
			}
		}
		if keys := holding(t, b, vectors); len(keys) > 0 {
			t.Fatalf("after step %d failed and a retry: %v still hold vectors", step, keys)
		}
		if _, err := b.Store().DescribeCollection(ctx, coll); !errs.Is(err, errs.ResourceNotFound) {
			t.Fatalf("after the deletion the collection answers %v", err)
		}
		if err := st.DeleteCollection(ctx, coll); !errs.Is(err, errs.ResourceNotFound) {
			t.Fatalf("deleting a deleted collection: %v", err)
		}
		if !reached {
			t.Logf("a deletion makes %d storage writes; each was failed in turn", step-1)
			return
		}
	}
}

// TestCommitInFlightCannotLandAfterDeletion stalls a writer's commit at the proxy after it
// has read the collection, deletes the collection meanwhile, then lets the commit go: it
// must not land, and no byte of its vector may be stored.
func TestCommitInFlightCannotLandAfterDeletion(t *testing.T) {
	b := newFixture(t)
	proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
	writer, err := store.Open(b.ProxiedConnection(proxy), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCreate(t, writer, "c")
	fill(t, writer, "c")

	// The scan finds a face's vector in one of its forms (a unit vector is stored as it is):
	// checked on a face that is stored, so that its absence below means something.
	if keys := holding(t, b, forms(vec(3))); len(keys) == 0 {
		t.Fatal("the scan does not find a stored face's vector")
	}

	held, release := proxy.Hold(testenv.IsCommit)
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := writer.IndexFaces(ctx, "c", []store.NewFace{face(99)}, store.IndexFacesOptions{})
		done <- err
	}()
	<-held // the writer has read the collection and sent its commit
	if err := b.Store().DeleteCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; !errs.Is(err, errs.ResourceNotFound) {
		t.Fatalf("the commit in flight answered %v, want ResourceNotFound", err)
	}
	if keys := holding(t, b, forms(vec(99))); len(keys) > 0 {
		t.Fatalf("the commit in flight landed after the deletion: %v", keys)
	}
}
