package face

import "math"

// fillTensor writes the region (rx, ry, rw, rh) of img, resized to w x h, into dst as
// planar channels in spec's colour order and normalisation: (pixel - mean) * scale.
// Shrinking averages the source pixels each output pixel covers (an area resize, which is
// what the detector was found to want); enlarging is bilinear. Pixels outside img are 0.
func fillTensor(dst []float32, img *rgbImage, rx, ry, rw, rh float64, w, h int, spec *ModelSpec, xs *[]int32) {
	sx, sy := rw/float64(w), rh/float64(h)
	plane := w * h
	mr, mg, mb := spec.Mean[0], spec.Mean[1], spec.Mean[2]
	sc := spec.Scale
	gray := spec.ColorOrder == "GRAY"
	// Plane offsets per colour, so the inner loops need no switch.
	offR, offG, offB := 0, plane, 2*plane
	if spec.ColorOrder == "BGR" {
		offR, offB = 2*plane, 0
	}
	put := func(i int, r, g, b float32) {
		if gray {
			dst[i] = (0.299*r + 0.587*g + 0.114*b - mr) * sc
			return
		}
		dst[offR+i] = (r - mr) * sc
		dst[offG+i] = (g - mg) * sc
		dst[offB+i] = (b - mb) * sc
	}
	if sx >= 1.5 && sy >= 1.5 {
		// Area: the column bounds are the same for every row, so compute them once.
		if cap(*xs) < 2*(w+1) {
			*xs = make([]int32, 2*(w+1))
		}
		cols := (*xs)[:2*w]
		for x := 0; x < w; x++ {
			a := clampIndex(int(math.Floor(rx+float64(x)*sx)), img.W)
			b := clampIndex(int(math.Floor(rx+float64(x+1)*sx)), img.W)
			if b <= a && a < img.W {
				b = a + 1
			}
			cols[2*x], cols[2*x+1] = int32(a), int32(b)
		}
		stride := 3 * img.W
		for y := 0; y < h; y++ {
			y0 := clampIndex(int(math.Floor(ry+float64(y)*sy)), img.H)
			y1 := clampIndex(int(math.Floor(ry+float64(y+1)*sy)), img.H)
			if y1 <= y0 && y0 < img.H {
				y1 = y0 + 1
			}
			for x := 0; x < w; x++ {
				a, b := int(cols[2*x]), int(cols[2*x+1])
				var sr, sg, sb uint32
				for yy := y0; yy < y1; yy++ {
					row := img.Pix[yy*stride+3*a : yy*stride+3*b]
					for k := 0; k+2 < len(row); k += 3 {
						sr += uint32(row[k])
						sg += uint32(row[k+1])
						sb += uint32(row[k+2])
					}
				}
				n := float32((y1 - y0) * (b - a))
				if n == 0 {
					put(y*w+x, 0, 0, 0)
					continue
				}
				put(y*w+x, float32(sr)/n, float32(sg)/n, float32(sb)/n)
			}
		}
		return
	}
	for y := 0; y < h; y++ {
		fy := ry + (float64(y)+0.5)*sy - 0.5
		for x := 0; x < w; x++ {
			fx := rx + (float64(x)+0.5)*sx - 0.5
			r, g, b := bilinear(img, fx, fy)
			put(y*w+x, r, g, b)
		}
	}
}

// bilinear samples img at (fx, fy) in pixel-index coordinates; outside is black.
func bilinear(img *rgbImage, fx, fy float64) (float32, float32, float32) {
	x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
	ax, ay := float32(fx-float64(x0)), float32(fy-float64(y0))
	var r, g, b float32
	add := func(x, y int, wt float32) {
		if x < 0 || y < 0 || x >= img.W || y >= img.H || wt == 0 {
			return
		}
		i := 3 * (y*img.W + x)
		r += wt * float32(img.Pix[i])
		g += wt * float32(img.Pix[i+1])
		b += wt * float32(img.Pix[i+2])
	}
	add(x0, y0, (1-ax)*(1-ay))
	add(x0+1, y0, ax*(1-ay))
	add(x0, y0+1, (1-ax)*ay)
	add(x0+1, y0+1, ax*ay)
	return r, g, b
}

// clampIndex clamps v to [0, hi].
func clampIndex(v, hi int) int {
	if v < 0 {
		return 0
	}
	if v > hi {
		return hi
	}
	return v
}
