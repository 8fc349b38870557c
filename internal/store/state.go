package store

import (
	"sort"
	"time"
)

type faceState struct {
	rec FaceRecord
	vec []float32
}

type userState struct {
	// token is CreateUser's ClientRequestToken, kept before token records were: creating
	// the user again with it succeeds for as long as the user exists.
	token string
	faces map[string]bool
}

func (u *userState) status() string {
	if len(u.faces) == 0 {
		return UserStatusCreated
	}
	return UserStatusActive
}

// state is a collection's content after commit gen.
type state struct {
	gen     uint64
	faces   map[string]*faceState
	byImage map[string][]string
	users   map[string]*userState
	// tokens are the live token records by tokenKey; tokenOrder holds them in commit order
	// (with records since replaced or forgotten, skipped), oldest first.
	tokens     map[string]*tokenRecord
	tokenOrder []*tokenRecord
	tokenTTL   time.Duration
}

func newState(tokenTTL time.Duration) *state {
	return &state{
		faces: map[string]*faceState{}, byImage: map[string][]string{}, users: map[string]*userState{},
		tokens: map[string]*tokenRecord{}, tokenTTL: tokenTTL,
	}
}

func imageKey(imageID, externalImageID string) string { return imageID + "\x00" + externalImageID }

func (st *state) addFace(rec FaceRecord, vec []float32) {
	st.faces[rec.FaceID] = &faceState{rec: rec, vec: vec}
	k := imageKey(rec.ImageID, rec.ExternalImageID)
	st.byImage[k] = append(st.byImage[k], rec.FaceID)
}

func (st *state) removeFace(id string) {
	f, ok := st.faces[id]
	if !ok {
		return
	}
	if f.rec.UserID != "" {
		if u := st.users[f.rec.UserID]; u != nil {
			delete(u.faces, id)
		}
	}
	delete(st.faces, id)
	k := imageKey(f.rec.ImageID, f.rec.ExternalImageID)
	ids := st.byImage[k]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(st.byImage, k)
	} else {
		st.byImage[k] = ids
	}
	// Let the vector's memory go; erasure in storage is Compact's job.
	for i := range f.vec {
		f.vec[i] = 0
	}
}

// apply applies a commit; it is deterministic, so every process that replays the log gets
// the same state.
func (st *state) apply(e *entry) {
	for i, r := range e.Added {
		st.addFace(r, e.vectors[i])
	}
	for _, id := range e.Deleted {
		st.removeFace(id)
	}
	if e.CreateUser != "" {
		st.users[e.CreateUser] = &userState{token: e.UserToken, faces: map[string]bool{}}
	}
	if e.AssocUser != "" {
		u := st.users[e.AssocUser]
		for _, id := range e.Associate {
			if f := st.faces[id]; f != nil && u != nil {
				f.rec.UserID = e.AssocUser
				u.faces[id] = true
			}
		}
		for _, id := range e.Disassociate {
			if f := st.faces[id]; f != nil && f.rec.UserID == e.AssocUser {
				f.rec.UserID = ""
				if u != nil {
					delete(u.faces, id)
				}
			}
		}
	}
	if e.DeleteUser != "" {
		if u := st.users[e.DeleteUser]; u != nil {
			for id := range u.faces {
				if f := st.faces[id]; f != nil {
					f.rec.UserID = ""
				}
			}
			delete(st.users, e.DeleteUser)
		}
	}
	if e.Token != nil {
		st.addToken(e.Token)
	}
}

func (st *state) sortedFaceIDs() []string { return sortedKeys(st.faces) }
func (st *state) sortedUserIDs() []string { return sortedKeys(st.users) }

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
