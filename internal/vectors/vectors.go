// Package vectors holds the compact forms of face embeddings that snapshots store and index
// shards keep in memory: int8 codes with one scale per vector for the scan, and IEEE
// half-precision (fp16) copies for the re-rank. A snapshot stores them column by column in
// exactly these forms, so that a shard loads them with no conversion.
package vectors

import (
	"math"
	"unsafe"

	"github.com/google/uuid"
)

// Quantize writes v as int8 codes: code = round(x * 127 / max|x|); x ~ code * scale.
func Quantize(v []float32, codes []int8) (scale float32) {
	return quantize(len(v), func(i int) float32 { return v[i] }, codes)
}

// quantize is Quantize of the n values at(i).
func quantize(n int, at func(int) float32, codes []int8) (scale float32) {
	var m float32
	for i := 0; i < n; i++ {
		m = max(m, float32(math.Abs(float64(at(i)))))
	}
	if m == 0 {
		clear(codes[:n])
		return 0
	}
	inv := 127 / m
	for i := 0; i < n; i++ {
		codes[i] = int8(math.Round(float64(at(i) * inv)))
	}
	return m / 127
}

// ToHalf converts v to fp16, rounding to nearest even; dst must hold len(v) values.
func ToHalf(v []float32, dst []uint16) {
	for i, x := range v {
		dst[i] = halfFromFloat(x)
	}
}

// FromHalf converts fp16 values to float32; dst must hold len(h) values.
func FromHalf(h []uint16, dst []float32) {
	for i, x := range h {
		dst[i] = halfTable[x]
	}
}

// HalfFloat is one fp16 value as a float32.
func HalfFloat(h uint16) float32 { return halfTable[h] }

// halfTable is every fp16 value as a float32 (256 KiB): a decode is one load.
var halfTable = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = floatFromHalf(uint16(i))
	}
	return &t
}()

func halfFromFloat(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff >= 0x7f800000: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f: // too large: Inf
		return sign | 0x7c00
	case exp <= 0: // subnormal or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is right (up to Inf)
	}
	return sign | uint16(h)
}

func floatFromHalf(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Columns are faces in the form a shard keeps them: FaceId i owns Scales[i],
// Codes[i*Dimension:(i+1)*Dimension] and Half[i*Dimension:(i+1)*Dimension].
type Columns struct {
	Dimension int
	IDs       []uuid.UUID
	Scales    []float32
	Codes     []int8
	Half      []uint16
}

// New returns empty columns with room for n vectors.
func New(dim, n int) Columns {
	return Columns{Dimension: dim, IDs: make([]uuid.UUID, 0, n), Scales: make([]float32, 0, n),
		Codes: make([]int8, 0, n*dim), Half: make([]uint16, 0, n*dim)}
}

// Len is the number of vectors.
func (c *Columns) Len() int { return len(c.IDs) }

// Bytes is the memory the columns' contents take (not their spare capacity).
func (c *Columns) Bytes() int64 {
	n := int64(len(c.IDs))
	return n * (16 + 4 + 3*int64(c.Dimension))
}

// Encode writes v's fp16 copy and its int8 codes, and returns the codes' scale. The codes
// are those of the fp16 copy, so that they follow from it alone: whichever form of a vector
// one has (float32 from a commit, or decoded fp16), StoredForms gives every byte form it is
// stored in.
func Encode(v []float32, codes []int8, half []uint16) (scale float32) {
	ToHalf(v, half)
	return quantize(len(v), func(i int) float32 { return halfTable[half[i]] }, codes)
}

// StoredForms are the first n values of v in each form storage holds it: little-endian
// float32 (a commit), fp16 (a snapshot's re-rank column) and int8 codes (its scan column).
// An erasure is checked by finding none of them in any object.
func StoredForms(v []float32, n int) (f32, f16, i8 []byte) {
	half := make([]uint16, len(v))
	codes := make([]int8, len(v))
	Encode(v, codes, half)
	f32 = make([]byte, 4*n)
	f16 = make([]byte, 2*n)
	for i := 0; i < n; i++ {
		b := math.Float32bits(v[i])
		f32[4*i], f32[4*i+1], f32[4*i+2], f32[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
		f16[2*i], f16[2*i+1] = byte(half[i]), byte(half[i]>>8)
	}
	return f32, f16, append([]byte(nil), AsBytes(codes[:n])...)
}

// Append adds a vector, encoded.
func (c *Columns) Append(id uuid.UUID, v []float32) {
	d := c.Dimension
	c.IDs = append(c.IDs, id)
	start := len(c.Codes)
	c.Codes = append(c.Codes, make([]int8, d)...)
	c.Half = append(c.Half, make([]uint16, d)...)
	c.Scales = append(c.Scales, Encode(v[:d], c.Codes[start:start+d], c.Half[start:start+d]))
}

// Vector decodes vector i's fp16 copy into dst[:Dimension].
func (c *Columns) Vector(i int, dst []float32) {
	d := c.Dimension
	FromHalf(c.Half[i*d:(i+1)*d], dst[:d])
}

// Remove moves the last vector into slot i.
func (c *Columns) Remove(i int) {
	last := len(c.IDs) - 1
	d := c.Dimension
	c.IDs[i] = c.IDs[last]
	c.Scales[i] = c.Scales[last]
	copy(c.Codes[i*d:(i+1)*d], c.Codes[last*d:])
	copy(c.Half[i*d:(i+1)*d], c.Half[last*d:])
	c.IDs = c.IDs[:last]
	c.Scales = c.Scales[:last]
	c.Codes = c.Codes[:last*d]
	c.Half = c.Half[:last*d]
}

// LittleEndian says whether this machine stores numbers as the snapshots do, so that their
// columns are used as they are read.
var LittleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// AsBytes is the memory of s as bytes (no copy): columns are read into it directly.
func AsBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}
