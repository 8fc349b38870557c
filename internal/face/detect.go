package face

import (
	"math"
	"sort"
)

// detection is a face box in image pixels.
type detection struct {
	x1, y1, x2, y2 float32
	score          float32
	// kps are BlazeFace's six keypoints in image pixels (blazeRightEye...); zero for
	// detectors without keypoints.
	kps [6]point
	// verify: found in a tile of a large image (detectionRegions), or small in the
	// whole-image pass (under verifyBelow input pixels): where the detector mistakes parts of
	// people and patterns for faces. The engine checks such a candidate's landmarks
	// (landmarkDrift); the others are left alone, as the check costs three landmark runs
	// and a large face seen whole is what the detector is good at.
	verify bool
	// tile: found in a tile (then verify is set too); a tile's candidate also gets a second
	// look (confirmer).
	tile bool
}

// verifyBelow is the side, in the whole-image pass's input pixels, under which a candidate
// is verified: the false faces of the group photos at 2000-4000 px were 10-17 px there
// (twice tileFaceLimit leaves a margin); real faces of a portrait or a group photo under
// 1000 px are 30 px or more, and are not.
const verifyBelow = 2 * tileFaceLimit

func (d detection) area() float32 { return (d.x2 - d.x1) * (d.y2 - d.y1) }

func iou(a, b detection) float32 {
	ix := min(a.x2, b.x2) - max(a.x1, b.x1)
	iy := min(a.y2, b.y2) - max(a.y1, b.y1)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	return inter / (a.area() + b.area() - inter)
}

// containment is the share of the smaller box inside the other.
func containment(a, b detection) float32 {
	ix := min(a.x2, b.x2) - max(a.x1, b.x1)
	iy := min(a.y2, b.y2) - max(a.y1, b.y1)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	return ix * iy / min(a.area(), b.area())
}

// nms keeps the best-scoring box of each overlapping group. A box mostly inside a better
// one is dropped too: IoU alone keeps a face-part box inside a face box, and tiles at
// another scale can produce exactly that.
func nms(ds []detection, thr float32) []detection {
	sort.Slice(ds, func(i, j int) bool { return ds[i].score > ds[j].score })
	keep := ds[:0]
	for _, d := range ds {
		ok := true
		for _, k := range keep {
			if iou(d, k) > thr || containment(d, k) > 0.7 {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, d)
		}
	}
	return keep
}

// region is a rectangle of the image fed to the detector in one pass. A tile reports only
// faces too small for the whole-image pass: boxes of maxArea image pixels or more are
// dropped; zero means no limit (the whole-image pass).
type region struct{ x, y, w, h, maxArea float64 }

// tileScale is how many image pixels one detector pixel covers in a tile: 2 maps a 40 px
// face to 20 px at the detector's input, well above UltraFace's smallest anchors (10 px).
const tileScale = 2.0

// tileFaceLimit is, in the whole-image pass's input pixels, the side (the square root of
// the box's area there, as that pass stretches the image unevenly) of the smallest face
// that pass is trusted to find by itself, so the largest a tile may report.
// Measured with faceplugin-1.0 on faces pasted into 2000 and 4000 px wide scenes, the
// whole-image pass finds every face from about 15 px; from 18 px the tiles are not needed.
// Without the limit the tiles, which see the image at 2 px per input pixel, report large
// false faces with 0.9-0.99 scores on what is not a face at that zoom (a shirt under a
// face, a patch of background, a cut face's lower half across a tile's edge), larger than
// the real faces, so "largest first" puts them first (issue 16).
const tileFaceLimit = 18

// detectionRegions is the whole image, plus overlapping tiles when the whole-image pass
// shrinks the image so much that a 40 px face would fall under the detector's reach.
// A 640x480 image is one pass; 1920x1080 is the whole image plus 4x3 tiles. The tiles are
// only for the faces the whole-image pass cannot see (see tileFaceLimit).
func detectionRegions(w, h, inW, inH int) []region {
	rs := []region{{0, 0, float64(w), float64(h), 0}}
	sx, sy := float64(w)/float64(inW), float64(h)/float64(inH)
	if math.Max(sx, sy) <= tileScale*1.25 {
		return rs
	}
	tw, th := tileScale*float64(inW), tileScale*float64(inH)
	const overlap = 96 // larger than any face the tiles are there for
	xs := tileStarts(float64(w), tw, overlap)
	ys := tileStarts(float64(h), th, overlap)
	for _, y := range ys {
		for _, x := range xs {
			rs = append(rs, region{x, y, math.Min(tw, float64(w)), math.Min(th, float64(h)), tileFaceLimit * tileFaceLimit * sx * sy})
		}
	}
	return rs
}

// paddedRegion is the whole image inside a margin of its own edge pixels (fillTensor clamps
// what lies outside), for a last pass when the others found nothing: a face cropped
// tightly, its forehead or chin cut by the frame (ID photos, avatars, the 150x150 crops of
// face libraries), is not what detectors were trained on and is missed whole; with room
// around it, it is found. margin is the share of the image's longer side added on each
// side: with TestTightCropsAreFound's crops, UltraFace found 8 of 55 without, 53 with 0.25
// (35 with 0.35, 51 with 0.5: the edge pixels repeated outwards are not a neutral
// background); BlazeFace 16 without, 37 with 0.25, 50 with 0.5.
func paddedRegion(w, h int, margin float64) region {
	p := margin * float64(max(w, h))
	return region{-p, -p, float64(w) + 2*p, float64(h) + 2*p, 0}
}

func tileStarts(size, tile, overlap float64) []float64 {
	if size <= tile {
		return []float64{0}
	}
	n := int(math.Ceil((size - overlap) / (tile - overlap)))
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Round(float64(i) * (size - tile) / float64(n-1))
	}
	return out
}

// decodeUltraFace turns one pass's outputs into boxes in image pixels. In a tile, a box
// touching an inner edge is dropped: the face is cut there and whole in a neighbour tile;
// so is a box too large for the tile (region.maxArea).
func decodeUltraFace(scores, boxes []float32, r region, imgW, imgH, inW, inH int, thr float32, out []detection) []detection {
	n := len(scores) / 2
	const edge = 2
	tile := r.w < float64(imgW) || r.h < float64(imgH)
	for i := 0; i < n; i++ {
		s := scores[2*i+1]
		if s < thr {
			continue
		}
		b := boxes[4*i : 4*i+4]
		d := detection{
			x1: float32(r.x + float64(b[0])*r.w), y1: float32(r.y + float64(b[1])*r.h),
			x2: float32(r.x + float64(b[2])*r.w), y2: float32(r.y + float64(b[3])*r.h),
			score: s,
		}
		if d.x2 <= d.x1 || d.y2 <= d.y1 {
			continue
		}
		d.tile = tile
		d.verify = tile || float64(d.area()) < verifyBelow*verifyBelow*r.w*r.h/float64(inW*inH)
		if tile {
			// A face the whole-image pass sees at tileFaceLimit or more is its to find.
			if r.maxArea > 0 && float64(d.area()) >= r.maxArea {
				continue
			}
			if (r.x > 0 && float64(d.x1) < r.x+edge) || (r.y > 0 && float64(d.y1) < r.y+edge) ||
				(r.x+r.w < float64(imgW) && float64(d.x2) > r.x+r.w-edge) ||
				(r.y+r.h < float64(imgH) && float64(d.y2) > r.y+r.h-edge) {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}
