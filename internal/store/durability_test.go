package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

func TestConcurrentWritersLoseNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mustCreate(t, f.Store(), "c")
	// Two Stores stand for two processes: each has its own view of the collection.
	stores := []*store.Store{f.Store(), f.Store()}
	const images = 40
	var mu sync.Mutex
	ids := map[int][]string{}
	var wg sync.WaitGroup
	results := make(chan error, 64)
	for w := 0; w < 4; w++ {
		s := stores[w%2]
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Every writer indexes every image: they race on each one.
			for k := 0; k < images; k++ {
				i := (k + w*10) % images
				recs, err := s.IndexFaces(ctx, "c", []store.NewFace{face(i)}, store.IndexFacesOptions{})
				if err != nil {
					results <- err
					return
				}
				mu.Lock()
				ids[i] = append(ids[i], recs[0].FaceID)
				mu.Unlock()
			}
			results <- s.CreateUser(ctx, "c", "same", store.UserOptions{ClientRequestToken: fmt.Sprint(w)})
		}(w)
	}
	wg.Wait()
	close(results)
	conflicts := 0
	for err := range results {
		switch errs.CodeOf(err) {
		case "":
		case errs.Conflict:
			conflicts++
		default:
			t.Fatal(err)
		}
	}
	if conflicts != 3 {
		t.Fatalf("%d of 4 concurrent CreateUser calls failed with Conflict, want 3", conflicts)
	}
	faces, _, err := f.Store().ListFaces(ctx, "c", store.ListFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != images {
		t.Fatalf("%d faces, want %d", len(faces), images)
	}
	// One commit per image and one for the user, whichever Store won each; a call that
	// found its work done commits nothing.
	var commits, lost uint64
	for _, s := range stores {
		commits += s.CommitStats().Commits
		lost += s.CommitStats().LostRaces
	}
	if commits != images+1 {
		t.Fatalf("CommitStats count %d commits, want %d", commits, images+1)
	}
	t.Logf("%d commits, %d lost races", commits, lost)
	for i, got := range ids {
		for _, id := range got {
			if id != got[0] {
				t.Fatalf("image %d got two FaceIds: %v", i, got)
			}
		}
	}
}

func TestOutageFailsFastAndResumes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	before, err := s.IndexFaces(ctx, "c", []store.NewFace{face(1)}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.Server.Kill()
	_, err = s.IndexFaces(ctx, "c", []store.NewFace{face(2)}, store.IndexFacesOptions{})
	if !errs.Is(err, errs.StorageUnavailable) || !errs.IsRetryable(err) {
		t.Fatalf("during the outage: %v, want a retryable StorageUnavailable", err)
	}
	_, err = s.DescribeCollection(ctx, "c")
	if !errs.IsRetryable(err) {
		t.Fatalf("during the outage: %v", err)
	}
	if err := f.Server.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var after []store.FaceRecord
	for {
		after, err = s.IndexFaces(ctx, "c", []store.NewFace{face(2)}, store.IndexFacesOptions{})
		if err == nil || !errs.IsRetryable(err) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	faces, _, err := f.Store().ListFaces(ctx, "c", store.ListFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range faces {
		got[r.FaceID] = true
	}
	if len(faces) != 2 || !got[before[0].FaceID] || !got[after[0].FaceID] {
		t.Fatalf("after the outage: %+v", faces)
	}
}

// secret is an unusual vector whose bytes can be searched for in storage.
func secretFace() store.NewFace {
	nf := face(424242)
	nf.ExternalImageID = "erase-me-7f3a9c"
	nf.ImageID = "img-secret"
	return nf
}

func TestCompactionErasesDeletedFaces(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	var keep []string
	for i := 0; i < 20; i++ {
		r, err := s.IndexFaces(ctx, "c", []store.NewFace{face(i)}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, r[0].FaceID)
	}
	// A first compaction puts the secret face into a snapshot too, not only into the log.
	secret, err := s.IndexFaces(ctx, "c", []store.NewFace{secretFace()}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "c", "owner", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssociateFaces(ctx, "c", "owner", []string{secret[0].FaceID}, store.AssociateFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	// What must disappear: the stored vector's bytes, its IDs and its external image ID.
	vs, err := s.LoadVectors(ctx, "c", store.LoadVectorsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var vecBytes []byte
	for k, id := range vs.IDs {
		if id.String() == secret[0].FaceID {
			vecBytes = rawFloat32s(vs.Vectors[k*dim : (k+1)*dim])
		}
	}
	needles := [][]byte{vecBytes, []byte(secret[0].FaceID), []byte("erase-me-7f3a9c")}
	// Positive control: the scanners do find it now, in MinIO's objects and on its disk.
	if n := findInObjects(t, f, needles); n == 0 {
		t.Fatal("the scanner does not find the secret face before deletion")
	}
	if n := findOnDisk(t, f.Server.Dir, needles); n == 0 {
		t.Fatal("the disk scanner does not find the secret face before deletion")
	}
	// Deleting the user disassociates the face; then the face is deleted and compacted.
	if err := s.DeleteUser(ctx, "c", "owner", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	if del, _, err := s.DeleteFaces(ctx, "c", []string{secret[0].FaceID}); err != nil || len(del) != 1 {
		t.Fatalf("delete: %v %v", del, err)
	}
	if err := f.Store().Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n := findInObjects(t, f, needles); n != 0 {
		t.Fatalf("%d objects still hold the deleted face after compaction", n)
	}
	if n := findOnDisk(t, f.Server.Dir, needles); n != 0 {
		t.Fatalf("%d files on MinIO's disk still hold the deleted face after compaction", n)
	}
	// Everything else is still there, for a new reader and for the index's loader.
	faces, _, err := f.Store().ListFaces(ctx, "c", store.ListFacesOptions{})
	if err != nil || len(faces) != len(keep) {
		t.Fatalf("after compaction: %d faces, %v", len(faces), err)
	}
	vs, err = f.Store().LoadVectors(ctx, "c", store.LoadVectorsOptions{})
	if err != nil || len(vs.IDs) != len(keep) {
		t.Fatalf("after compaction: %d vectors, %v", len(vs.IDs), err)
	}
	// A follower behind the compaction is told to load again.
	_, err = s.Changes(ctx, "c", 1, store.LoadVectorsOptions{})
	wantCode(t, err, errs.GenerationGone)
}

func findInObjects(t *testing.T, f *testenv.Bucket, needles [][]byte) int {
	n := 0
	for _, o := range listAll(t, f, "") {
		for _, nd := range needles {
			if bytes.Contains(o.data, nd) {
				n++
				break
			}
		}
	}
	return n
}

// findOnDisk scans MinIO's data files. Its own bookkeeping directory is left out: MinIO
// moves removed objects to a trash folder there and purges them in the background.
func findOnDisk(t *testing.T, dir string, needles [][]byte) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".minio.sys" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.Contains(p, "tenant-a") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, nd := range needles {
			if bytes.Contains(data, nd) {
				n++
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
