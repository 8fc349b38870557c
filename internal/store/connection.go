package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Connection is how a process reaches a collection's storage: the one description of it
// that the controllers, the index runners and the index role share.
type Connection struct {
	Endpoint, Bucket, Prefix string
	TLS                      bool
	AccessKey, SecretKey     string
}

// key identifies the connection without keeping its secret in a map key as clear text.
func (c Connection) key() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%t\x00%s\x00%s", c.Endpoint, c.Bucket, c.Prefix, c.TLS, c.AccessKey, c.SecretKey))
	return string(sum[:])
}

// Open returns a new Store over the connection.
func Open(conn Connection, opts Options) (*Store, error) {
	mc, err := NewClient(conn.Endpoint, conn.AccessKey, conn.SecretKey, conn.TLS)
	if err != nil {
		return nil, errs.Wrap(errs.InvalidParameter, err, "storage endpoint %q", conn.Endpoint)
	}
	return New(mc, conn.Bucket, conn.Prefix, opts), nil
}

// Pool keeps one Store per connection in use, because a Store caches a collection's
// committed state and two of them in one process would only redo each other's reads. Each
// owner (a collection, an index runner) holds one connection at a time; a Store that no
// owner holds any more, after a credential rotation or a deletion, is dropped with the state
// it cached.
type Pool struct {
	opts Options

	mu     sync.Mutex
	stores map[string]*pooledStore // by Connection.key
	owners map[string]string       // owner -> Connection.key
}

type pooledStore struct {
	store *Store
	refs  int
}

// NewPool returns an empty pool whose stores use opts.
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts, stores: map[string]*pooledStore{}, owners: map[string]string{}}
}

// Acquire returns the Store of conn for owner, and lets go of the one owner held before if
// the connection changed.
func (p *Pool) Acquire(owner string, conn Connection) (*Store, error) {
	k := conn.key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.owners[owner]; ok {
		if old == k {
			return p.stores[k].store, nil
		}
		p.releaseLocked(owner)
	}
	ps, ok := p.stores[k]
	if !ok {
		st, err := Open(conn, p.opts)
		if err != nil {
			return nil, err
		}
		ps = &pooledStore{store: st}
		p.stores[k] = ps
	}
	ps.refs++
	p.owners[owner] = k
	return ps.store, nil
}

// Release lets go of owner's Store; the Store is dropped once no owner holds it.
func (p *Pool) Release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(owner)
}

func (p *Pool) releaseLocked(owner string) {
	k, ok := p.owners[owner]
	if !ok {
		return
	}
	delete(p.owners, owner)
	if ps := p.stores[k]; ps != nil {
		if ps.refs--; ps.refs <= 0 {
			delete(p.stores, k)
		}
	}
}

// Len is the number of Stores the pool keeps.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stores)
}

// ImageObject names an image in storage; an empty Bucket is the store's own.
type ImageObject struct {
	Bucket, Name, Version string
}

// ReadImage reads an image object of at most maxBytes (plus one byte, so that the face engine
// can tell a too-large image from a truncated one). A missing or unreadable object is
// InvalidS3Object; a storage that does not answer, or answers a server error (5xx), a
// timeout or a throttle, is StorageUnavailable.
func (s *Store) ReadImage(ctx context.Context, o ImageObject, maxBytes int64) ([]byte, error) {
	bucket := o.Bucket
	if bucket == "" {
		bucket = s.bucket
	}
	obj, err := s.client.GetObject(ctx, bucket, o.Name, minio.GetObjectOptions{VersionID: o.Version})
	if err != nil {
		return nil, errs.Wrap(errs.InvalidS3Object, err, "cannot read s3://%s/%s", bucket, o.Name)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxBytes+1))
	if err != nil {
		code := errs.InvalidS3Object
		switch resp := minio.ToErrorResponse(err); {
		case resp.Code == "":
			// Not an S3 answer: the storage did not answer at all.
			code = errs.StorageUnavailable
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
			// The storage failed or is busy: the object may well be there.
			code = errs.StorageUnavailable
		}
		return nil, errs.Wrap(code, err, "cannot read s3://%s/%s", bucket, o.Name)
	}
	return data, nil
}
