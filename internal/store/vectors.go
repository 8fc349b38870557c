package store

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"unsafe"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

// VectorSet is the committed vectors of one shard of a collection, as of Generation.
type VectorSet struct {
	Generation       uint64
	Dimension        int
	FaceModelVersion string
	// IDs[i] owns Vectors[i*Dimension:(i+1)*Dimension] (L2-normalised).
	IDs     []uuid.UUID
	Vectors []float32
	// UserOf holds the faces that belong to a user.
	UserOf map[uuid.UUID]string
}

// LoadVectorsOptions select a shard: the faces f with ShardOf(f, Shards) == Shard.
type LoadVectorsOptions struct {
	Shard, Shards int
}

func (o LoadVectorsOptions) keep(id uuid.UUID) bool {
	return o.Shards <= 1 || ShardOf(id, o.Shards) == o.Shard
}

// Change is one commit as a shard sees it.
type Change struct {
	Generation uint64
	// Added are the new faces of the shard; Vectors is flat, like VectorSet's.
	Added   []uuid.UUID
	Vectors []float32
	Deleted []uuid.UUID
	// User is set with the faces it gained or lost; DeleteUser when a user went away.
	User         string
	Associate    []uuid.UUID
	Disassociate []uuid.UUID
	DeleteUser   string
}

// LoadVectors reads a shard's vectors: the newest snapshot's segments (a few large reads,
// two at a time) and then the commits after it.
func (s *Store) LoadVectors(ctx context.Context, coll string, opts LoadVectorsOptions) (*VectorSet, error) {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		vs, err := s.loadVectorsOnce(ctx, c, opts)
		if ErrorCode(err) == ErrGenerationGone && attempt < 10 {
			continue // compacted while we read: start again from the new snapshot
		}
		return vs, err
	}
}

func (s *Store) loadVectorsOnce(ctx context.Context, c *Collection, opts LoadVectorsOptions) (*VectorSet, error) {
	vs := &VectorSet{Dimension: c.Dimension, FaceModelVersion: c.FaceModelVersion, UserOf: map[uuid.UUID]string{}}
	err := s.withSnapshot(ctx, c, func(sn *snapshot) error {
		vs.IDs, vs.Vectors, vs.Generation = nil, nil, 0
		clear(vs.UserOf)
		if sn == nil {
			return nil
		}
		vs.Generation = sn.Generation
		total := 0
		for _, seg := range sn.Segments {
			total += seg.Count
		}
		if opts.Shards > 1 {
			total = total/opts.Shards + total/(8*opts.Shards) + 16
		}
		// With one shard every segment's place is known: the fetching goroutines decode in
		// parallel, straight into place. Otherwise decoding filters, in order.
		inPlace := opts.Shards <= 1
		starts := make([]int, len(sn.Segments))
		if inPlace {
			for i := 1; i < len(sn.Segments); i++ {
				starts[i] = starts[i-1] + sn.Segments[i-1].Count
			}
			vs.IDs = make([]uuid.UUID, total)
			vs.Vectors = make([]float32, total*c.Dimension)
		} else {
			vs.IDs = make([]uuid.UUID, 0, total)
			vs.Vectors = make([]float32, 0, total*c.Dimension)
		}
		// Fetch two segments at a time while decoding in order.
		type fetched struct {
			data []byte
			err  error
		}
		chans := make([]chan fetched, len(sn.Segments))
		sem := make(chan struct{}, 2)
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for i := range sn.Segments {
			chans[i] = make(chan fetched, 1)
		}
		go func() {
			for i, seg := range sn.Segments {
				select {
				case sem <- struct{}{}:
				case <-fctx.Done():
					return
				}
				go func(i int, key string, size int) {
					rctx, rcancel := context.WithTimeout(fctx, 20*s.opts.RequestTimeout)
					defer rcancel()
					data, err := s.getSized(rctx, key, size)
					if err == nil && inPlace {
						lo, hi := starts[i], starts[i]+sn.Segments[i].Count
						err = decodeSegmentInto(data, c.Dimension, vs.IDs[lo:hi], vs.Vectors[lo*c.Dimension:hi*c.Dimension])
						data = nil
					}
					chans[i] <- fetched{data, err}
				}(i, s.snapObject(c, sn, seg.Name), 12+seg.Count*(16+4*c.Dimension))
			}
		}()
		for i := range sn.Segments {
			var f fetched
			select {
			case f = <-chans[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			<-sem
			if f.err != nil {
				return f.err
			}
			if !inPlace {
				if err := vs.appendSegment(f.data, opts); err != nil {
					return err
				}
			}
		}
		data, err := s.get(ctx, s.snapObject(c, sn, "users.json"))
		if err != nil {
			return err
		}
		var users []userSnap
		if err := json.Unmarshal(data, &users); err != nil {
			return &Error{Code: ErrCorrupt, Message: "bad users", Err: err}
		}
		for _, u := range users {
			for _, f := range u.Faces {
				id, err := uuid.Parse(f)
				if err == nil && opts.keep(id) {
					vs.UserOf[id] = u.UserID
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	changes, err := s.changes(ctx, c, vs.Generation, opts)
	if err != nil {
		return nil, err
	}
	vs.Apply(changes)
	return vs, nil
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

func (vs *VectorSet) appendSegment(data []byte, opts LoadVectorsOptions) error {
	dim := vs.Dimension
	if len(data) < 12 || string(data[:4]) != string(segMagic) || int(leUint32(data[4:])) != dim {
		return errorf(ErrCorrupt, "bad segment")
	}
	n := int(leUint32(data[8:]))
	if len(data) != 12+n*(16+4*dim) {
		return errorf(ErrCorrupt, "segment has a wrong size")
	}
	off := 12
	for i := 0; i < n; i++ {
		var id uuid.UUID
		copy(id[:], data[off:off+16])
		if opts.keep(id) {
			vs.IDs = append(vs.IDs, id)
			start := len(vs.Vectors)
			if cap(vs.Vectors)-start < dim {
				vs.Vectors = slices.Grow(vs.Vectors, max(dim, start/4))
			}
			vs.Vectors = vs.Vectors[:start+dim] // overwritten below: no clearing
			src := data[off+16 : off+16+4*dim]
			if littleEndian {
				copy(unsafe.Slice((*byte)(unsafe.Pointer(&vs.Vectors[start])), 4*dim), src)
			} else {
				decodeFloat32s(vs.Vectors[start:], src)
			}
		}
		off += 16 + 4*dim
	}
	return nil
}

// decodeSegmentInto decodes a whole segment into ids and vecs, which it must fill exactly.
func decodeSegmentInto(data []byte, dim int, ids []uuid.UUID, vecs []float32) error {
	if len(data) < 12 || string(data[:4]) != string(segMagic) || int(leUint32(data[4:])) != dim {
		return errorf(ErrCorrupt, "bad segment")
	}
	n := int(leUint32(data[8:]))
	if n != len(ids) || len(data) != 12+n*(16+4*dim) {
		return errorf(ErrCorrupt, "segment does not match its snapshot")
	}
	off := 12
	for i := 0; i < n; i++ {
		copy(ids[i][:], data[off:off+16])
		src := data[off+16 : off+16+4*dim]
		if littleEndian {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&vecs[i*dim])), 4*dim), src)
		} else {
			decodeFloat32s(vecs[i*dim:(i+1)*dim], src)
		}
		off += 16 + 4*dim
	}
	return nil
}

// Apply applies changes in order; changes at or below vs.Generation are skipped.
func (vs *VectorSet) Apply(changes []Change) {
	dim := vs.Dimension
	var pos map[uuid.UUID]int
	for _, ch := range changes {
		if ch.Generation <= vs.Generation {
			continue
		}
		vs.IDs = append(vs.IDs, ch.Added...)
		vs.Vectors = append(vs.Vectors, ch.Vectors...)
		if len(ch.Deleted) > 0 {
			if pos == nil {
				pos = make(map[uuid.UUID]int, len(vs.IDs))
			}
			clear(pos)
			for i, id := range vs.IDs {
				pos[id] = i
			}
			for _, id := range ch.Deleted {
				i, ok := pos[id]
				if !ok {
					continue
				}
				last := len(vs.IDs) - 1
				vs.IDs[i] = vs.IDs[last]
				pos[vs.IDs[i]] = i
				copy(vs.Vectors[i*dim:(i+1)*dim], vs.Vectors[last*dim:])
				vs.IDs = vs.IDs[:last]
				vs.Vectors = vs.Vectors[:last*dim]
				delete(pos, id)
				delete(vs.UserOf, id)
			}
		}
		ch.ApplyUsers(vs.UserOf)
		vs.Generation = ch.Generation
	}
}

// Changes returns the commits after generation after that touch the shard, in order (an
// empty, cheap answer when there is none: one listing). It fails with GenerationGone when
// compaction folded some of them into a snapshot: load again with LoadVectors.
func (s *Store) Changes(ctx context.Context, coll string, after uint64, opts LoadVectorsOptions) ([]Change, error) {
	c, _, err := s.readManifest(ctx, coll)
	if err != nil {
		return nil, err
	}
	return s.changes(ctx, c, after, opts)
}

func (s *Store) changes(ctx context.Context, c *Collection, after uint64, opts LoadVectorsOptions) ([]Change, error) {
	var out []Change
	gen := after
	for {
		keys, err := s.list(ctx, s.logPrefix(c.ID, c.Incarnation), s.logKey(c.ID, c.Incarnation, gen), true, 1000)
		if err != nil {
			return nil, storageError("listing the log", err)
		}
		if len(keys) == 0 {
			return out, nil
		}
		for _, k := range keys {
			g, ok := parseGen(k.Key[strings.LastIndexByte(k.Key, '/')+1:])
			if !ok {
				continue
			}
			if g != gen+1 {
				return nil, errorf(ErrCorrupt, "log jumps from %d to %d", gen, g)
			}
			data, err := s.get(ctx, k.Key)
			if err != nil {
				return nil, storageError("reading the log", err)
			}
			e, marker, err := decodeEntry(data, c.Dimension)
			if err != nil {
				return nil, err
			}
			if marker {
				return nil, errorf(ErrGenerationGone, "commit %d was compacted", g)
			}
			ch := Change{Generation: g, User: e.AssocUser, DeleteUser: e.DeleteUser}
			for i, r := range e.Added {
				id := uuid.MustParse(r.FaceID)
				if opts.keep(id) {
					ch.Added = append(ch.Added, id)
					ch.Vectors = append(ch.Vectors, e.vectors[i]...)
				}
			}
			ch.Deleted = parseIDs(e.Deleted, opts)
			ch.Associate = parseIDs(e.Associate, opts)
			ch.Disassociate = parseIDs(e.Disassociate, opts)
			out = append(out, ch)
			gen = g
		}
	}
}

func parseIDs(ids []string, opts LoadVectorsOptions) []uuid.UUID {
	var out []uuid.UUID
	for _, s := range ids {
		if id, err := uuid.Parse(s); err == nil && opts.keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// getSized reads an object of a known size into one buffer of that size: no growing copies
// of segments of a hundred megabytes.
func (s *Store) getSized(ctx context.Context, key string, size int) ([]byte, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	buf := make([]byte, size)
	if _, err := io.ReadFull(o, buf); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errorf(ErrCorrupt, "segment %s is shorter than its snapshot says", key)
		}
		return nil, err
	}
	return buf, nil
}

// ApplyUsers applies the change's associations, disassociations and user deletion to a
// face -> user map (a VectorSet's or a shard's).
func (ch Change) ApplyUsers(userOf map[uuid.UUID]string) {
	for _, id := range ch.Associate {
		userOf[id] = ch.User
	}
	for _, id := range ch.Disassociate {
		if userOf[id] == ch.User {
			delete(userOf, id)
		}
	}
	if ch.DeleteUser != "" {
		for id, u := range userOf {
			if u == ch.DeleteUser {
				delete(userOf, id)
			}
		}
	}
}
