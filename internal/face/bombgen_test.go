package face

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
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
