package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

// SetCompactStep makes fn run after each step of s's compactions; an error stops the
// compaction there, as if its process died.
func SetCompactStep(s *Store, fn func(step string) error) { s.opts.compactStep = fn }

// SetMultipart makes snapshot objects larger than from bytes go in parts of size bytes, and
// returns a function that restores the sizes.
func SetMultipart(from, size int) (restore func()) {
	f, p := multipartFrom, partSize
	multipartFrom, partSize = from, size
	return func() { multipartFrom, partSize = f, p }
}

// The compaction steps, for the tests.
const (
	StepCapture        = stepCapture
	StepSegment        = stepSegment
	StepRecords        = stepRecords
	StepUsers          = stepUsers
	StepIntent         = stepIntent
	StepPublish        = stepPublish
	StepSwap           = stepSwap
	StepMarkers        = stepMarkers
	StepMarkerDeletion = stepMarkerDeletion
	StepOldSnapshots   = stepOldSnapshots
)

// WriteLegacySnapshot compacts coll the way the store did before records were chunked and
// compaction stopped blocking: one records.json, segments in FaceId order, and markers over
// the log up to the snapshot's generation (never deleted). The vectors are read back from
// storage. It leaves older snapshots alone.
func WriteLegacySnapshot(ctx context.Context, s *Store, coll string) error {
	cs := s.collState(coll)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err := s.sync(ctx, coll, cs); err != nil {
		return err
	}
	c, st := cs.coll, cs.st
	ids := slices.Clone(st.sortedFaceIDs())
	reads := make([]vecRead, len(ids))
	for i, id := range ids {
		reads[i] = st.vecRead(st.faces[id])
	}
	if err := s.readVectors(ctx, c.Dimension, reads, 2, nil); err != nil {
		return err
	}
	dir := fmt.Sprintf("%020d-%s", st.gen, uuid.NewString())
	base := s.snapPrefix(c.ID, c.Incarnation) + dir + "/"
	sn := &snapshot{Generation: st.gen, Dir: dir, FaceCount: int64(len(ids)), UserCount: int64(len(st.users))}
	for start := 0; start < len(ids); start += s.opts.SegmentVectors {
		end := min(start+s.opts.SegmentVectors, len(ids))
		b := make([]byte, segHeader)
		putSegmentHeader(b, c.Dimension, end-start)
		for i := start; i < end; i++ {
			b = append(b, ids[i][:]...)
			b = append(b, reads[i].dst...)
		}
		name := fmt.Sprintf("seg-%05d", len(sn.Segments))
		if err := s.putLarge(ctx, base+name, b, nil); err != nil {
			return err
		}
		sn.Segments = append(sn.Segments, segmentInfo{Name: name, Count: end - start})
	}
	var recs []FaceRecord
	for _, id := range ids {
		recs = append(recs, st.record(st.faces[id]))
	}
	js, _ := json.Marshal(recs)
	if err := s.putLarge(ctx, base+"records.json", js, nil); err != nil {
		return err
	}
	var users []userSnap
	for _, id := range st.sortedUserIDs() {
		u := st.users[id]
		users = append(users, userSnap{UserID: id, Token: u.token, Faces: u.sortedFaces()})
	}
	js, _ = json.Marshal(users)
	if err := s.put(ctx, base+"users.json", js, minio.PutObjectOptions{}); err != nil {
		return err
	}
	js, _ = json.Marshal(sn)
	if err := s.put(ctx, s.snapPrefix(c.ID, c.Incarnation)+fmt.Sprintf("%020d.json", st.gen), js, minio.PutObjectOptions{}); err != nil {
		return err
	}
	commits, err := s.listLog(ctx, c, 0, 0)
	if err != nil {
		return err
	}
	for _, k := range commits {
		if k.gen <= st.gen {
			if err := s.put(ctx, k.key, markerMagic, minio.PutObjectOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsLegacySnapshotKey says whether key is an object only the old layout has.
func IsLegacySnapshotKey(key string) bool {
	return strings.HasSuffix(key, "/records.json") || strings.Contains(key, "/seg-")
}

// LogPrefix is the prefix of a collection's commits.
func (s *Store) LogPrefix(c *Collection) string { return s.logPrefix(c.ID, c.Incarnation) }

// FakeCompactedLog makes coll (just created, or faked up to generation from-1) look like a
// collection of n commits compacted the old way: markers at generations from..n, kept, and
// an empty snapshot of n. The markers are written directly, parallel at a time.
func FakeCompactedLog(ctx context.Context, s *Store, coll string, from, n uint64, parallel int) error {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return err
	}
	gens := make(chan uint64)
	errc := make(chan error, parallel)
	for w := 0; w < parallel; w++ {
		go func() {
			var first error
			for g := range gens {
				if err := s.put(ctx, s.logKey(c.ID, c.Incarnation, g), markerMagic, minio.PutObjectOptions{}); err != nil && first == nil {
					first = err
				}
			}
			errc <- first
		}()
	}
	for g := from; g <= n; g++ {
		gens <- g
	}
	close(gens)
	for w := 0; w < parallel; w++ {
		if err := <-errc; err != nil {
			return err
		}
	}
	dir := fmt.Sprintf("%020d-%s", n, uuid.NewString())
	if err := s.put(ctx, s.snapPrefix(c.ID, c.Incarnation)+dir+"/users.json", []byte("null"), minio.PutObjectOptions{}); err != nil {
		return err
	}
	js, _ := json.Marshal(&snapshot{Generation: n, Dir: dir})
	return s.put(ctx, s.snapPrefix(c.ID, c.Incarnation)+fmt.Sprintf("%020d.json", n), js, minio.PutObjectOptions{})
}

// SetFullCompaction makes s's compactions rewrite the whole snapshot, as before they were
// incremental.
func SetFullCompaction(s *Store, on bool) { s.opts.fullCompaction = on }

// SnapshotLayout describes a collection's newest snapshot.
type SnapshotLayout struct {
	Generation uint64
	Format     int
	Dir        string // its key's prefix: snap/<dir>/
	Runs       []int  // the segments of each run
	Segments   int
	// Kept are the segments whose objects are an older snapshot's.
	Kept int
	// Keys are the objects it names.
	Keys []string
}

// Layout describes coll's newest snapshot; Generation is 0 if there is none.
func Layout(ctx context.Context, s *Store, coll string) (SnapshotLayout, error) {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return SnapshotLayout{}, err
	}
	sn, err := s.latestSnapshot(ctx, c)
	if err != nil || sn == nil {
		return SnapshotLayout{}, err
	}
	l := SnapshotLayout{Generation: sn.Generation, Format: sn.Format, Dir: s.snapPrefix(c.ID, c.Incarnation) + sn.Dir + "/",
		Segments: len(sn.Segments), Keys: s.snapshotKeys(c, sn)}
	for _, r := range sn.runs() {
		l.Runs = append(l.Runs, r.Segments)
	}
	for _, info := range sn.Segments {
		if info.Dir != "" && info.Dir != sn.Dir {
			l.Kept++
		}
	}
	return l, nil
}

// SnapPrefix is the prefix of a collection's snapshots.
func (s *Store) SnapPrefix(c *Collection) string { return s.snapPrefix(c.ID, c.Incarnation) }

// WriteFormat2Snapshot turns coll's newest snapshot, a whole one of format 3 (one run, in
// its own directory), into format 2: records in chunks of recordsPerChunk (named
// chunk-NNNNN, the others removed), one dense bucket index, no hash of segments' users.
func WriteFormat2Snapshot(ctx context.Context, s *Store, coll string, recordsPerChunk int) error {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return err
	}
	sn, err := s.latestSnapshot(ctx, c)
	if err != nil {
		return err
	}
	if sn == nil || sn.Format != 3 || len(sn.Runs) != 1 || sn.Runs[0].Dir != "" {
		return fmt.Errorf("not a whole snapshot of format 3")
	}
	var recs []FaceRecord
	for _, info := range sn.Records {
		chunk, err := s.readRecords(ctx, c, sn, info)
		if err != nil {
			return err
		}
		recs = append(recs, chunk...)
		if err := s.client.RemoveObject(ctx, s.bucket, s.snapObject(c, sn, info.Name), minio.RemoveObjectOptions{}); err != nil {
			return err
		}
	}
	sn.Records = nil
	for start := 0; start < len(recs); start += recordsPerChunk {
		chunk := recs[start:min(start+recordsPerChunk, len(recs))]
		js, _ := json.Marshal(chunk)
		name := fmt.Sprintf("chunk-%05d", len(sn.Records))
		if err := s.put(ctx, s.snapObject(c, sn, name), js, minio.PutObjectOptions{}); err != nil {
			return err
		}
		sn.Records = append(sn.Records, segmentInfo{Name: name, Count: len(chunk)})
	}
	data, err := s.get(ctx, s.snapObject(c, sn, sn.Runs[0].Buckets))
	if err != nil {
		return err
	}
	starts, ok := readBucketIndex(data)
	if !ok {
		return fmt.Errorf("bad bucket index")
	}
	dense := make([]byte, 0, 4*len(starts))
	for _, x := range starts {
		dense = binary.LittleEndian.AppendUint32(dense, x)
	}
	if err := s.put(ctx, s.snapObject(c, sn, "buckets"), dense, minio.PutObjectOptions{}); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.snapObject(c, sn, sn.Runs[0].Buckets), minio.RemoveObjectOptions{}); err != nil {
		return err
	}
	sn.Format, sn.Runs, sn.Buckets = 2, nil, "buckets"
	for i := range sn.Segments {
		sn.Segments[i].UsersHash = "" // format 2 had none: its user columns are read
	}
	js, _ := json.Marshal(sn)
	return s.put(ctx, s.snapPrefix(c.ID, c.Incarnation)+fmt.Sprintf("%020d.json", sn.Generation), js, minio.PutObjectOptions{})
}
