package search

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestSearchSeesOwnWrites indexes and associates faces and searches at once, with a shard
// that polls rarely: the search must still find the user, because it makes the shard catch
// up with this process's commits first.
func TestSearchSeesOwnWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{})
	engines, err := NewEngines(EnginesOptions{ModelPackDirs: []string{testenv.ModelPack(t)}, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer engines.Close()
	eng, err := engines.Get("faceplugin-1.0")
	if err != nil {
		t.Fatal(err)
	}
	st := bucket.Collection(t, "c", eng.FaceModelVersion(), eng.Dimension())
	// A poll interval far longer than the test: only catching up can make the faces visible.
	shard := index.NewShard(st, "c", index.ShardOptions{Shard: 0, Shards: 1, PollInterval: 1 << 40, FallbackPollInterval: 1 << 40, NoNotifications: true})
	go func() { _ = shard.Run(ctx) }()
	for !shard.Ready() {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		default:
		}
	}
	reg := NewRegistry()
	reg.put(&Collection{ID: "c", FaceModelVersion: eng.FaceModelVersion(), store: st, Shards: []index.Searcher{shard}, Ready: true})
	svc := &Service{Engines: engines, Collections: reg}

	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", "John_Simm", "*.jpg"))
	sort.Strings(files)
	var ids []string
	for _, f := range files[:2] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.IndexFaces(ctx, "c", Image{Bytes: data}, IndexFacesOptions{ExternalImageID: filepath.Base(f), MaxFaces: 1})
		if err != nil || len(res.FaceRecords) != 1 {
			t.Fatalf("IndexFaces %s: %v %+v", f, err, res)
		}
		ids = append(ids, res.FaceRecords[0].Record.FaceID)
	}
	if err := st.CreateUser(ctx, "c", "simm", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.AssociateFaces(ctx, "c", "simm", ids, 75, store.UserOptions{}); err != nil || len(res.Associated) != 2 {
		t.Fatalf("AssociateFaces: %v %+v", err, res)
	}
	probe, err := os.ReadFile(files[5])
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.SearchUsersByImage(ctx, "c", Image{Bytes: probe}, SearchUsersOptions{UserMatchThreshold: 80})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UserMatches) == 0 || res.UserMatches[0].UserID != "simm" {
		t.Fatalf("the search right after enrolment found %+v, want simm", res.UserMatches)
	}
}
