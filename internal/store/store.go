package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Store keeps the collections of one bucket and prefix. It is safe for concurrent use, and
// several Stores (in several processes) may write the same collection at once.
type Store struct {
	client *minio.Client
	bucket string
	prefix string
	opts   Options

	mu    sync.Mutex
	colls map[string]*collState
}

// collState caches one collection's state; mu serialises this process's writers.
type collState struct {
	mu   sync.Mutex
	coll *Collection
	etag string
	st   *state
}

// NewClient builds a minio-go client that retries little, so that an outage surfaces as a
// fast, retryable StorageUnavailable error instead of a long retry loop.
func NewClient(endpoint, accessKey, secretKey string, secure bool) (*minio.Client, error) {
	return minio.New(endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:     secure,
		MaxRetries: 2,
	})
}

// New returns a Store for the bucket; prefix may be empty.
func New(client *minio.Client, bucket, prefix string, opts Options) *Store {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.ARNPrefix == "" {
		opts.ARNPrefix = "arn:aws:rekognition:local:000000000000"
	}
	if opts.SegmentVectors <= 0 {
		opts.SegmentVectors = 65536
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, opts: opts, colls: map[string]*collState{}}
}

func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.RequestTimeout)
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return storageError("checking the bucket", err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
			return nil
		}
		return storageError("creating the bucket", err)
	}
	return nil
}

var (
	collectionIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,255}$`)
	externalIDPattern   = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]{1,255}$`)
	userIDPattern       = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]{1,128}$`)
)

func validCollectionID(id string) error {
	if !collectionIDPattern.MatchString(id) {
		return errorf(ErrInvalidParameter, "CollectionId %q must match [a-zA-Z0-9_.\\-]{1,255}", id)
	}
	return nil
}

// --- small object helpers ---

func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	return s.getNoTimeout(ctx, key)
}

func (s *Store) getNoTimeout(ctx context.Context, key string) ([]byte, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

func (s *Store) put(ctx context.Context, key string, data []byte, opts minio.PutObjectOptions) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	opts.DisableMultipart = true
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	return err
}

// putNew creates key only if it does not exist; created is false on a lost race.
func (s *Store) putNew(ctx context.Context, key string, data []byte) (created bool, err error) {
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	err = s.put(ctx, key, data, opts)
	if err == nil {
		return true, nil
	}
	if isPreconditionFailed(err) {
		return false, nil
	}
	return false, err
}

// list returns the objects under prefix after startAfter, in key order.
func (s *Store) list(ctx context.Context, prefix, startAfter string, recursive bool, max int) ([]minio.ObjectInfo, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var out []minio.ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, Recursive: recursive}) {
		if o.Err != nil {
			return nil, o.Err
		}
		out = append(out, o)
		if max > 0 && len(out) >= max {
			break
		}
	}
	return out, nil
}

func (s *Store) removePrefix(ctx context.Context, prefix string) error {
	objs := make(chan minio.ObjectInfo)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listErr error
	go func() {
		defer close(objs)
		for o := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			objs <- o
		}
	}()
	for e := range s.client.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !isNotFound(e.Err) {
			cancel()
			for range objs {
			}
			return storageError("removing "+prefix, e.Err)
		}
	}
	return storageError("listing "+prefix, listErr)
}

// --- collections ---

// CreateCollection creates a collection pinned to a face model version and dimension.
func (s *Store) CreateCollection(ctx context.Context, id string, opts CreateCollectionOptions) (*Collection, error) {
	if err := validCollectionID(id); err != nil {
		return nil, err
	}
	if opts.Dimension < 1 || opts.Dimension > MaxDimension {
		return nil, errorf(ErrInvalidParameter, "Dimension %d must be in 1..%d", opts.Dimension, MaxDimension)
	}
	if opts.FaceModelVersion == "" {
		return nil, errorf(ErrInvalidParameter, "FaceModelVersion is required")
	}
	c := &Collection{
		ID: id, FaceModelVersion: opts.FaceModelVersion, Dimension: opts.Dimension,
		CreationTimestamp: time.Now().UTC().Truncate(time.Millisecond),
		ARN:               s.opts.ARNPrefix + ":collection/" + id,
		Incarnation:       uuid.NewString(),
	}
	js, _ := json.Marshal(c)
	created, err := s.putNew(ctx, s.manifestKey(id), js)
	if err != nil {
		return nil, storageError("creating the collection manifest", err)
	}
	if !created {
		return nil, errorf(ErrResourceAlreadyExists, "collection %s already exists", id)
	}
	// Leftovers of an earlier collection with this ID whose deletion was interrupted.
	if err := s.sweepIncarnations(ctx, id, c.Incarnation); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) sweepIncarnations(ctx context.Context, id, keep string) error {
	dirs, err := s.list(ctx, s.collPrefix(id)+"data/", "", false, 0)
	if err != nil {
		return storageError("listing incarnations", err)
	}
	for _, d := range dirs {
		inc := strings.TrimSuffix(strings.TrimPrefix(d.Key, s.collPrefix(id)+"data/"), "/")
		if inc != keep && strings.HasSuffix(d.Key, "/") {
			if err := s.removePrefix(ctx, d.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) readManifest(ctx context.Context, id string) (*Collection, string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	o, err := s.client.GetObject(ctx, s.bucket, s.manifestKey(id), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", storageError("reading the manifest", err)
	}
	defer o.Close()
	data, err := io.ReadAll(o)
	if err != nil {
		if isNotFound(err) {
			return nil, "", errorf(ErrResourceNotFound, "collection %s not found", id)
		}
		return nil, "", storageError("reading the manifest", err)
	}
	info, err := o.Stat()
	if err != nil {
		return nil, "", storageError("reading the manifest", err)
	}
	c := &Collection{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, "", &Error{Code: ErrCorrupt, Message: "bad manifest of " + id, Err: err}
	}
	return c, info.ETag, nil
}

// DescribeCollection returns a collection with its face and user counts.
func (s *Store) DescribeCollection(ctx context.Context, id string) (*CollectionDescription, error) {
	var d *CollectionDescription
	err := s.read(ctx, id, func(c *Collection, st *state) error {
		d = &CollectionDescription{Collection: *c, FaceCount: int64(len(st.faces)), UserCount: int64(len(st.users)), Generation: st.gen}
		return nil
	})
	return d, err
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
func decodeToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 {
		return "", errorf(ErrInvalidPaginationToken, "invalid NextToken")
	}
	return string(b), nil
}

func pageSize(n, def, max int) (int, error) {
	if n < 0 || n > max {
		return 0, errorf(ErrInvalidParameter, "MaxResults %d must be in 0..%d", n, max)
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}

// ListCollections lists collections in ID order.
func (s *Store) ListCollections(ctx context.Context, opts ListOptions) ([]Collection, string, error) {
	max, err := pageSize(opts.MaxResults, 1000, MaxListResults)
	if err != nil {
		return nil, "", err
	}
	after := ""
	if opts.NextToken != "" {
		if after, err = decodeToken(opts.NextToken); err != nil {
			return nil, "", err
		}
		after = s.prefix + "collections/" + after + "/"
	}
	dirs, err := s.list(ctx, s.prefix+"collections/", after, false, 0)
	if err != nil {
		return nil, "", storageError("listing collections", err)
	}
	var out []Collection
	for _, d := range dirs {
		id := strings.TrimSuffix(strings.TrimPrefix(d.Key, s.prefix+"collections/"), "/")
		if !strings.HasSuffix(d.Key, "/") || id == "" {
			continue
		}
		c, _, err := s.readManifest(ctx, id)
		if ErrorCode(err) == ErrResourceNotFound {
			continue // a deletion in progress, or one that was interrupted
		}
		if err != nil {
			return nil, "", err
		}
		if len(out) == max {
			return out, encodeToken(out[len(out)-1].ID), nil
		}
		out = append(out, *c)
	}
	return out, "", nil
}

// DeleteCollection deletes a collection and erases every object of it.
func (s *Store) DeleteCollection(ctx context.Context, id string) error {
	if err := validCollectionID(id); err != nil {
		return err
	}
	c, _, err := s.readManifest(ctx, id)
	if err != nil {
		return err
	}
	// The manifest goes first: from then on the collection does not exist, and what is left
	// of its data is swept here, or by the next CreateCollection with this ID.
	rctx, cancel := s.timeout(ctx)
	err = s.client.RemoveObject(rctx, s.bucket, s.manifestKey(id), minio.RemoveObjectOptions{})
	cancel()
	if err != nil {
		return storageError("removing the manifest", err)
	}
	s.mu.Lock()
	delete(s.colls, id)
	s.mu.Unlock()
	return s.removePrefix(ctx, s.dataPrefix(id, c.Incarnation))
}

// --- state: load, follow, commit ---

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
		if ErrorCode(err) == ErrResourceNotFound {
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
		keys, err := s.list(ctx, s.logPrefix(id, c.Incarnation), s.logKey(id, c.Incarnation, cs.st.gen), true, 1000)
		if err != nil {
			return storageError("listing the log", err)
		}
		if len(keys) == 0 {
			return nil
		}
		for _, k := range keys {
			g, ok := parseGen(k.Key[strings.LastIndexByte(k.Key, '/')+1:])
			if !ok {
				continue
			}
			if g != cs.st.gen+1 {
				return errorf(ErrCorrupt, "log of %s jumps from %d to %d", id, cs.st.gen, g)
			}
			data, err := s.get(ctx, k.Key)
			if err != nil {
				return storageError("reading the log", err)
			}
			e, marker, err := decodeEntry(data, c.Dimension)
			if err != nil {
				return err
			}
			if marker {
				// Compacted: the snapshot holds it.
				st, err := s.loadSnapshotState(ctx, c)
				if err != nil {
					return err
				}
				if st.gen < g {
					return errorf(ErrCorrupt, "commit %d of %s was compacted but the newest snapshot is %d", g, id, st.gen)
				}
				cs.st = st
				break
			}
			cs.st.apply(e)
			cs.st.gen = g
		}
	}
}

// read runs fn on the current state of a collection.
func (s *Store) read(ctx context.Context, id string, fn func(c *Collection, st *state) error) error {
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
func (s *Store) commit(ctx context.Context, id string, decide func(c *Collection, st *state) (*entry, error)) error {
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
			cs.st.apply(e)
			cs.st.gen = gen
			return nil
		}
		if attempt > 1000 {
			return &Error{Code: ErrConflict, Message: "too many concurrent writers", Retryable: true}
		}
		if err := ctx.Err(); err != nil {
			return storageError("committing", err)
		}
	}
}

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
		return nil, &Error{Code: ErrCorrupt, Message: "bad snapshot", Err: err}
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
			return storageErrorKeepNotFound(err)
		}
	}
}

func storageErrorKeepNotFound(err error) error {
	if err == nil {
		return nil
	}
	return storageError("reading a snapshot", err)
}

func (s *Store) snapObject(c *Collection, sn *snapshot, name string) string {
	return s.snapPrefix(c.ID, c.Incarnation) + sn.Dir + "/" + name
}

func (s *Store) loadSnapshotState(ctx context.Context, c *Collection) (*state, error) {
	var st *state
	err := s.withSnapshot(ctx, c, func(sn *snapshot) error {
		st = newState()
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
			return &Error{Code: ErrCorrupt, Message: "bad records", Err: err}
		}
		vecs := map[uuid.UUID][]float32{}
		for _, seg := range sn.Segments {
			err := s.readSegment(ctx, s.snapObject(c, sn, seg.Name), c.Dimension, func(id uuid.UUID, v []float32) {
				vecs[id] = append([]float32(nil), v...)
			})
			if err != nil {
				return err
			}
		}
		for _, r := range recs {
			st.addFace(r, vecs[uuid.MustParse(r.FaceID)])
		}
		data, err = s.get(ctx, s.snapObject(c, sn, "users.json"))
		if err != nil {
			return err
		}
		var users []userSnap
		if err := json.Unmarshal(data, &users); err != nil {
			return &Error{Code: ErrCorrupt, Message: "bad users", Err: err}
		}
		for _, u := range users {
			us := &userState{token: u.Token, faces: map[string]bool{}}
			for _, f := range u.Faces {
				us.faces[f] = true
			}
			st.users[u.UserID] = us
		}
		return nil
	})
	return st, err
}

// readSegment streams a segment's vectors; v is only valid during the call.
func (s *Store) readSegment(ctx context.Context, key string, dim int, fn func(id uuid.UUID, v []float32)) error {
	// A segment is large: allow it more than one request's time.
	ctx, cancel := context.WithTimeout(ctx, 20*s.opts.RequestTimeout)
	defer cancel()
	data, err := s.getNoTimeout(ctx, key)
	if err != nil {
		return err
	}
	if len(data) < 12 || !bytes.HasPrefix(data, segMagic) {
		return errorf(ErrCorrupt, "bad segment %s", key)
	}
	d := int(leUint32(data[4:]))
	n := int(leUint32(data[8:]))
	if d != dim || len(data) != 12+n*(16+4*dim) {
		return errorf(ErrCorrupt, "segment %s has a wrong size", key)
	}
	v := make([]float32, dim)
	off := 12
	for i := 0; i < n; i++ {
		var id uuid.UUID
		copy(id[:], data[off:off+16])
		decodeFloat32s(v, data[off+16:off+16+4*dim])
		fn(id, v)
		off += 16 + 4*dim
	}
	return nil
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
