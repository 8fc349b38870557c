package store

import (
	"bytes"
	"context"
	"io"
	"time"

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

// Variables for the tests, which upload in parts without writing hundreds of megabytes.
var (
	// multipartFrom is the size from which a snapshot object is uploaded in parts: one PUT
	// of hundreds of megabytes would have to succeed whole, in one request's time.
	multipartFrom = 64 << 20
	// partSize is the size of those parts (S3 takes 5 MiB at least).
	partSize = 16 << 20
)

// putLarge is put for the large objects of a snapshot, at the pace of p (nil: at once): it
// allows more than one request's time, and sends an object larger than multipartFrom in
// parts, one at a time, so that only a part is ever in flight.
func (s *Store) putLarge(ctx context.Context, key string, data []byte, p *pacer) error {
	if len(data) > multipartFrom {
		return s.putParts(ctx, key, data, p)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*s.opts.RequestTimeout+p.duration(int64(len(data))))
	defer cancel()
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	_, err := s.client.PutObject(ctx, s.bucket, key, paced(ctx, bytes.NewReader(data), p), int64(len(data)), opts)
	return err
}

// uploadingSuffix names the intent object of an upload in parts: MinIO lists the uploads of
// one key only, never of a prefix, so that one a killed process left behind is found
// through its intent (abortUploads).
const uploadingSuffix = ".uploading"

// putParts uploads data in parts of partSize. A failed upload is aborted; one a killed
// process left behind is aborted by the next compaction, through the intent object written
// first.
func (s *Store) putParts(ctx context.Context, key string, data []byte, p *pacer) error {
	core := minio.Core{Client: s.client}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	limit := 4 * s.opts.RequestTimeout
	if err := s.put(ctx, key+uploadingSuffix, nil, minio.PutObjectOptions{}); err != nil {
		return err
	}
	id, err := within(ctx, limit, func(ctx context.Context) (string, error) {
		return core.NewMultipartUpload(ctx, s.bucket, key, opts)
	})
	if err != nil {
		return err
	}
	var parts []minio.CompletePart
	for off := 0; off < len(data) && err == nil; off += partSize {
		part := data[off:min(off+partSize, len(data))]
		var info minio.ObjectPart
		info, err = within(ctx, limit+p.duration(int64(len(part))), func(ctx context.Context) (minio.ObjectPart, error) {
			return core.PutObjectPart(ctx, s.bucket, key, id, len(parts)+1, paced(ctx, bytes.NewReader(part), p), int64(len(part)), minio.PutObjectPartOptions{})
		})
		parts = append(parts, minio.CompletePart{PartNumber: info.PartNumber, ETag: info.ETag})
	}
	if err == nil {
		_, err = within(ctx, limit, func(ctx context.Context) (minio.UploadInfo, error) {
			return core.CompleteMultipartUpload(ctx, s.bucket, key, id, parts, opts)
		})
	}
	if err != nil {
		actx, cancel := s.timeout(context.WithoutCancel(ctx))
		defer cancel()
		_ = core.AbortMultipartUpload(actx, s.bucket, key, id)
		return err
	}
	// Once the object is complete its intent has no use; one left by a failure here is
	// harmless and goes with the snapshot.
	rctx, cancel := s.timeout(ctx)
	defer cancel()
	_ = s.client.RemoveObject(rctx, s.bucket, key+uploadingSuffix, minio.RemoveObjectOptions{})
	return nil
}

// within runs a request with a deadline d from now.
func within[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}

// removeBatch is how many keys one multi-object delete removes: a thousand at once keep a
// small MinIO's disk busy for long enough to stall the commits of other callers.
const removeBatch = 100

// removeKeys removes objects in batches, at the pace of p; a key already gone is no error.
func (s *Store) removeKeys(ctx context.Context, keys []string, p *pacer) error {
	for len(keys) > 0 {
		batch := keys[:min(removeBatch, len(keys))]
		if err := p.wait(ctx, len(batch)*deleteCost); err != nil {
			return err
		}
		keys = keys[len(batch):]
		objs := make(chan minio.ObjectInfo, len(batch))
		for _, k := range batch {
			objs <- minio.ObjectInfo{Key: k}
		}
		close(objs)
		rctx, cancel := s.timeout(ctx)
		var first error
		for e := range s.client.RemoveObjects(rctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
			if e.Err != nil && !isNotFound(e.Err) && first == nil {
				first = e.Err
			}
		}
		cancel()
		if first != nil {
			return first
		}
	}
	return ctx.Err()
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

// listPage is how many keys a listing request returns (S3's most).
const listPage = 1000

// list returns the objects under prefix after startAfter, in key order, at most limit of
// them (0: all). Each request of a long recursive listing has its own timeout: a log of a
// hundred thousand keys is listed in a hundred requests. (A listing by directories is
// short in this layout, and its directories could not serve to start the next request.)
func (s *Store) list(ctx context.Context, prefix, startAfter string, recursive bool, limit int) ([]minio.ObjectInfo, error) {
	if !recursive {
		return s.listOnce(ctx, prefix, startAfter, false, limit)
	}
	var out []minio.ObjectInfo
	for {
		want := listPage
		if limit > 0 {
			want = min(want, limit-len(out))
		}
		page, err := s.listOnce(ctx, prefix, startAfter, recursive, want)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < want || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		startAfter = page[len(page)-1].Key
	}
}

// listOnce lists within one request's time, at most limit keys (0: all).
func (s *Store) listOnce(ctx context.Context, prefix, startAfter string, recursive bool, limit int) ([]minio.ObjectInfo, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, Recursive: recursive}
	if limit > 0 && limit < listPage {
		opts.MaxKeys = limit
	}
	var out []minio.ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, opts) {
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
