package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// The layout of one collection, under <prefix>/collections/<id>/:
//
//	manifest.json                        the Collection, created with If-None-Match: *
//	data/<incarnation>/log/<gen>         commit number gen (20 digits), created with If-None-Match: *;
//	                                     after compaction it is overwritten with a small marker
//	                                     so that it can never be created again; old markers are
//	                                     deleted, the newest one always kept (see compact.go)
//	data/<incarnation>/snap/<gen>.json   a snapshot of the state after commit gen
//	data/<incarnation>/snap/<gen>-<uuid>/cols-<n>, cols-<n>.users, records-<n>, buckets-<n>
//	                                     (one per run), users-<n>, tokens.json, snapshot.json
//	                                     (the intent of a snapshot that keeps segments); later
//	                                     snapshots keep segments and their records by
//	                                     reference (compact_plan.go). Before: one buckets
//	                                     (format 2); seg-<n> instead of cols-<n>, records.json
//	                                     and users.json in one piece (format 1)
//
// A write is visible once its log object exists; the log object carries the face records
// and vectors it adds, so there is no half-written face. Two writers race for the same next
// log key and exactly one wins; the other reloads, re-validates and tries the next key.

func (s *Store) collPrefix(id string) string  { return CollectionsPrefix(s.prefix) + id + "/" }
func (s *Store) manifestKey(id string) string { return s.collPrefix(id) + "manifest.json" }
func (s *Store) dataPrefix(id, inc string) string {
	return s.collPrefix(id) + "data/" + inc + "/"
}
func (s *Store) logPrefix(id, inc string) string  { return s.dataPrefix(id, inc) + "log/" }
func (s *Store) snapPrefix(id, inc string) string { return s.dataPrefix(id, inc) + "snap/" }
func (s *Store) logKey(id, inc string, gen uint64) string {
	return s.logPrefix(id, inc) + fmt.Sprintf("%020d", gen)
}

func parseGen(name string) (uint64, bool) {
	name = strings.TrimSuffix(name, ".json")
	if len(name) != 20 {
		return 0, false
	}
	g, err := strconv.ParseUint(name, 10, 64)
	return g, err == nil
}

// Buckets is how many buckets a collection's faces are spread over: a face's bucket is the
// top 16 bits of an FNV-1a hash of its 16 bytes. Snapshots store faces in bucket order and
// shard s of N holds the contiguous buckets [ShardBuckets(s, N)), so that a shard reads one
// range of each column, whatever N is, and resharding moves buckets, not faces.
const Buckets = 1 << 16

// BucketOf is the bucket a face is in.
func BucketOf(faceID uuid.UUID) int {
	h := fnv.New32a()
	h.Write(faceID[:])
	return int(h.Sum32() >> 16)
}

// ShardBuckets is the range of buckets [lo, hi) that shard holds of shards.
func ShardBuckets(shard, shards int) (lo, hi int) {
	if shards <= 1 {
		return 0, Buckets
	}
	return (shard*Buckets + shards - 1) / shards, ((shard+1)*Buckets + shards - 1) / shards
}

// ShardOf is the shard (0..shards-1) that holds a face: the one whose bucket range holds
// the face's bucket.
func ShardOf(faceID uuid.UUID, shards int) int {
	if shards <= 1 {
		return 0
	}
	return BucketOf(faceID) * shards / Buckets
}

var (
	entryMagic  = []byte("FSE1")
	markerMagic = []byte("FSC1")
	// deletedMagic marks a commit key of a deleted collection: the commit's content is
	// erased and the key stays taken, so that no commit in flight can land on it.
	deletedMagic = []byte("FSD1")
	segMagic     = []byte("FSS1")
	colsMagic    = []byte("FSS2")
)

// entry is one commit.
type entry struct {
	Added        []FaceRecord `json:"added,omitempty"`
	Deleted      []string     `json:"deleted,omitempty"`
	CreateUser   string       `json:"createUser,omitempty"`
	UserToken    string       `json:"userToken,omitempty"`
	DeleteUser   string       `json:"deleteUser,omitempty"`
	AssocUser    string       `json:"assocUser,omitempty"`
	Associate    []string     `json:"associate,omitempty"`
	Disassociate []string     `json:"disassociate,omitempty"`
	// Token records the ClientRequestToken of the call that made this commit; absent in
	// commits made without one, or before tokens were recorded.
	Token *tokenRecord `json:"token,omitempty"`
	// vectors of Added, in order; stored after the JSON.
	vectors [][]float32
}

// encodeEntry returns a commit object and the offset of its first vector.
func encodeEntry(e *entry) ([]byte, int64) {
	js, _ := json.Marshal(e)
	var b bytes.Buffer
	b.Write(entryMagic)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(js))) // a bytes.Buffer does not fail
	b.Write(js)
	for _, v := range e.vectors {
		b.Write(float32Bytes(v))
	}
	return b.Bytes(), int64(8 + len(js))
}

// entryHeadBytes is how much of a commit object a writer reads first: the header of any
// commit of IndexFaces, without the vectors of a large ImportFaces.
const entryHeadBytes = 64 << 10

// entryHeadLen is the length of a commit's magic and JSON header, from its first 8 bytes.
func entryHeadLen(data []byte) (int, error) {
	if len(data) < 8 || !bytes.HasPrefix(data, entryMagic) {
		return 0, errorf(errs.Corrupt, "bad log entry header")
	}
	return 8 + int(binary.LittleEndian.Uint32(data[4:8])), nil
}

// decodeEntry decodes a commit object, or its head (size is the whole object's: the
// vectors' bytes are checked against it); with vectors, data must be whole. It returns nil,
// true for a compaction marker, and the offset of the commit's first vector.
func decodeEntry(data []byte, size int64, dim int, vectors bool) (e *entry, marker bool, base int64, err error) {
	if bytes.HasPrefix(data, markerMagic) {
		return nil, true, 0, nil
	}
	if bytes.HasPrefix(data, deletedMagic) {
		return nil, false, 0, errorf(errs.ResourceNotFound, "the collection was deleted")
	}
	n, err := entryHeadLen(data)
	if err != nil {
		return nil, false, 0, err
	}
	if n > len(data) {
		return nil, false, 0, errorf(errs.Corrupt, "short log entry")
	}
	e = &entry{}
	if err := json.Unmarshal(data[8:n], e); err != nil {
		return nil, false, 0, &errs.Error{Code: errs.Corrupt, Message: "bad log entry", Err: err}
	}
	if want := int64(len(e.Added) * dim * 4); size-int64(n) != want {
		return nil, false, 0, errorf(errs.Corrupt, "log entry has %d vector bytes, want %d", size-int64(n), want)
	}
	if vectors {
		rest := data[n:]
		if int64(len(data)) != size {
			return nil, false, 0, errorf(errs.Corrupt, "short log entry")
		}
		for i := range e.Added {
			e.vectors = append(e.vectors, bytesFloat32(rest[i*dim*4:(i+1)*dim*4]))
		}
	}
	return e, false, int64(n), nil
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesFloat32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	decodeFloat32s(v, b)
	return v
}

func decodeFloat32s(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// snapshot is the commit object of a snapshot: what it holds and where.
type snapshot struct {
	Generation uint64        `json:"generation"`
	Dir        string        `json:"dir"` // relative to snap/
	Segments   []segmentInfo `json:"segments"`
	// Records are the chunks of face records, in the order of the segments' vectors (record
	// i of the snapshot is vector i); absent in snapshots written before chunks, whose
	// records.json holds them all, in that order too.
	Records   []segmentInfo `json:"records,omitempty"`
	FaceCount int64         `json:"faceCount"`
	UserCount int64         `json:"userCount"`
	// Tokens is the object in Dir holding the live token records, in commit order; empty
	// when there are none, and in snapshots made before tokens were recorded.
	Tokens string `json:"tokens,omitempty"`
	// Users are the chunks of users (userSnap), sorted by UserId; absent in snapshots
	// written before chunks, whose users.json holds them all.
	Users []segmentInfo `json:"users,omitempty"`
	// Format 2: segments of columns in bucket order, and Buckets names the object that says
	// where each bucket starts (Buckets+1 uint32, little-endian: the index of the first face
	// of bucket b, then the face count). Absent (format 1): segments of FaceIds and float32
	// vectors, in no particular order.
	Format  int    `json:"format,omitempty"`
	Buckets string `json:"buckets,omitempty"`
	// Runs (format 3) split Segments into runs, each in bucket order with its own bucket
	// index, in the order of Segments: a snapshot reuses the segments of the one before that
	// no change touched, and adds the faces since in a run of their own. Records[i] then
	// holds the records of Segments[i], and a segment, its users object and its records
	// may be in an older snapshot's directory (their Dir).
	Runs []runInfo `json:"runs,omitempty"`
}

type segmentInfo struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	// Users names the segment's users object (format 2), when a face of it has a user.
	Users string `json:"users,omitempty"`
	// Dir (format 3) is the directory of the objects, relative to snap/, when they are an
	// older snapshot's; empty, the snapshot's own.
	Dir string `json:"dir,omitempty"`
	// UsersHash (format 3, with Users) is usersHash of the faces' users in order: the next
	// compaction tells whether they changed without reading the user column.
	UsersHash string `json:"usersHash,omitempty"`
}

// runInfo is a run of a format-3 snapshot: its next Segments segments, in bucket order, and
// its bucket index (in Dir, or the snapshot's own directory when empty), which says where
// each bucket starts among the run's faces (Buckets+1 uint32, as format 2's).
type runInfo struct {
	Segments int    `json:"segments"`
	Buckets  string `json:"buckets"`
	Dir      string `json:"dir,omitempty"`
}

// snapshotFormat is the format compaction writes.
const snapshotFormat = 3

// runs are a snapshot's runs (format 2: one), with their directories and segments' made
// explicit; nil before format 2.
func (sn *snapshot) runs() []runInfo {
	switch {
	case sn.Format < 2:
		return nil
	case sn.Format == 2:
		return []runInfo{{Segments: len(sn.Segments), Buckets: sn.Buckets, Dir: sn.Dir}}
	}
	out := make([]runInfo, len(sn.Runs))
	for i, r := range sn.Runs {
		out[i] = r
		out[i].Dir = cmp.Or(r.Dir, sn.Dir)
	}
	return out
}

// placed is info with its directory made explicit.
func (sn *snapshot) placed(info segmentInfo) segmentInfo {
	info.Dir = cmp.Or(info.Dir, sn.Dir)
	return info
}

// userSnap is a user in a users chunk: its faces, so that a writer learns them without
// reading every record first.
type userSnap struct {
	UserID string   `json:"userId"`
	Token  string   `json:"token,omitempty"`
	Faces  []string `json:"faces,omitempty"`
}

// A segment of a snapshot before columns (format 1): "FSS1", uint32 dimension, uint32
// count, then count times (16-byte FaceId, dimension little-endian float32). Still read.
const segHeader = 12

func segEntryBytes(dim int) int64 { return 16 + 4*int64(dim) }

// A segment of format 2 stores its faces column by column, in bucket order: "FSS2", uint32
// dimension, uint32 count, uint32 flags (1: a user column follows), then the FaceIds (16
// bytes each), the int8 codes' scales (float32), the int8 codes (dimension bytes each), the
// fp16 re-rank vectors (2*dimension bytes each) and, with flag 1, each face's user as a
// uint32 (0: none; k: entry k-1 of the segment's users object, a JSON list of UserIds).
// All numbers are little-endian.
const colsHeader = 16

// colsBytes is the size of a format-2 segment of n faces.
func colsBytes(dim, n int, users bool) int64 {
	b := colsHeader + int64(n)*(20+3*int64(dim))
	if users {
		b += 4 * int64(n)
	}
	return b
}

// colsOffsets are where a format-2 segment of n faces keeps each column.
type colsOffsets struct{ ids, scales, codes, half, users int64 }

func colsLayout(dim, n int) colsOffsets {
	N, D := int64(n), int64(dim)
	o := colsOffsets{ids: colsHeader}
	o.scales = o.ids + 16*N
	o.codes = o.scales + 4*N
	o.half = o.codes + D*N
	o.users = o.half + 2*D*N
	return o
}

// segmentObject is where a snapshot segment's vectors are, for vecLoc.
func segmentObject(key string, dim, n, format int) vecObject {
	if format >= 2 {
		return vecObject{key: key, base: colsLayout(dim, n).half, stride: 2 * int64(dim), half: true}
	}
	return vecObject{key: key, base: segHeader + 16, stride: segEntryBytes(dim), idBefore: true}
}

func putSegmentHeader(b []byte, dim, n int) {
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(dim))
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
}
