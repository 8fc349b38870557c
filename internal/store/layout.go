package store

import (
	"bytes"
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
//	                                     so that it can never be created again
//	data/<incarnation>/snap/<gen>.json   a snapshot of the state after commit gen
//	data/<incarnation>/snap/<gen>-<uuid>/records.json, users.json, seg-<n>, tokens.json
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

// ShardOf is the shard (0..shards-1) that holds a face: an FNV-1a hash of its 16 bytes.
func ShardOf(faceID uuid.UUID, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write(faceID[:])
	return int(h.Sum32() % uint32(shards))
}

var (
	entryMagic  = []byte("FSE1")
	markerMagic = []byte("FSC1")
	// deletedMagic marks a commit key of a deleted collection: the commit's content is
	// erased and the key stays taken, so that no commit in flight can land on it.
	deletedMagic = []byte("FSD1")
	segMagic     = []byte("FSS1")
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

func encodeEntry(e *entry) []byte {
	js, _ := json.Marshal(e)
	var b bytes.Buffer
	b.Write(entryMagic)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(js))) // a bytes.Buffer does not fail
	b.Write(js)
	for _, v := range e.vectors {
		b.Write(float32Bytes(v))
	}
	return b.Bytes()
}

// decodeEntry returns nil, true for a compaction marker.
func decodeEntry(data []byte, dim int) (*entry, bool, error) {
	if bytes.HasPrefix(data, markerMagic) {
		return nil, true, nil
	}
	if bytes.HasPrefix(data, deletedMagic) {
		return nil, false, errorf(errs.ResourceNotFound, "the collection was deleted")
	}
	if len(data) < 8 || !bytes.HasPrefix(data, entryMagic) {
		return nil, false, errorf(errs.Corrupt, "bad log entry header")
	}
	n := int(binary.LittleEndian.Uint32(data[4:8]))
	if 8+n > len(data) {
		return nil, false, errorf(errs.Corrupt, "short log entry")
	}
	e := &entry{}
	if err := json.Unmarshal(data[8:8+n], e); err != nil {
		return nil, false, &errs.Error{Code: errs.Corrupt, Message: "bad log entry", Err: err}
	}
	rest := data[8+n:]
	if len(rest) != len(e.Added)*dim*4 {
		return nil, false, errorf(errs.Corrupt, "log entry has %d vector bytes, want %d", len(rest), len(e.Added)*dim*4)
	}
	for i := range e.Added {
		e.vectors = append(e.vectors, bytesFloat32(rest[i*dim*4:(i+1)*dim*4]))
	}
	return e, false, nil
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
	FaceCount  int64         `json:"faceCount"`
	UserCount  int64         `json:"userCount"`
	// Tokens is the object in Dir holding the live token records, in commit order; empty
	// when there are none, and in snapshots made before tokens were recorded.
	Tokens string `json:"tokens,omitempty"`
}

type segmentInfo struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// userSnap is a user in users.json: the faces, so that a shard learns face -> user from
// this small object and never needs records.json.
type userSnap struct {
	UserID string   `json:"userId"`
	Token  string   `json:"token,omitempty"`
	Faces  []string `json:"faces,omitempty"`
}

// A segment: "FSS1", uint32 dimension, uint32 count, then count times (16-byte FaceId,
// dimension little-endian float32).
func encodeSegment(dim int, ids []uuid.UUID, vecs [][]float32) []byte {
	b := make([]byte, 12, 12+len(ids)*(16+4*dim))
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(dim))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(ids)))
	for i, id := range ids {
		b = append(b, id[:]...)
		for _, x := range vecs[i] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}
