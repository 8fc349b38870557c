package face

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"sync"

	"golang.org/x/image/webp"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// rgbImage is packed 8-bit RGB, the one layout every later stage reads.
type rgbImage struct {
	W, H int
	Pix  []uint8 // len 3*W*H
}

// pixPool holds image buffers for reuse, so a steady stream of ordinary photos does not
// allocate one per request. Only buffers up to maxPooledPix are kept, and a request takes
// one only if it is at most twice what it needs: pooled memory is outside the decode budget,
// so it must stay small beside it.
var pixPool sync.Pool // of *[]uint8

// maxPooledPix is the largest pooled buffer: a 5.6 Mpx image (a 1080p frame is 6 MB).
const maxPooledPix = 16 << 20

func getPix(n int) []uint8 {
	if n <= maxPooledPix {
		if p, ok := pixPool.Get().(*[]uint8); ok && cap(*p) >= n && cap(*p) <= 2*n {
			return (*p)[:n]
		}
	}
	return make([]uint8, n)
}

func (m *rgbImage) release() {
	if m != nil && m.Pix != nil {
		if p := m.Pix; cap(p) <= maxPooledPix {
			pixPool.Put(&p)
		}
		m.Pix = nil
	}
}

type imageFormat int

const (
	formatUnknown imageFormat = iota
	formatJPEG
	formatPNG
	// formatWebP goes beyond Rekognition, which refuses WebP (docs/http-api.md).
	formatWebP
)

func sniff(data []byte) imageFormat {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return formatJPEG
	case len(data) >= 8 && string(data[:8]) == "\x89PNG\r\n\x1a\n":
		return formatPNG
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return formatWebP
	}
	return formatUnknown
}

// decodeImage turns request bytes into an upright RGB image, enforcing Rekognition's limits
// and lim.MaxDecodeBytes. Everything that can be checked from the header is checked before
// pixels are allocated.
func decodeImage(data []byte, lim ImageLimits) (*rgbImage, OrientationCorrection, error) {
	hdr, err := inspectImage(data, lim)
	if err != nil {
		return nil, "", err
	}
	return hdr.decode(data)
}

// imageHeader is what an image's header says, read before any pixel is decoded.
type imageHeader struct {
	format      imageFormat
	w, h        int
	orientation int    // EXIF orientation, 0 when none
	cost        int64  // the most bytes decoding allocates (decodeCost)
	kind        string // e.g. "progressive JPEG, 4 components", for messages
}

// inspectImage reads the header and checks the image against lim: bytes, format, pixels,
// minimum side and the memory its decoding would take.
func inspectImage(data []byte, lim ImageLimits) (hdr imageHeader, err error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return hdr, errs.New(errs.InvalidParameter, "image is empty")
	}
	if len(data) > lim.MaxBytes {
		return hdr, errs.New(errs.ImageTooLarge, "image is %d bytes, the limit is %d", len(data), lim.MaxBytes)
	}
	format := sniff(data)
	if format == formatUnknown {
		return hdr, errs.New(errs.InvalidImageFormat, "image is not JPEG, PNG or WebP")
	}
	// The standard decoders are not known to panic, but a request must never take the
	// process down, so a panic is reported as a bad image.
	defer func() {
		if r := recover(); r != nil {
			hdr, err = imageHeader{}, errs.New(errs.InvalidImageFormat, "image could not be decoded: %v", r)
		}
	}()
	var cfg image.Config
	switch format {
	case formatJPEG:
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case formatPNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	default:
		// The canvas size of an extended (VP8X) file, else the VP8 or VP8L frame's; the
		// decoder refuses a frame of another size than the canvas before allocating it.
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return hdr, errs.New(errs.InvalidImageFormat, "image header: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) {
		return hdr, errs.New(errs.ImageTooLarge, "image is %dx%d pixels, the limit is %d pixels", cfg.Width, cfg.Height, lim.MaxPixels)
	}
	if cfg.Width < MinImageSide || cfg.Height < MinImageSide {
		return hdr, errs.New(errs.InvalidParameter, "image is %dx%d pixels, the minimum is %dx%d", cfg.Width, cfg.Height, MinImageSide, MinImageSide)
	}
	hdr = imageHeader{format: format, w: cfg.Width, h: cfg.Height}
	if format == formatJPEG {
		hdr.orientation = exifOrientation(data)
	}
	if format == formatWebP && readWebPLayout(data).animated {
		return imageHeader{}, errs.New(errs.InvalidImageFormat, "image is an animated WebP, which is not supported")
	}
	hdr.cost, hdr.kind = decodeCost(data, format, cfg.Width, cfg.Height, hdr.orientation)
	if hdr.cost > lim.MaxDecodeBytes {
		return imageHeader{}, hdr.tooCostly(lim.MaxDecodeBytes)
	}
	return hdr, nil
}

// tooCostly is the error for an image whose decoding needs more than limit bytes.
func (hdr *imageHeader) tooCostly(limit int64) error {
	return errs.New(errs.ImageTooLarge, "image is a %dx%d %s, which takes %d MiB of memory to decode; the limit is %d MiB",
		hdr.w, hdr.h, hdr.kind, (hdr.cost+(1<<20)-1)>>20, limit>>20)
}

// decode decodes an image that inspectImage accepted.
func (hdr *imageHeader) decode(data []byte) (img *rgbImage, oc OrientationCorrection, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, oc, err = nil, "", errs.New(errs.InvalidImageFormat, "image could not be decoded: %v", r)
		}
	}()
	var m image.Image
	switch hdr.format {
	case formatJPEG:
		m, err = jpeg.Decode(bytes.NewReader(data))
	case formatPNG:
		m, err = png.Decode(bytes.NewReader(data))
	default:
		m, err = webp.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, "", errs.New(errs.InvalidImageFormat, "image could not be decoded: %v", err)
	}
	b := m.Bounds()
	if b.Dx() != hdr.w || b.Dy() != hdr.h {
		return nil, "", errs.New(errs.InvalidImageFormat, "image header says %dx%d, data %dx%d", hdr.w, hdr.h, b.Dx(), b.Dy())
	}
	var rgb *rgbImage
	if hdr.format == formatWebP {
		rgb = webpToRGB(m)
	} else {
		rgb = toRGB(m)
	}
	if hdr.orientation > 1 {
		r := reorient(rgb, hdr.orientation)
		rgb.release()
		rgb = r
	}
	return rgb, orientationCorrection(hdr.orientation), nil
}

func orientationCorrection(o int) OrientationCorrection {
	switch o {
	case 0:
		return ""
	case 1, 2:
		return Rotate0
	case 3, 4:
		return Rotate180
	case 5, 6:
		return Rotate90
	default: // 7, 8
		return Rotate270
	}
}

// toRGB converts with fast paths for what the JPEG and PNG decoders return.
func toRGB(m image.Image) *rgbImage {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &rgbImage{W: w, H: h, Pix: getPix(3 * w * h)}
	p := out.Pix
	switch src := m.(type) {
	case *image.YCbCr:
		if b.Min != (image.Point{}) {
			genericToRGB(m, p)
			break
		}
		ycbcrRowsToRGB(src, w, h, p)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+w]
			o := 3 * w * y
			for _, v := range row {
				p[o], p[o+1], p[o+2] = v, v, v
				o += 3
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				p[o], p[o+1], p[o+2] = row[4*x], row[4*x+1], row[4*x+2]
				o += 3
			}
		}
	case *image.NRGBA:
		// Transparent pixels count as black, as if composited on black.
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				a := uint32(row[4*x+3])
				p[o] = uint8(uint32(row[4*x]) * a / 255)
				p[o+1] = uint8(uint32(row[4*x+1]) * a / 255)
				p[o+2] = uint8(uint32(row[4*x+2]) * a / 255)
				o += 3
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+2*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				v := row[2*x] // high byte
				p[o], p[o+1], p[o+2] = v, v, v
				o += 3
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+8*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				p[o], p[o+1], p[o+2] = row[8*x], row[8*x+2], row[8*x+4]
				o += 3
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+8*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				a := uint32(row[8*x+6])
				p[o] = uint8(uint32(row[8*x]) * a / 255)
				p[o+1] = uint8(uint32(row[8*x+2]) * a / 255)
				p[o+2] = uint8(uint32(row[8*x+4]) * a / 255)
				o += 3
			}
		}
	case *image.Paletted:
		// Resolve the palette once, not per pixel through color.Color.
		var lut [256][3]uint8
		for i, c := range src.Palette {
			r, g, bb, _ := c.RGBA()
			lut[i] = [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8)}
		}
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+w]
			o := 3 * w * y
			for _, v := range row {
				c := lut[v]
				p[o], p[o+1], p[o+2] = c[0], c[1], c[2]
				o += 3
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				k := 255 - uint32(row[4*x+3])
				p[o] = uint8((255 - uint32(row[4*x])) * k / 255)
				p[o+1] = uint8((255 - uint32(row[4*x+1])) * k / 255)
				p[o+2] = uint8((255 - uint32(row[4*x+2])) * k / 255)
				o += 3
			}
		}
	default:
		genericToRGB(m, p)
	}
	return out
}

func genericToRGB(m image.Image, p []uint8) {
	b := m.Bounds()
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := m.At(x, y).RGBA()
			p[o], p[o+1], p[o+2] = uint8(r>>8), uint8(g>>8), uint8(bb>>8)
			o += 3
		}
	}
}

// ycbcrRowsToRGB converts a whole YCbCr image (origin 0,0) row by row, with the chroma
// subsampling resolved once per row rather than per pixel (4x faster than At or COffset).
func ycbcrRowsToRGB(src *image.YCbCr, w, h int, p []uint8) {
	hs, vs := 0, 0
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio440:
		vs = 1
	case image.YCbCrSubsampleRatio411:
		hs = 2
	case image.YCbCrSubsampleRatio410:
		hs, vs = 2, 1
	}
	cw := (w + (1 << hs) - 1) >> hs
	for y := 0; y < h; y++ {
		yrow := src.Y[y*src.YStride : y*src.YStride+w]
		co := (y >> vs) * src.CStride
		cb := src.Cb[co : co+cw]
		cr := src.Cr[co : co+cw]
		out := p[3*w*y : 3*w*(y+1)]
		out = out[:3*len(yrow)]
		for x, yv := range yrow {
			c := x >> hs
			// color.YCbCrToRGB's arithmetic, inlined by hand (the call is too big to inline).
			yy := int32(yv) * 0x10101
			cb1, cr1 := int32(cb[c])-128, int32(cr[c])-128
			r := yy + 91881*cr1
			g := yy - 22554*cb1 - 46802*cr1
			b := yy + 116130*cb1
			o := out[3*x : 3*x+3 : 3*x+3]
			o[0], o[1], o[2] = clamp16(r), clamp16(g), clamp16(b)
		}
	}
}

// webpToRGB converts what the WebP decoder returns. A lossy frame's YCbCr is BT.601 with
// studio swing (Y from 16 to 235), which image.YCbCr's JFIF arithmetic would wash out (black
// at 16, white at 234), so it is converted as libwebp does (its fixed point, without its
// chroma interpolation); a transparent pixel counts as black, as for PNG. Lossless frames
// are NRGBA.
func webpToRGB(m image.Image) *rgbImage {
	var src *image.YCbCr
	var alpha *image.NYCbCrA
	switch v := m.(type) {
	case *image.YCbCr:
		src = v
	case *image.NYCbCrA:
		src, alpha = &v.YCbCr, v
	}
	if src == nil || src.Rect.Min != (image.Point{}) || src.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return toRGB(m)
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	out := &rgbImage{W: w, H: h, Pix: getPix(3 * w * h)}
	mulHi := func(v, c int32) int32 { return v * c >> 8 }
	clip := func(v int32) uint8 {
		if v&^16383 == 0 {
			return uint8(v >> 6)
		}
		if v < 0 {
			return 0
		}
		return 255
	}
	for y := 0; y < h; y++ {
		yrow := src.Y[y*src.YStride : y*src.YStride+w]
		co := (y >> 1) * src.CStride
		o := out.Pix[3*w*y : 3*w*(y+1)]
		for x, yv := range yrow {
			yy := mulHi(int32(yv), 19077)
			u, v := int32(src.Cb[co+x>>1]), int32(src.Cr[co+x>>1])
			r := clip(yy + mulHi(v, 26149) - 14234)
			g := clip(yy - mulHi(u, 6419) - mulHi(v, 13320) + 8708)
			b := clip(yy + mulHi(u, 33050) - 17685)
			if alpha != nil {
				a := uint32(alpha.A[y*alpha.AStride+x])
				r, g, b = uint8(uint32(r)*a/255), uint8(uint32(g)*a/255), uint8(uint32(b)*a/255)
			}
			o[3*x], o[3*x+1], o[3*x+2] = r, g, b
		}
	}
	return out
}

func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// reorient applies EXIF orientation o (2..8) so the result is the image as it is meant to
// be displayed.
func reorient(src *rgbImage, o int) *rgbImage {
	w, h := src.W, src.H
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := &rgbImage{W: dw, H: dh, Pix: getPix(3 * dw * dh)}
	for dy := 0; dy < dh; dy++ {
		for dx := 0; dx < dw; dx++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-dx, dy
			case 3:
				sx, sy = w-1-dx, h-1-dy
			case 4:
				sx, sy = dx, h-1-dy
			case 5:
				sx, sy = dy, dx
			case 6:
				sx, sy = dy, h-1-dx
			case 7:
				sx, sy = w-1-dy, h-1-dx
			case 8:
				sx, sy = w-1-dy, dx
			}
			si, di := 3*(sy*w+sx), 3*(dy*dw+dx)
			dst.Pix[di], dst.Pix[di+1], dst.Pix[di+2] = src.Pix[si], src.Pix[si+1], src.Pix[si+2]
		}
	}
	return dst
}

// exifOrientation reads the Orientation tag (0x0112) of a JPEG's EXIF APP1 segment.
// It returns 0 when there is none; every offset is bounds-checked (input is untrusted).
func exifOrientation(data []byte) int {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 0
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan: no metadata after it
			return 0
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 0
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(seg[6:]); o != 0 {
				return o
			}
		}
		i += 2 + n
	}
	return 0
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 0
	}
	count := int(bo.Uint16(t[ifd:]))
	for k := 0; k < count; k++ {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

// String is for logs and test failures.
func (m *rgbImage) String() string { return fmt.Sprintf("rgb %dx%d", m.W, m.H) }
