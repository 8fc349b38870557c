package face

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
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
