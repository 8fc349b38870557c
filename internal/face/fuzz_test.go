package face

import (
	"image"
	"image/color"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

// FuzzDecode feeds arbitrary bytes to the decoding path (format sniffing, header checks,
// EXIF parsing, decoding, orientation): it must never panic, and anything it accepts must
// be a well-formed upright image within the limits, whose decode cost covers its pixels. The seeds are real small images in
// each supported form plus the broken shapes the tests use; testdata/fuzz/FuzzDecode holds
// more. Run: go test -run '^$' -fuzz FuzzDecode -fuzztime 5m ./internal/face
func FuzzDecode(f *testing.F) {
	m := image.NewRGBA(image.Rect(0, 0, 96, 88))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	jpg := facetest.JPEG(m, 80)
	for _, seed := range [][]byte{
		jpg,
		facetest.WithEXIFOrientation(jpg, 6),
		facetest.WithEXIFOrientation(jpg, 3),
		facetest.WithEXIFOrientation(jpg, 8),
		facetest.JPEG(facetest.Solid(80, 120, color.RGBA{1, 2, 3, 255}), 30),
		pngOf(81, 90),
		pngHeaderOnly(60000, 60000),
		progressiveJPEG(96, 88, cmyk, 0),
		progressiveJPEG(90, 81, yuv420, -1),
		facetest.WithEXIFOrientation(progressiveJPEG(85, 99, yuv444, 0), 6),
		zeroPNG(90, 85, 6, 16, true),
		zeroPNG(81, 80, 0, 16, false),
		pngHeaderOnly(100, 100),
		jpg[:len(jpg)/2],
		blackVP8L(96, 88),
		riffWebP(vp8HeaderChunk(96, 88)),
		riffWebP(vp8xChunk(96, 88, 0x10), webpChunk("ALPH", []byte{1}), vp8HeaderChunk(96, 88)),
		riffWebP(vp8xChunk(96, 88, 0x02)),
		[]byte("GIF89a"),
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, oc, err := decodeImage(data, ImageLimits{MaxPixels: 1_000_000})
		if err != nil {
			if errs.As(err) == nil {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		defer img.release()
		if hdr, err := inspectImage(data, ImageLimits{MaxPixels: 1_000_000}); err != nil || hdr.cost < int64(len(img.Pix)) {
			t.Fatalf("decoded, yet the header check says %v, cost %d for %d bytes of pixels", err, hdr.cost, len(img.Pix))
		}
		if img.W < MinImageSide || img.H < MinImageSide || len(img.Pix) != 3*img.W*img.H || img.W*img.H > 1_000_000 {
			t.Fatalf("accepted a bad image: %dx%d, %d bytes of pixels", img.W, img.H, len(img.Pix))
		}
		switch oc {
		case "", Rotate0, Rotate90, Rotate180, Rotate270:
		default:
			t.Fatalf("OrientationCorrection %q", oc)
		}
	})
}
