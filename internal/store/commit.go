package store

import (
	"context"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

func (s *Store) collState(id string) *collState {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.colls[id]
	if cs == nil {
		cs = &collState{}
		s.colls[id] = cs
	}
	return cs
}

// KnownGeneration is the last commit of a collection that this Store has written or read,
// without any I/O: a searcher waits for its shards to reach it, so that a face this process
// just indexed is found by the next search (read-your-writes).
func (s *Store) KnownGeneration(coll string) uint64 {
	cs := s.collState(coll)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.st == nil {
		return 0
	}
	return cs.st.gen
}

// sync brings cs up to the last commit. cs.mu must be held.
func (s *Store) sync(ctx context.Context, id string, cs *collState) error {
	if err := validCollectionID(id); err != nil {
		return err
	}
	c, etag, err := s.readManifest(ctx, id)
	if err != nil {
		if errs.Is(err, errs.ResourceNotFound) {
			cs.coll, cs.st, cs.etag = nil, nil, ""
		}
		return err
	}
	if etag != cs.etag || cs.coll == nil || cs.coll.Incarnation != c.Incarnation {
		cs.coll, cs.etag, cs.st = c, etag, nil
	}
	if cs.st == nil {
		st, err := s.loadSnapshotState(ctx, c)
		if err != nil {
			return err
		}
		cs.st = st
	}
	for {
		compacted, err := s.walkLog(ctx, c, cs.st.gen, func(g uint64, e *entry) error {
			cs.st.apply(e)
			cs.st.gen = g
			return nil
		})
		if err != nil || compacted == 0 {
			return err
		}
		// Compacted: the snapshot holds it.
		st, err := s.loadSnapshotState(ctx, c)
		if err != nil {
			return err
		}
		if st.gen < compacted {
			return errorf(errs.Corrupt, "commit %d of %s was compacted but the newest snapshot is %d", compacted, id, st.gen)
		}
		cs.st = st
	}
}

// read runs fn on the current state of a collection.
func (s *Store) read(ctx context.Context, id string, fn func(_ *Collection, st *state) error) error {
	cs := s.collState(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err := s.sync(ctx, id, cs); err != nil {
		return err
	}
	return fn(cs.coll, cs.st)
}

// commit runs decide on the current state; if it returns an entry, the entry is committed as
// the next log object. On a lost race the state is reloaded and decide runs again, so every
// decision is taken on the state it will be applied to.
func (s *Store) commit(ctx context.Context, id string, decide func(_ *Collection, st *state) (*entry, error)) error {
	cs := s.collState(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := s.sync(ctx, id, cs); err != nil {
			return err
		}
		e, err := decide(cs.coll, cs.st)
		if err != nil || e == nil {
			return err
		}
		gen := cs.st.gen + 1
		created, err := s.putNew(ctx, s.logKey(id, cs.coll.Incarnation, gen), encodeEntry(e))
		if err != nil {
			// The PUT may or may not have landed; the next sync will tell.
			cs.st = nil
			return storageError("writing commit", err)
		}
		if created {
			s.commits.Add(1)
			cs.st.apply(e)
			cs.st.gen = gen
			return nil
		}
		s.lostRaces.Add(1)
		if attempt > 1000 {
			return &errs.Error{Code: errs.Conflict, Message: "too many concurrent writers", Retryable: true}
		}
		if err := ctx.Err(); err != nil {
			return storageError("committing", err)
		}
	}
}

// logCommit is a commit object found by listLog.
type logCommit struct {
	gen  uint64
	key  string
	size int64
}

// listLog lists the commits after generation after, in order, at most limit of them (0: all).
// Other objects under log/ are skipped.
func (s *Store) listLog(ctx context.Context, c *Collection, after uint64, limit int) ([]logCommit, error) {
	objs, err := s.list(ctx, s.logPrefix(c.ID, c.Incarnation), s.logKey(c.ID, c.Incarnation, after), true, limit)
	if err != nil {
		return nil, storageError("listing the log", err)
	}
	out := make([]logCommit, 0, len(objs))
	for _, o := range objs {
		if g, ok := parseGen(o.Key[strings.LastIndexByte(o.Key, '/')+1:]); ok {
			out = append(out, logCommit{gen: g, key: o.Key, size: o.Size})
		}
	}
	return out, nil
}

// walkLog reads the commits after generation after and calls fn on each, in order, up to
// the end of the log. It stops at a commit that compaction replaced by a marker and returns
// that commit's generation, whose content is now in a snapshot; compacted is 0 if it met
// none.
func (s *Store) walkLog(ctx context.Context, c *Collection, after uint64, fn func(g uint64, e *entry) error) (compacted uint64, err error) {
	gen := after
	for {
		commits, err := s.listLog(ctx, c, gen, 1000)
		if err != nil || len(commits) == 0 {
			return 0, err
		}
		for _, k := range commits {
			if k.gen != gen+1 {
				return 0, errorf(errs.Corrupt, "log of %s jumps from %d to %d", c.ID, gen, k.gen)
			}
			data, err := s.get(ctx, k.key)
			if err != nil {
				return 0, storageError("reading the log", err)
			}
			e, marker, err := decodeEntry(data, c.Dimension)
			if err != nil {
				return 0, err
			}
			if marker {
				return k.gen, nil
			}
			if err := fn(k.gen, e); err != nil {
				return 0, err
			}
			gen = k.gen
		}
	}
}
