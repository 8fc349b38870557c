package store

import (
	"bytes"
	"context"
	"io"

	"github.com/minio/minio-go/v7"
)

func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	return s.getWithin(ctx, key)
}

// getLarge is get for the large objects of a snapshot: it allows more than one request's time.
func (s *Store) getLarge(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*s.opts.RequestTimeout)
	defer cancel()
	return s.getWithin(ctx, key)
}

func (s *Store) getWithin(ctx context.Context, key string) ([]byte, error) {
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

const (
	// multipartFrom is the size from which a snapshot object is uploaded in parts: one PUT
	// of hundreds of megabytes would have to succeed whole, in one request's time.
	multipartFrom = 64 << 20
	// partSize is the size of those parts (minio-go keeps a few in memory at once).
	partSize = 16 << 20
)

// putLarge is put for the large objects of a snapshot: it allows more than one request's
// time, and sends an object larger than multipartFrom in parts.
func (s *Store) putLarge(ctx context.Context, key string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 20*s.opts.RequestTimeout)
	defer cancel()
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: partSize, NumThreads: 2}
	opts.DisableMultipart = len(data) <= multipartFrom
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	return err
}

// removeKeys removes objects in batches (one request per thousand keys); a key already gone
// is no error.
func (s *Store) removeKeys(ctx context.Context, keys []string) error {
	objs := make(chan minio.ObjectInfo)
	go func() {
		defer close(objs)
		for _, k := range keys {
			select {
			case objs <- minio.ObjectInfo{Key: k}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	for e := range s.client.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !isNotFound(e.Err) && first == nil {
			first = e.Err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
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
func (s *Store) list(ctx context.Context, prefix, startAfter string, recursive bool, limit int) ([]minio.ObjectInfo, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var out []minio.ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, Recursive: recursive}) {
		if o.Err != nil {
			return nil, o.Err
		}
		out = append(out, o)
		if limit > 0 && len(out) >= limit {
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
