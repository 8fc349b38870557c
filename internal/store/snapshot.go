package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

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

func (s *Store) loadSnapshotState(ctx context.Context, c *Collection) (*state, error) {
	var st *state
	err := s.withSnapshot(ctx, c, func(sn *snapshot) error {
		st = newState(s.opts.IdempotencyTTL)
		if sn == nil {
			return nil
		}
		st.gen = sn.Generation
		data, err := s.get(ctx, s.snapObject(c, sn, "records.json"))
		if err != nil {
			return err
		}
		var recs []FaceRecord
		if err := json.Unmarshal(data, &recs); err != nil {
			return &errs.Error{Code: errs.Corrupt, Message: "bad records", Err: err}
		}
		vecs := map[uuid.UUID][]float32{}
		for _, info := range sn.Segments {
			seg, err := s.readSegment(ctx, c, sn, info)
			if err != nil {
				return err
			}
			for i := 0; i < seg.n; i++ {
				v := make([]float32, c.Dimension)
				seg.vector(i, v)
				vecs[seg.id(i)] = v
			}
		}
		for _, r := range recs {
			st.addFace(r, vecs[uuid.MustParse(r.FaceID)])
		}
		users, err := s.readUsers(ctx, c, sn)
		if err != nil {
			return err
		}
		for _, u := range users {
			us := &userState{token: u.Token, faces: map[string]bool{}}
			for _, f := range u.Faces {
				us.faces[f] = true
			}
			st.users[u.UserID] = us
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

// readUsers reads a snapshot's users.json.
func (s *Store) readUsers(ctx context.Context, c *Collection, sn *snapshot) ([]userSnap, error) {
	data, err := s.get(ctx, s.snapObject(c, sn, "users.json"))
	if err != nil {
		return nil, err
	}
	var users []userSnap
	if err := json.Unmarshal(data, &users); err != nil {
		return nil, &errs.Error{Code: errs.Corrupt, Message: "bad users", Err: err}
	}
	return users, nil
}
