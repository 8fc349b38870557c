package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// compactorOptions make small segments and record chunks (several of each per collection)
// and a short marker grace, so that a compaction deletes the markers of the one before.
// Only compactions go through a Store with them: a writer with such a grace would hardly
// ever commit in time.
var compactorOptions = store.Options{SegmentVectors: 7, RecordsPerChunk: 6, MarkerGrace: time.Millisecond}

func compactor(b *testenv.Bucket) *store.Store {
	return store.New(b.Client, b.Name, b.Prefix, compactorOptions)
}

// scenario is a collection's expected content: FaceId -> image, and the user's faces.
type scenario struct {
	live    map[string]int
	user    []string
	deleted map[string][]byte // FaceId -> its vector's bytes as they were stored
}

func index(t *testing.T, s *store.Store, coll string, imgs ...int) []string {
	t.Helper()
	var faces []store.NewFace
	for _, i := range imgs {
		faces = append(faces, face(i))
	}
	recs, err := s.ImportFaces(context.Background(), coll, faces, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.FaceID)
	}
	return ids
}

func (sc *scenario) add(ids []string, imgs ...int) {
	for i, id := range ids {
		sc.live[id] = imgs[i]
	}
}

func (sc *scenario) remove(t *testing.T, s *store.Store, coll string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	vecs, err := s.FaceVectors(ctx, coll, ids)
	if err != nil {
		t.Fatal(err)
	}
	if del, _, err := s.DeleteFaces(ctx, coll, ids); err != nil || len(del) != len(ids) {
		t.Fatalf("deleting %v: %v %v", ids, del, err)
	}
	for _, id := range ids {
		sc.deleted[id] = rawFloat32s(vecs[id])
		delete(sc.live, id)
	}
}

// fillScenario gives coll faces in a snapshot (some deleted since), in single commits and
// in one commit of several (some deleted), and a user with faces of both; the first
// compaction leaves markers for the next to delete.
func fillScenario(t *testing.T, w, comp *store.Store, coll string) *scenario {
	t.Helper()
	ctx := context.Background()
	mustCreate(t, w, coll)
	sc := &scenario{live: map[string]int{}, deleted: map[string][]byte{}}
	var first []string
	for i := 0; i < 12; i++ {
		ids := index(t, w, coll, i)
		sc.add(ids, i)
		first = append(first, ids...)
	}
	if err := w.CreateUser(ctx, coll, "alice", store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := float32(0)
	assoc := func(id string) {
		res, err := w.AssociateFaces(ctx, coll, "alice", []string{id}, store.AssociateFacesOptions{UserMatchThreshold: &zero})
		if err != nil || len(res.Associated) != 1 {
			t.Fatalf("associating %s: %+v %v", id, res, err)
		}
		sc.user = append(sc.user, id)
	}
	assoc(first[0])
	assoc(first[1])
	if err := comp.Compact(ctx, coll); err != nil {
		t.Fatal(err)
	}
	sc.remove(t, w, coll, first[2], first[3])
	var later []string
	for i := 12; i < 20; i++ {
		ids := index(t, w, coll, i)
		sc.add(ids, i)
		later = append(later, ids...)
	}
	sc.remove(t, w, coll, later[0], later[1])
	bulk := index(t, w, coll, 20, 21, 22, 23)
	sc.add(bulk, 20, 21, 22, 23)
	sc.remove(t, w, coll, bulk[1])
	assoc(bulk[0])
	time.Sleep(5 * time.Millisecond) // the first compaction's markers are older than the grace
	return sc
}

// checkScenario reads coll through a fresh Store, as another process would: every live face
// once, with its vector, none of the deleted, and the user's faces.
func checkScenario(t *testing.T, s *store.Store, coll string, sc *scenario) {
	t.Helper()
	ctx := context.Background()
	recs, next, err := s.ListFaces(ctx, coll, store.ListFacesOptions{MaxResults: store.MaxListResults})
	if err != nil || next != "" {
		t.Fatalf("ListFaces: %v (next %q)", err, next)
	}
	got := map[string]bool{}
	for _, r := range recs {
		if got[r.FaceID] {
			t.Fatalf("face %s listed twice", r.FaceID)
		}
		got[r.FaceID] = true
		img, ok := sc.live[r.FaceID]
		if !ok {
			t.Fatalf("face %s listed, want only %d live faces", r.FaceID, len(sc.live))
		}
		if r.ImageID != fmt.Sprintf("img-%d", img) {
			t.Fatalf("face %s has image %s, want img-%d", r.FaceID, r.ImageID, img)
		}
	}
	if len(got) != len(sc.live) {
		t.Fatalf("%d faces listed, want %d", len(got), len(sc.live))
	}
	vs, err := s.LoadVectors(ctx, coll, store.LoadVectorsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string][]float32{}
	for i, id := range vs.IDs {
		if _, dup := loaded[id.String()]; dup {
			t.Fatalf("vector of %s loaded twice", id)
		}
		loaded[id.String()] = vs.Vectors[i*vs.Dimension : (i+1)*vs.Dimension]
	}
	if !sameKeys(loaded, sc.live) {
		t.Fatalf("%d vectors loaded, want the %d live faces", len(loaded), len(sc.live))
	}
	ids := slices.Collect(maps.Keys(sc.live))
	byRange, err := s.FaceVectors(ctx, coll, append(slices.Clone(ids), slices.Collect(maps.Keys(sc.deleted))...))
	if err != nil {
		t.Fatal(err)
	}
	if len(byRange) != len(ids) {
		t.Fatalf("FaceVectors found %d faces, want the %d live", len(byRange), len(ids))
	}
	for id, v := range loaded {
		// Both read the same place, or one reads a commit (float32) and the other the
		// snapshot that folded it meanwhile (fp16): within fp16's precision.
		if !closeVectors(v, byRange[id]) {
			t.Fatalf("face %s: the vector read by range differs from the loaded one", id)
		}
	}
	mine, _, err := s.ListFaces(ctx, coll, store.ListFacesOptions{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var user []string
	for _, r := range mine {
		user = append(user, r.FaceID)
	}
	if want := slices.Sorted(slices.Values(sc.user)); !slices.Equal(user, want) {
		t.Fatalf("alice has %v, want %v", user, want)
	}
}

func sameKeys[V, W any](a map[string]V, b map[string]W) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// checkErased fails if an object of coll holds a byte of a deleted face: its FaceId (as
// text or as 16 bytes) or its vector.
func checkErased(t *testing.T, b *testenv.Bucket, coll string, sc *scenario) {
	t.Helper()
	var needles [][]byte
	for id, v := range sc.deleted {
		u := uuid.MustParse(id)
		needles = append(needles, []byte(id), u[:], v)
	}
	objs := listAll(t, b, "tenant-a/collections/"+coll+"/")
	if len(objs) == 0 {
		t.Fatal("no object listed: the scan would prove nothing")
	}
	for _, o := range objs {
		for _, n := range needles {
			if bytes.Contains(o.data, n) {
				t.Fatalf("%s still holds a deleted face after compaction", o.key)
			}
		}
	}
}

var errKilled = errors.New("killed")

// compactionKind is a way a compaction writes its snapshot, with the scenario that makes it
// write that way.
type compactionKind struct {
	name string
	fill func(t *testing.T, w, comp *store.Store, coll string) *scenario
	opts store.Options
	// keeps: the compaction keeps segments of the snapshot before. The tests then also
	// check that it kept some, and what kept segments could get wrong that checkScenario
	// does not see (users as a shard loads them, each face in one shard).
	keeps bool
}

// compactionKinds: fillScenario's small collection, changed all over, and fillIncremental's,
// of which a compaction keeps most segments.
var compactionKinds = []compactionKind{
	{"whole", fillScenario, compactorOptions, false},
	{"incremental", fillIncremental, incrementalOptions, true},
}

func (k compactionKind) compactor(b *testenv.Bucket) *store.Store {
	return store.New(b.Client, b.Name, b.Prefix, k.opts)
}

// TestCompactionKilledBetweenSteps stops a compaction after each of its steps in turn, as
// if its process died there. Whatever the step, another process then finds every live face
// once and no deleted one, and its own compaction finishes the job: no byte of a deleted
// face is left in storage. Both kinds of compaction, each with its own steps.
func TestCompactionKilledBetweenSteps(t *testing.T) {
	for _, kind := range compactionKinds {
		t.Run(kind.name, func(t *testing.T) {
			b := newFixture(t)
			ctx := context.Background()
			// The steps of one compaction of the scenario, in order.
			var steps []string
			comp := kind.compactor(b)
			kind.fill(t, b.Store(), comp, "steps")
			store.SetCompactStep(comp, func(step string) error { steps = append(steps, step); return nil })
			if err := comp.Compact(ctx, "steps"); err != nil {
				t.Fatal(err)
			}
			want := []string{store.StepCapture, store.StepSegment, store.StepRecords, store.StepUsers, store.StepPublish,
				store.StepSwap, store.StepMarkers, store.StepMarkerDeletion, store.StepOldSnapshots}
			if kind.keeps {
				want = append(want, store.StepIntent)
				if l := layout(t, b.Store(), "steps"); l.Kept == 0 {
					t.Fatal("the compaction kept no segment: the test proves nothing")
				}
			}
			for _, want := range want {
				if !slices.Contains(steps, want) {
					t.Fatalf("a compaction ran steps %v, without %s", steps, want)
				}
			}
			if n := strings.Count(strings.Join(steps, ","), store.StepSegment); n < 2 {
				t.Fatalf("%d segments: the test wants several", n)
			}
			for i, after := range steps {
				t.Run(fmt.Sprintf("%02d-%s", i, after), func(t *testing.T) {
					coll := fmt.Sprintf("kill%d", i)
					sc := kind.fill(t, b.Store(), kind.compactor(b), coll)
					killed := kind.compactor(b)
					n := 0
					store.SetCompactStep(killed, func(string) error {
						if n++; n > i {
							return errKilled
						}
						return nil
					})
					if err := killed.Compact(ctx, coll); !errors.Is(err, errKilled) {
						t.Fatalf("the compaction was not stopped after %s: %v", after, err)
					}
					checkScenario(t, b.Store(), coll, sc)
					if kind.keeps {
						checkUsersLoaded(t, b.Store(), coll, sc)
					}
					// A writer goes on (an image neither scenario has), and the next
					// compaction finishes the job.
					sc.add(index(t, b.Store(), coll, 3000), 3000)
					if err := kind.compactor(b).Compact(ctx, coll); err != nil {
						t.Fatal(err)
					}
					checkScenario(t, b.Store(), coll, sc)
					if kind.keeps {
						checkUsersLoaded(t, b.Store(), coll, sc)
						checkShardsOnce(t, b.Store(), coll, len(sc.live))
					}
					checkErased(t, b, coll, sc)
				})
			}
		})
	}
}

// isRangedRead matches the ranged GETs of vectors.
func isRangedRead(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Range") != ""
}

// TestCompactionStorageFaults fails each storage write of a compaction in turn, then each
// of its ranged reads (three requests in a row: more than the client retries), for both
// kinds of compaction (an incremental one reads the user columns of kept segments). The
// collection stays whole for every reader (the compacting Store too); a compaction that
// reports success has erased the deleted faces (the writes in parallel may each get
// through on a retry), and one that reports the error is finished by the same Store's
// next compaction.
func TestCompactionStorageFaults(t *testing.T) {
	for _, kind := range compactionKinds {
		t.Run(kind.name, func(t *testing.T) {
			b := newFixture(t)
			proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
			conn := b.ProxiedConnection(proxy)
			ctx := context.Background()
			for _, fault := range []struct {
				name  string
				match func(*http.Request) bool
			}{{"write", testenv.IsWrite}, {"ranged-read", isRangedRead}} {
				t.Run(fault.name, func(t *testing.T) {
					for n := 1; ; n++ {
						coll := fmt.Sprintf("%s%d", fault.name, n)
						sc := kind.fill(t, b.Store(), kind.compactor(b), coll)
						comp, err := store.Open(conn, kind.opts)
						if err != nil {
							t.Fatal(err)
						}
						if _, err := comp.DescribeCollection(ctx, coll); err != nil {
							t.Fatal(err)
						}
						proxy.Fail(fault.match, n, 3)
						err = comp.Compact(ctx, coll)
						reached := proxy.Seen() >= n
						proxy.Count(fault.match)
						if !reached {
							if err != nil {
								t.Fatalf("failed with no fault injected: %v", err)
							}
							if kind.keeps {
								if l := layout(t, b.Store(), coll); l.Kept == 0 {
									t.Fatal("the compaction kept no segment: the test proves nothing")
								}
							}
							t.Logf("a compaction makes %d %ss; each was failed in turn", n-1, fault.name)
							return
						}
						checkScenario(t, comp, coll, sc)
						checkScenario(t, b.Store(), coll, sc)
						if err == nil {
							checkErased(t, b, coll, sc)
							continue
						}
						if err := comp.Compact(ctx, coll); err != nil {
							t.Fatalf("after %s %d failed, the next compaction: %v", fault.name, n, err)
						}
						checkScenario(t, comp, coll, sc)
						if kind.keeps {
							checkUsersLoaded(t, comp, coll, sc)
						}
						checkErased(t, b, coll, sc)
					}
				})
			}
		})
	}
}

// TestWritersDuringCompaction holds a compaction at one of its steps while writers (the
// compacting Store itself and another) index, delete and associate, and readers read: none
// of them waits for the compaction, and no write is lost. The compaction is a whole
// rewrite, or one that keeps segments (and has one step more).
func TestWritersDuringCompaction(t *testing.T) {
	b := newFixture(t)
	for _, tc := range []struct {
		kind compactionKind
		at   []string
	}{
		{compactionKinds[0], []string{store.StepSegment, store.StepPublish, store.StepSwap, store.StepMarkers}},
		{compactionKinds[1], []string{store.StepSegment, store.StepIntent, store.StepPublish, store.StepSwap, store.StepMarkers}},
	} {
		for i, at := range tc.at {
			t.Run(tc.kind.name+"/"+at, func(t *testing.T) {
				writersDuringCompaction(t, b, fmt.Sprintf("during-%s%d", tc.kind.name, i), tc.kind, at)
			})
		}
	}
}

// holdCompaction starts a compaction of coll by s that pauses after the step at until
// resume is closed; paused is closed when it pauses, done has its result.
func holdCompaction(s *store.Store, coll, at string) (paused, resume chan struct{}, done chan error) {
	paused, resume, done = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	store.SetCompactStep(s, func(step string) error {
		if step == at {
			once.Do(func() { close(paused); <-resume })
		}
		return nil
	})
	go func() { done <- s.Compact(context.Background(), coll) }()
	return paused, resume, done
}

func writersDuringCompaction(t *testing.T, b *testenv.Bucket, coll string, kind compactionKind, at string) {
	other := b.Store()
	sc := kind.fill(t, b.Store(), kind.compactor(b), coll)
	// It writes too: the default grace, whose window a commit keeps.
	opts := kind.opts
	opts.MarkerGrace = 0
	comp := store.New(b.Client, b.Name, b.Prefix, opts)
	paused, resume, done := holdCompaction(comp, coll, at)
	<-paused
	// Nothing below may wait for the compaction: it would deadlock.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := slices.Sorted(maps.Keys(sc.live))
	sc.add(index(t, comp, coll, 40), 40)
	sc.add(index(t, other, coll, 41), 41)
	var mine string
	for _, id := range ids {
		if !slices.Contains(sc.user, id) {
			mine = id
			break
		}
	}
	var gone []string
	for _, id := range ids {
		if id != mine && !slices.Contains(sc.user, id) && len(gone) < 2 {
			gone = append(gone, id)
		}
	}
	sc.remove(t, comp, coll, gone[0])
	sc.remove(t, other, coll, gone[1])
	zero := float32(0)
	res, err := comp.AssociateFaces(ctx, coll, "alice", []string{mine}, store.AssociateFacesOptions{UserMatchThreshold: &zero})
	if err != nil || len(res.Associated) != 1 {
		t.Fatalf("AssociateFaces during the compaction: %+v %v", res, err)
	}
	sc.user = append(sc.user, mine)
	checkScenario(t, comp, coll, sc)
	if ctx.Err() != nil {
		t.Fatal("the calls waited for the compaction")
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, err := store.Layout(context.Background(), b.Store(), coll); err != nil || kind.keeps != (l.Kept > 0) {
		t.Fatalf("%d segments kept (%v); want some: %v", l.Kept, err, kind.keeps)
	}
	checkScenario(t, comp, coll, sc)
	checkScenario(t, other, coll, sc)
	checkScenario(t, b.Store(), coll, sc)
	// The faces deleted during the compaction go with the next one.
	if err := comp.Compact(context.Background(), coll); err != nil {
		t.Fatal(err)
	}
	checkScenario(t, b.Store(), coll, sc)
	checkErased(t, b, coll, sc)
}

func cosine(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestAssociateThresholdByRange checks UserMatchThreshold against the user's faces, whose
// vectors the writer reads by range: from a snapshot segment or from commits, also after
// another process compacted them away from where this writer saw them. The confidence is
// the one computed from the stored vectors, and the threshold cuts exactly there.
func TestAssociateThresholdByRange(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	w := b.Store()
	mustCreate(t, w, "c")
	snap := index(t, w, "c", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	if err := compactor(b).Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	logged := index(t, w, "c", 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
	linear := func(c float32) float32 { return 50 + 50*c } // never clipped: every cosine counts
	for i, tc := range []struct {
		name      string
		user      []string
		candidate string
		// compactFirst: another process compacts before the call, so that the vectors
		// are no longer where this writer's state says.
		compactFirst bool
	}{
		{"user in snapshot, candidate in snapshot", snap[0:2], snap[2], false},
		{"user in commits, candidate in snapshot", logged[0:3], snap[3], false},
		{"user in both, candidate in commits", []string{snap[4], logged[3]}, logged[4], false},
		{"after another process compacted", []string{snap[5], logged[5]}, logged[6], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("u%d", i)
			if err := w.CreateUser(ctx, "c", user, store.UserOptions{}); err != nil {
				t.Fatal(err)
			}
			zero := float32(0)
			for _, id := range tc.user {
				if res, err := w.AssociateFaces(ctx, "c", user, []string{id}, store.AssociateFacesOptions{UserMatchThreshold: &zero}); err != nil || len(res.Associated) != 1 {
					t.Fatalf("%+v %v", res, err)
				}
			}
			if tc.compactFirst {
				if err := compactor(b).Compact(ctx, "c"); err != nil {
					t.Fatal(err)
				}
			}
			vecs, err := b.Store().FaceVectors(ctx, "c", append([]string{tc.candidate}, tc.user...))
			if err != nil {
				t.Fatal(err)
			}
			best := float32(-1)
			for _, id := range tc.user {
				best = max(best, cosine(vecs[tc.candidate], vecs[id]))
			}
			want := linear(best)
			above := want + 0.01
			res, err := w.AssociateFaces(ctx, "c", user, []string{tc.candidate}, store.AssociateFacesOptions{UserMatchThreshold: &above, Similarity: linear})
			if err != nil || len(res.Unsuccessful) != 1 || res.Unsuccessful[0].Reasons[0] != store.ReasonLowMatchConfidence {
				t.Fatalf("threshold %v above the confidence %v: %+v %v", above, want, res, err)
			}
			if got := res.Unsuccessful[0].Confidence; math.Abs(float64(got-want)) > 1e-4 {
				t.Fatalf("confidence %v, want %v", got, want)
			}
			below := want - 0.01
			res, err = w.AssociateFaces(ctx, "c", user, []string{tc.candidate}, store.AssociateFacesOptions{UserMatchThreshold: &below, Similarity: linear})
			if err != nil || len(res.Associated) != 1 {
				t.Fatalf("threshold %v below the confidence %v: %+v %v", below, want, res, err)
			}
		})
	}
}

// logKeys lists the generations of coll's log straight from MinIO.
func logKeys(t *testing.T, b *testenv.Bucket, s *store.Store, coll string) []string {
	t.Helper()
	c, err := s.Manifest(context.Background(), coll)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	prefix := s.LogPrefix(c)
	for o := range b.Client.ListObjects(context.Background(), b.Name, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, strings.TrimLeft(strings.TrimPrefix(o.Key, prefix), "0"))
	}
	return out
}

// TestStaleWriterCannotRecreateDeletedGeneration: compaction deletes old markers, yet a
// writer that decided on an old view never lands a commit on a deleted generation. A
// writer whose view is stale lists the log first and finds the newest marker, which is
// always kept; a commit already sent when the markers were written finds its generation
// taken, because a marker younger than MarkerGrace is kept. The last case is the control:
// without the grace, the commit in flight lands on a deleted generation, after the newest
// marker, where no reader will ever see it.
func TestStaleWriterCannotRecreateDeletedGeneration(t *testing.T) {
	b := newFixture(t)
	proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
	ctx := context.Background()
	for i, tc := range []struct {
		name string
		// inFlight: the stale writer's commit is sent, and held, before the others commit.
		inFlight bool
		grace    time.Duration
		lost     bool
	}{
		{"stale view", false, time.Millisecond, false},
		{"commit in flight, grace", true, time.Hour, false},
		{"control: commit in flight, no grace", true, time.Nanosecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coll := fmt.Sprintf("stale%d", i)
			opts := compactorOptions
			opts.MarkerGrace = tc.grace
			comp := store.New(b.Client, b.Name, b.Prefix, opts)
			others := b.Store()
			mustCreate(t, others, coll)
			stale, err := store.Open(b.ProxiedConnection(proxy), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			index(t, stale, coll, 1) // generation 1: its view
			var held <-chan struct{}
			release := func() {}
			done := make(chan error, 1)
			commitStale := func() {
				_, err := stale.IndexFaces(ctx, coll, []store.NewFace{face(99)}, store.IndexFacesOptions{})
				done <- err
			}
			if tc.inFlight {
				held, release = proxy.Hold(testenv.IsCommit)
				defer release()
				go commitStale()
				<-held // listed at generation 1, sent generation 2
			}
			for k := 2; k <= 6; k++ {
				index(t, others, coll, k)
			}
			if err := comp.Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			index(t, others, coll, 7)
			if err := comp.Compact(ctx, coll); err != nil { // deletes the old markers (but the newest)
				t.Fatal(err)
			}
			if got := logKeys(t, b, others, coll); tc.grace < time.Second && !slices.Equal(got, []string{"7"}) {
				t.Fatalf("the log holds %v after the old markers were deleted, want the newest marker alone", got)
			}
			if tc.inFlight {
				release()
			} else {
				go commitStale()
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			faces, _, err := b.Store().ListFaces(ctx, coll, store.ListFacesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range faces {
				found = found || r.ImageID == "img-99"
			}
			keys := logKeys(t, b, others, coll)
			if tc.lost {
				if found || keys[0] != "2" {
					t.Fatalf("control: the commit in flight did not land on the deleted generation 2 (log %v)", keys)
				}
				return
			}
			if !found || len(faces) != 8 {
				t.Fatalf("%d faces, the stale writer's found: %v (log %v)", len(faces), found, keys)
			}
			if slices.Contains(keys, "2") && tc.grace < time.Second {
				t.Fatalf("generation 2 was created again: log %v", keys)
			}
		})
	}
}

// TestLegacySnapshotLoads reads a collection compacted by the old layout (one records.json,
// segments in FaceId order, markers kept) without loss, then compacts it into the new one.
func TestLegacySnapshotLoads(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	w := b.Store()
	sc := fillScenario(t, w, compactor(b), "old")
	if err := store.WriteLegacySnapshot(ctx, w, "old"); err != nil {
		t.Fatal(err)
	}
	legacy := false
	for _, o := range listAll(t, b, "tenant-a/collections/old/") {
		legacy = legacy || store.IsLegacySnapshotKey(o.key)
	}
	if !legacy {
		t.Fatal("no records.json written")
	}
	checkScenario(t, b.Store(), "old", sc)
	checkShardsSplit(t, b.Store(), "old", len(sc.live))
	// A writer of the old snapshot goes on from it.
	sc.add(index(t, b.Store(), "old", 50), 50)
	checkScenario(t, b.Store(), "old", sc)
	if err := compactor(b).Compact(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	columns := false
	for _, o := range listAll(t, b, "tenant-a/collections/old/") {
		if store.IsLegacySnapshotKey(o.key) {
			t.Fatalf("%s left after compaction into the new layout", o.key)
		}
		columns = columns || strings.Contains(o.key, "/cols-")
	}
	if !columns {
		t.Fatal("the compaction wrote no segment of columns")
	}
	checkScenario(t, b.Store(), "old", sc)
	checkShardsSplit(t, b.Store(), "old", len(sc.live))
	checkErased(t, b, "old", sc)
}

// TestCompactionUploadsInParts compacts segments larger than the multipart threshold: they
// go in parts and load as any other. An upload in parts that a killed compaction left
// behind (its parts hold vectors, out of sight of listings) is aborted by the next one.
func TestCompactionUploadsInParts(t *testing.T) {
	defer store.SetMultipart(6<<20, 5<<20)()
	b := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "tenant-a"})
	ctx := context.Background()
	w := b.Store()
	const big = 512
	testenv.CreateCollection(t, w, "parts", "test-1", big)
	var faces []store.NewFace
	for i := 0; i < 5000; i++ {
		v := make([]float32, big)
		v[i%big], v[(i*7+1)%big] = 1, float32(i%13)/13
		faces = append(faces, store.NewFace{ImageID: fmt.Sprintf("img-%d", i), BoundingBox: store.BoundingBox{Width: 1, Height: 1}, Embedding: v})
	}
	recs, err := w.ImportFaces(ctx, "parts", faces, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.Manifest(ctx, "parts")
	if err != nil {
		t.Fatal(err)
	}
	// A killed compaction's upload, of an older generation: its intent, then the upload.
	leftover := strings.TrimSuffix(w.LogPrefix(c), "log/") + "snap/00000000000000000000-killed/seg-00000"
	putRaw(t, b, leftover+".uploading", nil)
	core := minio.Core{Client: b.Client}
	if _, err := core.NewMultipartUpload(ctx, b.Name, leftover, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	uploads := func() int {
		n := 0
		for u := range b.Client.ListIncompleteUploads(ctx, b.Name, leftover, true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			n++
		}
		return n
	}
	if uploads() != 1 {
		t.Fatal("the leftover upload is not listed")
	}
	if err := w.Compact(ctx, "parts"); err != nil {
		t.Fatal(err)
	}
	if n := uploads(); n != 0 {
		t.Fatalf("%d uploads left after the compaction", n)
	}
	segs := 0
	for o := range b.Client.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Prefix: "tenant-a/collections/parts/", Recursive: true}) {
		if strings.HasSuffix(o.Key, ".uploading") {
			t.Fatalf("intent %s left", o.Key)
		}
		if strings.Contains(o.Key, "/cols-") && !strings.HasSuffix(o.Key, ".users") {
			segs++
			if !strings.Contains(o.ETag, "-") {
				t.Fatalf("segment %s (%d bytes) was not uploaded in parts (ETag %s)", o.Key, o.Size, o.ETag)
			}
		}
	}
	if segs != 1 {
		t.Fatalf("%d segments", segs)
	}
	vs, err := b.Store().LoadVectors(ctx, "parts", store.LoadVectorsOptions{})
	if err != nil || len(vs.IDs) != len(recs) {
		t.Fatalf("%d vectors loaded, %v", len(vs.IDs), err)
	}
	got, err := b.Store().FaceVectors(ctx, "parts", []string{recs[4999].FaceID})
	if err != nil || got[recs[4999].FaceID][4999%big] == 0 {
		t.Fatalf("the last face's vector: %v", err)
	}
}

// closeVectors says whether two reads of a vector agree within fp16's precision.
func closeVectors(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 5e-4 {
			return false
		}
	}
	return true
}

// checkShardsSplit loads the collection as 3 shards: together they hold every face once.
func checkShardsSplit(t *testing.T, s *store.Store, coll string, want int) {
	t.Helper()
	seen := map[uuid.UUID]bool{}
	for i := 0; i < 3; i++ {
		vs, err := s.LoadVectors(context.Background(), coll, store.LoadVectorsOptions{Shard: i, Shards: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range vs.IDs {
			if seen[id] || store.ShardOf(id, 3) != i {
				t.Fatalf("face %s in shard %d (its shard is %d; seen before: %v)", id, i, store.ShardOf(id, 3), seen[id])
			}
			seen[id] = true
		}
	}
	if len(seen) != want {
		t.Fatalf("3 shards hold %d faces, want %d", len(seen), want)
	}
}

// A caller whose deadline passes while its Store loads a snapshot's records does not throw
// the load away: the next call finds the records loaded (a large collection's load takes
// longer than an API request may).
func TestSnapshotLoadOutlivesItsCaller(t *testing.T) {
	b := newFixture(t)
	ctx := context.Background()
	sc := fillScenario(t, b.Store(), compactor(b), "c")
	proxy := testenv.NewFaultProxy(t, b.Server.Endpoint)
	reader, err := store.Open(b.ProxiedConnection(proxy), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	isRecords := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/records-")
	}
	held, release := proxy.Hold(isRecords)
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := reader.ListFaces(cctx, "c", store.ListFacesOptions{})
		done <- err
	}()
	<-held
	cancel()
	release()
	if err := <-done; err != nil {
		t.Logf("the cancelled call answered %v (what matters is the next call)", err)
	}
	proxy.Count(isRecords)
	faces, _, err := reader.ListFaces(ctx, "c", store.ListFacesOptions{MaxResults: store.MaxListResults})
	if err != nil {
		t.Fatal(err)
	}
	if n := proxy.Seen(); n != 0 {
		t.Fatalf("the next call read %d record chunks again", n)
	}
	if len(faces) != len(sc.live) {
		t.Fatalf("%d faces listed, want %d", len(faces), len(sc.live))
	}
}

// TestCompactionReadsTheLogOnce: compacting large imports reads about the log's bytes, not
// the log once per segment written. An import's faces are stored in bucket order, so each
// segment's share of a commit is one range; in request order every segment's share spanned
// the whole commit (16 reads of the log at 1M faces, 77 at 5M).
func TestCompactionReadsTheLogOnce(t *testing.T) {
	const (
		dim       = 256
		commits   = 4
		perCommit = 4096
		segment   = 512 // 32 segments
	)
	ctx := context.Background()
	b := testenv.NewBucket(t, testenv.BucketOptions{})
	proxy, err := testenv.NewCountingProxy(b.Server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	conn := b.Connection()
	conn.Endpoint = proxy.Endpoint
	st, err := store.Open(conn, store.Options{SegmentVectors: segment})
	if err != nil {
		t.Fatal(err)
	}
	testenv.CreateCollection(t, st, "imports", "bench-1", dim)
	rng := rand.New(rand.NewPCG(1, 2))
	for range commits {
		batch := make([]store.NewFace, perCommit)
		for i := range batch {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			batch[i] = store.NewFace{ImageID: uuid.NewString(), Confidence: 99, Embedding: v}
		}
		if _, err := st.ImportFaces(ctx, "imports", batch, store.IndexFacesOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var logBytes int64
	for o := range b.Client.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if strings.Contains(o.Key, "/log/") {
			logBytes += o.Size
		}
	}
	proxy.Take()
	if err := st.Compact(ctx, "imports"); err != nil {
		t.Fatal(err)
	}
	read, requests := proxy.Take()
	t.Logf("compaction of %d faces in %d commits into %d segments: read %d bytes in %d requests; the log is %d bytes (%.2fx)",
		commits*perCommit, commits, commits*perCommit/segment, read, requests, logBytes, float64(read)/float64(logBytes))
	if read > logBytes*3/2 {
		t.Errorf("the compaction read %.1fx the log's bytes, want at most 1.5x", float64(read)/float64(logBytes))
	}
	// Every face is still there, once, with its vector.
	d, err := b.Store().DescribeCollection(ctx, "imports")
	if err != nil || d.FaceCount != commits*perCommit {
		t.Fatalf("after the compaction: %+v %v", d, err)
	}
}
