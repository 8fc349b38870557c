package store_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// incrementalOptions make segments of 16 faces, each with its record chunk, and a short
// marker grace (a compactor's, as compactorOptions).
var incrementalOptions = store.Options{SegmentVectors: 16, MarkerGrace: time.Millisecond}

func incrementalCompactor(b *testenv.Bucket) *store.Store {
	return store.New(b.Client, b.Name, b.Prefix, incrementalOptions)
}

const incrementalFaces = 800

// fillIncremental gives coll 800 faces in a snapshot (50 segments; alice has one), then
// changes 1% of them: 8 faces deleted, the 8 of the lowest buckets (so in the first
// segment: deletions spread over the buckets would touch up to 8 segments), 8 faces
// added, and a face associated. The next compaction keeps most segments by reference.
func fillIncremental(t *testing.T, w, comp *store.Store, coll string) *scenario {
	t.Helper()
	sc, byBucket := seedIncremental(t, w, coll)
	if err := comp.Compact(context.Background(), coll); err != nil {
		t.Fatal(err)
	}
	changeIncremental(t, w, coll, sc, byBucket)
	return sc
}

// seedIncremental is fillIncremental before its first compaction: it returns the faces
// by bucket.
func seedIncremental(t *testing.T, w *store.Store, coll string) (*scenario, []string) {
	t.Helper()
	mustCreate(t, w, coll)
	sc := &scenario{live: map[string]int{}, deleted: map[string][]byte{}}
	imgs := make([]int, incrementalFaces)
	for i := range imgs {
		imgs[i] = i
	}
	ids := index(t, w, coll, imgs...)
	sc.add(ids, imgs...)
	byBucket := slices.SortedFunc(slices.Values(ids), func(a, b string) int {
		return store.BucketOf(uuid.MustParse(a)) - store.BucketOf(uuid.MustParse(b))
	})
	if err := w.CreateUser(context.Background(), coll, "alice", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	associate(t, w, coll, sc, byBucket[200]) // a segment with a user, which stays as it is
	return sc, byBucket
}

// changeIncremental is fillIncremental after its first compaction.
func changeIncremental(t *testing.T, w *store.Store, coll string, sc *scenario, byBucket []string) {
	t.Helper()
	sc.remove(t, w, coll, byBucket[:8]...)
	added := []int{1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007}
	sc.add(index(t, w, coll, added...), added...)
	associate(t, w, coll, sc, byBucket[600])
	time.Sleep(5 * time.Millisecond) // the first compaction's markers are older than the grace
}

func associate(t *testing.T, w *store.Store, coll string, sc *scenario, id string) {
	t.Helper()
	zero := float32(0)
	res, err := w.AssociateFaces(context.Background(), coll, "alice", []string{id}, store.AssociateFacesOptions{UserMatchThreshold: &zero})
	if err != nil || len(res.Associated) != 1 {
		t.Fatalf("associating %s: %+v %v", id, res, err)
	}
	sc.user = append(sc.user, id)
}

func layout(t *testing.T, s *store.Store, coll string) store.SnapshotLayout {
	t.Helper()
	l, err := store.Layout(context.Background(), s, coll)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkUsersLoaded loads coll as a shard does: alice's faces, and no other, have her.
func checkUsersLoaded(t *testing.T, s *store.Store, coll string, sc *scenario) {
	t.Helper()
	vs, err := s.LoadVectors(context.Background(), coll, store.LoadVectorsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id, u := range vs.UserOf {
		if u != "alice" {
			t.Fatalf("face %s loaded with user %q", id, u)
		}
		got = append(got, id.String())
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(sc.user))) {
		t.Fatalf("the loaded faces of alice are %v, want %v", got, sc.user)
	}
}

// writes counts the PUT requests that go through a proxy and the bytes they send.
type writes struct {
	mu            sync.Mutex
	puts, bytes   int64
	cols, records int64 // PUTs of segments and of record chunks
}

func (w *writes) match(r *http.Request) bool {
	if r.Method != http.MethodPut {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.puts++
	w.bytes += r.ContentLength
	switch {
	case strings.Contains(r.URL.Path, "/cols-") && !strings.HasSuffix(r.URL.Path, ".users"):
		w.cols++
	case strings.Contains(r.URL.Path, "/records-"):
		w.records++
	}
	return true
}

// TestIncrementalCompactionWritesLittle compacts the same changes to 1% of the faces
// (fillIncremental) incrementally and, as before, whole: the incremental compaction writes
// the touched segments and the new run, a small part of what the whole rewrite does, keeps
// the rest by reference, and erases as much.
func TestIncrementalCompactionWritesLittle(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
	got := map[bool]*writes{}
	for _, full := range []bool{false, true} {
		coll := fmt.Sprintf("full-%v", full)
		sc := fillIncremental(t, b.Store(), incrementalCompactor(b), coll)
		before := layout(t, b.Store(), coll)
		comp, err := store.Open(b.ProxiedConnection(proxy), incrementalOptions)
		if err != nil {
			t.Fatal(err)
		}
		store.SetFullCompaction(comp, full)
		w := &writes{}
		proxy.Count(w.match)
		if err := comp.Compact(ctx, coll); err != nil {
			t.Fatal(err)
		}
		proxy.Count(func(*http.Request) bool { return false })
		got[full] = w
		after := layout(t, b.Store(), coll)
		t.Logf("full %v: %d PUTs (%d segments, %d record chunks), %d bytes; before %d segments in runs %v, after %d in runs %v, %d kept",
			full, w.puts, w.cols, w.records, w.bytes, before.Segments, before.Runs, after.Segments, after.Runs, after.Kept)
		if after.Format != 3 {
			t.Fatalf("format %d written", after.Format)
		}
		if full {
			if after.Kept != 0 || len(after.Runs) != 1 {
				t.Fatalf("a whole rewrite kept %d segments, runs %v", after.Kept, after.Runs)
			}
		} else {
			// The first segment and alice's new face's are rewritten, the new faces make a
			// run: 3 segments written, the others kept.
			if w.cols != 3 || int64(after.Kept) != int64(after.Segments)-w.cols || len(after.Runs) != 2 {
				t.Fatalf("%d segments written, %d of %d kept, runs %v", w.cols, after.Kept, after.Segments, after.Runs)
			}
			if w.records != w.cols {
				t.Fatalf("%d record chunks written for %d segments", w.records, w.cols)
			}
		}
		checkScenario(t, b.Store(), coll, sc)
		checkUsersLoaded(t, b.Store(), coll, sc)
		checkShardsOnce(t, b.Store(), coll, len(sc.live))
		checkErased(t, b, coll, sc)
	}
	inc, full := got[false], got[true]
	if 5*inc.bytes > full.bytes || 5*inc.puts > full.puts {
		t.Fatalf("the incremental compaction wrote %d bytes in %d PUTs, the whole rewrite %d in %d: want less than a fifth",
			inc.bytes, inc.puts, full.bytes, full.puts)
	}
}

// checkShardsOnce loads coll as 1, 2 and 4 shards: each set of shards holds every face
// once, each in its shard.
func checkShardsOnce(t *testing.T, s *store.Store, coll string, want int) {
	t.Helper()
	for _, shards := range []int{1, 2, 4} {
		seen := map[uuid.UUID]bool{}
		for i := 0; i < shards; i++ {
			vs, err := s.LoadVectors(context.Background(), coll, store.LoadVectorsOptions{Shard: i, Shards: shards})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range vs.IDs {
				if seen[id] || store.ShardOf(id, shards) != i {
					t.Fatalf("%d shards: face %s in shard %d (its shard is %d; seen before: %v)", shards, id, i, store.ShardOf(id, shards), seen[id])
				}
				seen[id] = true
			}
		}
		if len(seen) != want {
			t.Fatalf("%d shards hold %d faces, want %d", shards, len(seen), want)
		}
	}
}

// TestRunsStayBounded compacts a collection 40 times, each after a few faces were added
// and one deleted: the faces added since the last compaction make a run of their own, and
// runs are merged so that there are never more than 8 (with these sizes, a handful). Every
// face stays loadable once, by shards of 1, 2 and 4, and no deleted one is left.
func TestRunsStayBounded(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	w, comp := b.Store(), incrementalCompactor(b)
	sc := fillIncremental(t, w, comp, "runs")
	most, multi := 0, 0
	written, whole := 0, 0 // segments written, and what whole rewrites would have written
	next := 2000
	for round := 0; round < 40; round++ {
		var imgs []int
		for k := 0; k < 3+round%5; k++ {
			imgs = append(imgs, next)
			next++
		}
		sc.add(index(t, w, "runs", imgs...), imgs...)
		for id := range sc.live {
			if !slices.Contains(sc.user, id) {
				sc.remove(t, w, "runs", id)
				break
			}
		}
		if err := comp.Compact(ctx, "runs"); err != nil {
			t.Fatal(err)
		}
		l := layout(t, b.Store(), "runs")
		written += l.Segments - l.Kept
		whole += (len(sc.live) + incrementalOptions.SegmentVectors - 1) / incrementalOptions.SegmentVectors
		most = max(most, len(l.Runs))
		if len(l.Runs) > 1 {
			multi++
		}
		if len(l.Runs) > 8 {
			t.Fatalf("round %d: %d runs %v", round, len(l.Runs), l.Runs)
		}
		if round%10 == 9 {
			checkScenario(t, b.Store(), "runs", sc)
			checkShardsOnce(t, b.Store(), "runs", len(sc.live))
		}
	}
	t.Logf("at most %d runs; %d of 40 snapshots had more than one; %d segments written, %d by whole rewrites", most, multi, written, whole)
	if multi == 0 {
		t.Fatal("no snapshot had more than one run: the test proves nothing")
	}
	checkScenario(t, b.Store(), "runs", sc)
	checkUsersLoaded(t, b.Store(), "runs", sc)
	checkErased(t, b, "runs", sc)
}

// TestCleanupKeepsReferencedObjects: the cleanup after an incremental compaction removes
// every object of older snapshots that the new one does not name, and none that it names
// (kept segments, their users objects and record chunks, bucket indexes). It also keeps
// what a newer snapshot names: a whole rewrite held before publishing, while another
// process compacts incrementally from the snapshot before, then publishes an older
// generation and cleans up after it, without removing the newer snapshot's objects.
func TestCleanupKeepsReferencedObjects(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	keys := func(coll string) map[string]bool {
		out := map[string]bool{}
		for _, o := range listAll(t, b, "tenant-a/collections/"+coll+"/") {
			if strings.Contains(o.key, "/snap/") {
				out[o.key] = true
			}
		}
		return out
	}
	t.Run("named kept, others removed", func(t *testing.T) {
		sc := fillIncremental(t, b.Store(), incrementalCompactor(b), "named")
		old := layout(t, b.Store(), "named")
		if err := incrementalCompactor(b).Compact(ctx, "named"); err != nil {
			t.Fatal(err)
		}
		now := layout(t, b.Store(), "named")
		if now.Kept == 0 {
			t.Fatal("no segment kept: the test proves nothing")
		}
		stored := keys("named")
		named := map[string]bool{}
		for _, k := range now.Keys {
			named[k] = true
			if !stored[k] {
				t.Fatalf("%s, named by the snapshot, was removed", k)
			}
		}
		removed := 0
		for _, k := range old.Keys {
			if !named[k] {
				removed++
				if stored[k] {
					t.Fatalf("%s, of the previous snapshot only, was left", k)
				}
			}
		}
		if removed == 0 {
			t.Fatal("the previous snapshot had no object the new one does not name: the test proves nothing")
		}
		for k := range stored {
			if !named[k] && !strings.HasSuffix(k, ".json") {
				t.Fatalf("%s left, named by no snapshot", k)
			}
		}
		checkScenario(t, b.Store(), "named", sc)
		checkErased(t, b, "named", sc)
	})
	t.Run("newer snapshot's objects kept", func(t *testing.T) {
		w := b.Store()
		sc := fillIncremental(t, w, incrementalCompactor(b), "newer")
		slow := incrementalCompactor(b)
		store.SetFullCompaction(slow, true)
		paused, resume, done := holdCompaction(slow, "newer", store.StepUsers)
		<-paused
		sc.add(index(t, w, "newer", 5000), 5000)
		if err := incrementalCompactor(b).Compact(ctx, "newer"); err != nil {
			t.Fatal(err)
		}
		newer := layout(t, b.Store(), "newer")
		if newer.Kept == 0 {
			t.Fatal("the newer snapshot kept no segment: the test proves nothing")
		}
		close(resume)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if l := layout(t, b.Store(), "newer"); l.Generation != newer.Generation {
			t.Fatalf("the newest snapshot is %d, want %d", l.Generation, newer.Generation)
		}
		stored := keys("newer")
		for _, k := range newer.Keys {
			if !stored[k] {
				t.Fatalf("%s, named by the newer snapshot, was removed by the older compaction's cleanup", k)
			}
		}
		checkThenErased(t, b, "newer", sc)
	})
}

// checkThenErased: coll loads whole, and the next compaction erases the deleted faces.
func checkThenErased(t *testing.T, b *testenv.Bucket, coll string, sc *scenario) {
	t.Helper()
	checkScenario(t, b.Store(), coll, sc)
	checkShardsOnce(t, b.Store(), coll, len(sc.live))
	if err := incrementalCompactor(b).Compact(context.Background(), coll); err != nil {
		t.Fatal(err)
	}
	checkScenario(t, b.Store(), coll, sc)
	checkErased(t, b, coll, sc)
}

// TestConcurrentCompactionsKeepWhatTheNewestNames: a whole rewrite (B) is held before it
// publishes, another process (A) compacts a later generation keeping segments of the
// snapshot before, and is held after its check that this snapshot is still the newest;
// then B publishes its older generation and cleans up, then A publishes. B's cleanup
// keeps what A's intent names, so A's snapshot, the newest, loads whole.
func TestConcurrentCompactionsKeepWhatTheNewestNames(t *testing.T) {
	b := newFixture(t)
	w := b.Store()
	sc := fillIncremental(t, w, incrementalCompactor(b), "race")
	older := incrementalCompactor(b)
	store.SetFullCompaction(older, true)
	pausedB, resumeB, doneB := holdCompaction(older, "race", store.StepUsers)
	<-pausedB
	sc.add(index(t, w, "race", 6000), 6000)
	pausedA, resumeA, doneA := holdCompaction(incrementalCompactor(b), "race", store.StepIntent)
	<-pausedA
	close(resumeB)
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	close(resumeA)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	l := layout(t, b.Store(), "race")
	if l.Kept == 0 {
		t.Fatal("the newest snapshot kept no segment: the test proves nothing")
	}
	stored := map[string]bool{}
	for _, o := range listAll(t, b, "tenant-a/collections/race/") {
		stored[o.key] = true
	}
	for _, k := range l.Keys {
		if !stored[k] {
			t.Fatalf("%s, named by the newest snapshot, was removed", k)
		}
	}
	checkThenErased(t, b, "race", sc)
}

// TestFormat2CompactsIncrementally reads a snapshot of format 2 (one run, record chunks
// cut independently of the segments), then compacts it into format 3 keeping its
// untouched segments, and the record chunks that hold exactly a kept segment's faces.
func TestFormat2CompactsIncrementally(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		records int // format 2's records per chunk; the segments hold 16 faces
		// kept is how many of the kept segments' record chunks are kept too.
		keptRecords int
	}{
		{"records aligned", 16, 48},
		{"records cut elsewhere", 24, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coll := fmt.Sprintf("f2-%d", tc.records)
			w := b.Store()
			sc, byBucket := seedIncremental(t, w, coll)
			if err := incrementalCompactor(b).Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
			if err := store.WriteFormat2Snapshot(ctx, w, coll, tc.records); err != nil {
				t.Fatal(err)
			}
			if l := layout(t, b.Store(), coll); l.Format != 2 {
				t.Fatalf("format %d", l.Format)
			}
			checkScenario(t, b.Store(), coll, sc)
			checkUsersLoaded(t, b.Store(), coll, sc)
			checkShardsOnce(t, b.Store(), coll, len(sc.live))
			changeIncremental(t, w, coll, sc, byBucket)
			if err := incrementalCompactor(b).Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
			l := layout(t, b.Store(), coll)
			if l.Format != 3 || l.Kept != 48 || len(l.Runs) != 2 {
				t.Fatalf("format %d, %d segments kept, runs %v", l.Format, l.Kept, l.Runs)
			}
			kept := 0
			for _, k := range l.Keys {
				if strings.Contains(k, "/chunk-") { // format 2's, by WriteFormat2Snapshot
					kept++
				}
			}
			if kept != tc.keptRecords {
				t.Fatalf("%d record chunks kept, want %d", kept, tc.keptRecords)
			}
			checkScenario(t, b.Store(), coll, sc)
			checkUsersLoaded(t, b.Store(), coll, sc)
			checkShardsOnce(t, b.Store(), coll, len(sc.live))
			checkErased(t, b, coll, sc)
		})
	}
}

// TestUserChangesRewriteSegments: a segment whose faces' users changed since the last
// snapshot is rewritten, and one whose users are as they were is kept, whether the last
// snapshot recorded a hash of each segment's users (format 3) or the user column has to be
// read (format 2). Shards and writers then load each face with its user.
func TestUserChangesRewriteSegments(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	for i, tc := range []struct {
		name string
		// change is made to face f (alice's, in a segment with users) and g (no user, in
		// a segment without any); want is then f's and g's users.
		change         func(t *testing.T, w *store.Store, coll, f, g string)
		wantF, wantG   string
		rewrittenCount int
	}{
		{"disassociated and associated again", func(t *testing.T, w *store.Store, coll, f, _ string) {
			disassociate(t, w, coll, "alice", f)
			associateTo(t, w, coll, "alice", f)
		}, "alice", "", 0},
		{"moved to another user", func(t *testing.T, w *store.Store, coll, f, _ string) {
			disassociate(t, w, coll, "alice", f)
			associateTo(t, w, coll, "bob", f)
		}, "bob", "", 1},
		{"disassociated", func(t *testing.T, w *store.Store, coll, f, _ string) {
			disassociate(t, w, coll, "alice", f)
		}, "", "", 1},
		{"associated in a segment without users", func(t *testing.T, w *store.Store, coll, _, g string) {
			associateTo(t, w, coll, "bob", g)
		}, "alice", "bob", 1},
	} {
		for _, format := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s, format %d", tc.name, format), func(t *testing.T) {
				coll := fmt.Sprintf("users%d-%d", i, format)
				w := b.Store()
				sc, byBucket := seedIncremental(t, w, coll)
				if err := w.CreateUser(ctx, coll, "bob", store.UserOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := incrementalCompactor(b).Compact(ctx, coll); err != nil {
					t.Fatal(err)
				}
				if format == 2 {
					if err := store.WriteFormat2Snapshot(ctx, w, coll, incrementalOptions.SegmentVectors); err != nil {
						t.Fatal(err)
					}
				}
				f, g := byBucket[200], byBucket[600]
				tc.change(t, w, coll, f, g)
				if err := incrementalCompactor(b).Compact(ctx, coll); err != nil {
					t.Fatal(err)
				}
				l := layout(t, b.Store(), coll)
				if l.Segments-l.Kept != tc.rewrittenCount {
					t.Fatalf("%d of %d segments rewritten, want %d", l.Segments-l.Kept, l.Segments, tc.rewrittenCount)
				}
				want := map[string]string{f: tc.wantF, g: tc.wantG}
				vs, err := b.Store().LoadVectors(ctx, coll, store.LoadVectorsOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for id, u := range vs.UserOf {
					if want[id.String()] != u {
						t.Fatalf("face %s loaded with user %q, want %q", id, u, want[id.String()])
					}
				}
				for _, user := range []string{"alice", "bob"} {
					recs, _, err := b.Store().ListFaces(ctx, coll, store.ListFacesOptions{UserID: user})
					if err != nil {
						t.Fatal(err)
					}
					var got, wantIDs []string
					for _, r := range recs {
						got = append(got, r.FaceID)
					}
					for id, u := range want {
						if u == user {
							wantIDs = append(wantIDs, id)
						}
					}
					if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(wantIDs))) {
						t.Fatalf("%s has %v, want %v", user, got, wantIDs)
					}
				}
				checkShardsOnce(t, b.Store(), coll, len(sc.live))
			})
		}
	}
}

func associateTo(t *testing.T, w *store.Store, coll, user, id string) {
	t.Helper()
	zero := float32(0)
	res, err := w.AssociateFaces(context.Background(), coll, user, []string{id}, store.AssociateFacesOptions{UserMatchThreshold: &zero})
	if err != nil || len(res.Associated) != 1 {
		t.Fatalf("associating %s with %s: %+v %v", id, user, res, err)
	}
}

func disassociate(t *testing.T, w *store.Store, coll, user, id string) {
	t.Helper()
	res, err := w.DisassociateFaces(context.Background(), coll, user, []string{id}, store.UserOptions{})
	if err != nil || len(res.Associated) != 1 {
		t.Fatalf("disassociating %s from %s: %+v %v", id, user, res, err)
	}
}
