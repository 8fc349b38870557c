package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// The steps of a compaction, in order; Options.compactStep (tests) runs after each, and a
// test that fails it stands for a process killed there.
const (
	stepCapture        = "capture"
	stepSegment        = "segment" // after each segment
	stepRecords        = "records" // after each chunk of records
	stepUsers          = "users"   // users-NNNNN and tokens.json
	stepIntent         = "intent"  // a snapshot that keeps segments: its intent, checked
	stepPublish        = "publish"
	stepSwap           = "swap"
	stepMarkers        = "markers"
	stepMarkerDeletion = "marker-deletion"
	stepOldSnapshots   = "old-snapshots"
)

// DefaultMarkerGrace is Options.MarkerGrace's default.
const DefaultMarkerGrace = 10 * time.Minute

// compactionReads and compactionWrites are how many ranged reads and marker writes a
// compaction has in flight: enough to overlap a request's latency, few enough to leave
// MinIO (on small machines, a core or two) to the calls of searches and commits.
const (
	compactionReads  = 2
	compactionWrites = 2
)

// Compact folds the log into a snapshot and erases what is no longer part of the
// collection: the vectors and records of deleted faces are gone from storage for good once
// it returns (biometric data must be erasable). Readers and writers run meanwhile: the
// collection's lock is held only to capture the state to write and, once the snapshot is
// published, to point the faces still live at their vectors in it (see docs/store.md).
func (s *Store) Compact(ctx context.Context, coll string) error {
	cs := s.collState(coll)
	// One compaction of a collection at a time in a process: a second would redo the work.
	cs.compactMu.Lock()
	defer cs.compactMu.Unlock()
	cp, err := s.capture(ctx, coll, cs)
	if err != nil || cp.gen == 0 {
		return err
	}
	if err := s.step(stepCapture); err != nil {
		return err
	}
	c := cp.coll
	target, err := s.latestSnapshot(ctx, c)
	if err != nil {
		return err
	}
	p := newPacer(s.opts.CompactionRate)
	if target == nil || target.Generation < cp.gen {
		sn, created, err := s.writeSnapshot(ctx, cp, target, p)
		if errors.Is(err, errVectorMoved) {
			// Another process compacted meanwhile and removed what this one was reading:
			// its snapshot holds at least this capture if it is as new, and is finished here.
			sn, err = s.latestSnapshot(ctx, c)
			if err == nil && (sn == nil || sn.Generation < cp.gen) {
				err = &errs.Error{Code: errs.StorageUnavailable, Message: "a concurrent compaction removed the vectors being compacted", Retryable: true}
			}
			created = false
		}
		if err != nil {
			return err
		}
		if created {
			s.swapLocations(cs, cp, sn)
			if err := s.step(stepSwap); err != nil {
				return err
			}
		}
		target = sn
	}
	cp = nil //nolint:ineffassign,wastedassign // let the captured records go before the cleanup
	return s.finishCompaction(ctx, c, target, p)
}

// step runs the test hook after a compaction step.
func (s *Store) step(name string) error {
	if s.opts.compactStep == nil {
		return nil
	}
	return s.opts.compactStep(name)
}

// capture is a collection's state at generation gen, as much as a snapshot needs, copied
// so that the writers may go on meanwhile.
type capture struct {
	coll *Collection
	gen  uint64
	// st is the state it was taken from: the swap applies to it only (a state reloaded
	// meanwhile has its own locations).
	st    *state
	faces []capturedFace
	strs  strTable // the strings the faces name (only strs is set)
	objs  []vecObject
	users []capturedUser
	// tokens are the records alive by this process's clock: a collection may see no commit
	// for long after its last call with a token.
	tokens []*tokenRecord
}

type capturedFace struct {
	faceRec
	slot   uint32
	bucket int32
}

type capturedUser struct {
	id, token string
	faces     []uuid.UUID // shared with the state, which never changes it in place
}

// capture syncs the collection and copies its state: under the lock, a copy of the face
// records (no vectors) in one move, a few bytes a face; free slots are dropped after.
func (s *Store) capture(ctx context.Context, coll string, cs *collState) (*capture, error) {
	cp, recs, err := s.captureLocked(ctx, coll, cs)
	if err != nil || cp.gen == 0 {
		return cp, err
	}
	n := 0
	for slot := range recs {
		if recs[slot].id != uuid.Nil {
			n++
		}
	}
	cp.faces = make([]capturedFace, 0, n)
	for slot := range recs {
		if recs[slot].id != uuid.Nil {
			cp.faces = append(cp.faces, capturedFace{faceRec: recs[slot], slot: uint32(slot), bucket: int32(BucketOf(recs[slot].id))})
		}
	}
	return cp, nil
}

func (s *Store) captureLocked(ctx context.Context, coll string, cs *collState) (*capture, []faceRec, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err := s.sync(ctx, coll, cs); err != nil {
		return nil, nil, err
	}
	st := cs.st
	cp := &capture{coll: cs.coll, gen: st.gen, st: st}
	if st.gen == 0 {
		return cp, nil, nil
	}
	recs := slices.Clone(st.recs)
	cp.strs = strTable{strs: slices.Clone(st.strs.strs)}
	cp.objs = slices.Clone(st.objs.objs)
	cp.users = make([]capturedUser, 0, len(st.users))
	for id, u := range st.users {
		cp.users = append(cp.users, capturedUser{id: id, token: u.token, faces: u.faces})
	}
	cp.tokens = st.liveTokens(s.opts.Now())
	return cp, recs, nil
}

// writeSnapshot writes the captured state as the snapshot of its generation and publishes
// it; created is false if another compaction published that generation first (sn is then
// the winner's). It keeps what it can of prev (the newest snapshot, or nil) by reference
// (compact_plan.go) and writes the rest; record i of the snapshot is vector i.
func (s *Store) writeSnapshot(ctx context.Context, cp *capture, prev *snapshot, p *pacer) (sn *snapshot, created bool, err error) {
	c := cp.coll
	dir := fmt.Sprintf("%020d-%s", cp.gen, uuid.NewString())
	base := s.snapPrefix(c.ID, c.Incarnation) + dir + "/"
	runs, err := s.planCompaction(ctx, cp, prev, p)
	if err != nil {
		return nil, false, err
	}
	sn = &snapshot{Generation: cp.gen, Dir: dir, FaceCount: int64(len(cp.faces)), UserCount: int64(len(cp.users)), Format: snapshotFormat}

	// Segments of columns, one in memory at a time.
	w := &segmentWriter{}
	reused := false
	for _, r := range runs {
		for _, o := range r.segs {
			if o.reuse != nil {
				sn.Segments = append(sn.Segments, *o.reuse)
				reused = true
				continue
			}
			info, err := s.writeSegment(ctx, cp, w, base, fmt.Sprintf("cols-%05d", w.written), cp.faces[o.start:o.start+o.n], p)
			if err != nil {
				return nil, false, err
			}
			sn.Segments = append(sn.Segments, info)
			if err := s.step(stepSegment); err != nil {
				return nil, false, err
			}
		}
	}
	w = nil //nolint:ineffassign,wastedassign // the segment buffers are not needed for the records
	// Each run's bucket index: where each bucket starts among its faces.
	for i, r := range runs {
		info := runInfo{Segments: len(r.segs)}
		if r.reuse != nil {
			info.Buckets, info.Dir = r.reuse.Buckets, r.reuse.Dir
		} else {
			info.Buckets = fmt.Sprintf("buckets-%05d", i)
			if err := s.putLarge(ctx, base+info.Buckets, bucketIndex(cp.faces[r.start:r.start+r.n]), p); err != nil {
				return nil, false, storageError("writing a bucket index", err)
			}
		}
		sn.Runs = append(sn.Runs, info)
	}

	// Records, one chunk per segment, in the same order.
	for _, r := range runs {
		for _, o := range r.segs {
			if o.records != nil {
				sn.Records = append(sn.Records, *o.records)
				continue
			}
			faces := cp.faces[o.start : o.start+o.n]
			recs := make([]FaceRecord, len(faces))
			for i := range faces {
				recs[i] = cp.strs.record(&faces[i].faceRec)
			}
			js, _ := json.Marshal(recs)
			name := fmt.Sprintf("records-%05d", len(sn.Records))
			if err := s.putLarge(ctx, base+name, js, p); err != nil {
				return nil, false, storageError("writing records", err)
			}
			sn.Records = append(sn.Records, segmentInfo{Name: name, Count: len(faces)})
			if err := s.step(stepRecords); err != nil {
				return nil, false, err
			}
		}
	}

	users := make([]userSnap, 0, len(cp.users))
	for _, u := range cp.users {
		us := userSnap{UserID: u.id, Token: u.token}
		if len(u.faces) > 0 {
			us.Faces = (&userState{faces: u.faces}).sortedFaces()
		}
		users = append(users, us)
	}
	slices.SortFunc(users, func(a, b userSnap) int { return strings.Compare(a.UserID, b.UserID) })
	// In chunks, as the records: no object grows with the collection. An empty list is one
	// empty chunk, so that a snapshot always names its users.
	for start := 0; start == 0 || start < len(users); start += s.opts.RecordsPerChunk {
		chunk := users[start:min(start+s.opts.RecordsPerChunk, len(users))]
		js, _ := json.Marshal(chunk)
		name := fmt.Sprintf("users-%05d", len(sn.Users))
		if err := s.putLarge(ctx, base+name, js, p); err != nil {
			return nil, false, storageError("writing users", err)
		}
		sn.Users = append(sn.Users, segmentInfo{Name: name, Count: len(chunk)})
	}
	if len(cp.tokens) > 0 {
		js, _ := json.Marshal(cp.tokens)
		if err := s.putLarge(ctx, base+"tokens.json", js, p); err != nil {
			return nil, false, storageError("writing token records", err)
		}
		sn.Tokens = "tokens.json"
	}
	if err := s.step(stepUsers); err != nil {
		return nil, false, err
	}

	js, _ := json.Marshal(sn)
	if reused {
		// The objects kept are prev's: a snapshot another process published since may not
		// name them, and its cleanup remove them. The intent (the snapshot, in its own
		// directory) comes first: a cleanup that lists after it keeps what it names, and
		// one that listed before follows a snapshot published before the check below,
		// which then finds it and leaves the job to it.
		if err := s.putLarge(ctx, base+intentName, js, p); err != nil {
			return nil, false, storageError("writing the snapshot's intent", err)
		}
		latest, err := s.latestSnapshot(ctx, c)
		if err != nil {
			return nil, false, err
		}
		if latest == nil || latest.Dir != prev.Dir {
			return nil, false, errVectorMoved
		}
		if err := s.step(stepIntent); err != nil {
			return nil, false, err
		}
	}
	key := s.snapPrefix(c.ID, c.Incarnation) + fmt.Sprintf("%020d.json", cp.gen)
	created, err = s.putNew(ctx, key, js)
	if err != nil {
		return nil, false, storageError("committing the snapshot", err)
	}
	if !created {
		// Another compaction of the same generation won; this one's objects are leftovers.
		data, err := s.get(ctx, key)
		if err != nil {
			return nil, false, storageError("reading the new snapshot", err)
		}
		sn = &snapshot{}
		if err := json.Unmarshal(data, sn); err != nil {
			return nil, false, &errs.Error{Code: errs.Corrupt, Message: "bad snapshot", Err: err}
		}
	}
	if err := s.step(stepPublish); err != nil {
		return nil, false, err
	}
	return sn, created, nil
}

// segmentWriter keeps the buffers of one segment between segments.
type segmentWriter struct {
	buf, raw []byte
	vec      []float32
	half     []uint16
	written  int
}

// writeSegment writes faces as segment name of the new snapshot: their vectors read from
// where they are, encoded (fp16 and int8).
func (s *Store) writeSegment(ctx context.Context, cp *capture, w *segmentWriter, base, name string, faces []capturedFace, p *pacer) (segmentInfo, error) {
	dim := cp.coll.Dimension
	if w.vec == nil {
		w.vec, w.half = make([]float32, dim), make([]uint16, dim)
	}
	vec, half := w.vec, w.half
	n := len(faces)
	var userIDs []string
	userIdx := map[uint32]uint32{}
	for i := range faces {
		if u := faces[i].user; u != 0 {
			if _, ok := userIdx[u]; !ok {
				userIDs = append(userIDs, cp.strs.get(u))
				userIdx[u] = uint32(len(userIDs))
			}
		}
	}
	size := int(colsBytes(dim, n, len(userIDs) > 0))
	if cap(w.buf) < size {
		w.buf = make([]byte, size)
	}
	buf := w.buf[:size]
	if cap(w.raw) < n*4*dim {
		w.raw = make([]byte, n*4*dim)
	}
	raw := w.raw[:n*4*dim]
	copy(buf, colsMagic)
	binary.LittleEndian.PutUint32(buf[4:], uint32(dim))
	binary.LittleEndian.PutUint32(buf[8:], uint32(n))
	flags := uint32(0)
	if len(userIDs) > 0 {
		flags = 1
	}
	binary.LittleEndian.PutUint32(buf[12:], flags)
	lay := colsLayout(dim, n)
	reads := make([]vecRead, n)
	for i := range faces {
		f := &faces[i]
		reads[i] = vecRead{obj: cp.objs[f.vec.obj], pos: f.vec.pos, id: f.id, dst: raw[i*4*dim : (i+1)*4*dim]}
	}
	if err := s.readVectors(ctx, dim, reads, compactionReads, p); err != nil {
		return segmentInfo{}, err
	}
	// An fp16 vector read costs the CPU a float32 one does (decoded, encoded again):
	// paced as one, so that the rate bounds the faces a second as before the columns.
	halves := 0
	for i := range reads {
		if reads[i].obj.half {
			halves++
		}
	}
	if err := p.wait(ctx, halves*2*dim); err != nil {
		return segmentInfo{}, err
	}
	for i := range faces {
		f := &faces[i]
		copy(buf[lay.ids+int64(16*i):], f.id[:])
		decodeFloat32s(vec, raw[i*4*dim:])
		codes := unsafe.Slice((*int8)(unsafe.Pointer(&buf[lay.codes+int64(i*dim)])), dim)
		binary.LittleEndian.PutUint32(buf[lay.scales+int64(4*i):], math.Float32bits(vectors.Encode(vec, codes, half)))
		for j, h := range half {
			binary.LittleEndian.PutUint16(buf[lay.half+int64(2*(i*dim+j)):], h)
		}
		if flags != 0 {
			binary.LittleEndian.PutUint32(buf[lay.users+int64(4*i):], userIdx[f.user])
		}
	}
	info := segmentInfo{Name: name, Count: n}
	w.written++
	if err := s.putLarge(ctx, base+info.Name, buf, p); err != nil {
		return segmentInfo{}, storageError("writing a segment", err)
	}
	if len(userIDs) > 0 {
		info.Users = info.Name + ".users"
		info.UsersHash = usersHash(len(faces), func(i int) string { return cp.strs.get(faces[i].user) })
		js, _ := json.Marshal(userIDs)
		if err := s.putLarge(ctx, base+info.Users, js, p); err != nil {
			return segmentInfo{}, storageError("writing a segment", err)
		}
	}
	return info, nil
}

// bucketIndex is the bucket index of a run's faces (in bucket order): where each of the
// Buckets starts, then their count (Buckets+1 uint32); or, when it is smaller, as a run of
// few faces has, the start of each bucket that has faces, as (bucket, start) uint32 pairs,
// then (Buckets, count). The sizes tell them apart: 8 bytes a pair, 4*(Buckets+1) dense.
func bucketIndex(faces []capturedFace) []byte {
	used := 0
	for i := range faces {
		if i == 0 || faces[i].bucket != faces[i-1].bucket {
			used++
		}
	}
	if 8*(used+1) < 4*(Buckets+1) {
		out := make([]byte, 0, 8*(used+1))
		for i := range faces {
			if i == 0 || faces[i].bucket != faces[i-1].bucket {
				out = binary.LittleEndian.AppendUint32(out, uint32(faces[i].bucket))
				out = binary.LittleEndian.AppendUint32(out, uint32(i))
			}
		}
		out = binary.LittleEndian.AppendUint32(out, Buckets)
		return binary.LittleEndian.AppendUint32(out, uint32(len(faces)))
	}
	starts := make([]byte, 4*(Buckets+1))
	b := 0
	for i := range faces {
		for ; b <= int(faces[i].bucket); b++ {
			binary.LittleEndian.PutUint32(starts[4*b:], uint32(i))
		}
	}
	for ; b <= Buckets; b++ {
		binary.LittleEndian.PutUint32(starts[4*b:], uint32(len(faces)))
	}
	return starts
}

// readBucketIndex reads a bucket index of either form into where each bucket starts.
func readBucketIndex(data []byte) ([]uint32, bool) {
	starts := make([]uint32, Buckets+1)
	if len(data) == 4*(Buckets+1) {
		for i := range starts {
			starts[i] = binary.LittleEndian.Uint32(data[4*i:])
		}
		return starts, true
	}
	if len(data) < 8 || len(data)%8 != 0 {
		return nil, false
	}
	b, at := 0, uint32(0)
	for off := 0; off < len(data); off += 8 {
		bucket, start := int(binary.LittleEndian.Uint32(data[off:])), binary.LittleEndian.Uint32(data[off+4:])
		last := off+8 == len(data)
		if bucket < b || bucket > Buckets || start < at || last != (bucket == Buckets) {
			return nil, false
		}
		for ; b <= bucket; b++ {
			starts[b] = start
		}
		at = start
	}
	return starts, true
}

// swapBatch is how many faces the swap moves per hold of the lock.
const swapBatch = 65536

// swapLocations points the captured faces that are still live at their vectors in the new
// snapshot, a batch at a time: both places hold the same bytes until the markers are
// written, so a reader in between finds a vector through either. Faces deleted meanwhile
// are left alone; faces added meanwhile are in commits the compaction did not touch.
func (s *Store) swapLocations(cs *collState, cp *capture, sn *snapshot) {
	c := cp.coll
	segs := make([]uint32, len(sn.Segments))
	seg, pos := 0, 0 // where face i of the snapshot is
	for start := 0; start < len(cp.faces); start += swapBatch {
		cs.mu.Lock()
		st := cs.st
		if st != cp.st {
			cs.mu.Unlock()
			return // reloaded meanwhile: its locations come from storage
		}
		if start == 0 {
			for i, info := range sn.Segments {
				segs[i] = st.objs.add(segmentObject(s.partObject(c, sn, info, info.Name), c.Dimension, info.Count, sn.Format))
			}
		}
		for i := start; i < min(start+swapBatch, len(cp.faces)); i++ {
			for seg < len(sn.Segments) && pos == sn.Segments[seg].Count {
				seg, pos = seg+1, 0
			}
			f := &cp.faces[i]
			r := &st.recs[f.slot]
			at := pos
			pos++
			if r.id != f.id {
				continue // deleted meanwhile
			}
			// A kept segment is the same object, a new entry for it: the old one goes
			// with its last face.
			st.objs.unref(r.vec.obj)
			r.vec = vecLoc{obj: segs[seg], pos: uint32(at)}
			st.objs.ref(r.vec.obj)
		}
		if start+swapBatch >= len(cp.faces) {
			for _, o := range segs {
				st.objs.dropUnused(o)
			}
		}
		cs.mu.Unlock()
	}
}

// finishCompaction erases what the snapshot made obsolete, in an order that is safe to
// interrupt anywhere (the next compaction finishes the job): the commits it holds go (the
// recent ones become markers, the old ones and old markers are deleted, the newest always
// kept as a marker), then older snapshots and the leftovers of interrupted or losing
// compactions are removed.
//
// Deleting a log key is safe once it is MarkerGrace old by MinIO's clock (its commit's or
// its marker's time). A writer creates generation k+1 only after a LIST found k the last,
// and sends its PUT within MarkerGrace/2 of that LIST (commitWindow). The object at k+1
// was written after that LIST (the LIST missed it), so more than MarkerGrace before now:
// no PUT of k+1 decided on such a LIST is still to come. A writer that lists later sees
// the newest marker, or commits after it, and knows that the generations before are taken.
// The newest marker is written again first, and its modification time is the now the
// others' times are compared with.
func (s *Store) finishCompaction(ctx context.Context, c *Collection, sn *snapshot, p *pacer) error {
	g := sn.Generation
	logged, err := s.list(ctx, s.logPrefix(c.ID, c.Incarnation), "", true, 0)
	if err != nil {
		return storageError("listing the log", err)
	}
	var upTo []minio.ObjectInfo // the log keys up to g, in order
	for _, o := range logged {
		if gen, ok := parseGen(o.Key[strings.LastIndexByte(o.Key, '/')+1:]); ok && gen <= g {
			upTo = append(upTo, o)
		}
	}
	var young, old []string
	if len(upTo) > 0 {
		newest := upTo[len(upTo)-1].Key
		if err := s.put(ctx, newest, markerMagic, minio.PutObjectOptions{}); err != nil {
			return storageError("compacting the log", err)
		}
		now, err := s.modified(ctx, newest)
		if err != nil {
			return err
		}
		for _, o := range upTo[:len(upTo)-1] {
			switch {
			case !now.IsZero() && now.Sub(o.LastModified) >= s.opts.MarkerGrace:
				old = append(old, o.Key) // deleting an old commit erases it too
			case o.Size != int64(len(markerMagic)):
				young = append(young, o.Key)
			}
		}
	}
	// A recent commit becomes a marker: its faces are gone, its key stays taken.
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(compactionWrites)
	for _, k := range young {
		eg.Go(func() error {
			if err := p.wait(ectx, markerCost); err != nil {
				return err
			}
			return storageError("compacting the log", s.put(ectx, k, markerMagic, minio.PutObjectOptions{}))
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if err := s.step(stepMarkers); err != nil {
		return err
	}
	if err := s.removeKeys(ctx, old, p); err != nil {
		return storageError("deleting old commits", err)
	}
	if err := s.step(stepMarkerDeletion); err != nil {
		return err
	}
	// Remove older snapshots and the leftovers of interrupted or losing compactions.
	objs, err := s.list(ctx, s.snapPrefix(c.ID, c.Incarnation), "", true, 0)
	if err != nil {
		return storageError("listing snapshots", err)
	}
	// A snapshot keeps objects of older ones by reference: what this one, or a newer one
	// (another process's), names stays.
	keep, err := s.referenced(ctx, c, sn, objs)
	if err != nil {
		return err
	}
	var stale []string
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, s.snapPrefix(c.ID, c.Incarnation))
		dir, _, isDir := strings.Cut(name, "/")
		og, ok := parseGen(strings.SplitN(dir, "-", 2)[0])
		if !ok || keep[strings.TrimSuffix(o.Key, uploadingSuffix)] {
			continue
		}
		if og < g || (og == g && isDir && dir != sn.Dir) {
			stale = append(stale, o.Key)
		}
	}
	// Uploads in parts first: their intents are how they are found.
	if err := s.abortUploads(ctx, stale); err != nil {
		return err
	}
	if err := s.removeKeys(ctx, stale, p); err != nil {
		return storageError("removing an old snapshot", err)
	}
	return s.step(stepOldSnapshots)
}

// intentName is the object in a new snapshot's directory that holds the snapshot before it
// is published, when it keeps objects of older ones: what it names is kept by the cleanups
// of other processes that meanwhile publish a snapshot of its generation or older.
const intentName = "snapshot.json"

// referenced are the keys of the objects that sn and the snapshots newer than it name,
// or will name (their intents), among objs (the listing of snap/). An intent of an older
// generation is not followed: its snapshot, if it comes, is not the newest, and what it
// names may hold faces deleted since.
func (s *Store) referenced(ctx context.Context, c *Collection, sn *snapshot, objs []minio.ObjectInfo) (map[string]bool, error) {
	keep := map[string]bool{}
	prefix := s.snapPrefix(c.ID, c.Incarnation)
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, prefix)
		dir, file, inDir := strings.Cut(name, "/")
		if inDir && file != intentName || !inDir && !strings.HasSuffix(name, ".json") {
			continue
		}
		g, ok := parseGen(strings.SplitN(dir, "-", 2)[0])
		if !ok || g < sn.Generation || inDir && dir == sn.Dir {
			continue
		}
		other := sn
		if inDir || g != sn.Generation {
			data, err := s.get(ctx, o.Key)
			if isNotFound(err) {
				continue // removed by a newer compaction: it names nothing any more
			}
			if err != nil {
				return nil, storageError("reading a snapshot", err)
			}
			other = &snapshot{}
			if err := json.Unmarshal(data, other); err != nil {
				return nil, &errs.Error{Code: errs.Corrupt, Message: "bad snapshot", Err: err}
			}
		}
		for _, k := range s.snapshotKeys(c, other) {
			keep[k] = true
		}
	}
	return keep, nil
}

// snapshotKeys are the keys of the objects a snapshot names.
func (s *Store) snapshotKeys(c *Collection, sn *snapshot) []string {
	var keys []string
	for _, info := range sn.Segments {
		keys = append(keys, s.partObject(c, sn, info, info.Name))
		if info.Users != "" {
			keys = append(keys, s.partObject(c, sn, info, info.Users))
		}
	}
	for _, info := range sn.Records {
		keys = append(keys, s.partObject(c, sn, info, info.Name))
	}
	for _, r := range sn.runs() {
		keys = append(keys, s.snapPrefix(c.ID, c.Incarnation)+r.Dir+"/"+r.Buckets)
	}
	for _, info := range sn.Users {
		keys = append(keys, s.snapObject(c, sn, info.Name))
	}
	if sn.Tokens != "" {
		keys = append(keys, s.snapObject(c, sn, sn.Tokens))
	}
	if sn.Records == nil {
		keys = append(keys, s.snapObject(c, sn, "records.json"))
	}
	if sn.Users == nil {
		keys = append(keys, s.snapObject(c, sn, "users.json"))
	}
	return keys
}

// abortUploads aborts the uploads in parts whose intent objects are among keys: a process
// killed during one leaves its parts (vectors) stored, out of sight of listings.
func (s *Store) abortUploads(ctx context.Context, keys []string) error {
	for _, k := range keys {
		key, ok := strings.CutSuffix(k, uploadingSuffix)
		if !ok {
			continue
		}
		rctx, cancel := s.timeout(ctx)
		err := s.client.RemoveIncompleteUpload(rctx, s.bucket, key)
		cancel()
		if err != nil && !isNotFound(err) {
			return storageError("aborting an upload", err)
		}
	}
	return nil
}

// modified is an object's modification time on MinIO's clock, to the millisecond (a
// listing's; a HEAD answers whole seconds); zero if it is gone.
func (s *Store) modified(ctx context.Context, key string) (time.Time, error) {
	objs, err := s.list(ctx, key, "", false, 1)
	if err != nil {
		return time.Time{}, storageError("listing the log", err)
	}
	if len(objs) == 0 || objs[0].Key != key {
		return time.Time{}, nil // gone meanwhile (the collection deleted): nothing is known to be old
	}
	return objs[0].LastModified, nil
}
