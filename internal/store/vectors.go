package store

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/vectors"
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

// LoadVectors reads a shard's vectors as float32 (decoded from the snapshot's fp16 re-rank
// column), then the commits after the snapshot: for tests and tools. Index shards read
// columns a bucket range at a time (OpenShardSnapshot).
func (s *Store) LoadVectors(ctx context.Context, coll string, opts LoadVectorsOptions) (*VectorSet, error) {
	for attempt := 0; ; attempt++ {
		vs, err := s.loadVectorsOnce(ctx, coll, opts)
		if errs.Is(err, errs.GenerationGone) && attempt < 10 {
			continue // compacted while we read: start again from the new snapshot
		}
		return vs, err
	}
}

func (s *Store) loadVectorsOnce(ctx context.Context, coll string, opts LoadVectorsOptions) (*VectorSet, error) {
	ss, err := s.OpenShardSnapshot(ctx, coll, opts)
	if err != nil {
		return nil, err
	}
	lo, hi := ShardBuckets(opts.Shard, opts.Shards)
	cols, userOf, err := ss.Read(ctx, lo, hi)
	if err != nil {
		return nil, err
	}
	vs := &VectorSet{Generation: ss.Generation, Dimension: ss.Dimension, FaceModelVersion: ss.FaceModelVersion,
		IDs: cols.IDs, Vectors: make([]float32, cols.Len()*ss.Dimension), UserOf: userOf}
	vectors.FromHalf(cols.Half, vs.Vectors)
	changes, err := s.changes(ctx, ss.c, vs.Generation, opts)
	if err != nil {
		return nil, err
	}
	vs.Apply(changes)
	return vs, nil
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
	compacted, err := s.walkLog(ctx, c, after, true, func(g uint64, _ string, e *entry, _ int64) error {
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	if compacted != 0 {
		return nil, errorf(errs.GenerationGone, "commit %d was compacted", compacted)
	}
	return out, nil
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

// FaceVectors returns the stored (L2-normalised) vectors of faces by FaceId; faces that do
// not exist are absent from the map. It reads those vectors alone, with ranged GETs grouped
// per object, whatever the collection's size; the collection's lock is held only to look
// their places up.
func (s *Store) FaceVectors(ctx context.Context, coll string, faceIDs []string) (map[string][]float32, error) {
	cs := s.collState(coll)
	var moved map[string]bool // objects a read found compacted
	for attempt := 0; ; attempt++ {
		dim, reads, err := s.locate(ctx, coll, cs, faceIDs, moved)
		if err != nil {
			return nil, err
		}
		err = s.readVectors(ctx, dim, reads, 4, nil)
		if errors.Is(err, errVectorMoved) && attempt == 0 {
			// Compacted meanwhile: look the places up again (a compaction in this process
			// has moved them already; another process's needs the new snapshot loaded).
			moved = map[string]bool{}
			for _, r := range reads {
				moved[r.obj.key] = true
			}
			continue
		}
		if errors.Is(err, errVectorMoved) {
			return nil, &errs.Error{Code: errs.StorageUnavailable, Message: "vectors moved by compactions twice in a row", Retryable: true}
		}
		if err != nil {
			return nil, err
		}
		out := make(map[string][]float32, len(reads))
		for _, r := range reads {
			v := make([]float32, dim)
			decodeFloat32s(v, r.dst)
			out[r.id.String()] = v
		}
		return out, nil
	}
}

// locate returns where the faces' vectors are, with buffers to read them into. If one of
// them is still in an object of moved, the collection is loaded again first.
func (s *Store) locate(ctx context.Context, coll string, cs *collState, faceIDs []string, moved map[string]bool) (int, []vecRead, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for reload := 0; ; reload++ {
		if err := s.sync(ctx, coll, cs); err != nil {
			return 0, nil, err
		}
		st := cs.st
		reads := make([]vecRead, 0, len(faceIDs))
		seen := map[uint32]bool{}
		stale := false
		for _, id := range faceIDs {
			slot, ok := st.face(id)
			if !ok || seen[slot] {
				continue
			}
			seen[slot] = true
			r := st.vecRead(slot)
			stale = stale || moved[r.obj.key]
			reads = append(reads, r)
		}
		if !stale || reload > 0 {
			return st.dim, reads, nil
		}
		cs.st = nil
	}
}

// vecRead asks for the vector of the face in slot, into a buffer of its own.
func (st *state) vecRead(slot uint32) vecRead {
	f := &st.recs[slot]
	return vecRead{obj: st.objs.objs[f.vec.obj], pos: f.vec.pos, id: f.id, dst: make([]byte, 4*st.dim)}
}

// faceVectors reads the vectors of faces of st (cs.mu held) that vecs lacks into it. It
// returns errVectorMoved if another process compacted them: commit loads the collection
// again and decides again.
func (s *Store) faceVectors(ctx context.Context, c *Collection, st *state, ids []uuid.UUID, vecs map[uuid.UUID][]float32) error {
	var reads []vecRead
	for _, id := range ids {
		if _, ok := vecs[id]; ok {
			continue
		}
		if slot, ok := st.faces[id]; ok {
			reads = append(reads, st.vecRead(slot))
			vecs[id] = nil // asked for once
		}
	}
	if len(reads) == 0 {
		return nil
	}
	err := s.readVectors(ctx, c.Dimension, reads, 4, nil)
	for _, r := range reads {
		if err != nil {
			delete(vecs, r.id)
			continue
		}
		v := make([]float32, c.Dimension)
		decodeFloat32s(v, r.dst)
		vecs[r.id] = v
	}
	return err
}
