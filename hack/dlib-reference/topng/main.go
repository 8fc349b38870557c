// Command topng decodes JPEGs with Go's standard image/jpeg and writes them as lossless RGB
// PNGs, so that dlib's C++ reference (hack/dlib-reference/reference.cpp) sees exactly the
// pixels the Go code sees: libjpeg and image/jpeg differ by about ±1 per sample.
//
// The conversion is the one loadGoldenJPEG in internal/dlib/golden_test.go repeats; keep
// both identical:
//
//	img := jpeg.Decode(file)
//	b := img.Bounds()
//	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
//	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
//	then R, G, B of each pixel in row-major order (alpha is always 255 and dropped).
//
// With -scale N (N >= 1) the image is then enlarged N times by pixel replication:
// out(x, y) = in(x/N, y/N), integer division. This makes the "imageScale" inputs of
// golden.json, which the Go tests rebuild the same way.
//
// Usage: topng [-scale N] IN.jpg OUT.png   or   topng -batch < LINES
// where each line is "IN.jpg<TAB>OUT.png<TAB>N".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"strconv"
	"strings"
)

// decodeJPEG is the decoding the Go tests repeat (loadGoldenJPEG).
func decodeJPEG(path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	return rgba, nil
}

// replicate enlarges src n times: out(x, y) = src(x/n, y/n).
func replicate(src *image.RGBA, n int) *image.RGBA {
	if n == 1 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w*n, h*n))
	for y := 0; y < h*n; y++ {
		for x := 0; x < w*n; x++ {
			si := src.PixOffset(x/n, y/n)
			di := dst.PixOffset(x, y)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}

func convert(in, out string, scale int) error {
	if scale < 1 {
		return fmt.Errorf("bad scale %d", scale)
	}
	img, err := decodeJPEG(in)
	if err != nil {
		return err
	}
	img = replicate(img, scale)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	// The image is opaque, so image/png writes 8-bit truecolour RGB without alpha.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	scale := flag.Int("scale", 1, "enlarge by pixel replication")
	batch := flag.Bool("batch", false, "read IN<TAB>OUT<TAB>SCALE lines from stdin")
	flag.Parse()
	if *batch {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			f := strings.Split(line, "\t")
			if len(f) != 3 {
				fail(fmt.Errorf("bad line %q", line))
			}
			n, err := strconv.Atoi(f[2])
			if err != nil {
				fail(err)
			}
			if err := convert(f[0], f[1], n); err != nil {
				fail(err)
			}
		}
		if err := sc.Err(); err != nil {
			fail(err)
		}
		return
	}
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: topng [-scale N] IN.jpg OUT.png | topng -batch < LINES")
		os.Exit(2)
	}
	if err := convert(flag.Arg(0), flag.Arg(1), *scale); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "topng:", err)
	os.Exit(1)
}
