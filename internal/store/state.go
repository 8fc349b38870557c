package store

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// A writer keeps every face's record, not its vector: a face is a faceRec of fixed size,
// without pointers (the garbage collector never scans the records), whose strings are
// indices into an interning table and whose vector is a place in storage (vecLoc). Code that
// needs vectors reads them by range (ranges.go).

// noSlot ends a chain of faces of one image, and is no vector object.
const noSlot = ^uint32(0)

// vecLoc is where a face's vector is stored: vector number pos of object obj (objTable).
type vecLoc struct{ obj, pos uint32 }

// faceRec is one face as a writer keeps it.
type faceRec struct {
	id uuid.UUID
	// img is the ImageId when it is a UUID in canonical form (imgStr 0), which is what the
	// search service makes; other ImageIds are interned in imgStr.
	img  uuid.UUID
	box  BoundingBox
	conf float32
	// String table indices; 0 is "".
	imgStr, ext, model, user uint32
	vec                      vecLoc
	// next is the slot of the next face of the same image (byImage), noSlot at the end.
	next uint32
}

type userState struct {
	// token is CreateUser's ClientRequestToken, kept before token records were: creating
	// the user again with it succeeds for as long as the user exists.
	token string
	// faces has at most MaxFacesPerUser entries: a slice costs less than a map.
	faces []uuid.UUID
}

func (u *userState) status() string {
	if len(u.faces) == 0 {
		return UserStatusCreated
	}
	return UserStatusActive
}

func (u *userState) has(id uuid.UUID) bool { return slices.Contains(u.faces, id) }

func (u *userState) add(id uuid.UUID) {
	if !u.has(id) {
		u.faces = append(u.faces, id)
	}
}

func (u *userState) remove(id uuid.UUID) {
	if i := slices.Index(u.faces, id); i >= 0 {
		// A copy, not in place: a compaction's capture may share the old slice.
		u.faces = slices.Delete(slices.Clone(u.faces), i, i+1)
	}
}

func (u *userState) sortedFaces() []string {
	ids := slices.Clone(u.faces)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// state is a collection's content after commit gen.
type state struct {
	gen uint64
	dim int
	// recs holds the faces by slot; a free slot has the nil id and is in freeRecs.
	recs     []faceRec
	freeRecs []uint32
	faces    map[uuid.UUID]uint32 // FaceId -> slot
	// byImage is the first slot of the faces of an (ImageId, ExternalImageId), by hash;
	// the chain goes on through faceRec.next and holds faces of other images whose hash
	// collides, told apart by comparing.
	byImage map[uint64]uint32
	strs    strTable
	objs    objTable
	users   map[string]*userState
	// sorted caches the FaceIds in order for ListFaces; nil when a face came or went.
	sorted []uuid.UUID
	// tokens are the live token records by tokenKey; tokenOrder holds them in commit order
	// (with records since replaced or forgotten, skipped), oldest first.
	tokens     map[string]*tokenRecord
	tokenOrder []*tokenRecord
	tokenTTL   time.Duration
}

func newState(dim int, tokenTTL time.Duration) *state {
	return &state{
		dim: dim, faces: map[uuid.UUID]uint32{}, byImage: map[uint64]uint32{}, strs: newStrTable(),
		users: map[string]*userState{}, tokens: map[string]*tokenRecord{}, tokenTTL: tokenTTL,
	}
}

// parseID reads a FaceId (or ImageId) in the canonical form the store writes them: another
// spelling of the same UUID is another ID, as it was when records were keyed by string.
func parseID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'F' {
			return uuid.UUID{}, false
		}
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

var imageSeed = maphash.MakeSeed()

// imageHash keys byImage: the same ImageId always takes the same form (UUID or interned
// string), so it always hashes the same.
func imageHash(img uuid.UUID, imgStr, ext string) uint64 {
	var h maphash.Hash
	h.SetSeed(imageSeed)
	if imgStr == "" {
		_ = h.WriteByte(0)
		_, _ = h.Write(img[:])
	} else {
		_ = h.WriteByte(1)
		_, _ = h.WriteString(imgStr)
	}
	_ = h.WriteByte(0)
	_, _ = h.WriteString(ext)
	return h.Sum64()
}

// splitImageID is an ImageId as a faceRec keeps it: a UUID, or a string to intern.
func splitImageID(s string) (uuid.UUID, string) {
	if id, ok := parseID(s); ok {
		return id, ""
	}
	return uuid.UUID{}, s
}

// face returns the slot of a FaceId; ok is false if there is no such face.
func (st *state) face(id string) (uint32, bool) {
	u, ok := parseID(id)
	if !ok {
		return 0, false
	}
	slot, ok := st.faces[u]
	return slot, ok
}

// userOf is the UserId of the face in slot, "" if none.
func (st *state) userOf(slot uint32) string { return st.strs.get(st.recs[slot].user) }

// record is the FaceRecord of the face in slot.
func (st *state) record(slot uint32) FaceRecord { return st.strs.record(&st.recs[slot]) }

func (t *strTable) record(f *faceRec) FaceRecord {
	img := t.get(f.imgStr)
	if f.imgStr == 0 {
		img = f.img.String()
	}
	return FaceRecord{
		FaceID: f.id.String(), UserID: t.get(f.user), ExternalImageID: t.get(f.ext), ImageID: img,
		BoundingBox: f.box, Confidence: f.conf, IndexFacesModelVersion: t.get(f.model),
	}
}

// addFace adds a face whose vector is at loc (whose object is referenced for it here).
func (st *state) addFace(r FaceRecord, loc vecLoc) error {
	id, ok := parseID(r.FaceID)
	if !ok || id == uuid.Nil { // the nil UUID marks a free slot
		return errorf(errs.Corrupt, "bad FaceId %q", r.FaceID)
	}
	if _, dup := st.faces[id]; dup {
		return errorf(errs.Corrupt, "FaceId %s stored twice", r.FaceID)
	}
	img, imgStr := splitImageID(r.ImageID)
	f := faceRec{
		id: id, img: img, box: r.BoundingBox, conf: r.Confidence,
		imgStr: st.strs.intern(imgStr), ext: st.strs.intern(r.ExternalImageID), model: st.strs.intern(r.IndexFacesModelVersion),
		user: st.strs.intern(r.UserID), vec: loc,
	}
	if loc.obj != noSlot {
		st.objs.ref(loc.obj)
	}
	k := imageHash(img, imgStr, r.ExternalImageID)
	f.next = noSlot
	if head, ok := st.byImage[k]; ok {
		f.next = head
	}
	var slot uint32
	if n := len(st.freeRecs); n > 0 {
		slot = st.freeRecs[n-1]
		st.freeRecs = st.freeRecs[:n-1]
		st.recs[slot] = f
	} else {
		slot = uint32(len(st.recs))
		st.recs = append(st.recs, f)
	}
	st.byImage[k] = slot
	st.faces[id] = slot
	if r.UserID != "" {
		if u := st.users[r.UserID]; u != nil {
			u.add(id)
		}
	}
	st.sorted = nil
	return nil
}

func (st *state) removeFace(id uuid.UUID) {
	slot, ok := st.faces[id]
	if !ok {
		return
	}
	f := &st.recs[slot]
	if f.user != 0 {
		if u := st.users[st.strs.get(f.user)]; u != nil {
			u.remove(id)
		}
	}
	// Unlink from the image's chain.
	k := imageHash(f.img, st.strs.get(f.imgStr), st.strs.get(f.ext))
	if head := st.byImage[k]; head == slot {
		if f.next == noSlot {
			delete(st.byImage, k)
		} else {
			st.byImage[k] = f.next
		}
	} else {
		for p := head; p != noSlot; p = st.recs[p].next {
			if st.recs[p].next == slot {
				st.recs[p].next = f.next
				break
			}
		}
	}
	for _, s := range []uint32{f.imgStr, f.ext, f.model, f.user} {
		st.strs.release(s)
	}
	if f.vec.obj != noSlot {
		st.objs.unref(f.vec.obj)
	}
	delete(st.faces, id)
	*f = faceRec{}
	st.freeRecs = append(st.freeRecs, slot)
	st.sorted = nil
}

func (st *state) setUser(slot uint32, userID string) {
	f := &st.recs[slot]
	st.strs.release(f.user)
	f.user = st.strs.intern(userID)
}

// apply applies a commit whose added vectors are in the log object at (key, base); it is
// deterministic, so every process that replays the log gets the same state.
func (st *state) apply(e *entry, key string, base int64) error {
	obj := noSlot
	if len(e.Added) > 0 {
		obj = st.objs.add(vecObject{key: key, base: base, stride: int64(4 * st.dim)})
	}
	for i, r := range e.Added {
		if err := st.addFace(r, vecLoc{obj: obj, pos: uint32(i)}); err != nil {
			return err
		}
	}
	for _, s := range e.Deleted {
		if id, ok := parseID(s); ok {
			st.removeFace(id)
		}
	}
	if e.CreateUser != "" {
		st.users[e.CreateUser] = &userState{token: e.UserToken}
	}
	if e.AssocUser != "" {
		u := st.users[e.AssocUser]
		for _, s := range e.Associate {
			if slot, ok := st.face(s); ok && u != nil {
				st.setUser(slot, e.AssocUser)
				u.add(st.recs[slot].id)
			}
		}
		for _, s := range e.Disassociate {
			if slot, ok := st.face(s); ok && st.userOf(slot) == e.AssocUser {
				st.setUser(slot, "")
				if u != nil {
					u.remove(st.recs[slot].id)
				}
			}
		}
	}
	if e.DeleteUser != "" {
		if u := st.users[e.DeleteUser]; u != nil {
			for _, id := range u.faces {
				if slot, ok := st.faces[id]; ok {
					st.setUser(slot, "")
				}
			}
			delete(st.users, e.DeleteUser)
		}
	}
	if e.Token != nil {
		st.addToken(e.Token)
	}
	return nil
}

// sortedFaceIDs are the FaceIds in order; the canonical strings sort as the bytes do.
func (st *state) sortedFaceIDs() []uuid.UUID {
	if st.sorted == nil {
		ids := make([]uuid.UUID, 0, len(st.faces))
		for id := range st.faces {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		st.sorted = ids
	}
	return st.sorted
}

func (st *state) sortedUserIDs() []string { return sortedKeys(st.users) }

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// strTable interns the strings of records: the model version of every face, the
// ExternalImageId of the faces of one image, a user's ID on each of its faces. Entries are
// counted and their slots reused once no face refers to them.
type strTable struct {
	strs []string
	refs []uint32
	idx  map[string]uint32
	free []uint32
}

func newStrTable() strTable {
	return strTable{strs: []string{""}, refs: []uint32{0}, idx: map[string]uint32{}}
}

func (t *strTable) intern(s string) uint32 {
	if s == "" {
		return 0
	}
	if i, ok := t.idx[s]; ok {
		t.refs[i]++
		return i
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.strs[i], t.refs[i] = s, 1
	} else {
		i = uint32(len(t.strs))
		t.strs = append(t.strs, s)
		t.refs = append(t.refs, 1)
	}
	t.idx[s] = i
	return i
}

func (t *strTable) release(i uint32) {
	if i == 0 {
		return
	}
	if t.refs[i]--; t.refs[i] == 0 {
		delete(t.idx, t.strs[i])
		t.strs[i] = ""
		t.free = append(t.free, i)
	}
}

func (t *strTable) get(i uint32) string { return t.strs[i] }

// vecObject is an object that holds vectors: a log commit or a snapshot segment.
type vecObject struct {
	key string
	// base is the offset of vector 0; vector i is at base+i*stride.
	base, stride int64
	// idBefore: the vector's 16-byte FaceId precedes it (a segment); reads check it.
	idBefore bool
	// half: the vectors are fp16 (a segment of columns), read as float32.
	half bool
	refs int
}

// objTable holds the objects the faces' vectors are in, counted, so that an object no face
// refers to any more (compacted, or all its faces deleted) is forgotten.
type objTable struct {
	objs []vecObject
	free []uint32
}

func (t *objTable) add(o vecObject) uint32 {
	o.refs = 0
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		t.objs[i] = o
		return i
	}
	t.objs = append(t.objs, o)
	return uint32(len(t.objs) - 1)
}

func (t *objTable) ref(i uint32) { t.objs[i].refs++ }

// dropUnused forgets an object that no face came to refer to.
func (t *objTable) dropUnused(i uint32) {
	if t.objs[i].refs <= 0 && t.objs[i].key != "" {
		t.objs[i] = vecObject{}
		t.free = append(t.free, i)
	}
}

func (t *objTable) unref(i uint32) {
	if t.objs[i].refs--; t.objs[i].refs <= 0 {
		t.objs[i] = vecObject{}
		t.free = append(t.free, i)
	}
}
