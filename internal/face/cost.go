package face

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// decodeOverhead covers what a decode allocates whatever the image's size: the decoder's
// state, Huffman tables, the zlib window.
const decodeOverhead = 256 << 10

// decodeCost is the most bytes that decoding data allocates, read from its header: the
// decoder's image and working arrays, the RGB copy every later stage reads and, when the
// EXIF orientation turns the image, the turned copy. The figures follow Go's image/jpeg and
// image/png (TestDecodeCostCoversAllocation checks them against what the decoders allocate):
//
//   - JPEG: one byte per sample of each component, padded to whole MCUs (4:2:0 is 1.5 bytes
//     per pixel, 4:4:4 3, CMYK 4); four more per sample for a progressive image, whose
//     decoder keeps every DCT coefficient as an int32 until the last scan; and 4 per pixel
//     when the decoder converts to RGBA or CMYK (four components; three stored as RGB).
//   - PNG: 1, 2, 4 or 8 bytes per pixel by colour type and depth (grey with a tRNS colour
//     key becomes NRGBA), twice that when Adam7-interlaced (each pass has its own image
//     beside the full one), and the scanline buffers.
//   - WebP (golang.org/x/image/webp): see webpDecodeBytes.
//
// The worst case is a progressive four-component JPEG: 27 bytes per pixel, 30 with a turn,
// against 4.5 (7.5) for an ordinary 4:2:0 photo.
func decodeCost(data []byte, format imageFormat, w, h, orientation int) (int64, string) {
	px := int64(w) * int64(h)
	rgb := 3 * px
	if orientation > 1 {
		rgb *= 2 // reorient writes a second RGB image before the first is released
	}
	var dec int64
	var kind string
	switch format {
	case formatJPEG:
		dec, kind = jpegDecodeBytes(data, w, h)
	case formatPNG:
		dec, kind = pngDecodeBytes(data, w, h)
	default:
		dec, kind = webpDecodeBytes(data, w, h)
	}
	return dec + rgb + decodeOverhead, kind
}

// jpegFrame is the part of a JPEG's frame header (SOF) that sizes the decoder's arrays.
type jpegFrame struct {
	progressive bool
	w, h        int
	ids         []byte // component identifiers
	hv          [][2]int
}

// readJPEGFrame finds the frame header the way image/jpeg's decoder walks the markers up
// to it (junk bytes between segments skipped, fill bytes, stand-alone markers), so that it
// reads the frame the decoder will use; ok is false where the walk fails.
func readJPEGFrame(data []byte) (f jpegFrame, ok bool) {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return f, false
	}
	i := 2
	for {
		if i+2 > len(data) {
			return f, false
		}
		for data[i] != 0xFF {
			i++
			if i+2 > len(data) {
				return f, false
			}
		}
		marker := data[i+1]
		i += 2
		if marker == 0 {
			continue
		}
		for marker == 0xFF {
			if i >= len(data) {
				return f, false
			}
			marker = data[i]
			i++
		}
		if marker == 0xD9 || marker == 0xDA { // EOI or a scan before any frame
			return f, false
		}
		if marker >= 0xD0 && marker <= 0xD7 {
			continue
		}
		if i+2 > len(data) {
			return f, false
		}
		n := int(binary.BigEndian.Uint16(data[i:])) - 2
		i += 2
		if n < 0 || i+n > len(data) {
			return f, false
		}
		seg := data[i : i+n]
		i += n
		switch marker {
		case 0xC0, 0xC1, 0xC2:
			if n < 6 {
				return f, false
			}
			nc := int(seg[5])
			if (nc != 1 && nc != 3 && nc != 4) || n != 6+3*nc {
				return f, false
			}
			f = jpegFrame{progressive: marker == 0xC2, h: int(binary.BigEndian.Uint16(seg[1:])), w: int(binary.BigEndian.Uint16(seg[3:]))}
			for k := 0; k < nc; k++ {
				c := seg[6+3*k:]
				hh, vv := int(c[1]>>4), int(c[1]&0x0F)
				if hh < 1 || hh > 4 || vv < 1 || vv > 4 {
					return f, false
				}
				if nc == 1 { // the decoder treats a lone component as 1x1 whatever it says
					hh, vv = 1, 1
				}
				f.ids = append(f.ids, c[0])
				f.hv = append(f.hv, [2]int{hh, vv})
			}
			return f, true
		}
	}
}

// adobeRGBPossible says whether an Adobe APP14 segment anywhere in data marks the colour
// transform 0 ("unknown": RGB for three components), which makes image/jpeg convert a
// three-component image to RGBA. Every occurrence counts, wherever it is: the decoder keeps
// the last it reads, and a JFIF segment that would undo it can itself be undone.
func adobeRGBPossible(data []byte) bool {
	for k := 0; ; {
		j := bytes.Index(data[k:], []byte("Adobe"))
		if j < 0 {
			return false
		}
		j += k
		if j >= 4 && data[j-4] == 0xFF && data[j-3] == 0xEE && int(binary.BigEndian.Uint16(data[j-2:])) >= 14 &&
			j+11 < len(data) && data[j+11] == 0 {
			return true
		}
		k = j + 1
	}
}

func jpegDecodeBytes(data []byte, w, h int) (int64, string) {
	px := int64(w) * int64(h)
	f, ok := readJPEGFrame(data)
	if !ok || f.w != w || f.h != h {
		// Not the frame the decoder read: assume the worst it can be, four full-resolution
		// components, progressive, in MCUs of up to 32x32, converted.
		pw, ph := int64(w+31)/32*32, int64(h+31)/32*32
		return 4*pw*ph*5 + 4*px, "JPEG"
	}
	hmax, vmax := f.hv[0][0], f.hv[0][1] // the luma (or first) component has the largest factors
	mxx, myy := int64((w+8*hmax-1)/(8*hmax)), int64((h+8*vmax-1)/(8*vmax))
	var samples int64
	for _, hv := range f.hv {
		samples += 64 * int64(hv[0]*hv[1]) * mxx * myy
	}
	dec := samples // the decoder's YCbCr, grey or YCbCr-plus-black image
	kind := "baseline JPEG"
	if f.progressive {
		dec += 4 * samples // an int32 per DCT coefficient, kept until the last scan
		kind = "progressive JPEG"
	}
	switch nc := len(f.ids); {
	case nc == 4:
		dec += 4 * px // converted to CMYK or RGBA
	case nc == 3 && (string(f.ids) == "RGB" || adobeRGBPossible(data)):
		dec += 4 * px // stored as RGB: converted to RGBA
	}
	return dec, fmt.Sprintf("%s, %d components", kind, len(f.ids))
}

// pngDecodeBytes follows image/png: the image type chosen by colour type, depth and tRNS,
// the second copy of an interlaced image, the scanline buffers.
func pngDecodeBytes(data []byte, w, h int) (int64, string) {
	px := int64(w) * int64(h)
	if len(data) < 29 {
		return 8*2*px + 6*8*int64(w), "PNG"
	}
	depth, ctype, interlaced := int64(data[24]), data[25], data[28] == 1
	trns := pngHasTRNS(data)
	var bpp int64 // bytes per pixel of the decoded image
	switch {
	case ctype == 3:
		bpp = 1 // paletted, whatever the depth
	case depth == 16:
		bpp = 8 // Gray16 is 2, but a tRNS key makes it NRGBA64, as it does RGB
		if ctype == 0 && !trns {
			bpp = 2
		}
	case ctype == 0 && !trns:
		bpp = 1
	default:
		bpp = 4
	}
	channels := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
	row := 1 + (max(channels, 1)*depth*int64(w)+7)/8 // one scanline as stored, with its filter byte
	dec, rows := bpp*px, 2*row
	kind := fmt.Sprintf("PNG (%d-bit", depth)
	if interlaced {
		dec *= 2 // the full image plus the seven passes' own images, 1x in all
		rows = 6 * row
		kind += ", interlaced"
	}
	return dec + rows, kind + ")"
}

// pngHasTRNS says whether a tRNS chunk comes before the first IDAT; true where the chunks
// cannot be walked, which costs more, never less.
func pngHasTRNS(data []byte) bool {
	for i := 8; i+8 <= len(data); {
		n := int64(binary.BigEndian.Uint32(data[i:]))
		switch string(data[i+4 : i+8]) {
		case "IDAT":
			return false
		case "tRNS":
			return true
		}
		next := int64(i) + 12 + n
		if next > int64(len(data)) {
			break
		}
		i = int(next)
	}
	return true
}

// vp8lTablesBytes bounds the Huffman tables Go's VP8L decoder builds for one image, whatever
// its size: up to 2600 groups (it refuses more) of five tables, plus one for each transform
// and the group map, of up to 3136 symbols between them (2328 with the largest colour
// cache) at 24 bytes a symbol (code lengths, codes, tree nodes) and 5 look-up tables of 536
// bytes. A file of about 100 KB can declare them all, so every lossless WebP is costed so.
const vp8lTablesBytes = (2600 + 6) * (24*3136 + 5*536 + 5*400)

// webpDecodeBytes follows golang.org/x/image/webp:
//
//   - lossy (VP8): a YCbCr 4:2:0 image padded to whole 16x16 macroblocks (384 bytes each)
//     with 4 bytes of filter state per macroblock, and a copy of the frame's data;
//   - lossless (VP8L): 4 bytes per pixel, and 4 more when a colour-indexing transform
//     expands them (assumed, as telling needs the entropy-coded data), plus the Huffman
//     tables (vp8lTablesBytes);
//   - an alpha channel (ALPH in an extended file): a byte per pixel, stored raw or
//     decoded by the VP8L decoder first (as above).
//
// A file whose chunks cannot be walked is costed as lossy with lossless alpha, the most.
func webpDecodeBytes(data []byte, w, h int) (int64, string) {
	px := int64(w) * int64(h)
	l := readWebPLayout(data)
	var dec int64
	kind := "lossy WebP"
	if l.alpha {
		dec += px
		kind = "lossy WebP with alpha"
		if l.alphaLossless {
			dec += 8*px + vp8lTablesBytes
			kind = "lossy WebP with lossless alpha"
		}
	}
	if l.lossless {
		dec += 8*px + vp8lTablesBytes
		kind = "lossless WebP"
	} else {
		mbs := int64((w+15)/16) * int64((h+15)/16)
		dec += 388*mbs + l.frameBytes
	}
	return dec, kind
}

// webpLayout is what the chunks of a WebP file say about how it is coded.
type webpLayout struct {
	lossless      bool // a VP8L frame
	alpha         bool // an alpha channel (ALPH) before a lossy frame
	alphaLossless bool // ... coded by VP8L
	animated      bool // an animation (VP8X flag), which the decoder cannot read
	frameBytes    int64
}

// readWebPLayout walks the RIFF chunks up to the first frame as the decoder does; where the
// walk fails it assumes the costliest layout.
func readWebPLayout(data []byte) webpLayout {
	worst := webpLayout{alpha: true, alphaLossless: true, frameBytes: int64(len(data))}
	var l webpLayout
	for i := 12; i+8 <= len(data); {
		id := string(data[i : i+4])
		n := int64(binary.LittleEndian.Uint32(data[i+4:]))
		if int64(i)+8+n > int64(len(data)) {
			return worst
		}
		payload := data[i+8 : i+8+int(n)]
		switch id {
		case "VP8X":
			if len(payload) < 1 {
				return worst
			}
			l.alpha = payload[0]&0x10 != 0
			l.animated = payload[0]&0x02 != 0
			l.alphaLossless = l.alpha // until its ALPH chunk says
		case "ALPH":
			if len(payload) < 1 {
				return worst
			}
			l.alpha, l.alphaLossless = true, payload[0]&0x03 == 1
		case "VP8 ":
			l.frameBytes = n
			return l
		case "VP8L":
			l.lossless = true
			return l
		}
		i += 8 + int(n) + int(n&1) // chunks are padded to an even length
	}
	if l.animated {
		return l
	}
	return worst
}
