package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Compact folds the log into a snapshot and erases what is no longer part of the
// collection: the vectors and records of deleted faces are gone from storage for good once
// it returns (biometric data must be erasable). Readers and writers may run meanwhile.
func (s *Store) Compact(ctx context.Context, coll string) error {
	cs := s.collState(coll)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err := s.sync(ctx, coll, cs); err != nil {
		return err
	}
	c, st := cs.coll, cs.st
	g := st.gen
	sn, err := s.latestSnapshot(ctx, c)
	if err != nil {
		return err
	}
	if g > 0 && (sn == nil || sn.Generation < g) {
		if err := s.writeSnapshot(ctx, c, st); err != nil {
			return err
		}
	}
	if g == 0 {
		return nil
	}
	data, err := s.get(ctx, s.snapPrefix(c.ID, c.Incarnation)+fmt.Sprintf("%020d.json", g))
	if err != nil {
		return storageError("reading the new snapshot", err)
	}
	winner := &snapshot{}
	if err := json.Unmarshal(data, winner); err != nil {
		return &errs.Error{Code: errs.Corrupt, Message: "bad snapshot", Err: err}
	}
	// Replace every commit up to g by a marker: the key stays taken, so that a writer with a
	// stale view can never create it again, and the faces it carried are gone.
	commits, err := s.listLog(ctx, c, 0, 0)
	if err != nil {
		return err
	}
	for _, k := range commits {
		if k.gen > g || k.size == int64(len(markerMagic)) {
			continue
		}
		if err := s.put(ctx, k.key, markerMagic, minio.PutObjectOptions{}); err != nil {
			return storageError("compacting the log", err)
		}
	}
	// Remove older snapshots and the leftovers of interrupted or losing compactions.
	objs, err := s.list(ctx, s.snapPrefix(c.ID, c.Incarnation), "", true, 0)
	if err != nil {
		return storageError("listing snapshots", err)
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, s.snapPrefix(c.ID, c.Incarnation))
		dir, _, isDir := strings.Cut(name, "/")
		og, ok := parseGen(strings.SplitN(dir, "-", 2)[0])
		if !ok {
			continue
		}
		if og < g || (og == g && isDir && dir != winner.Dir) {
			rctx, cancel := s.timeout(ctx)
			err := s.client.RemoveObject(rctx, s.bucket, o.Key, minio.RemoveObjectOptions{})
			cancel()
			if err != nil && !isNotFound(err) {
				return storageError("removing an old snapshot", err)
			}
		}
	}
	return nil
}

func (s *Store) writeSnapshot(ctx context.Context, c *Collection, st *state) error {
	dir := fmt.Sprintf("%020d-%s", st.gen, uuid.NewString())
	base := s.snapPrefix(c.ID, c.Incarnation) + dir + "/"
	ids := st.sortedFaceIDs()
	recs := make([]FaceRecord, 0, len(ids))
	sn := &snapshot{Generation: st.gen, Dir: dir, FaceCount: int64(len(ids)), UserCount: int64(len(st.users))}
	for start := 0; start < len(ids); start += s.opts.SegmentVectors {
		end := min(start+s.opts.SegmentVectors, len(ids))
		uids := make([]uuid.UUID, 0, end-start)
		vecs := make([][]float32, 0, end-start)
		for _, id := range ids[start:end] {
			f := st.faces[id]
			uids = append(uids, uuid.MustParse(id))
			vecs = append(vecs, f.vec)
		}
		name := fmt.Sprintf("seg-%05d", len(sn.Segments))
		if err := s.putLarge(ctx, base+name, encodeSegment(c.Dimension, uids, vecs)); err != nil {
			return storageError("writing a segment", err)
		}
		sn.Segments = append(sn.Segments, segmentInfo{Name: name, Count: end - start})
	}
	for _, id := range ids {
		recs = append(recs, st.faces[id].rec)
	}
	js, _ := json.Marshal(recs)
	if err := s.putLarge(ctx, base+"records.json", js); err != nil {
		return storageError("writing records", err)
	}
	var users []userSnap
	for _, id := range st.sortedUserIDs() {
		u := st.users[id]
		users = append(users, userSnap{UserID: id, Token: u.token, Faces: sortedKeys(u.faces)})
	}
	js, _ = json.Marshal(users)
	if err := s.put(ctx, base+"users.json", js, minio.PutObjectOptions{}); err != nil {
		return storageError("writing users", err)
	}
	// Expired records are left out by this process's clock: a collection may see no commit
	// for long after its last call with a token.
	if recs := st.liveTokens(s.opts.Now()); len(recs) > 0 {
		js, _ = json.Marshal(recs)
		if err := s.putLarge(ctx, base+"tokens.json", js); err != nil {
			return storageError("writing token records", err)
		}
		sn.Tokens = "tokens.json"
	}
	js, _ = json.Marshal(sn)
	if _, err := s.putNew(ctx, s.snapPrefix(c.ID, c.Incarnation)+fmt.Sprintf("%020d.json", st.gen), js); err != nil {
		return storageError("committing the snapshot", err)
	}
	return nil
}
