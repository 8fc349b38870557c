package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

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

// Loaded says whether this Store holds a collection's records now, without waiting for a
// load under way (which holds the collection's lock: then it answers false).
func (s *Store) Loaded(coll string) bool {
	cs := s.collState(coll)
	if !cs.mu.TryLock() {
		return false
	}
	defer cs.mu.Unlock()
	return cs.st != nil
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
	// A snapshot's records take seconds per million faces to load: the load outlives the
	// call that started it (an API request's deadline), so that the next call finds it done
	// rather than start it again. Each of its requests has its own timeout.
	lctx := context.WithoutCancel(ctx)
	if cs.st == nil {
		st, err := s.loadSnapshotState(lctx, c)
		if err != nil {
			return err
		}
		cs.st = st
	}
	for {
		applied := true
		compacted, err := s.walkLog(ctx, c, cs.st.gen, false, func(g uint64, key string, e *entry, base int64) error {
			if err := cs.st.apply(e, key, base); err != nil {
				applied = false
				return err
			}
			cs.st.gen = g
			return nil
		})
		if !applied {
			cs.st = nil // half applied
		}
		if err != nil || compacted == 0 {
			return err
		}
		// Compacted: the snapshot holds it.
		st, err := s.loadSnapshotState(lctx, c)
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

// commitWindow bounds the time from a commit's catch-up (the LIST that found the end of
// the log) to its PUT: compaction deletes a marker only once it is MarkerGrace old, so a
// PUT sent within the window can never land on a deleted generation (see Compact).
func (s *Store) commitWindow() time.Duration { return s.opts.MarkerGrace / 2 }

// commit runs decide on the current state; if it returns an entry, the entry is committed as
// the next log object. On a lost race the state is reloaded and decide runs again, so every
// decision is taken on the state it will be applied to.
func (s *Store) commit(ctx context.Context, id string, decide func(_ *Collection, st *state) (*entry, error)) error {
	cs := s.collState(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	moved, late := 0, 0
	for attempt := 0; ; attempt++ {
		listed := time.Now()
		if err := s.sync(ctx, id, cs); err != nil {
			return err
		}
		e, err := decide(cs.coll, cs.st)
		if errors.Is(err, errVectorMoved) {
			// Another process compacted the vectors decide read: load the new snapshot's
			// locations and decide again, once.
			if moved++; moved > 1 {
				return &errs.Error{Code: errs.StorageUnavailable, Message: "vectors moved by compactions twice in a row", Retryable: true}
			}
			cs.st = nil
			continue
		}
		if err != nil || e == nil {
			return err
		}
		if time.Since(listed) > s.commitWindow() {
			// Too long since the log was listed: list it again.
			if late++; late > 3 {
				return &errs.Error{Code: errs.StorageUnavailable, Message: "the storage is too slow to commit in time", Retryable: true}
			}
			continue
		}
		gen := cs.st.gen + 1
		data, base := encodeEntry(e)
		key := s.logKey(id, cs.coll.Incarnation, gen)
		created, err := s.putNew(ctx, key, data)
		if err != nil {
			// The PUT may or may not have landed; the next sync will tell.
			cs.st = nil
			return storageError("writing commit", err)
		}
		if created {
			s.commits.Add(1)
			if err := cs.st.apply(e, key, base); err != nil {
				cs.st = nil
				return err
			}
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
// the end of the log; with vectors, the entries carry their vectors, otherwise only their
// heads are read. It stops at a commit that compaction replaced by a marker, or deleted (a
// gap in the generations), and returns that commit's generation, whose content is now in a
// snapshot; compacted is 0 if it met none.
func (s *Store) walkLog(ctx context.Context, c *Collection, after uint64, vectors bool, fn func(g uint64, key string, e *entry, base int64) error) (compacted uint64, err error) {
	gen := after
	for {
		commits, err := s.listLog(ctx, c, gen, 1000)
		if err != nil || len(commits) == 0 {
			return 0, err
		}
		for _, k := range commits {
			if k.gen != gen+1 {
				return gen + 1, nil
			}
			data, err := s.readCommit(ctx, k, vectors)
			if isNotFound(err) {
				return k.gen, nil // an old marker, deleted since the listing
			}
			if err != nil {
				return 0, storageError("reading the log", err)
			}
			e, marker, base, err := decodeEntry(data, k.size, c.Dimension, vectors)
			if err != nil {
				return 0, err
			}
			if marker {
				return k.gen, nil
			}
			if err := fn(k.gen, k.key, e, base); err != nil {
				return 0, err
			}
			gen = k.gen
		}
	}
}

// readCommit reads a commit object, or its head only: the first entryHeadBytes, and the
// rest of the JSON header if it is longer.
func (s *Store) readCommit(ctx context.Context, k logCommit, vectors bool) ([]byte, error) {
	if vectors || k.size <= entryHeadBytes {
		return s.get(ctx, k.key)
	}
	head, err := s.getHead(ctx, k.key, entryHeadBytes)
	if err != nil {
		return nil, err
	}
	n, err := entryHeadLen(head)
	if err != nil || n <= len(head) {
		return head, err
	}
	return s.getHead(ctx, k.key, int64(n))
}

// getHead reads the first n bytes of an object (fewer if it is shorter).
func (s *Store) getHead(ctx context.Context, key string, n int64) ([]byte, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, n-1); err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}
