package face

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

func pngOf(w, h int) []byte {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// pngHeaderOnly is a PNG whose IHDR claims w x h with almost no data: a decompression bomb
// as far as the header is concerned.
func pngHeaderOnly(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, chunk("IEND", nil)...)
}

// jpegClaiming rewrites the frame header of a real JPEG to claim w x h.
func jpegClaiming(t *testing.T, w, h uint16) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 16, 16))
	b := facetest.JPEG(m, 90)
	for i := 2; i+9 < len(b); i++ {
		if b[i] == 0xFF && (b[i+1] == 0xC0 || b[i+1] == 0xC2) {
			binary.BigEndian.PutUint16(b[i+5:], h)
			binary.BigEndian.PutUint16(b[i+7:], w)
			return b
		}
	}
	t.Fatal("no SOF marker")
	return nil
}

func TestDecodeErrors(t *testing.T) {
	valid := facetest.JPEG(image.NewRGBA(image.Rect(0, 0, 120, 100)), 90)
	tooBig := append(append([]byte{}, valid...), make([]byte, MaxImageBytes)...)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	tests := []struct {
		name string
		data []byte
		lim  ImageLimits
		code errs.Code
	}{
		{"empty", nil, ImageLimits{}, errs.InvalidParameter},
		{"text", []byte("hello, this is not an image"), ImageLimits{}, errs.InvalidImageFormat},
		{"gif", gif, ImageLimits{}, errs.InvalidImageFormat},
		{"truncated jpeg", valid[:len(valid)/2], ImageLimits{}, errs.InvalidImageFormat},
		{"jpeg header only", valid[:20], ImageLimits{}, errs.InvalidImageFormat},
		{"over 5 MB", tooBig, ImageLimits{}, errs.ImageTooLarge},
		// From storage the 15 MB limit applies: the size passes and the trailing zeros
		// after the image's end marker are ignored by the decoder.
		{"over 5 MB from storage", tooBig, ImageLimits{MaxBytes: MaxStorageImageBytes}, ""},
		{"png bomb", pngHeaderOnly(60000, 60000), ImageLimits{}, errs.ImageTooLarge},
		{"jpeg bomb", jpegClaiming(t, 65000, 65000), ImageLimits{}, errs.ImageTooLarge},
		{"over pixel cap", pngOf(200, 200), ImageLimits{MaxPixels: 30000}, errs.ImageTooLarge},
		{"too small", pngOf(79, 200), ImageLimits{}, errs.InvalidParameter},
		{"smallest", pngOf(80, 80), ImageLimits{}, ""},
		{"png broken data", pngHeaderOnly(100, 100), ImageLimits{}, errs.InvalidImageFormat},
		// Valid images under the pixel cap whose decoding takes more memory than one image
		// may (DefaultMaxDecodeBytes, 448 MiB), refused from the header: a 380 KiB PNG
		// that decodes to 539 MB, a 380 KiB progressive CMYK JPEG that takes 1.26 GB.
		{"png 16-bit bomb", bigPNG16(), ImageLimits{}, errs.ImageTooLarge},
		{"png interlaced bomb", bigInterlacedPNG(), ImageLimits{}, errs.ImageTooLarge},
		{"progressive cmyk jpeg bomb", progressiveJPEG(7000, 7000, cmyk, 0), ImageLimits{}, errs.ImageTooLarge},
		// A progressive 4:2:0 JPEG just under the pixel cap takes 10.5 bytes a pixel (the
		// decoder keeps every coefficient): 515 MB at 7000x7000.
		{"progressive jpeg near the pixel cap", progressiveJPEG(7000, 7000, yuv420, -1), ImageLimits{}, errs.ImageTooLarge},
		{"progressive jpeg over the pixel cap", progressiveJPEG(7072, 7072, yuv420, -1), ImageLimits{}, errs.ImageTooLarge},
		{"progressive jpeg", progressiveJPEG(3000, 2000, yuv420, -1), ImageLimits{}, ""},
		{"progressive jpeg over a lower decode limit", progressiveJPEG(3000, 2000, yuv420, -1), ImageLimits{MaxDecodeBytes: 32 << 20}, errs.ImageTooLarge},
		// WebP headers claiming more pixels than the cap, with no data: refused from the
		// header, as the decoder reads the size before it allocates.
		{"lossy webp bomb", riffWebP(vp8HeaderChunk(16383, 16383)), ImageLimits{}, errs.ImageTooLarge},
		{"lossless webp bomb", riffWebP(webpChunk("VP8L", vp8lHeader(16384, 16384))), ImageLimits{}, errs.ImageTooLarge},
		{"extended webp bomb", riffWebP(vp8xChunk(16384, 16384, 0), vp8HeaderChunk(16384, 16384)), ImageLimits{}, errs.ImageTooLarge},
		// Over the format's own limit (a canvas of at most 2^31-1 pixels): a bad file.
		{"extended webp over the format's limit", riffWebP(vp8xChunk(1<<24, 1<<24, 0)), ImageLimits{}, errs.InvalidImageFormat},
		{"webp riff only", riffWebP(), ImageLimits{}, errs.InvalidImageFormat},
		{"webp header only", riffWebP(vp8HeaderChunk(200, 200)), ImageLimits{}, errs.InvalidImageFormat},
		{"webp canvas and frame differ", riffWebP(vp8xChunk(200, 200, 0), vp8HeaderChunk(300, 200)), ImageLimits{}, errs.InvalidImageFormat},
		{"animated webp", riffWebP(vp8xChunk(200, 200, 0x02), webpChunk("ANIM", make([]byte, 6))), ImageLimits{}, errs.InvalidImageFormat},
		{"webp too small", riffWebP(vp8HeaderChunk(79, 200)), ImageLimits{}, errs.InvalidParameter},
		// Any lossless WebP is costed at the most Huffman tables the decoder builds.
		{"lossless webp over a lower decode limit", riffWebP(webpChunk("VP8L", vp8lHeader(100, 100))), ImageLimits{MaxDecodeBytes: 64 << 20}, errs.ImageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := decodeImage(tt.data, tt.lim)
			if got := errs.CodeOf(err); got != tt.code {
				t.Fatalf("code %q (err %v), want %q", got, err, tt.code)
			}
			if tt.code == "" && (img == nil || img.W < MinImageSide) {
				t.Fatalf("no image decoded: %v", img)
			}
		})
	}
}

func TestDecodeColourModels(t *testing.T) {
	rgba := image.NewNRGBA(image.Rect(0, 0, 90, 90))
	for i := 0; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2], rgba.Pix[i+3] = 200, 100, 50, 255
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, rgba); err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray16(image.Rect(0, 0, 90, 90))
	for y := 0; y < 90; y++ {
		for x := 0; x < 90; x++ {
			gray.SetGray16(x, y, color.Gray16{Y: 0x8080})
		}
	}
	var g16 bytes.Buffer
	if err := png.Encode(&g16, gray); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		want    [3]uint8
		tolDiff int
	}{
		{"png nrgba", pngBuf.Bytes(), [3]uint8{200, 100, 50}, 0},
		{"png gray16", g16.Bytes(), [3]uint8{128, 128, 128}, 0},
		{"jpeg", facetest.JPEG(rgba, 100), [3]uint8{200, 100, 50}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, oc, err := decodeImage(tt.data, ImageLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if oc != "" {
				t.Errorf("OrientationCorrection %q for an image without EXIF", oc)
			}
			i := 3 * (45*img.W + 45)
			for c := 0; c < 3; c++ {
				if d := int(img.Pix[i+c]) - int(tt.want[c]); d > tt.tolDiff || -d > tt.tolDiff {
					t.Fatalf("pixel %v, want %v", img.Pix[i:i+3], tt.want)
				}
			}
		})
	}
}

func TestReorient(t *testing.T) {
	// A 3x2 image with distinct pixels; each orientation's result is written out by hand
	// from the EXIF specification's drawings (values are the red channel).
	src := &rgbImage{W: 3, H: 2, Pix: make([]uint8, 18)}
	for i := 0; i < 6; i++ {
		src.Pix[3*i] = uint8(i + 1)
	}
	// src:  1 2 3
	//       4 5 6
	tests := []struct {
		o    int
		w, h int
		want []uint8
	}{
		{2, 3, 2, []uint8{3, 2, 1, 6, 5, 4}},
		{3, 3, 2, []uint8{6, 5, 4, 3, 2, 1}},
		{4, 3, 2, []uint8{4, 5, 6, 1, 2, 3}},
		{5, 2, 3, []uint8{1, 4, 2, 5, 3, 6}},
		{6, 2, 3, []uint8{4, 1, 5, 2, 6, 3}},
		{7, 2, 3, []uint8{6, 3, 5, 2, 4, 1}},
		{8, 2, 3, []uint8{3, 6, 2, 5, 1, 4}},
	}
	for _, tt := range tests {
		got := reorient(src, tt.o)
		var red []uint8
		for i := 0; i < got.W*got.H; i++ {
			red = append(red, got.Pix[3*i])
		}
		if got.W != tt.w || got.H != tt.h || !bytes.Equal(red, tt.want) {
			t.Errorf("orientation %d: %dx%d %v, want %dx%d %v", tt.o, got.W, got.H, red, tt.w, tt.h, tt.want)
		}
	}
}

func TestEXIFOrientationParsing(t *testing.T) {
	base := facetest.JPEG(image.NewRGBA(image.Rect(0, 0, 8, 8)), 90)
	bigEndian := func(o uint16) []byte {
		// The same segment as WithEXIFOrientation, in Motorola byte order.
		tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01")
		tiff = binary.BigEndian.AppendUint16(tiff, o)
		tiff = append(tiff, 0, 0, 0, 0, 0, 0)
		p := append([]byte("Exif\x00\x00"), tiff...)
		seg := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(p)+2))
		return append(append(append([]byte{0xFF, 0xD8}, seg...), p...), base[2:]...)
	}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"none", base, 0},
		{"intel 6", facetest.WithEXIFOrientation(base, 6), 6},
		{"intel 3", facetest.WithEXIFOrientation(base, 3), 3},
		{"motorola 8", bigEndian(8), 8},
		{"out of range", facetest.WithEXIFOrientation(base, 9), 0},
		{"truncated segment", facetest.WithEXIFOrientation(base, 6)[:20], 0},
	}
	for _, tt := range tests {
		if got := exifOrientation(tt.data); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// vp8lHeader is a lossless frame's header claiming w x h, with no data after it.
func vp8lHeader(w, h int) []byte {
	v := &vp8lWriter{}
	v.header(w, h)
	return v.bytes()
}

// webpOf encodes m with cwebp's options; without cwebp the test is skipped.
func webpOf(t testing.TB, m image.Image, options ...string) []byte {
	t.Helper()
	return facetest.WebPOrSkip(t, m, options...)
}

// TestDecodeWebP decodes WebP images cwebp made of a photo, lossless, lossy and with an
// alpha channel (transparent pixels come out black, as PNG's do): the pixels are the
// photo's, exactly when lossless.
func TestDecodeWebP(t *testing.T) {
	photo := loadRGBA(t, photoPath(t, "2008_001009.jpg"))
	half := image.NewNRGBA(photo.Rect) // the left half transparent
	for y := 0; y < photo.Rect.Dy(); y++ {
		for x := photo.Rect.Dx() / 2; x < photo.Rect.Dx(); x++ {
			half.SetNRGBA(x, y, color.NRGBA(photo.RGBAAt(x, y)))
		}
	}
	// Lossy WebP stores studio-swing YCbCr: black and white must stay black and white.
	ramp := image.NewGray(image.Rect(0, 0, 256, 96))
	for i := range ramp.Pix {
		ramp.Pix[i] = uint8(i % 256)
	}
	tests := []struct {
		name    string
		src     image.Image
		options []string
		kind    string
		meanErr float64 // the most mean absolute difference per channel
	}{
		{"lossless", photo, []string{"-lossless"}, "lossless WebP", 0},
		{"lossy", photo, []string{"-q", "90"}, "lossy WebP", 3},
		{"lossy grey ramp", ramp, []string{"-q", "100"}, "lossy WebP", 0.5},
		{"lossy, lossless alpha", half, []string{"-q", "90"}, "lossy WebP with lossless alpha", 3},
		{"lossy, raw alpha", half, []string{"-q", "90", "-alpha_method", "0"}, "lossy WebP with alpha", 3},
		{"lossless with alpha", half, []string{"-lossless"}, "lossless WebP", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := webpOf(t, tt.src, tt.options...)
			hdr, err := inspectImage(data, ImageLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if hdr.kind != tt.kind {
				t.Errorf("kind %q, want %q", hdr.kind, tt.kind)
			}
			img, oc, err := hdr.decode(data)
			if err != nil {
				t.Fatal(err)
			}
			b := tt.src.Bounds()
			if oc != "" || img.W != b.Dx() || img.H != b.Dy() {
				t.Fatalf("%v, OrientationCorrection %q", img, oc)
			}
			var sum float64
			for y := 0; y < img.H; y++ {
				for x := 0; x < img.W; x++ {
					// Premultiplied: a transparent pixel is black.
					r, g, bl, _ := tt.src.At(x, y).RGBA()
					o := 3 * (y*img.W + x)
					for c, v := range []uint32{r >> 8, g >> 8, bl >> 8} {
						d := float64(img.Pix[o+c]) - float64(v)
						sum += max(d, -d)
					}
				}
			}
			if mean := sum / float64(3*img.W*img.H); mean > tt.meanErr {
				t.Errorf("mean difference %.2f per channel, want at most %.1f", mean, tt.meanErr)
			}
		})
	}
}

// TestWebPBombsRefusedBeforeAllocating: a WebP whose header claims 16383x16383 pixels is
// refused having allocated next to nothing, not after the decoder took its 400 MB.
func TestWebPBombsRefusedBeforeAllocating(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"lossy", riffWebP(vp8HeaderChunk(16383, 16383))},
		{"lossless", riffWebP(webpChunk("VP8L", vp8lHeader(16384, 16384)))},
		{"extended, lossy", riffWebP(vp8xChunk(16383, 16383, 0x10), webpChunk("ALPH", []byte{0}), vp8HeaderChunk(16383, 16383))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := decodeImage(tt.data, ImageLimits{})
			runtime.ReadMemStats(&after)
			if errs.CodeOf(err) != errs.ImageTooLarge {
				t.Fatalf("err %v, want ImageTooLarge", err)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
				t.Errorf("allocated %d bytes before refusing", a)
			}
		})
	}
}
