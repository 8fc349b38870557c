package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"sync"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// ShardSnapshot is the newest snapshot of a collection as one shard reads it: its faces a
// bucket range at a time (Read), so that a shard that loads again can swap its buckets in
// place. A snapshot of columns (format 2, or 3: several runs) is read with ranged GETs of
// the shard's range of each column of each run, into the memory the shard keeps: the shard downloads its share of the
// collection and nothing is converted. An older snapshot (format 1) is read whole once, at
// open, and converted.
type ShardSnapshot struct {
	// Generation is the snapshot's commit; 0 if the collection has none yet.
	Generation       uint64
	Dimension        int
	FaceModelVersion string

	s    *Store
	c    *Collection
	sn   *snapshot
	opts LoadVectorsOptions
	runs []shardRun // format 2 and up

	mu    sync.Mutex
	users map[int][]string // format 2: the users objects of segments read so far

	legacy       *vectors.Columns // format 1: the shard's faces
	legacyUserOf map[uuid.UUID]string
}

// readParallel is how many ranged GETs of a shard's load are in flight, and rangeChunk the
// most one of them reads: enough to fill the link, each well within a request's timeout.
const (
	readParallel = 4
	rangeChunk   = 8 << 20
)

// OpenShardSnapshot opens the newest snapshot of a collection for the shard opts names.
func (s *Store) OpenShardSnapshot(ctx context.Context, coll string, opts LoadVectorsOptions) (*ShardSnapshot, error) {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return nil, err
	}
	ss := &ShardSnapshot{Dimension: c.Dimension, FaceModelVersion: c.FaceModelVersion, s: s, c: c, opts: opts, users: map[int][]string{}}
	err = s.withSnapshot(ctx, c, func(sn *snapshot) error {
		ss.sn, ss.Generation, ss.runs, ss.legacy, ss.legacyUserOf = sn, 0, nil, nil, nil
		if sn == nil {
			return nil
		}
		ss.Generation = sn.Generation
		if sn.Format >= 2 {
			return ss.readIndexes(ctx)
		}
		return ss.readLegacy(ctx)
	})
	if err != nil {
		return nil, err
	}
	return ss, nil
}

// shardRun is a run of a snapshot as a shard reads it: where each bucket starts among its
// faces, and its segments (sn.Segments[first:first+segs]).
type shardRun struct {
	starts      []uint32
	first, segs int
}

// readIndexes reads the bucket index of each run (format 2 has one).
func (ss *ShardSnapshot) readIndexes(ctx context.Context) error {
	s, c, sn := ss.s, ss.c, ss.sn
	first, total := 0, int64(0)
	for _, r := range sn.runs() {
		if r.Segments < 0 || first+r.Segments > len(sn.Segments) {
			return errorf(errs.Corrupt, "the runs of snapshot %d name more segments than it has", sn.Generation)
		}
		data, err := s.getLarge(ctx, s.snapPrefix(c.ID, c.Incarnation)+r.Dir+"/"+r.Buckets)
		if err != nil {
			return err
		}
		starts, ok := readBucketIndex(data)
		if !ok {
			return errorf(errs.Corrupt, "a bad bucket index in snapshot %d (%d bytes)", sn.Generation, len(data))
		}
		run := shardRun{starts: starts, first: first, segs: r.Segments}
		faces := 0
		for _, info := range sn.Segments[first : first+r.Segments] {
			faces += info.Count
		}
		if int(run.starts[Buckets]) != faces {
			return errorf(errs.Corrupt, "a bucket index of snapshot %d counts %d faces, its segments %d", sn.Generation, run.starts[Buckets], faces)
		}
		ss.runs = append(ss.runs, run)
		first += r.Segments
		total += int64(faces)
	}
	if first != len(sn.Segments) || total != sn.FaceCount {
		return errorf(errs.Corrupt, "the runs of snapshot %d hold %d segments and %d faces, want %d and %d", sn.Generation, first, total, len(sn.Segments), sn.FaceCount)
	}
	return nil
}

// readLegacy reads the shard's faces of a format-1 snapshot, converting them.
func (ss *ShardSnapshot) readLegacy(ctx context.Context) error {
	s, c, sn := ss.s, ss.c, ss.sn
	cols := vectors.New(c.Dimension, 0)
	v := make([]float32, c.Dimension)
	for _, info := range sn.Segments {
		seg, err := s.readSegment(ctx, c, sn, info)
		if err != nil {
			return err
		}
		for j := 0; j < seg.n; j++ {
			id := seg.id(j)
			if ss.opts.keep(id) {
				seg.vector(j, v)
				cols.Append(id, v)
			}
		}
	}
	users, err := s.readUsers(ctx, c, sn)
	if err != nil {
		return err
	}
	userOf := map[uuid.UUID]string{}
	for _, u := range users {
		for _, f := range u.Faces {
			if id, err := uuid.Parse(f); err == nil && ss.opts.keep(id) {
				userOf[id] = u.UserID
			}
		}
	}
	ss.legacy, ss.legacyUserOf = &cols, userOf
	return nil
}

// Read returns the snapshot's faces in buckets [lo, hi) of the shard, and the users of
// those that have one. It fails with GenerationGone if a newer compaction removed the
// snapshot meanwhile: open the newest one again.
func (ss *ShardSnapshot) Read(ctx context.Context, lo, hi int) (vectors.Columns, map[uuid.UUID]string, error) {
	d := ss.Dimension
	userOf := map[uuid.UUID]string{}
	if ss.sn == nil {
		return vectors.New(d, 0), userOf, nil
	}
	if ss.legacy != nil {
		out := vectors.New(d, 0)
		v := make([]float32, d)
		for i, id := range ss.legacy.IDs {
			if b := BucketOf(id); b >= lo && b < hi {
				ss.legacy.Vector(i, v)
				out.Append(id, v)
				if u, ok := ss.legacyUserOf[id]; ok {
					userOf[id] = u
				}
			}
		}
		return out, userOf, nil
	}
	n := 0
	for _, r := range ss.runs {
		n += int(r.starts[hi] - r.starts[lo])
	}
	cols := vectors.Columns{Dimension: d, IDs: make([]uuid.UUID, n), Scales: make([]float32, n),
		Codes: make([]int8, n*d), Half: make([]uint16, n*d)}
	var userCol []uint32
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readParallel)
	read := func(key string, off int64, dst []byte) {
		for len(dst) > 0 {
			m := min(len(dst), rangeChunk)
			part, at := dst[:m], off
			g.Go(func() error {
				_, err := ss.s.getRange(gctx, key, at, at+int64(len(part)), part, nil)
				return err
			})
			dst, off = dst[m:], off+int64(m)
		}
	}
	type segUsers struct {
		seg, at, n int
	}
	var withUsers []segUsers
	out := 0 // where the run's faces go in cols
	for _, r := range ss.runs {
		// The run's faces of buckets [lo, hi) are its faces [a, b), in its segments.
		a, b := int(r.starts[lo]), int(r.starts[hi])
		start := 0
		for si := r.first; si < r.first+r.segs; si++ {
			info := ss.sn.Segments[si]
			end := start + info.Count
			x, y := max(a, start), min(b, end)
			if x < y {
				lx, m, at := int64(x-start), y-x, out+x-a
				lay := colsLayout(d, info.Count)
				key := ss.s.partObject(ss.c, ss.sn, info, info.Name)
				read(key, lay.ids+16*lx, vectors.AsBytes(cols.IDs[at:at+m]))
				read(key, lay.scales+4*lx, vectors.AsBytes(cols.Scales[at:at+m]))
				read(key, lay.codes+int64(d)*lx, vectors.AsBytes(cols.Codes[at*d:(at+m)*d]))
				read(key, lay.half+2*int64(d)*lx, vectors.AsBytes(cols.Half[at*d:(at+m)*d]))
				if info.Users != "" {
					if userCol == nil {
						userCol = make([]uint32, n)
					}
					read(key, lay.users+4*lx, vectors.AsBytes(userCol[at:at+m]))
					withUsers = append(withUsers, segUsers{si, at, m})
				}
			}
			start = end
		}
		out += b - a
	}
	if err := g.Wait(); err != nil {
		return vectors.Columns{}, nil, ss.readError(err)
	}
	if !vectors.LittleEndian {
		fixByteOrder(cols.Scales, cols.Half, userCol)
	}
	for _, su := range withUsers {
		table, err := ss.segmentUsers(ctx, su.seg)
		if err != nil {
			return vectors.Columns{}, nil, ss.readError(err)
		}
		for i := su.at; i < su.at+su.n; i++ {
			if k := int(userCol[i]); k > 0 && k <= len(table) {
				userOf[cols.IDs[i]] = table[k-1]
			} else if k > len(table) {
				return vectors.Columns{}, nil, errorf(errs.Corrupt, "segment %s names user %d of %d", ss.sn.Segments[su.seg].Name, k, len(table))
			}
		}
	}
	for _, id := range cols.IDs {
		if bk := BucketOf(id); bk < lo || bk >= hi {
			return vectors.Columns{}, nil, errorf(errs.Corrupt, "snapshot %d holds face %s of bucket %d where buckets [%d, %d) should be", ss.Generation, id, bk, lo, hi)
		}
	}
	return cols, userOf, nil
}

// segmentUsers is a segment's users object, read once.
func (ss *ShardSnapshot) segmentUsers(ctx context.Context, seg int) ([]string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if t, ok := ss.users[seg]; ok {
		return t, nil
	}
	info := ss.sn.Segments[seg]
	data, err := ss.s.getLarge(ctx, ss.s.partObject(ss.c, ss.sn, info, info.Users))
	if err != nil {
		return nil, err
	}
	var t []string
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, &errs.Error{Code: errs.Corrupt, Message: "bad users of a segment", Err: err}
	}
	ss.users[seg] = t
	return t, nil
}

// readError tells a snapshot removed meanwhile (GenerationGone) from a failed read.
func (ss *ShardSnapshot) readError(err error) error {
	if errors.Is(err, errVectorMoved) || isNotFound(err) {
		return errorf(errs.GenerationGone, "snapshot %d was replaced while it was read", ss.Generation)
	}
	return storageError("reading a snapshot", err)
}

// fixByteOrder turns little-endian columns read into memory into this machine's order.
func fixByteOrder(scales []float32, half []uint16, users []uint32) {
	for i := range scales {
		scales[i] = math.Float32frombits(binary.LittleEndian.Uint32(vectors.AsBytes(scales[i : i+1])))
	}
	for i := range half {
		half[i] = binary.LittleEndian.Uint16(vectors.AsBytes(half[i : i+1]))
	}
	for i := range users {
		users[i] = binary.LittleEndian.Uint32(vectors.AsBytes(users[i : i+1]))
	}
}
