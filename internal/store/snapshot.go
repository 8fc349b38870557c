package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// latestSnapshot returns the newest committed snapshot, or nil.
func (s *Store) latestSnapshot(ctx context.Context, c *Collection) (*snapshot, error) {
	objs, err := s.list(ctx, s.snapPrefix(c.ID, c.Incarnation), "", false, 0)
	if err != nil {
		return nil, storageError("listing snapshots", err)
	}
	var best string
	var bestGen uint64
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, s.snapPrefix(c.ID, c.Incarnation))
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		if g, ok := parseGen(name); ok && (best == "" || g > bestGen) {
			best, bestGen = o.Key, g
		}
	}
	if best == "" {
		return nil, nil
	}
	data, err := s.get(ctx, best)
	if err != nil {
		return nil, storageError("reading a snapshot", err)
	}
	sn := &snapshot{}
	if err := json.Unmarshal(data, sn); err != nil {
		return nil, &errs.Error{Code: errs.Corrupt, Message: "bad snapshot", Err: err}
	}
	return sn, nil
}

// withSnapshot runs load on the newest snapshot, again if a newer compaction removed its
// objects in the meantime.
func (s *Store) withSnapshot(ctx context.Context, c *Collection, load func(sn *snapshot) error) error {
	for attempt := 0; ; attempt++ {
		sn, err := s.latestSnapshot(ctx, c)
		if err != nil {
			return err
		}
		if sn == nil {
			return load(nil)
		}
		err = load(sn)
		if err == nil || !isNotFound(err) || attempt > 10 {
			return storageError("reading a snapshot", err)
		}
	}
}

func (s *Store) snapObject(c *Collection, sn *snapshot, name string) string {
	return s.snapPrefix(c.ID, c.Incarnation) + sn.Dir + "/" + name
}

// partObject is the key of an object of a segment or record chunk (name: its own, or its
// users object's), which may be an older snapshot's (format 3).
func (s *Store) partObject(c *Collection, sn *snapshot, info segmentInfo, name string) string {
	return s.snapPrefix(c.ID, c.Incarnation) + sn.placed(info).Dir + "/" + name
}

// loadSnapshotState reads the newest snapshot's records, users and token records, not its
// vectors: record i of the snapshot is vector i of its segments, which is all a writer keeps
// of it. The records are read one chunk at a time.
func (s *Store) loadSnapshotState(ctx context.Context, c *Collection) (*state, error) {
	var st *state
	err := s.withSnapshot(ctx, c, func(sn *snapshot) error {
		st = newState(c.Dimension, s.opts.IdempotencyTTL)
		if sn == nil {
			return nil
		}
		st.gen = sn.Generation
		// Users first: a record's UserId adds the face to its user.
		users, err := s.readUsers(ctx, c, sn)
		if err != nil {
			return err
		}
		for _, u := range users {
			st.users[u.UserID] = &userState{token: u.Token}
		}
		segs := make([]uint32, len(sn.Segments))
		for i, info := range sn.Segments {
			segs[i] = st.objs.add(segmentObject(s.partObject(c, sn, info, info.Name), c.Dimension, info.Count, sn.Format))
		}
		seg, pos := 0, 0
		add := func(recs []FaceRecord) error {
			for _, r := range recs {
				for seg < len(sn.Segments) && pos == sn.Segments[seg].Count {
					seg, pos = seg+1, 0
				}
				if seg == len(sn.Segments) {
					return errorf(errs.Corrupt, "snapshot %d has more records than vectors", sn.Generation)
				}
				if err := st.addFace(r, vecLoc{obj: segs[seg], pos: uint32(pos)}); err != nil {
					return err
				}
				pos++
			}
			return nil
		}
		chunks := sn.Records
		if chunks == nil && sn.FaceCount > 0 {
			chunks = []segmentInfo{{Name: "records.json", Count: int(sn.FaceCount)}}
		}
		for _, info := range chunks {
			recs, err := s.readRecords(ctx, c, sn, info)
			if err != nil {
				return err
			}
			if err := add(recs); err != nil {
				return err
			}
		}
		if int64(len(st.faces)) != sn.FaceCount {
			return errorf(errs.Corrupt, "snapshot %d has %d records, want %d", sn.Generation, len(st.faces), sn.FaceCount)
		}
		// Users whose faces the records do not name keep them anyway, as users.json says.
		for _, u := range users {
			us := st.users[u.UserID]
			for _, f := range u.Faces {
				if id, ok := parseID(f); ok {
					us.add(id)
				}
			}
		}
		if sn.Tokens != "" {
			recs, err := s.readTokens(ctx, c, sn)
			if err != nil {
				return err
			}
			for _, r := range recs {
				st.addToken(r)
			}
		}
		return nil
	})
	return st, err
}

// readRecords reads a chunk of records (or an old snapshot's records.json).
func (s *Store) readRecords(ctx context.Context, c *Collection, sn *snapshot, info segmentInfo) ([]FaceRecord, error) {
	data, err := s.getLarge(ctx, s.partObject(c, sn, info, info.Name))
	if err != nil {
		return nil, err
	}
	var recs []FaceRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, &errs.Error{Code: errs.Corrupt, Message: "bad records", Err: err}
	}
	if len(recs) != info.Count {
		return nil, errorf(errs.Corrupt, "%s holds %d records, its snapshot says %d", info.Name, len(recs), info.Count)
	}
	return recs, nil
}

// readUsers reads a snapshot's users: its chunks, or an older snapshot's users.json.
func (s *Store) readUsers(ctx context.Context, c *Collection, sn *snapshot) ([]userSnap, error) {
	chunks := sn.Users
	if chunks == nil {
		chunks = []segmentInfo{{Name: "users.json", Count: -1}}
	}
	var users []userSnap
	for _, info := range chunks {
		data, err := s.getLarge(ctx, s.snapObject(c, sn, info.Name))
		if err != nil {
			return nil, err
		}
		var chunk []userSnap
		if err := json.Unmarshal(data, &chunk); err != nil {
			return nil, &errs.Error{Code: errs.Corrupt, Message: "bad users", Err: err}
		}
		if info.Count >= 0 && len(chunk) != info.Count {
			return nil, errorf(errs.Corrupt, "%s holds %d users, its snapshot says %d", info.Name, len(chunk), info.Count)
		}
		users = append(users, chunk...)
	}
	return users, nil
}
