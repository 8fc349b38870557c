// Command faceeval measures the face engine on the labelled test faces and prints a
// Markdown report: verification (true-accept rate at false-accept rates the pair counts
// support), rank-1 identification, detection recall on the annotated example photos, each
// on clean images and after degradations, and per-stage latency; with several model packs,
// side by side. Run it with `go run ./hack/faceeval`; docs/face-evaluation.md is its output.
//
// With --dataset DIR it measures the packs on a folder of one's own photos instead: one
// subfolder of photos per person and, optionally, group photos with their face counts
// (dataset.go; docs/face-engine.md, "Evaluating on your own photos").
//
// With --calibrate it reports instead how each pack's Similarity points sit against the
// genuine and impostor cosines of the labelled faces and of any --dataset folders, with
// suggested points (calibrate.go; docs/face-engine.md, "Calibrating a pack").
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

func main() {
	pack := flag.String("pack", "", "comma-separated model pack directories, compared side by side (default: every installed pack)")
	lib := flag.String("onnxruntime", "", "libonnxruntime.so (default: the installed one)")
	faces := flag.String("testfaces", "", "labelled test faces directory (default: the installed one)")
	out := flag.String("o", "", "also write the report to this file")
	dataset := flag.String("dataset", "", "evaluate on this folder instead: DIR/<person>/<photos>, optionally DIR/groups/ with expected.txt (see dataset.go); with --calibrate, a comma-separated list of folders to pool")
	groupWidth := flag.Int("group-width", 0, "with --dataset, also run each group photo scaled to this many pixels wide (issue 16's photos were 2000)")
	calibrate := flag.Bool("calibrate", false, "report each pack's Similarity calibration on every clean pair of the labelled faces and the --dataset folders, with suggested points (see calibrate.go)")
	flag.Parse()
	datasets := strings.FieldsFunc(*dataset, func(r rune) bool { return r == ',' })
	var err error
	switch {
	case *calibrate:
		err = runCalibrateFlags(*pack, *lib, *faces, datasets, *out)
	case len(datasets) > 1:
		err = fmt.Errorf("--dataset takes one folder (several only with --calibrate)")
	case len(datasets) == 1:
		err = runDatasetFlags(*pack, *lib, datasets[0], *groupWidth, *out)
	default:
		err = run(*pack, *lib, *faces, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "faceeval:", err)
		os.Exit(1)
	}
}

// runDatasetFlags is --dataset: the packs and library as run's.
func runDatasetFlags(packList, lib, dir string, groupWidth int, outPath string) error {
	packs, lib, err := packsAndLibrary(packList, lib)
	if err != nil {
		return err
	}
	return writeReport(outPath, func(w io.Writer) error { return runDataset(packs, lib, dir, groupWidth, w) })
}

// runCalibrateFlags is --calibrate: the labelled faces' johns set and each dataset's people
// (not its group photos, which are unlabelled) pooled.
func runCalibrateFlags(packList, lib, facesDir string, datasets []string, outPath string) error {
	packs, lib, err := packsAndLibrary(packList, lib)
	if err != nil {
		return err
	}
	if facesDir, err = orDefault(facesDir, assets.TestFaces); err != nil {
		return err
	}
	samples, people, err := loadJohns(filepath.Join(facesDir, "johns"))
	if err != nil {
		return err
	}
	johns := labelledSet{name: "johns", people: people}
	for _, s := range samples {
		johns.photos = append(johns.photos, labelled{person: s.person, file: s.file, raw: s.raw})
	}
	sets := []labelledSet{johns}
	for _, dir := range datasets {
		photos, people, _, err := loadDataset(dir)
		if err != nil {
			return err
		}
		sets = append(sets, labelledSet{name: filepath.Base(filepath.Clean(dir)), people: people, photos: photos})
	}
	return writeReport(outPath, func(w io.Writer) error { return runCalibrate(packs, lib, sets, w) })
}

// writeReport writes a report on stdout and, when outPath is set, in that file.
func writeReport(outPath string, report func(io.Writer) error) error {
	var sb strings.Builder
	if err := report(io.MultiWriter(os.Stdout, &sb)); err != nil {
		return err
	}
	if outPath != "" {
		return os.WriteFile(outPath, []byte(sb.String()), 0o644)
	}
	return nil
}

func orDefault(v string, a assets.Asset) (string, error) {
	if v != "" {
		return v, nil
	}
	return a.Path()
}

// degradation turns a clean image into a harder one; for photos it also moves the
// annotated boxes. encode makes the request bytes.
type degradation struct {
	name, how string
	apply     func(m *image.RGBA) *image.RGBA
	moveBox   func(b box, w, h int) box
	encode    func(m *image.RGBA) []byte
}

func jpeg95(m *image.RGBA) []byte { return facetest.JPEG(m, 95) }

var degradations = []degradation{
	{name: "clean", how: "original files", apply: nil},
	{name: "downscale", how: "0.55x (faces ~55 px), Catmull-Rom", apply: func(m *image.RGBA) *image.RGBA { return facetest.Scale(m, 0.55) },
		moveBox: func(b box, _, _ int) box { return box{b.x * 0.55, b.y * 0.55, b.w * 0.55, b.h * 0.55} }},
	{name: "blur", how: "Gaussian sigma 1.5 px", apply: func(m *image.RGBA) *image.RGBA { return facetest.Blur(m, 1.5) }},
	{name: "jpeg-q30", how: "re-encoded at JPEG quality 30", apply: func(m *image.RGBA) *image.RGBA { return m },
		encode: func(m *image.RGBA) []byte { return facetest.JPEG(m, 30) }},
	{name: "rotate-15", how: "turned 15 degrees in the image plane", apply: func(m *image.RGBA) *image.RGBA { return facetest.Rotate(m, 15) },
		moveBox: func(b box, w, h int) box {
			cx, cy := facetest.RotatePoint(b.x+b.w/2, b.y+b.h/2, w, h, 15)
			return box{cx - b.w/2, cy - b.h/2, b.w, b.h}
		}},
	{name: "exif-rotated", how: "pixels stored turned 90 degrees, EXIF orientation 6", apply: func(m *image.RGBA) *image.RGBA { return facetest.Rotate90CCW(m) },
		encode: func(m *image.RGBA) []byte { return facetest.WithEXIFOrientation(facetest.JPEG(m, 95), 6) }},
}

func (d degradation) bytes(orig []byte, m *image.RGBA) []byte {
	if d.apply == nil {
		return orig
	}
	enc := d.encode
	if enc == nil {
		enc = jpeg95
	}
	return enc(d.apply(m))
}

type sample struct {
	person int
	file   string
	raw    []byte
	img    *image.RGBA
}

type box struct{ x, y, w, h float64 }

type photo struct {
	file  string
	raw   []byte
	img   *image.RGBA
	boxes []box
}

// summary is one pack's headline numbers for the side-by-side table.
type summary struct {
	version                      string
	found, faces                 int
	tarFAR0, tar80, far80, rank1 float64
	worstTAR80, worstRank1       float64
	recall, recallTotal, fp      int
	worstRecall                  int
	small, smallTotal            int
	lat                          [3]latency // labelled crops, example photos, 1920x1080 scenes
}

// latency is the median wall time per stage of SearchImage, in milliseconds, over a set of
// images, and the median number of faces detected.
type latency struct{ decode, detect, landmarks, align, embed, total, faces float64 }

// latencySets names the image sets latency is measured on.
var latencySets = [3]string{"150x150 crops", "example photos", "1920x1080 scenes"}

// packsAndLibrary are the packs of --packs (default: every installed one) and the ONNX
// Runtime library of --onnxruntime (default: the installed one).
func packsAndLibrary(packList, lib string) ([]string, string, error) {
	var err error
	packs := strings.FieldsFunc(packList, func(r rune) bool { return r == ',' })
	if len(packs) == 0 {
		if packs, err = assets.InstalledModelPacks(); err != nil {
			return nil, "", err
		}
	}
	if lib, err = orDefault(lib, assets.ONNXRuntimeLibrary); err != nil {
		return nil, "", err
	}
	return packs, lib, nil
}

func run(packList, lib, facesDir, outPath string) error {
	packs, lib, err := packsAndLibrary(packList, lib)
	if err != nil {
		return err
	}
	if facesDir, err = orDefault(facesDir, assets.TestFaces); err != nil {
		return err
	}
	start := time.Now()
	samples, people, err := loadJohns(filepath.Join(facesDir, "johns"))
	if err != nil {
		return err
	}
	photos, err := loadPhotos(filepath.Join(facesDir, "faces"))
	if err != nil {
		return err
	}
	var sections strings.Builder
	var sums []summary
	for _, pack := range packs {
		eng, err := face.NewEngine(face.EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 1})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "faceeval: evaluating %s\n", eng.FaceModelVersion())
		sum, err := evalPack(eng, samples, photos, &sections)
		eng.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", pack, err)
		}
		sums = append(sums, sum)
	}
	var sb strings.Builder
	w := io.MultiWriter(os.Stdout, &sb)
	nGen, nImp := pairCounts(samples)
	fmt.Fprintf(w, "# Face engine evaluation\n\n")
	names := make([]string, len(sums))
	for i, s := range sums {
		names[i] = "`" + s.version + "`"
	}
	fmt.Fprintf(w, "Generated by `go run ./hack/faceeval` (model packs %s, %s). Do not edit by hand.\n\n", strings.Join(names, ", "), runtime.GOARCH)
	fmt.Fprintf(w, "- Identities: %d people x 11 face crops (150x150) = %d faces, dlib's `examples/johns`.\n", len(people), len(samples))
	fmt.Fprintf(w, "- Verification: every degraded probe against every other clean face: %d genuine and %d impostor pairs, so the smallest measurable FAR is 1/%d = %.2g%%; TAR is given at FAR 1%% and at FAR 0 (threshold just above the highest impostor score, which is what 1/%d supports).\n", nGen, nImp, nImp, 100/float64(nImp), nImp)
	fmt.Fprintf(w, "- Rank-1: the nearest other clean face has the probe's identity (leave-one-out). A probe whose face is not found counts as a failure in both.\n")
	fmt.Fprintf(w, "- Detection: %d annotated faces in %d PASCAL VOC photos from dlib's `examples/faces` (training.xml + testing.xml). A detection matches a box when its centre is within half the box size of the box centre and its size is within 0.5x-2x; FP counts detections matching no box (QualityFilter NONE).\n", countBoxes(photos), len(photos))
	fmt.Fprintf(w, "- Latency: median wall time per stage of one SearchImage call (largest face embedded, the others detected and landmarked), one image at a time, one ONNX Runtime thread, three passes over each set: the %d labelled crops, the %d example photos (about 500x375, up to 24 faces), ten 1920x1080 scenes with one 40 px face; \"faces\" is the median detected. Ratios are to the first pack, measured in the same run.\n\n", len(samples), len(photos))
	fmt.Fprintf(w, "## Side by side\n\n")
	fmt.Fprintf(w, "| Model pack | Faces found | TAR @ FAR 0 | TAR / FAR at Similarity 80 | Rank-1 | Worst degraded TAR at 80 / rank-1 | Detection recall / FP | Worst degraded recall | Small faces (40 px in 1080p) |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		fmt.Fprintf(w, "| `%s` | %d/%d | %s | %s / %s | %s | %s / %s | %d/%d / %d | %d/%d | %d/%d |\n", s.version, s.found, s.faces,
			pct(s.tarFAR0), pct(s.tar80), pct(s.far80), pct(s.rank1), pct(s.worstTAR80), pct(s.worstRank1),
			s.recall, s.recallTotal, s.fp, s.worstRecall, s.recallTotal, s.small, s.smallTotal)
	}
	fmt.Fprintf(w, "\n| Images | Model pack | faces | decode ms | detect ms | landmarks ms | align + quality ms | embed ms | total ms | total vs `%s` |\n", sums[0].version)
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for k, set := range latencySets {
		for _, s := range sums {
			l := s.lat[k]
			fmt.Fprintf(w, "| %s | `%s` | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", set, s.version, l.faces, l.decode, l.detect, l.landmarks, l.align, l.embed, l.total, l.total/sums[0].lat[k].total)
		}
	}
	fmt.Fprintf(w, "\n%s", sections.String())
	fmt.Fprintf(w, "\nRan in %s on %d CPUs.\n", time.Since(start).Round(time.Second), runtime.NumCPU())
	if outPath != "" {
		return os.WriteFile(outPath, []byte(sb.String()), 0o644)
	}
	return nil
}

func pairCounts(samples []sample) (nGen, nImp int) {
	for i := range samples {
		for j := range samples {
			if i != j && samples[i].person == samples[j].person {
				nGen++
			} else if i != j {
				nImp++
			}
		}
	}
	return nGen, nImp
}

// evalPack writes one pack's section and returns its summary.
func evalPack(eng *face.Engine, samples []sample, photos []photo, w io.Writer) (summary, error) {
	ctx := context.Background()
	sum := summary{version: eng.FaceModelVersion(), faces: len(samples), worstTAR80: 1, worstRank1: 1, worstRecall: math.MaxInt}
	// Clean gallery: every labelled face, embedded once.
	gallery := make([][]float32, len(samples))
	for i, s := range samples {
		r, err := eng.SearchImage(ctx, s.raw, face.SearchOptions{})
		if err != nil {
			return sum, fmt.Errorf("%s: %w", s.file, err)
		}
		if r.Face != nil {
			gallery[i] = r.Face.Embedding
		}
	}
	fmt.Fprintf(w, "## `%s`\n\n", eng.FaceModelVersion())
	fmt.Fprintf(w, "Similarity threshold 80 = cosine %.3f, 99 = cosine %.3f (the pack's calibration).\n\n", eng.CosineAtSimilarity(80), eng.CosineAtSimilarity(99))
	fmt.Fprintf(w, "| Condition | Faces found | TAR @ FAR 1%% | TAR @ FAR 0 | Genuine cos min / median | Impostor cos max | TAR / FAR at Similarity 80 | TAR / FAR at Similarity 99 | Rank-1 | Detection recall | Detection FP |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	thr80, thr99 := eng.CosineAtSimilarity(80), eng.CosineAtSimilarity(99)
	var cleanImpostors []float32
	for _, d := range degradations {
		probes := make([][]float32, len(samples))
		found := 0
		for i, s := range samples {
			r, err := eng.SearchImage(ctx, d.bytes(s.raw, s.img), face.SearchOptions{})
			if err != nil {
				return sum, fmt.Errorf("%s %s: %w", d.name, s.file, err)
			}
			if r.Face != nil {
				probes[i] = r.Face.Embedding
				found++
			}
		}
		var gen, imp []float32
		rank1 := 0
		for i := range samples {
			best, bestJ := float32(-2), -1
			for j := range samples {
				if i == j {
					continue
				}
				c := float32(-1) // a missing face scores the lowest possible
				if probes[i] != nil && gallery[j] != nil {
					c = face.Cosine(probes[i], gallery[j])
				}
				if samples[i].person == samples[j].person {
					gen = append(gen, c)
				} else {
					imp = append(imp, c)
				}
				if c > best {
					best, bestJ = c, j
				}
			}
			if probes[i] != nil && bestJ >= 0 && samples[bestJ].person == samples[i].person {
				rank1++
			}
		}
		sort.Slice(gen, func(a, b int) bool { return gen[a] < gen[b] })
		sort.Slice(imp, func(a, b int) bool { return imp[a] < imp[b] })
		recall, fp, total := detectionRecall(ctx, eng, photos, d)
		r1 := float64(rank1) / float64(len(samples))
		if d.name == "clean" {
			cleanImpostors = imp
			sum.found, sum.tarFAR0, sum.rank1 = found, tarAtFAR(gen, imp, 0), r1
			sum.tar80, sum.far80 = rateAbove(gen, thr80), rateAbove(imp, thr80)
			sum.recall, sum.recallTotal, sum.fp = recall, total, fp
		}
		sum.worstTAR80 = math.Min(sum.worstTAR80, rateAbove(gen, thr80))
		sum.worstRank1 = math.Min(sum.worstRank1, r1)
		sum.worstRecall = min(sum.worstRecall, recall)
		fmt.Fprintf(w, "| %s (%s) | %d/%d | %s | %s | %.3f / %.3f | %.3f | %s / %s | %s / %s | %s | %d/%d (%s) | %d |\n",
			d.name, d.how, found, len(samples),
			pct(tarAtFAR(gen, imp, 0.01)), pct(tarAtFAR(gen, imp, 0)),
			gen[0], gen[len(gen)/2], imp[len(imp)-1],
			pct(rateAbove(gen, thr80)), pct(rateAbove(imp, thr80)),
			pct(rateAbove(gen, thr99)), pct(rateAbove(imp, thr99)),
			pct(r1), recall, total, pct(float64(recall)/float64(total)), fp)
	}
	small, smallTotal, smallFP, baseline, err := smallFaces(ctx, eng, samples, photos)
	if err != nil {
		return sum, err
	}
	sum.small, sum.smallTotal = small, smallTotal
	fmt.Fprintf(w, "\nSmall faces: each of the %d labelled faces scaled to about 40x40 px (a 50 px crop) and pasted into a 1920x1080 scene (an example photo stretched and blurred); found %d/%d (%s). The empty scene itself gives %d detection(s) (its own blurred faces); beyond those, %d other detection(s) over all scenes.\n",
		smallTotal, small, smallTotal, pct(float64(small)/float64(smallTotal)), baseline, smallFP)
	sort.Slice(cleanImpostors, func(a, b int) bool { return cleanImpostors[a] > cleanImpostors[b] })
	above := 0
	for _, c := range cleanImpostors {
		if c > thr80 {
			above++
		}
	}
	fmt.Fprintf(w, "\nClean impostor cosines, highest five: %s. At Similarity 80 (cosine %.3f) %d of %d clean impostor pairs are accepted (FAR %s; the smallest measurable step is %.2g%%).\n\n",
		fmtList(cleanImpostors[:5]), thr80, above, len(cleanImpostors), pct(float64(above)/float64(len(cleanImpostors))), 100/float64(len(cleanImpostors)))
	if sum.lat, err = stageLatency(ctx, eng, samples, photos); err != nil {
		return sum, err
	}
	return sum, nil
}

// stageLatency is the median per stage over three passes of each image set: the labelled
// crops, the example photos, and ten 1920x1080 scenes with one small face each.
func stageLatency(ctx context.Context, eng *face.Engine, samples []sample, photos []photo) ([3]latency, error) {
	var sets [3][][]byte
	for _, s := range samples {
		sets[0] = append(sets[0], s.raw)
	}
	for _, p := range photos {
		sets[1] = append(sets[1], p.raw)
	}
	bg := smallFaceScene(photos)
	for i, s := range samples[:10] {
		scene := facetest.ToRGBA(bg)
		facetest.Paste(scene, s.img, 60+(i*347)%1780, 60+(i*211)%940, 50)
		sets[2] = append(sets[2], facetest.JPEG(scene, 90))
	}
	var out [3]latency
	msOf := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for k, inputs := range sets {
		var dec, det, lm, al, emb, tot, faces []float64
		for pass := 0; pass < 3; pass++ {
			for _, in := range inputs {
				t := time.Now()
				_, st, err := eng.SearchImageTimed(ctx, in, face.SearchOptions{})
				if err != nil {
					return out, err
				}
				total := time.Since(t)
				dec, det, lm = append(dec, msOf(st.Decode)), append(det, msOf(st.Detect)), append(lm, msOf(st.Landmarks))
				al, emb, tot = append(al, msOf(st.Align)), append(emb, msOf(st.Embed)), append(tot, msOf(total))
				faces = append(faces, float64(st.Faces))
			}
		}
		out[k] = latency{median(dec), median(det), median(lm), median(al), median(emb), median(tot), median(faces)}
	}
	return out, nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func fmtList(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, ", ")
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// tarAtFAR is the share of genuine scores above the lowest threshold whose impostor
// accept rate is at most far (both sorted ascending). far 0 means above every impostor.
func tarAtFAR(gen, imp []float32, far float64) float64 {
	allowed := int(math.Floor(far * float64(len(imp))))
	thr := imp[len(imp)-1-allowed]
	return rateAbove(gen, thr)
}

func rateAbove(v []float32, thr float32) float64 {
	n := 0
	for _, x := range v {
		if x > thr {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

func loadJohns(dir string) ([]sample, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []sample
	var people []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.jpg"))
		sort.Strings(files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, err
			}
			img, err := facetest.Load(f)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, sample{person: len(people), file: f, raw: raw, img: img})
		}
		people = append(people, e.Name())
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("no faces in %s", dir)
	}
	return out, people, nil
}

func loadPhotos(dir string) ([]photo, error) {
	var out []photo
	for _, name := range []string{"training.xml", "testing.xml"} {
		images, err := facetest.ReadLabels(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for _, im := range images {
			p := photo{file: im.File}
			path := filepath.Join(dir, im.File)
			if p.raw, err = os.ReadFile(path); err != nil {
				return nil, err
			}
			if p.img, err = facetest.Load(path); err != nil {
				return nil, err
			}
			for _, b := range im.Boxes {
				p.boxes = append(p.boxes, box{b.Left, b.Top, b.Width, b.Height})
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func countBoxes(ps []photo) int {
	n := 0
	for _, p := range ps {
		n += len(p.boxes)
	}
	return n
}

// match pairs detections with annotated boxes greedily; it returns matched and unmatched
// detection counts.
func match(dets []face.FaceDetail, W, H int, boxes []box) (int, int) {
	hit := 0
	for _, d := range pairBoxes(dets, W, H, boxes) {
		if d >= 0 {
			hit++
		}
	}
	return hit, len(dets) - hit
}

// pairBoxes pairs each annotated box, in order, with the nearest unused detection (W x H
// the pixels the boxes are in) whose centre is within half the box size of the box centre
// and whose size is within 0.5x-2x of it; it returns the detection of each box, -1 for none.
func pairBoxes(dets []face.FaceDetail, W, H int, boxes []box) []int {
	used := make([]bool, len(dets))
	paired := make([]int, len(boxes))
	for j, b := range boxes {
		cx, cy, size := b.x+b.w/2, b.y+b.h/2, math.Sqrt(b.w*b.h)
		best, bestD := -1, math.Inf(1)
		for i, d := range dets {
			if used[i] {
				continue
			}
			bb := d.BoundingBox
			dx := (float64(bb.Left)+float64(bb.Width)/2)*float64(W) - cx
			dy := (float64(bb.Top)+float64(bb.Height)/2)*float64(H) - cy
			ds := math.Sqrt(float64(bb.Width) * float64(W) * float64(bb.Height) * float64(H))
			dist := math.Hypot(dx, dy)
			if dist <= size/2 && ds >= size/2 && ds <= size*2 && dist < bestD {
				best, bestD = i, dist
			}
		}
		if best >= 0 {
			used[best] = true
		}
		paired[j] = best
	}
	return paired
}

func allDetails(r *face.IndexResult) []face.FaceDetail {
	var out []face.FaceDetail
	for _, f := range r.Faces {
		out = append(out, f.Detail)
	}
	for _, f := range r.Unindexed {
		out = append(out, f.Detail)
	}
	return out
}

func detectionRecall(ctx context.Context, eng *face.Engine, photos []photo, d degradation) (int, int, int) {
	hit, fp, total := 0, 0, 0
	for _, p := range photos {
		W, H := p.img.Rect.Dx(), p.img.Rect.Dy()
		boxes := p.boxes
		if d.moveBox != nil {
			boxes = nil
			for _, b := range p.boxes {
				boxes = append(boxes, d.moveBox(b, W, H))
			}
		}
		total += len(boxes)
		r, err := eng.IndexImage(ctx, d.bytes(p.raw, p.img), face.IndexOptions{QualityFilter: face.QualityNone})
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s %s: %v\n", d.name, p.file, err)
			continue
		}
		h, f := match(allDetails(r), r.ImageWidth, r.ImageHeight, boxes)
		hit += h
		fp += f
	}
	return hit, fp, total
}

// smallFaceScene is a 1920x1080 background: an example photo stretched and blurred so its
// own faces, now large and soft, do not count.
func smallFaceScene(photos []photo) *image.RGBA {
	bg := facetest.Canvas(photos[0].img, 1920, 1080)
	bg = facetest.Blur(facetest.Scale(bg, 0.25), 3)
	return facetest.Resize(bg, 1920, 1080)
}

// smallFaces pastes each labelled face at 40x40 into a 1920x1080 scene, one face per
// scene at a position that varies, and counts how many are found where they were put.
func smallFaces(ctx context.Context, eng *face.Engine, samples []sample, photos []photo) (int, int, int, int, error) {
	bg := smallFaceScene(photos)
	// The scene's own (blurred) content may hold face-like blobs; those are counted once
	// on the empty scene and reported apart from the pasted faces.
	base, err := eng.IndexImage(ctx, facetest.JPEG(bg, 90), face.IndexOptions{QualityFilter: face.QualityNone})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	baseline := len(allDetails(base))
	hit, fp := 0, 0
	for i, s := range samples {
		scene := facetest.ToRGBA(bg)
		// The crops are 150x150 with the face filling most of it: 50 px of crop is a
		// ~40 px face box.
		x := 60 + (i*347)%1780
		y := 60 + (i*211)%940
		facetest.Paste(scene, s.img, x, y, 50)
		r, err := eng.IndexImage(ctx, facetest.JPEG(scene, 90), face.IndexOptions{QualityFilter: face.QualityNone})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		h, f := match(allDetails(r), 1920, 1080, []box{{float64(x) + 5, float64(y) + 5, 40, 40}})
		hit += h
		fp += max(0, f-baseline)
	}
	return hit, len(samples), fp, baseline, nil
}
