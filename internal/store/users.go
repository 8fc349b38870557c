package store

import (
	"context"
	"slices"
	"sort"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// ValidateUserID answers InvalidParameter for a string that is not a UserId
// ([a-zA-Z0-9_.\-:]{1,128}), as CreateUser would.
func ValidateUserID(id string) error { return validUserID(id) }

func validUserID(id string) error {
	if !userIDPattern.MatchString(id) {
		return errorf(errs.InvalidParameter, "UserId %q must match [a-zA-Z0-9_.\\-:]{1,128}", id)
	}
	return nil
}

// CreateUser creates a user with no faces. Creating it again with the same
// ClientRequestToken succeeds; otherwise an existing user is a Conflict.
func (s *Store) CreateUser(ctx context.Context, coll, userID string, opts UserOptions) error {
	if err := validUserID(userID); err != nil {
		return err
	}
	call := idempotent(opCreateUser, coll, opts, userParams{UserID: userID})
	return s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		if r, err := s.replay(st, call); r != nil || err != nil {
			return nil, err
		}
		if u := st.users[userID]; u != nil {
			if opts.ClientRequestToken != "" && u.token == opts.ClientRequestToken {
				return nil, nil
			}
			return nil, errorf(errs.Conflict, "user %s already exists", userID)
		}
		return &entry{CreateUser: userID, UserToken: opts.ClientRequestToken, Token: s.record(call, nil)}, nil
	})
}

// DeleteUser disassociates a user's faces and deletes the user. A retry with the same
// ClientRequestToken succeeds though the user is gone.
func (s *Store) DeleteUser(ctx context.Context, coll, userID string, opts UserOptions) error {
	if err := validUserID(userID); err != nil {
		return err
	}
	call := idempotent(opDeleteUser, coll, opts, userParams{UserID: userID})
	return s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		if r, err := s.replay(st, call); r != nil || err != nil {
			return nil, err
		}
		if st.users[userID] == nil {
			return nil, errorf(errs.ResourceNotFound, "user %s not found", userID)
		}
		return &entry{DeleteUser: userID, Token: s.record(call, nil)}, nil
	})
}

// answer is the result of a user call made with a token: a commit with the effect (if any)
// and the token's record, so that a retry gets this answer whatever happens meanwhile.
func (s *Store) answer(call idempotentCall, e *entry, res *AssociateFacesResult) *entry {
	r := s.record(call, res)
	if e == nil && r == nil {
		return nil
	}
	if e == nil {
		e = &entry{}
	}
	e.Token = r
	return e
}

// replayed is a recorded result, copied for the caller.
func replayed(r *tokenRecord) *AssociateFacesResult {
	if res := r.Result.clone(); res != nil {
		return res
	}
	return &AssociateFacesResult{}
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, coll, userID string) (*User, error) {
	var out *User
	err := s.read(ctx, coll, func(_ *Collection, st *state) error {
		u := st.users[userID]
		if u == nil {
			return errorf(errs.ResourceNotFound, "user %s not found", userID)
		}
		out = &User{UserID: userID, UserStatus: u.status()}
		return nil
	})
	return out, err
}

// ListUsers lists users in UserId order.
func (s *Store) ListUsers(ctx context.Context, coll string, opts ListOptions) ([]User, string, error) {
	limit, after, err := page(opts.MaxResults, opts.NextToken, MaxListUsersResults, MaxListUsersResults)
	if err != nil {
		return nil, "", err
	}
	var out []User
	next := ""
	err = s.read(ctx, coll, func(_ *Collection, st *state) error {
		ids := st.sortedUserIDs()
		start := sort.SearchStrings(ids, after)
		if start < len(ids) && ids[start] == after {
			start++
		}
		for _, id := range ids[start:] {
			if len(out) == limit {
				next = encodeToken(out[len(out)-1].UserID)
				break
			}
			out = append(out, User{UserID: id, UserStatus: st.users[id].status()})
		}
		return nil
	})
	return out, next, err
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// AssociateFaces adds faces to a user with Rekognition's rules: at most 100 faces per user,
// a face on one user only, and once the user has faces a new face must reach
// UserMatchThreshold against the best of them.
func (s *Store) AssociateFaces(ctx context.Context, coll, userID string, faceIDs []string, opts AssociateFacesOptions) (*AssociateFacesResult, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	if len(faceIDs) == 0 || len(faceIDs) > MaxFacesPerAssociation {
		return nil, errorf(errs.InvalidParameter, "FaceIds must hold 1..%d IDs", MaxFacesPerAssociation)
	}
	threshold := float32(DefaultUserMatchThreshold)
	if opts.UserMatchThreshold != nil {
		threshold = *opts.UserMatchThreshold
	}
	sim := opts.Similarity
	if sim == nil {
		sim = func(c float32) float32 { return 100 * max(c, 0) }
	}
	call := idempotent(opAssociateFaces, coll, opts.UserOptions, userParams{UserID: userID, FaceIDs: faceIDs, Threshold: threshold})
	var res *AssociateFacesResult
	vecs := map[uuid.UUID][]float32{} // read once for all attempts: a face's vector never changes
	err := s.commit(ctx, coll, func(c *Collection, st *state) (*entry, error) {
		if r, err := s.replay(st, call); r != nil || err != nil {
			if r != nil {
				res = replayed(r)
			}
			return nil, err
		}
		u := st.users[userID]
		if u == nil {
			return nil, errorf(errs.ResourceNotFound, "user %s not found", userID)
		}
		// The vectors the threshold needs: the candidates' and the user's faces'.
		if len(u.faces) > 0 {
			want := slices.Clone(u.faces)
			for _, id := range faceIDs {
				if slot, ok := st.face(id); ok && st.userOf(slot) == "" {
					want = append(want, st.recs[slot].id)
				}
			}
			if err := s.faceVectors(ctx, c, st, want, vecs); err != nil {
				return nil, err
			}
		}
		res = &AssociateFacesResult{}
		e := &entry{AssocUser: userID}
		seen := map[string]bool{}
		added := 0
		for _, id := range faceIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			slot, ok := st.face(id)
			owner := ""
			if ok {
				owner = st.userOf(slot)
			}
			switch {
			case !ok:
				res.Unsuccessful = append(res.Unsuccessful, FaceAssociationFailure{FaceID: id, Reasons: []string{ReasonFaceNotFound}})
				continue
			case owner == userID:
				res.Associated = append(res.Associated, id) // already there: ignored
				continue
			case owner != "":
				res.Unsuccessful = append(res.Unsuccessful, FaceAssociationFailure{FaceID: id, UserID: owner, Reasons: []string{ReasonAssociatedToADifferentUser}})
				continue
			}
			if len(u.faces) > 0 {
				best := float32(-1)
				v := vecs[st.recs[slot].id]
				for _, fid := range u.faces {
					if g, ok := vecs[fid]; ok {
						best = max(best, dot(v, g))
					}
				}
				if conf := sim(best); conf < threshold {
					res.Unsuccessful = append(res.Unsuccessful, FaceAssociationFailure{FaceID: id, UserID: userID, Confidence: conf, Reasons: []string{ReasonLowMatchConfidence}})
					continue
				}
			}
			e.Associate = append(e.Associate, id)
			res.Associated = append(res.Associated, id)
			added++
		}
		if len(u.faces)+added > MaxFacesPerUser {
			return nil, errorf(errs.ServiceQuotaExceeded, "user %s would hold %d faces; at most %d", userID, len(u.faces)+added, MaxFacesPerUser)
		}
		res.UserStatus = u.status()
		if added > 0 {
			res.UserStatus = UserStatusActive
			return s.answer(call, e, res), nil
		}
		return s.answer(call, nil, res), nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// DisassociateFaces removes faces from a user.
func (s *Store) DisassociateFaces(ctx context.Context, coll, userID string, faceIDs []string, opts UserOptions) (*AssociateFacesResult, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	if len(faceIDs) == 0 || len(faceIDs) > MaxFacesPerAssociation {
		return nil, errorf(errs.InvalidParameter, "FaceIds must hold 1..%d IDs", MaxFacesPerAssociation)
	}
	call := idempotent(opDisassociateFaces, coll, opts, userParams{UserID: userID, FaceIDs: faceIDs})
	var res *AssociateFacesResult
	err := s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		if r, err := s.replay(st, call); r != nil || err != nil {
			if r != nil {
				res = replayed(r)
			}
			return nil, err
		}
		u := st.users[userID]
		if u == nil {
			return nil, errorf(errs.ResourceNotFound, "user %s not found", userID)
		}
		res = &AssociateFacesResult{}
		e := &entry{AssocUser: userID}
		seen := map[string]bool{}
		for _, id := range faceIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			slot, ok := st.face(id)
			switch {
			case !ok:
				res.Unsuccessful = append(res.Unsuccessful, FaceAssociationFailure{FaceID: id, Reasons: []string{ReasonFaceNotFound}})
			case st.userOf(slot) != userID:
				res.Unsuccessful = append(res.Unsuccessful, FaceAssociationFailure{FaceID: id, UserID: st.userOf(slot), Reasons: []string{ReasonAssociatedToADifferentUser}})
			default:
				e.Disassociate = append(e.Disassociate, id)
				res.Associated = append(res.Associated, id)
			}
		}
		remaining := len(u.faces) - len(e.Disassociate)
		res.UserStatus = UserStatusActive
		if remaining == 0 {
			res.UserStatus = UserStatusCreated
		}
		if len(e.Disassociate) == 0 {
			return s.answer(call, nil, res), nil
		}
		return s.answer(call, e, res), nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// EraseUser deletes a user and erases every face of it in one commit: no reader ever sees
// the user gone while its faces are still stored, nor a half-erased user. It returns how
// many faces were erased; a user that does not exist erases nothing. The bytes of the
// erased vectors leave storage at the next compaction.
func (s *Store) EraseUser(ctx context.Context, coll, userID string) (int, error) {
	if err := validUserID(userID); err != nil {
		return 0, err
	}
	erased := 0
	err := s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		erased = 0
		u := st.users[userID]
		if u == nil {
			return nil, nil
		}
		e := &entry{DeleteUser: userID, Deleted: u.sortedFaces()}
		erased = len(e.Deleted)
		return e, nil
	})
	return erased, err
}

// EraseUserFaces takes faces off a user and erases them in one commit. Faces of no user
// are erased too; faces of another user, and unknown ones, are left alone and not counted.
// It returns the faces erased.
func (s *Store) EraseUserFaces(ctx context.Context, coll, userID string, faceIDs []string) ([]string, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	if len(faceIDs) > MaxListResults {
		return nil, errorf(errs.InvalidParameter, "FaceIds must hold at most %d IDs", MaxListResults)
	}
	var erased []string
	err := s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		erased = nil
		seen := map[string]bool{}
		for _, id := range faceIDs {
			if slot, ok := st.face(id); ok && !seen[id] && (st.userOf(slot) == userID || st.userOf(slot) == "") {
				seen[id] = true
				erased = append(erased, id)
			}
		}
		if len(erased) == 0 {
			return nil, nil
		}
		return &entry{Deleted: erased}, nil
	})
	return erased, err
}
