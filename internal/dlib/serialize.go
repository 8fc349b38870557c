package dlib

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

// Reader decodes dlib's serialisation format (dlib/serialize.h): integers as a control byte
// (bit 7 the sign, low 4 bits the byte count) followed by little-endian bytes; floats and
// doubles as an integer mantissa and int16 exponent; strings as a length and bytes; bools as
// ASCII '0' or '1'. Errors carry the byte offset, so a damaged file says where.
type Reader struct {
	r   *bufio.Reader
	off int64
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 1<<16)} }

// Offset is the number of bytes consumed so far.
func (d *Reader) Offset() int64 { return d.off }

func (d *Reader) errorf(format string, args ...any) error {
	return fmt.Errorf("dlib: at byte %d: %s", d.off, fmt.Sprintf(format, args...))
}

func (d *Reader) byte() (byte, error) {
	b, err := d.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, d.errorf("unexpected end of file")
		}
		return 0, d.errorf("%v", err)
	}
	d.off++
	return b, nil
}

// Int reads a signed integer of any width.
func (d *Reader) Int() (int64, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	n := int(c & 0x0f)
	if n > 8 || c&0x70 != 0 {
		return 0, d.errorf("bad integer control byte 0x%02x", c)
	}
	var u uint64
	for i := 0; i < n; i++ {
		b, err := d.byte()
		if err != nil {
			return 0, err
		}
		u |= uint64(b) << (8 * i)
	}
	if c&0x80 != 0 {
		return -int64(u), nil
	}
	return int64(u), nil
}

// Uint reads a non-negative integer, refusing values above limit (sizes and counts, so a
// damaged file cannot make the caller allocate without bound).
func (d *Reader) Uint(limit int64) (int64, error) {
	v, err := d.Int()
	if err != nil {
		return 0, err
	}
	if v < 0 || v > limit {
		return 0, d.errorf("value %d is out of range [0, %d]", v, limit)
	}
	return v, nil
}

// Float64 reads a float or double (both are stored as mantissa and exponent).
func (d *Reader) Float64() (float64, error) {
	m, err := d.Int()
	if err != nil {
		return 0, err
	}
	e, err := d.Int()
	if err != nil {
		return 0, err
	}
	switch e {
	case 32000:
		return math.Inf(1), nil
	case 32001:
		return math.Inf(-1), nil
	case 32002:
		return math.NaN(), nil
	}
	if e < math.MinInt16 || e > math.MaxInt16 {
		return 0, d.errorf("float exponent %d is out of range", e)
	}
	return math.Ldexp(float64(m), int(e)), nil
}

// Float32 reads a float.
func (d *Reader) Float32() (float32, error) {
	v, err := d.Float64()
	return float32(v), err
}

// String reads a length-prefixed string of at most 1 MiB.
func (d *Reader) String() (string, error) {
	n, err := d.Uint(1 << 20)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", d.errorf("string of %d bytes: %v", n, err)
	}
	d.off += n
	return string(b), nil
}

// Bool reads '0' or '1'.
func (d *Reader) Bool() (bool, error) {
	b, err := d.byte()
	if err != nil {
		return false, err
	}
	switch b {
	case '0':
		return false, nil
	case '1':
		return true, nil
	}
	return false, d.errorf("bad bool byte 0x%02x", b)
}

// Expect reads a string and fails unless it is want (dlib's layer and object names).
func (d *Reader) Expect(want string) error {
	at := d.off
	s, err := d.String()
	if err != nil {
		return err
	}
	if s != want {
		return fmt.Errorf("dlib: at byte %d: found %q where %q was expected", at, s, want)
	}
	return nil
}

// Version reads a version integer and fails unless it is want.
func (d *Reader) Version(what string, want int64) error {
	at := d.off
	v, err := d.Int()
	if err != nil {
		return err
	}
	if v != want {
		return fmt.Errorf("dlib: at byte %d: %s version %d is not supported (want %d)", at, what, v, want)
	}
	return nil
}
