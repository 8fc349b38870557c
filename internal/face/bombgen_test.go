package face

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/bits"
	"sync"
)

// Crafted worst-case images: small files that decode to as much memory as the decoders can
// be made to allocate. They are valid images (mid-grey or black), so a decoder that is not
// stopped before decoding spends the memory and succeeds.

// jpegComp is a JPEG frame component: its horizontal and vertical sampling factors.
type jpegComp struct{ h, v int }

// progressiveJPEG writes a progressive JPEG of w x h whose only scan is the DC-first scan of
// every component with every DC difference 0: one bit per 8x8 block. Go's decoder keeps a
// 256-byte coefficient block per 8x8 block of every component for a progressive image, on
// top of the image itself. adobe >= 0 adds an Adobe APP14 segment with that transform (0:
// RGB or CMYK, 1: YCbCr, 2: YCCK); four components need one.
func progressiveJPEG(w, h int, comps []jpegComp, adobe int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, payload []byte) {
		b.Write([]byte{0xFF, marker})
		_ = binary.Write(&b, binary.BigEndian, uint16(len(payload)+2))
		b.Write(payload)
	}
	b.Write([]byte{0xFF, 0xD8})
	if adobe >= 0 {
		seg(0xEE, append([]byte("Adobe\x00\x64\x00\x00\x00\x00"), byte(adobe)))
	}
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	seg(0xDB, dqt)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(comps))}
	hmax, vmax := 1, 1
	for i, c := range comps {
		sof = append(sof, byte(i+1), byte(c.h<<4|c.v), 0)
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	seg(0xC2, sof)
	// DC table 0: the one symbol 0 (difference 0) with the 1-bit code "0".
	seg(0xC4, append([]byte{0x00, 1}, append(make([]byte, 15), 0)...))
	sos := []byte{byte(len(comps))}
	for i := range comps {
		sos = append(sos, byte(i+1), 0x00)
	}
	sos = append(sos, 0, 0, 0) // Ss=0, Se=0, Ah=Al=0: DC first scan
	seg(0xDA, sos)
	if len(comps) == 1 {
		hmax, vmax = 1, 1
		comps = []jpegComp{{1, 1}}
	}
	mxx, myy := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
	blocks := 0
	for _, c := range comps {
		blocks += mxx * myy * c.h * c.v
	}
	b.Write(make([]byte, (blocks+7)/8))
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// zeroPNG writes a black PNG of w x h with the colour type, bit depth and interlacing
// given: all-zero scanlines that zlib squeezes about 1000 to 1.
func zeroPNG(w, h int, colorType, depth byte, interlaced bool) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr = append(ihdr, depth, colorType, 0, 0, il)
	out := pngChunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
	if colorType == 3 {
		out = pngChunk(out, "PLTE", []byte{0, 0, 0})
	}
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	bits := channels * int(depth)
	raw := 0 // bytes of filtered scanlines, per pass when interlaced
	if interlaced {
		for _, p := range [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
			if pw > 0 && ph > 0 {
				raw += ph * (1 + (bits*pw+7)/8)
			}
		}
	} else {
		raw = h * (1 + (bits*w+7)/8)
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = io.CopyN(zw, zeroReader{}, int64(raw))
	_ = zw.Close()
	out = pngChunk(out, "IDAT", z.Bytes())
	return pngChunk(out, "IEND", nil)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Sampling factors of the usual frames.
var (
	yuv420 = []jpegComp{{2, 2}, {1, 1}, {1, 1}}
	yuv444 = []jpegComp{{1, 1}, {1, 1}, {1, 1}}
	cmyk   = []jpegComp{{1, 1}, {1, 1}, {1, 1}, {1, 1}}
	grey   = []jpegComp{{1, 1}}
)

// The large PNG bombs take a second or two to compress, so they are made once.
var (
	// bigPNG16 is 7000x7000 16-bit RGBA: 381 KB that decode to 392 MB plus the 147 MB RGB
	// copy, the size of the PNGs that grew the manager by 1.8 GB four at a time.
	bigPNG16 = sync.OnceValue(func() []byte { return zeroPNG(7000, 7000, 6, 16, false) })
	// bigInterlacedPNG is 6000x5000 16-bit RGBA, Adam7: 233 KB that decode to 570 MB.
	bigInterlacedPNG = sync.OnceValue(func() []byte { return zeroPNG(6000, 5000, 6, 16, true) })
)

// pngChunk appends a PNG chunk to out.
func pngChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// riffWebP wraps chunks in a WebP file's RIFF container.
func riffWebP(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(body)))
	return append(append(out, "WEBP"...), body...)
}

// webpChunk is one RIFF chunk, padded to an even length.
func webpChunk(id string, payload []byte) []byte {
	out := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(payload)))
	out = append(out, payload...)
	if len(payload)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// vp8xChunk is an extended file's header: a w x h canvas with the flags given (0x10 alpha,
// 0x02 animation).
func vp8xChunk(w, h int, flags byte) []byte {
	p := []byte{flags, 0, 0, 0}
	for _, v := range []int{w - 1, h - 1} {
		p = append(p, byte(v), byte(v>>8), byte(v>>16))
	}
	return webpChunk("VP8X", p)
}

// vp8HeaderChunk is a lossy key frame's header claiming w x h, with no data after it.
func vp8HeaderChunk(w, h int) []byte {
	p := []byte{0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a} // key frame, shown, first partition 0 bytes
	p = binary.LittleEndian.AppendUint16(p, uint16(w))
	p = binary.LittleEndian.AppendUint16(p, uint16(h))
	return webpChunk("VP8 ", p)
}

// vp8lWriter writes a VP8L bit stream: least significant bit first.
type vp8lWriter struct {
	out   []byte
	bits  uint64
	nBits uint
}

func (w *vp8lWriter) write(v uint32, n uint) {
	w.bits |= uint64(v) << w.nBits
	for w.nBits += n; w.nBits >= 8; w.nBits -= 8 {
		w.out = append(w.out, byte(w.bits))
		w.bits >>= 8
	}
}

// code writes a Huffman code, its most significant bit first, as the decoder walks it.
func (w *vp8lWriter) code(c uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.write(c>>uint(i)&1, 1)
	}
}

func (w *vp8lWriter) bytes() []byte {
	if w.nBits > 0 {
		return append(w.out, byte(w.bits))
	}
	return w.out
}

// header writes the VP8L signature and a w x h size.
func (w *vp8lWriter) header(width, height int) {
	w.write(0x2f, 8)
	w.write(uint32(width-1), 14)
	w.write(uint32(height-1), 14)
	w.write(0, 4) // no alpha hint, version 0
}

// uniformTree writes a Huffman code that gives its first n symbols (a power of two: the
// decoder builds no incomplete code) the same length, log2(n), which costs no bits per
// symbol: its code-length code has that one length.
func (w *vp8lWriter) uniformTree(n int) {
	length := uint32(bits.Len(uint(n)) - 1)
	order := []uint32{17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	at := 0
	for order[at] != length {
		at++
	}
	w.write(0, 1)              // a normal code
	w.write(uint32(at+1-4), 4) // code-length code lengths given
	for i := 0; i < at; i++ {
		w.write(0, 3)
	}
	w.write(1, 3) // the one code-length code, of 1 bit (so, as the only one, of none)
	w.write(1, 1) // a max_symbol: n lengths are read, the rest are 0
	nbits := uint32(2)
	for uint32(n-2)>>nbits != 0 {
		nbits += 2
	}
	w.write((nbits-2)/2, 3)
	w.write(uint32(n-2), uint(nbits))
}

// oneSymbolTree writes a simple code of the one symbol 0: no bits per symbol.
func (w *vp8lWriter) oneSymbolTree() { w.write(1, 4) }

// blackVP8L is a lossless WebP of w x h whose pixels are all transparent black: one-symbol
// codes, so no bit per pixel.
func blackVP8L(width, height int) []byte {
	w := &vp8lWriter{}
	w.header(width, height)
	w.write(0, 3) // no transform, no colour cache, one group
	for i := 0; i < 5; i++ {
		w.oneSymbolTree()
	}
	return riffWebP(webpChunk("VP8L", w.bytes()))
}

// vp8lTablesBomb is a lossless WebP of w x h (at least 204x204) whose few hundred KB
// declare about all the Huffman tables Go's VP8L decoder allows: 2600 groups of five, each
// table as large as a complete code of the alphabet can be (the first of the largest colour
// cache's 2328 symbols). Its pixels are all transparent black.
func vp8lTablesBomb(width, height int) []byte {
	const groups = 2600
	w := &vp8lWriter{}
	w.header(width, height)
	w.write(0, 1)  // no transform
	w.write(1, 1)  // a colour cache
	w.write(11, 4) // of 2048 entries: green codes have 280 + 2048 symbols
	w.write(1, 1)  // groups chosen per 4x4 tile (hBits 0 + 2), by an entropy image
	w.write(0, 3)
	// The entropy image: tile t uses group t mod 2600 (red the high byte, green the low).
	w.write(0, 1)      // no colour cache
	w.uniformTree(256) // green: 256 codes of 8 bits
	w.uniformTree(256) // red
	w.oneSymbolTree()  // blue
	w.oneSymbolTree()  // alpha
	w.oneSymbolTree()  // distance
	tiles := ((width + 3) / 4) * ((height + 3) / 4)
	for t := 0; t < tiles; t++ {
		g := uint32(t % groups)
		w.code(g&0xff, 8)
		w.code(g>>8, 8)
	}
	for g := 0; g < groups; g++ {
		w.uniformTree(2048) // green: 2048 of its 2328 symbols, 11 bits
		w.uniformTree(256)  // red, blue, alpha: 256 of 8
		w.uniformTree(256)
		w.uniformTree(256)
		w.uniformTree(32) // distance: 32 of 40, 5 bits
	}
	// Every pixel is transparent black: code 0 in each table.
	for p := 0; p < width*height; p++ {
		w.write(0, 11+8+8+8)
	}
	return riffWebP(webpChunk("VP8L", w.bytes()))
}
