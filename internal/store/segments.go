package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"unsafe"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/vectors"
)

// segment is the content of a segment object (encodeSegment's format), checked against
// its snapshot.
type segment struct {
	data []byte
	dim  int
	n    int
}

// readSegment reads a segment of a snapshot. A segment is large: it is allowed more than one
// request's time, and read into one buffer of the size the snapshot gives, with no growing
// copies of segments of a hundred megabytes. A MinIO error is returned as it is, so that
// withSnapshot sees a segment that a newer compaction removed.
func (s *Store) readSegment(ctx context.Context, c *Collection, sn *snapshot, info segmentInfo) (segment, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*s.opts.RequestTimeout)
	defer cancel()
	key := s.snapObject(c, sn, info.Name)
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return segment{}, err
	}
	defer o.Close()
	dim := c.Dimension
	data := make([]byte, 12+info.Count*(16+4*dim))
	if _, err := io.ReadFull(o, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return segment{}, errorf(errs.Corrupt, "segment %s is shorter than its snapshot says", key)
		}
		return segment{}, err
	}
	if !bytes.HasPrefix(data, segMagic) || int(binary.LittleEndian.Uint32(data[4:])) != dim {
		return segment{}, errorf(errs.Corrupt, "bad segment %s", key)
	}
	if int(binary.LittleEndian.Uint32(data[8:])) != info.Count {
		return segment{}, errorf(errs.Corrupt, "segment %s does not match its snapshot", key)
	}
	return segment{data: data, dim: dim, n: info.Count}, nil
}

// id is the FaceId of the segment's i-th vector.
func (seg segment) id(i int) (id uuid.UUID) {
	off := 12 + i*(16+4*seg.dim)
	copy(id[:], seg.data[off:off+16])
	return id
}

// vector decodes the segment's i-th vector into dst[:dim]; on a little-endian machine it is
// a plain copy of the bytes.
func (seg segment) vector(i int, dst []float32) {
	dst = dst[:seg.dim]
	off := 12 + i*(16+4*seg.dim) + 16
	src := seg.data[off : off+4*seg.dim]
	if vectors.LittleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*seg.dim), src)
	} else {
		decodeFloat32s(dst, src)
	}
}
