package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // the photos of a dataset: JPEG, PNG or WebP, as the engine takes
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	_ "golang.org/x/image/webp"

	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

// A dataset is a folder of photos the evaluation has not seen (--dataset DIR):
//
//	DIR/<person>/<photo>     photos of one person each, any size; the largest face is theirs
//	DIR/groups/<photo>       photos of several people (or of one, upper body), unlabelled
//	DIR/groups/expected.txt  one line per group photo: its name, how many faces it shows and,
//	                         optionally, the box of every face and of its largest face:
//	                         "bbt1.jpg 4", "bbt1.jpg 4 largest=476,136,91,142" or
//	                         "party.jpg 2 boxes=476,136,91,142;80,120,60,70" (x,y,w,h in
//	                         pixels of the photo at its own size; the count must be the
//	                         number of boxes; the largest face is the largest box unless
//	                         largest= says otherwise)
//
// Names starting with "." are skipped; the engine takes JPEG, PNG and WebP.

// labelled is one photo of a person.
type labelled struct {
	person int
	file   string
	raw    []byte
}

// groupPhoto is one photo of groups/ with what expected.txt says of it.
type groupPhoto struct {
	file     string
	raw      []byte
	expected int
	largest  *box  // the largest real face, in pixels of the photo; nil when not given
	boxes    []box // every face, in pixels of the photo; nil when not given
}

func loadDataset(dir string) (photos []labelled, people []string, groups []groupPhoto, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range ents {
		// Stat, not the entry's type: a person's folder may be a symbolic link.
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !fi.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Name() == "groups" {
			if groups, err = loadGroups(filepath.Join(dir, "groups")); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		files, err := photoFiles(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, nil, err
		}
		if len(files) == 0 {
			continue
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, nil, err
			}
			photos = append(photos, labelled{person: len(people), file: f, raw: raw})
		}
		people = append(people, e.Name())
	}
	if len(people) < 2 {
		return nil, nil, nil, fmt.Errorf("%s: want a folder of photos for each of at least 2 people, found %d", dir, len(people))
	}
	return photos, people, groups, nil
}

// photoFiles lists the image files of dir (not its subfolders), in name order.
func photoFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png", ".webp":
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// loadGroups reads groups/expected.txt and the photos it names; a photo it does not name
// is an error, so that none is silently left out.
func loadGroups(dir string) ([]groupPhoto, error) {
	f, err := os.Open(filepath.Join(dir, "expected.txt"))
	if err != nil {
		return nil, fmt.Errorf("group photos need their face counts: %w", err)
	}
	defer f.Close()
	byName := map[string]groupPhoto{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g, err := parseExpected(line)
		if err != nil {
			return nil, fmt.Errorf("expected.txt line %d: %w", n, err)
		}
		if g.raw, err = os.ReadFile(filepath.Join(dir, g.file)); err != nil {
			return nil, err
		}
		byName[g.file] = g
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	files, err := photoFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []groupPhoto
	for _, p := range files {
		g, ok := byName[filepath.Base(p)]
		if !ok {
			return nil, fmt.Errorf("%s: not in expected.txt", p)
		}
		out = append(out, g)
	}
	if len(out) != len(byName) {
		return nil, fmt.Errorf("expected.txt names %d photos, %s holds %d of them", len(byName), dir, len(out))
	}
	return out, nil
}

// parseExpected reads "photo.jpg 3", then optionally largest=x,y,w,h and
// boxes=x,y,w,h;x,y,w,h;... in either order ("boxes=" alone: no faces).
func parseExpected(line string) (groupPhoto, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 || len(fields) > 4 {
		return groupPhoto{}, fmt.Errorf("%q: want \"<photo> <faces> [largest=x,y,w,h] [boxes=x,y,w,h;...]\"", line)
	}
	g := groupPhoto{file: fields[0]}
	var err error
	if g.expected, err = strconv.Atoi(fields[1]); err != nil || g.expected < 0 {
		return groupPhoto{}, fmt.Errorf("%q: the face count %q is no number", line, fields[1])
	}
	for _, f := range fields[2:] {
		if v, ok := strings.CutPrefix(f, "largest="); ok && g.largest == nil {
			b, err := parseBox(v)
			if err != nil {
				return groupPhoto{}, fmt.Errorf("%q: largest=: %w", line, err)
			}
			g.largest = &b
		} else if v, ok := strings.CutPrefix(f, "boxes="); ok && g.boxes == nil {
			g.boxes = []box{} // given, even if empty
			for _, s := range strings.Split(v, ";") {
				if s == "" && v == "" {
					break
				}
				b, err := parseBox(s)
				if err != nil {
					return groupPhoto{}, fmt.Errorf("%q: boxes=: %w", line, err)
				}
				g.boxes = append(g.boxes, b)
			}
		} else {
			return groupPhoto{}, fmt.Errorf("%q: %q is neither largest=x,y,w,h nor boxes=x,y,w,h;... (each at most once)", line, f)
		}
	}
	if g.boxes != nil && len(g.boxes) != g.expected {
		return groupPhoto{}, fmt.Errorf("%q: %d faces but %d boxes", line, g.expected, len(g.boxes))
	}
	if g.largest == nil {
		for i, b := range g.boxes {
			if g.largest == nil || b.w*b.h > g.largest.w*g.largest.h {
				g.largest = &g.boxes[i]
			}
		}
	}
	return g, nil
}

// parseBox reads "x,y,w,h" in pixels.
func parseBox(s string) (box, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return box{}, fmt.Errorf("%q: want x,y,w,h", s)
	}
	var b [4]float64
	for i, p := range parts {
		var err error
		if b[i], err = strconv.ParseFloat(p, 64); err != nil {
			return box{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	if b[2] <= 0 || b[3] <= 0 {
		return box{}, fmt.Errorf("%q: empty box", s)
	}
	return box{b[0], b[1], b[2], b[3]}, nil
}

// datasetResult is one pack's figures on a dataset.
type datasetResult struct {
	version                  string
	photos, noFace           int
	noFaceFiles              []string
	genuine, impostor        int
	accepted, falseAccepted  int // genuine pairs at 80 or more; impostor pairs at 80 or more
	genuineMin, impostorMax  float32
	genuineMinPair           [2]string
	impostorMaxPair          [2]string
	probes, rank1, rank1At80 int
	groups                   []groupResult
}

// groupResult is one group photo at one size.
type groupResult struct {
	file            string
	width           int
	expected, found int
	verdict         string // how the largest face was judged: real, false, unconfirmed
	how             string
	largestBox      string    // the largest detection, x,y,w,h in pixels of the photo, when not judged real
	identified      string    // the person the largest face was searched to, at 80 or more
	boxes           *boxScore // nil when expected.txt gives no boxes
}

// boxScore is the detections of a group photo against its expected.txt boxes.
type boxScore struct {
	tp, fp, missed int
	falseBoxes     []string // each unmatched detection, x,y,w,h in pixels of the photo (confidence)
	largestBox     int      // the box the largest detection matched, -1 for none
}

// scoreBoxes pairs the detections (the largest first) with the boxes one-to-one, as the
// labelled example photos are; W x H is the photo at its own size, the one the boxes are in,
// whatever size the detections were made at (their boxes are relative).
func scoreBoxes(dets []face.FaceDetail, W, H int, boxes []box) boxScore {
	paired := pairBoxes(dets, W, H, boxes)
	matched := make([]int, len(dets))
	for i := range matched {
		matched[i] = -1
	}
	for j, i := range paired {
		if i >= 0 {
			matched[i] = j
		}
	}
	s := boxScore{largestBox: -1}
	for i, d := range dets {
		if matched[i] >= 0 {
			s.tp++
			continue
		}
		s.fp++
		s.falseBoxes = append(s.falseBoxes, pixelBox(d, W, H))
	}
	if len(dets) > 0 {
		s.largestBox = matched[0]
	}
	s.missed = len(boxes) - s.tp
	return s
}

// pixelBox is a detection as "x,y,w,h (confidence%)" in pixels of a W x H photo.
func pixelBox(d face.FaceDetail, W, H int) string {
	b := d.BoundingBox
	return fmt.Sprintf("%.0f,%.0f,%.0f,%.0f (%.1f%%)", float64(b.Left)*float64(W), float64(b.Top)*float64(H),
		float64(b.Width)*float64(W), float64(b.Height)*float64(H), d.Confidence)
}

// detectionTotals sums the scores of the group photos with boxes: true and false positives
// and boxes; n is how many photo sizes were scored.
func detectionTotals(groups []groupResult) (tp, fp, boxes, n int) {
	for _, g := range groups {
		if g.boxes != nil {
			tp += g.boxes.tp
			fp += g.boxes.fp
			boxes += g.boxes.tp + g.boxes.missed
			n++
		}
	}
	return tp, fp, boxes, n
}

// runDataset evaluates every pack on the dataset and prints a Markdown report.
func runDataset(packs []string, lib, dir string, groupWidth int, out io.Writer) error {
	photos, people, groups, err := loadDataset(dir)
	if err != nil {
		return err
	}
	var results []datasetResult
	for _, pack := range packs {
		eng, err := face.NewEngine(face.EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 1})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "faceeval: %s on %s\n", eng.FaceModelVersion(), dir)
		r, err := evalDataset(eng, photos, people, groups, groupWidth)
		eng.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", pack, err)
		}
		results = append(results, r)
	}
	reportDataset(out, dir, photos, people, groups, results)
	return nil
}

func evalDataset(eng *face.Engine, photos []labelled, people []string, groups []groupPhoto, groupWidth int) (datasetResult, error) {
	ctx := context.Background()
	r := datasetResult{version: eng.FaceModelVersion(), photos: len(photos), genuineMin: 101, impostorMax: -1}
	emb := make([][]float32, len(photos))
	for i, p := range photos {
		s, err := eng.SearchImage(ctx, p.raw, face.SearchOptions{})
		if err != nil {
			return r, fmt.Errorf("%s: %w", p.file, err)
		}
		if s.Face == nil {
			r.noFace++
			r.noFaceFiles = append(r.noFaceFiles, filepath.Base(p.file))
			continue
		}
		emb[i] = s.Face.Embedding
	}
	sim := func(a, b []float32) float32 {
		if a == nil || b == nil {
			return 0 // a photo without a face matches nothing
		}
		return eng.Similarity(face.Cosine(a, b))
	}
	// Verification: every unordered pair of photos. A pair with a photo without a face is
	// rejected, and left out of the lowest and highest similarities, which are the faces'.
	for i := range photos {
		for j := i + 1; j < len(photos); j++ {
			s := sim(emb[i], emb[j])
			both := emb[i] != nil && emb[j] != nil
			pair := [2]string{filepath.Base(photos[i].file), filepath.Base(photos[j].file)}
			if photos[i].person == photos[j].person {
				r.genuine++
				if s >= 80 {
					r.accepted++
				}
				if both && s < r.genuineMin {
					r.genuineMin, r.genuineMinPair = s, pair
				}
			} else {
				r.impostor++
				if s >= 80 {
					r.falseAccepted++
				}
				if both && s > r.impostorMax {
					r.impostorMax, r.impostorMaxPair = s, pair
				}
			}
		}
	}
	// Identification: each person's first two photos enrolled, as a user of two faces, whose
	// similarity is its best face's; the other photos are probes.
	enrolled := map[int][]int{}
	var probes []int
	for i, p := range photos {
		if len(enrolled[p.person]) < 2 {
			enrolled[p.person] = append(enrolled[p.person], i)
		} else {
			probes = append(probes, i)
		}
	}
	identify := func(e []float32) (person int, best float32) {
		person, best = -1, -1
		for who, faces := range enrolled {
			for _, f := range faces {
				if s := sim(e, emb[f]); e != nil && emb[f] != nil && s > best {
					person, best = who, s
				}
			}
		}
		return person, best
	}
	for _, i := range probes {
		r.probes++
		if who, s := identify(emb[i]); who == photos[i].person {
			r.rank1++
			if s >= 80 {
				r.rank1At80++
			}
		}
	}
	// Group photos, as they are and scaled to groupWidth.
	for _, g := range groups {
		widths := []int{0}
		if groupWidth > 0 {
			widths = append(widths, groupWidth)
		}
		for _, w := range widths {
			gr, err := evalGroup(ctx, eng, g, w, func(e []float32) (string, float32) {
				who, s := identify(e)
				if who < 0 {
					return "", s
				}
				return people[who], s
			})
			if err != nil {
				return r, fmt.Errorf("%s: %w", g.file, err)
			}
			r.groups = append(r.groups, gr)
		}
	}
	return r, nil
}

// evalGroup counts the faces of a group photo (scaled to width px when width > 0), scores them
// against its expected.txt boxes when there are some, and judges its largest: paired with
// one of those boxes; else inside the largest= box when there is one; else, with one face
// expected and one found, by the count; else by identity: searched to an enrolled person at
// 80 or more is a real face, anything else unconfirmed (a stranger's face, or a false one).
func evalGroup(ctx context.Context, eng *face.Engine, g groupPhoto, width int, identify func([]float32) (string, float32)) (groupResult, error) {
	raw, largest := g.raw, g.largest
	W, H := 0, 0 // the photo at its own size: boxes are reported in its pixels at every width
	if width > 0 {
		m, _, err := image.Decode(bytes.NewReader(g.raw))
		if err != nil {
			return groupResult{}, err
		}
		W, H = m.Bounds().Dx(), m.Bounds().Dy()
		scale := float64(width) / float64(m.Bounds().Dx())
		raw = facetest.JPEG(facetest.Scale(m, scale), 92)
		if largest != nil {
			largest = &box{largest.x * scale, largest.y * scale, largest.w * scale, largest.h * scale}
		}
	}
	res := groupResult{file: g.file, expected: g.expected}
	d, err := eng.DetectImage(ctx, raw, face.DetectOptions{})
	if err != nil {
		return res, err
	}
	res.width, res.found = d.ImageWidth, len(d.Faces)
	if width == 0 {
		W, H = d.ImageWidth, d.ImageHeight
	}
	if g.boxes != nil {
		s := scoreBoxes(d.Faces, W, H, g.boxes)
		res.boxes = &s
	}
	if len(d.Faces) == 0 {
		res.verdict, res.how = "none found", ""
		return res, nil
	}
	s, err := eng.SearchImage(ctx, raw, face.SearchOptions{})
	if err != nil {
		return res, err
	}
	if s.Face != nil {
		if who, sim := identify(s.Face.Embedding); sim >= 80 {
			res.identified = fmt.Sprintf("%s (%.0f)", who, sim)
		}
	}
	b := d.Faces[0].BoundingBox
	cx := (float64(b.Left) + float64(b.Width)/2) * float64(d.ImageWidth)
	cy := (float64(b.Top) + float64(b.Height)/2) * float64(d.ImageHeight)
	switch {
	case res.boxes != nil:
		res.how, res.verdict = "boxes", "false"
		if j := res.boxes.largestBox; j >= 0 {
			res.verdict = "real"
			if g.boxes[j] != *g.largest {
				res.how = "boxes, not the largest face"
			}
		}
	case largest != nil:
		res.how = "box"
		res.verdict = "false"
		if cx >= largest.x && cx <= largest.x+largest.w && cy >= largest.y && cy <= largest.y+largest.h {
			res.verdict = "real"
		}
	case g.expected == 1 && res.found == 1:
		res.how, res.verdict = "count", "real"
	case res.identified != "":
		res.how, res.verdict = "identity", "real"
	default:
		res.how, res.verdict = "identity", "unconfirmed"
	}
	if res.verdict != "real" {
		res.largestBox = pixelBox(d.Faces[0], W, H)
	}
	return res, nil
}

func reportDataset(w io.Writer, dir string, photos []labelled, people []string, groups []groupPhoto, results []datasetResult) {
	perPerson := map[int]int{}
	for _, p := range photos {
		perPerson[p.person]++
	}
	minN, maxN := math.MaxInt, 0
	for _, n := range perPerson {
		minN, maxN = min(minN, n), max(maxN, n)
	}
	fmt.Fprintf(w, "# Face engine evaluation: %s\n\n", filepath.Base(filepath.Clean(dir)))
	fmt.Fprintf(w, "Generated by `go run ./hack/faceeval --dataset DIR`.\n\n")
	each := fmt.Sprintf("%d-%d", minN, maxN)
	if minN == maxN {
		each = strconv.Itoa(minN)
	}
	fmt.Fprintf(w, "- Identities: %d people, %s photos each, %d photos; the largest face of each photo is the person's.\n", len(people), each, len(photos))
	fmt.Fprintf(w, "- Verification: every unordered pair of photos at Similarity 80 (each pack's calibration); a photo without a face matches nothing. Genuine min and impostor max are over the pairs of photos with a face; margin: the one less the other (positive: one threshold separates them all).\n")
	fmt.Fprintf(w, "- Identification: each person's first two photos (by name) enrolled as one user (its similarity is its best face's); the others are probes. Rank-1: the best user is the probe's person; at 80: and its similarity is 80 or more, as SearchUsersByImage would answer.\n")
	if len(groups) > 0 {
		fmt.Fprintf(w, "- Group photos: %d, faces counted with DetectFaces. Where expected.txt gives every face's box, the detections are paired with the boxes one-to-one as the labelled example photos' are (centre within half the box size of the box centre, size 0.5x-2x): true positives, false positives (detections paired with no box) and misses, boxes in pixels of the photo as stored at every width; detection precision TP/(TP+FP) and recall TP/boxes are over those photos at every width. The largest face (the one search uses) is judged by those boxes when given (real: paired with one), else by the largest box in expected.txt when given, else by the count when one face is expected and one found, else by identity (searched to an enrolled person at 80 or more: real; else unconfirmed, a stranger or a false face).\n", len(groups))
	}
	fmt.Fprintf(w, "\n| Model pack | Photos without a face | Verification accuracy at 80 | TAR / FAR at 80 | Genuine min / impostor max similarity (margin) | Rank-1 / at 80 | Group faces found / expected | Detection precision / recall | TP / FP / boxes | Largest face real / false / unconfirmed |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		acc := float64(r.accepted+r.impostor-r.falseAccepted) / float64(r.genuine+r.impostor)
		found, expected, counts := 0, 0, map[string]int{}
		for _, g := range r.groups {
			found += g.found
			expected += g.expected
			counts[g.verdict]++
		}
		rates, sums := "no boxes", ""
		if tp, fp, boxes, n := detectionTotals(r.groups); n > 0 {
			rates = pct(float64(tp)/float64(max(1, tp+fp))) + " / " + pct(float64(tp)/float64(max(1, boxes)))
			sums = fmt.Sprintf("%d / %d / %d", tp, fp, boxes)
		}
		fmt.Fprintf(w, "| `%s` | %d/%d | %s | %s / %s | %.1f / %.1f (%+.1f) | %d/%d / %d/%d | %d / %d | %s | %s | %d / %d / %d |\n",
			r.version, r.noFace, r.photos, pct(acc),
			pct(float64(r.accepted)/float64(max(1, r.genuine))), pct(float64(r.falseAccepted)/float64(max(1, r.impostor))),
			r.genuineMin, r.impostorMax, r.genuineMin-r.impostorMax,
			r.rank1, r.probes, r.rank1At80, r.probes, found, expected, rates, sums,
			counts["real"], counts["false"], counts["unconfirmed"])
	}
	for _, r := range results {
		fmt.Fprintf(w, "\n## `%s`\n\n", r.version)
		fmt.Fprintf(w, "%d genuine and %d impostor pairs. Lowest genuine: %.1f (%s, %s); highest impostor: %.1f (%s, %s).",
			r.genuine, r.impostor, r.genuineMin, r.genuineMinPair[0], r.genuineMinPair[1], r.impostorMax, r.impostorMaxPair[0], r.impostorMaxPair[1])
		if len(r.noFaceFiles) > 0 {
			fmt.Fprintf(w, " No face found in: %s.", strings.Join(r.noFaceFiles, ", "))
		}
		fmt.Fprintln(w)
		if len(r.groups) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n| Group photo | Width | Faces found / expected | TP / FP / missed | Largest face | Judged by | Searched to (at 80) | Largest box if not real (confidence) | False detections (confidence) |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range r.groups {
			score, falses := "", ""
			if g.boxes != nil {
				score = fmt.Sprintf("%d / %d / %d", g.boxes.tp, g.boxes.fp, g.boxes.missed)
				falses = strings.Join(g.boxes.falseBoxes, "; ")
			}
			fmt.Fprintf(w, "| %s | %d | %d / %d | %s | %s | %s | %s | %s | %s |\n", g.file, g.width, g.found, g.expected, score, g.verdict, g.how, g.identified, g.largestBox, falses)
		}
	}
}
