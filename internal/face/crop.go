package face

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"math"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// CropOptions say how CropFace cuts a face out of its image.
type CropOptions struct {
	ImageLimits
	// Margin widens the box on each side by this fraction of its width and height (default
	// 0.25), so that the crop shows the head around the detector's box.
	Margin float32
	// MaxSide bounds the crop's longer side in pixels (default 256): larger crops are
	// shrunk, smaller ones are not enlarged.
	MaxSide int
}

func (o CropOptions) withDefaults() CropOptions {
	if o.Margin <= 0 {
		o.Margin = 0.25
	}
	if o.MaxSide <= 0 {
		o.MaxSide = 256
	}
	return o
}

// CropFace cuts a face out of an image and returns it as a JPEG: box (ratios of the image
// after EXIF orientation correction, as every BoundingBox is) widened by the margin and
// clipped to the image. The image is decoded within budget, as the engines' decodes are, so
// thumbnails cannot take more memory than searches may.
func CropFace(ctx context.Context, budget *DecodeBudget, data []byte, box BoundingBox, opts CropOptions) ([]byte, error) {
	opts = opts.withDefaults()
	lim := opts.ImageLimits
	if lim.MaxDecodeBytes <= 0 || lim.MaxDecodeBytes > budget.DecodeBytes() {
		lim.MaxDecodeBytes = budget.DecodeBytes()
	}
	hdr, err := inspectImage(data, lim)
	if err != nil {
		return nil, err
	}
	if hdr.cost > lim.MaxDecodeBytes {
		return nil, hdr.tooCostly(lim.MaxDecodeBytes)
	}
	img, _, room, err := budget.decodeImage(ctx, &hdr, data)
	if err != nil {
		return nil, err
	}
	defer room.Release()
	defer img.release()
	r, ok := cropRect(img.W, img.H, box, opts.Margin)
	if !ok {
		return nil, errs.New(errs.InvalidParameter, "the box %+v lies outside the %dx%d image", box, img.W, img.H)
	}
	w, h := cropSize(r.Dx(), r.Dy(), opts.MaxSide)
	// fillTensor's area resize, with an identity normalisation, does the shrinking.
	planes := make([]float32, 3*w*h)
	var xs []int32
	fillTensor(planes, img, float64(r.Min.X), float64(r.Min.Y), float64(r.Dx()), float64(r.Dy()), w, h,
		&ModelSpec{ColorOrder: "RGB", Mean: []float32{0, 0, 0}, Scale: 1}, &xs)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		out.Pix[4*i] = toByte(planes[i])
		out.Pix[4*i+1] = toByte(planes[w*h+i])
		out.Pix[4*i+2] = toByte(planes[2*w*h+i])
		out.Pix[4*i+3] = 0xff
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cropRect is the box widened by margin on each side, in pixels of a w x h image, clipped
// to it; false when nothing of it is inside.
func cropRect(w, h int, box BoundingBox, margin float32) (image.Rectangle, bool) {
	l, t, bw, bh, m := float64(box.Left), float64(box.Top), float64(box.Width), float64(box.Height), float64(margin)
	// Ratios are float32: a hair of slack keeps 0.14*100 from flooring to 13.
	const slack = 1e-4
	x0 := int(math.Floor((l-bw*m)*float64(w) + slack))
	y0 := int(math.Floor((t-bh*m)*float64(h) + slack))
	x1 := int(math.Ceil((l+bw+bw*m)*float64(w) - slack))
	y1 := int(math.Ceil((t+bh+bh*m)*float64(h) - slack))
	r := image.Rect(x0, y0, x1, y1).Intersect(image.Rect(0, 0, w, h))
	return r, !r.Empty()
}

// cropSize scales w x h down so that its longer side is at most maxSide, keeping the
// aspect; never up, never below one pixel.
func cropSize(w, h, maxSide int) (int, int) {
	if w <= maxSide && h <= maxSide {
		return w, h
	}
	s := float64(maxSide) / float64(max(w, h))
	return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
}

func toByte(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
