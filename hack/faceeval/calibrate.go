package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/face"
)

// --calibrate pools every clean pair of labelled photos (the johns set and any --dataset
// folders) and reports, per pack, how its Similarity points sit against the impostor and
// genuine cosine distributions, with points suggested from a fit of the impostor tail
// (docs/face-engine.md, "Calibrating a pack").

// calibFARs are the false-accept rates the fits are read at; far below what the pair counts
// measure, hence the fits.
var calibFARs = []float64{1e-3, 1e-4, 1e-5, 1e-6}

// Rules of the suggested points.
const (
	suggestFAR80 = 1e-5 // Similarity 80 at this fitted FAR ...
	suggestFAR99 = 1e-6 // ... and 99 at this one
	// marginSDs: 80 (and 99 above it) stays at least this many impostor sds above the
	// highest impostor seen; in sds, as the packs' cosine scales differ about threefold.
	marginSDs = 0.25
	// tailShare is the upper share of impostor cosines the tail fit uses; tailMin the fewest
	// pairs it will fit.
	tailShare = 0.10
	tailMin   = 20
)

// labelledSet is one source of the pool: the johns set or a dataset folder.
type labelledSet struct {
	name   string
	people []string
	photos []labelled
}

// calibPhoto is one photo of the pool, its person numbered across all sets: people of
// different sets are different people.
type calibPhoto struct {
	person int
	name   string // set/person/file
	raw    []byte
}

func pool(sets []labelledSet) (photos []calibPhoto, identities int) {
	for _, s := range sets {
		for _, p := range s.photos {
			photos = append(photos, calibPhoto{
				person: identities + p.person,
				name:   s.name + "/" + s.people[p.person] + "/" + filepath.Base(p.file),
				raw:    p.raw,
			})
		}
		identities += len(s.people)
	}
	return photos, identities
}

// pair is two photos of the pool (indices) and the cosine of their embeddings.
type pair struct {
	cos  float64
	a, b int
}

// pairsOf is every unordered pair of photos that both have an embedding (nil: no face),
// genuine when of one person; each sorted by cosine, ascending.
func pairsOf(person []int, emb [][]float32) (gen, imp []pair) {
	for i := range emb {
		for j := i + 1; j < len(emb); j++ {
			if emb[i] == nil || emb[j] == nil {
				continue
			}
			p := pair{float64(face.Cosine(emb[i], emb[j])), i, j}
			if person[i] == person[j] {
				gen = append(gen, p)
			} else {
				imp = append(imp, p)
			}
		}
	}
	byCos := func(v []pair) { sort.Slice(v, func(i, j int) bool { return v[i].cos < v[j].cos }) }
	byCos(gen)
	byCos(imp)
	return gen, imp
}

func cosines(ps []pair) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.cos
	}
	return out
}

func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// percentile of sorted values, p in 0..100, interpolating between neighbours.
func percentile(sorted []float64, p float64) float64 {
	pos := p / 100 * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// normalQuantile is the standard normal's inverse CDF.
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// fisherZ is atanh, kept finite at ±1.
func fisherZ(c float64) float64 { return math.Atanh(math.Max(-1+1e-9, math.Min(1-1e-9, c))) }

// normalFit is a normal distribution of impostor cosines, or of their Fisher z (atanh),
// which stretches the bounded upper end the way the scores' tail runs.
type normalFit struct {
	mu, sigma float64
	fisher    bool
}

// cosineAt is the cosine that impostors reach with probability far.
func (f normalFit) cosineAt(far float64) float64 {
	q := f.mu + f.sigma*normalQuantile(1-far)
	if f.fisher {
		return math.Tanh(q)
	}
	return q
}

// farAt is the share of impostors the fit puts at or above cosine c.
func (f normalFit) farAt(c float64) float64 {
	x := c
	if f.fisher {
		x = fisherZ(c)
	}
	return 0.5 * math.Erfc((x-f.mu)/(f.sigma*math.Sqrt2))
}

func fitNormal(cos []float64) normalFit {
	mu, sd := meanSD(cos)
	return normalFit{mu: mu, sigma: sd}
}

func fitFisher(cos []float64) normalFit {
	z := make([]float64, len(cos))
	for i, c := range cos {
		z[i] = fisherZ(c)
	}
	mu, sd := meanSD(z)
	return normalFit{mu: mu, sigma: sd, fisher: true}
}

// fitUpperTail fits a normal to the highest share of the sorted cosines' Fisher z only: a
// least-squares line through their normal probability plot (z against the normal quantile
// of each one's rank, (i+0.5)/n), so the body of the distribution does not set the tail.
func fitUpperTail(sorted []float64, share float64) (normalFit, bool) {
	n := len(sorted)
	k := int(share * float64(n))
	if k < tailMin {
		return normalFit{}, false
	}
	var sx, sy, sxx, sxy float64
	for i := n - k; i < n; i++ {
		x, y := normalQuantile((float64(i)+0.5)/float64(n)), fisherZ(sorted[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (float64(k)*sxy - sx*sy) / (float64(k)*sxx - sx*sx)
	return normalFit{mu: (sy - slope*sx) / float64(k), sigma: slope, fisher: true}, true
}

// calibFit is one fit of the report, by name.
type calibFit struct {
	name string
	fit  normalFit
}

// impostorFits are the report's fits, the simple one first.
func impostorFits(sortedImp []float64) []calibFit {
	fits := []calibFit{
		{"normal", fitNormal(sortedImp)},
		{"normal on Fisher z", fitFisher(sortedImp)},
	}
	if f, ok := fitUpperTail(sortedImp, tailShare); ok {
		fits = append(fits, calibFit{fmt.Sprintf("upper %.0f%% on Fisher z", 100*tailShare), f})
	}
	return fits
}

// onFisherZ are the fits the points are suggested from: a normal on the cosines themselves
// ignores that they stop at 1, and on a skewed distribution (dlib's impostors run from a
// mode near 0.8 far down, not up) it puts the tail well above every impostor seen.
func onFisherZ(fits []calibFit) []calibFit {
	var out []calibFit
	for _, f := range fits {
		if f.fit.fisher {
			out = append(out, f)
		}
	}
	return out
}

// highestAt is the most cautious fit's cosine at far.
func highestAt(fits []calibFit, far float64) float64 {
	c := math.Inf(-1)
	for _, f := range fits {
		c = math.Max(c, f.fit.cosineAt(far))
	}
	return c
}

// suggestion is a set of points and why each cosine is what it is.
type suggestion struct {
	points        [][2]float32
	c50, c80, c99 float64
	why80, why99  string
	err           error // the points fail the manifest's check
}

// suggestPoints: 80 at the most cautious of fits at FAR 1e-5, or above the highest impostor by
// a margin, whichever is higher; 99 likewise at FAR 1e-6 and at least that margin above 80;
// 50 at the impostor mean + 2 sd. Cosines are rounded to 3 decimals, 80 and 99 upwards.
func suggestPoints(fits []calibFit, impMean, impSD, impMax float64) suggestion {
	margin := marginSDs * impSD
	var s suggestion
	fit80, emp80 := highestAt(fits, suggestFAR80), impMax+margin
	s.c80, s.why80 = fit80, fmt.Sprintf("fitted FAR %.0e", suggestFAR80)
	if emp80 > fit80 {
		s.c80, s.why80 = emp80, fmt.Sprintf("impostor max + %.2g sd", marginSDs)
	}
	fit99 := highestAt(fits, suggestFAR99)
	s.c99, s.why99 = fit99, fmt.Sprintf("fitted FAR %.0e", suggestFAR99)
	if s.c80+margin > fit99 {
		s.c99, s.why99 = s.c80+margin, fmt.Sprintf("80's cosine + %.2g sd", marginSDs)
	}
	s.c50 = impMean + 2*impSD
	up := func(c float64) float64 { return math.Ceil(c*1000-1e-9) / 1000 }
	s.c50, s.c80, s.c99 = math.Round(s.c50*1000)/1000, up(s.c80), up(s.c99)
	s.points = [][2]float32{{-1, 0}, {float32(s.c50), 50}, {float32(s.c80), 80}, {float32(s.c99), 99}, {1, 100}}
	s.err = face.SimilaritySpec{Points: s.points}.Validate()
	return s
}

// calibResult is one pack's pool: its pairs and the photos they name.
type calibResult struct {
	version      string
	points       [][2]float32
	cos80, cos99 float64 // the pack's current points
	identities   int     // with a face in at least one photo
	noFace       []string
	gen, imp     []pair
	names        []string
}

// calibStats are the figures of one pack's pool.
type calibStats struct {
	gen, imp []float64 // cosines, ascending
	mean, sd float64   // of the impostors
	fits     []calibFit
	suggest  suggestion
}

func analyse(r calibResult) calibStats {
	st := calibStats{gen: cosines(r.gen), imp: cosines(r.imp)}
	st.mean, st.sd = meanSD(st.imp)
	st.fits = impostorFits(st.imp)
	st.suggest = suggestPoints(onFisherZ(st.fits), st.mean, st.sd, st.imp[len(st.imp)-1])
	return st
}

// runCalibrate embeds every photo of the pool with each pack and writes the report.
func runCalibrate(packs []string, lib string, sets []labelledSet, out io.Writer) error {
	photos, identities := pool(sets)
	person := make([]int, len(photos))
	names := make([]string, len(photos))
	for i, p := range photos {
		person[i], names[i] = p.person, p.name
	}
	var results []calibResult
	for _, pack := range packs {
		eng, err := face.NewEngine(face.EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 1})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "faceeval: calibrating %s on %d photos\n", eng.FaceModelVersion(), len(photos))
		r := calibResult{version: eng.FaceModelVersion(), points: eng.Manifest().Similarity.Points, names: names,
			cos80: float64(eng.CosineAtSimilarity(80)), cos99: float64(eng.CosineAtSimilarity(99))}
		emb := make([][]float32, len(photos))
		for i, p := range photos {
			s, err := eng.SearchImage(context.Background(), p.raw, face.SearchOptions{})
			if err != nil {
				eng.Close()
				return fmt.Errorf("%s: %s: %w", pack, p.name, err)
			}
			if s.Face == nil {
				r.noFace = append(r.noFace, p.name)
				continue
			}
			emb[i] = s.Face.Embedding
		}
		eng.Close()
		seen := map[int]bool{}
		for i, e := range emb {
			if e != nil {
				seen[person[i]] = true
			}
		}
		r.identities = len(seen)
		r.gen, r.imp = pairsOf(person, emb)
		if len(r.gen) < 2 || len(r.imp) < 2 {
			return fmt.Errorf("%s: %d genuine and %d impostor pairs, too few to calibrate", pack, len(r.gen), len(r.imp))
		}
		results = append(results, r)
	}
	setNames := make([]string, len(sets))
	for i, s := range sets {
		setNames[i] = fmt.Sprintf("%s (%d people, %d photos)", s.name, len(s.people), len(s.photos))
	}
	reportCalibration(out, setNames, identities, len(photos), results)
	return nil
}

// atOrAbove counts the sorted pairs whose cosine is at least c.
func atOrAbove(sorted []pair, c float64) int {
	return len(sorted) - sort.Search(len(sorted), func(i int) bool { return sorted[i].cos >= c })
}

func reportCalibration(w io.Writer, sets []string, identities, photos int, results []calibResult) {
	fmt.Fprintf(w, "# Similarity calibration\n\n")
	fmt.Fprintf(w, "Generated by `go run ./hack/faceeval --calibrate`.\n\n")
	fmt.Fprintf(w, "- Pool: %s; %d identities, %d photos. People of different sets are different people.\n", strings.Join(sets, ", "), identities, photos)
	fmt.Fprintf(w, "- Pairs: every unordered pair of clean photos that both have a face, one embedding per photo (its largest face); genuine when of one person.\n")
	fmt.Fprintf(w, "- Fitted cosines at a FAR: where a normal distribution fitted to the impostor cosines puts that share of impostors (\"normal\": fitted to the cosines, mean and sd; \"normal on Fisher z\": to atanh of the cosines; \"upper %.0f%% on Fisher z\": to atanh of the highest %.0f%% only, by least squares on their normal probability plot). The pair counts measure FAR down to 1/impostor pairs only; below that the figures are the fits' extrapolation, not measurements.\n", 100*tailShare, 100*tailShare)
	fmt.Fprintf(w, "- TAR and FAR at a Similarity count pairs at or above its cosine (Similarity >= threshold accepts).\n")
	fmt.Fprintf(w, "- Impostor pairs are not independent: they come from the pairs of identities, so the fits are only as good as the number of people; a look-alike or a relative no set here holds is what sets a real FAR 1e-5.\n")
	fmt.Fprintf(w, "- Suggested points: 80 at the higher Fisher-z fit's cosine at FAR %.0e, or the highest impostor cosine + %.2g impostor sd if higher; 99 at the higher Fisher-z fit's cosine at FAR %.0e, and at least %.2g sd above 80; 50 at the impostor mean + 2 sd; the normal fit on the cosines themselves is for reference only (it ignores that cosines stop at 1); [-1, 0] and [1, 100] kept. Cosines rounded to 3 decimals (80 and 99 upwards) and checked as a manifest checks them. Nothing is changed: paste the points into modelpacks/<pack>/manifest.json by hand.\n\n",
		suggestFAR80, marginSDs, suggestFAR99, marginSDs)

	fmt.Fprintf(w, "| Model pack | Genuine / impostor pairs | Impostor mean / sd / max | Genuine min / 1st pct / median | Current 80 (cosine): TAR / FAR | Margin at 80: genuine min / impostor max | Suggested 50 / 80 / 99 | TAR at suggested 80 / 99 |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|\n")
	stats := make([]calibStats, len(results))
	for k, r := range results {
		st := analyse(r)
		stats[k] = st
		gen, imp, s := st.gen, st.imp, st.suggest
		fmt.Fprintf(w, "| `%s` | %d / %d | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f | %.3f: %s / %s | %+.3f / %+.3f | %.3f / %.3f / %.3f | %s / %s |\n",
			r.version, len(gen), len(imp), st.mean, st.sd, imp[len(imp)-1], gen[0], percentile(gen, 1), percentile(gen, 50),
			r.cos80, share(atOrAbove(r.gen, r.cos80), len(gen)), farShare(atOrAbove(r.imp, r.cos80), len(imp)),
			gen[0]-r.cos80, r.cos80-imp[len(imp)-1], s.c50, s.c80, s.c99,
			share(atOrAbove(r.gen, s.c80), len(gen)), share(atOrAbove(r.gen, s.c99), len(gen)))
	}
	for k, r := range results {
		reportCalibrationPack(w, r, stats[k])
	}
}

func share(n, total int) string { return pct(float64(n) / float64(total)) }

// farShare has three significant digits: a pair in thousands is what a FAR is about.
func farShare(n, total int) string { return fmt.Sprintf("%.3g%%", 100*float64(n)/float64(total)) }

func reportCalibrationPack(w io.Writer, r calibResult, st calibStats) {
	gen, imp, mean, sd, fits, s := st.gen, st.imp, st.mean, st.sd, st.fits, st.suggest
	pairNames := func(ps []pair) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = fmt.Sprintf("%.3f (%s, %s)", p.cos, r.names[p.a], r.names[p.b])
		}
		return strings.Join(s, "; ")
	}
	top := make([]pair, 0, 5)
	for i := len(r.imp) - 1; i >= 0 && len(top) < 5; i-- {
		top = append(top, r.imp[i])
	}
	fmt.Fprintf(w, "\n## `%s`\n\n", r.version)
	fmt.Fprintf(w, "%d genuine and %d impostor pairs of %d identities; the smallest measurable FAR is 1/%d = %.2g.",
		len(gen), len(imp), r.identities, len(imp), 1/float64(len(imp)))
	if len(r.noFace) > 0 {
		fmt.Fprintf(w, " No face found in: %s.", strings.Join(r.noFace, ", "))
	}
	fmt.Fprintf(w, " Current points: %s.\n\n", pointsJSON(r.points))
	fmt.Fprintf(w, "**Impostors**: mean %.3f, sd %.3f, max %.3f. Highest five: %s.\n\n", mean, sd, imp[len(imp)-1], pairNames(top))
	// The fits' credibility: how many impostor pairs each expects at or above the highest
	// seen, where 1 is seen.
	fmt.Fprintf(w, "| Fit | mean | sd | pairs expected at or above the max (seen: 1) |")
	for _, far := range calibFARs {
		fmt.Fprintf(w, " cosine at FAR %.0e |", far)
	}
	fmt.Fprintf(w, "\n|---|---|---|---|%s\n", strings.Repeat("---|", len(calibFARs)))
	for _, f := range fits {
		unit := ""
		if f.fit.fisher {
			unit = " (z)"
		}
		fmt.Fprintf(w, "| %s | %.3f%s | %.3f%s | %.1f |", f.name, f.fit.mu, unit, f.fit.sigma, unit, float64(len(imp))*f.fit.farAt(imp[len(imp)-1]))
		for _, far := range calibFARs {
			fmt.Fprintf(w, " %.3f |", f.fit.cosineAt(far))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n**Genuine**: min %.3f, 1st percentile %.3f, 5th %.3f, median %.3f. Lowest five: %s.\n\n",
		gen[0], percentile(gen, 1), percentile(gen, 5), percentile(gen, 50), pairNames(r.gen[:min(5, len(r.gen))]))
	fmt.Fprintf(w, "| Current point | cosine | TAR | genuine pairs below | FAR | impostor pairs at or above |\n|---|---|---|---|---|---|\n")
	for _, at := range []struct {
		sim string
		cos float64
	}{{"Similarity 80", r.cos80}, {"Similarity 99", r.cos99}} {
		g, i := atOrAbove(r.gen, at.cos), atOrAbove(r.imp, at.cos)
		fmt.Fprintf(w, "| %s | %.3f | %s | %d/%d | %s | %d/%d |\n", at.sim, at.cos,
			share(g, len(gen)), len(gen)-g, len(gen), farShare(i, len(imp)), i, len(imp))
	}
	verdict := "both positive: 80 separates every pair"
	if gen[0] < r.cos80 || imp[len(imp)-1] >= r.cos80 {
		verdict = "80 does not separate every pair"
	}
	fmt.Fprintf(w, "\nMargin at 80: genuine min - cosine80 = %+.3f; cosine80 - impostor max = %+.3f (%s).\n\n",
		gen[0]-r.cos80, r.cos80-imp[len(imp)-1], verdict)
	fmt.Fprintf(w, "**Suggested**: 50 at %.3f (impostor mean + 2 sd), 80 at %.3f (%s), 99 at %.3f (%s).", s.c50, s.c80, s.why80, s.c99, s.why99)
	if s.err != nil {
		fmt.Fprintf(w, " These points do not pass the manifest's check (%v): not to be used.\n", s.err)
		return
	}
	g80, i80, g99 := atOrAbove(r.gen, s.c80), atOrAbove(r.imp, s.c80), atOrAbove(r.gen, s.c99)
	fmt.Fprintf(w, " At 80: TAR %s (%d genuine pairs below), FAR %s (%d impostor pairs at or above); at 99: TAR %s.\n\n",
		share(g80, len(gen)), len(gen)-g80, farShare(i80, len(imp)), i80, share(g99, len(gen)))
	fmt.Fprintf(w, "```json\n\"similarity\": {\"points\": %s}\n```\n", pointsJSON(s.points))
}

func pointsJSON(p [][2]float32) string {
	b, _ := json.Marshal(p) // [][2]float32 always encodes
	return strings.ReplaceAll(string(b), ",", ", ")
}
