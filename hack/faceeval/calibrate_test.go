package main

import (
	"math"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/face"
)

// normalSample is n values of a normal distribution at its quantiles (i+0.5)/n: a sample
// without randomness, so the fits' expected answers are exact.
func normalSample(n int, mu, sigma float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = mu + sigma*normalQuantile((float64(i)+0.5)/float64(n))
	}
	return v
}

func tanhAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Tanh(x)
	}
	return out
}

func TestNormalQuantile(t *testing.T) {
	for _, tt := range []struct{ p, want float64 }{
		{0.5, 0}, {0.975, 1.959964}, {1 - 1e-3, 3.090232}, {1 - 1e-4, 3.719016}, {1 - 1e-5, 4.264891}, {1 - 1e-6, 4.753424}, {0.025, -1.959964},
	} {
		if got := normalQuantile(tt.p); math.Abs(got-tt.want) > 1e-5 {
			t.Errorf("normalQuantile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestImpostorFits(t *testing.T) {
	const n = 100000
	cos := normalSample(n, 0.1, 0.08)
	z := normalSample(n, 0.5, 0.2)
	// The body squashed to its median: only the upper-tail fit still sees the distribution.
	squashed := append([]float64(nil), z...)
	for i := range squashed[:n/2] {
		squashed[i] = 0.5
	}
	tail := func(sorted []float64) normalFit {
		f, ok := fitUpperTail(sorted, tailShare)
		if !ok {
			t.Fatal("no tail fit on 100000 values")
		}
		return f
	}
	tests := []struct {
		name string
		fit  normalFit
		want func(far float64) float64
	}{
		{"normal on a normal sample", fitNormal(cos), func(far float64) float64 { return 0.1 + 0.08*normalQuantile(1-far) }},
		{"Fisher z on a Fisher-normal sample", fitFisher(tanhAll(z)), func(far float64) float64 { return math.Tanh(0.5 + 0.2*normalQuantile(1-far)) }},
		{"upper tail on a Fisher-normal sample", tail(tanhAll(z)), func(far float64) float64 { return math.Tanh(0.5 + 0.2*normalQuantile(1-far)) }},
		{"upper tail on a squashed body", tail(tanhAll(squashed)), func(far float64) float64 { return math.Tanh(0.5 + 0.2*normalQuantile(1-far)) }},
	}
	for _, tt := range tests {
		for _, far := range calibFARs {
			if got, want := tt.fit.cosineAt(far), tt.want(far); math.Abs(got-want) > 1e-3 {
				t.Errorf("%s: cosine at FAR %g = %.4f, want %.4f", tt.name, far, got, want)
			}
			// farAt is cosineAt's inverse.
			if got := tt.fit.farAt(tt.fit.cosineAt(far)); math.Abs(got-far)/far > 1e-6 {
				t.Errorf("%s: FAR at the cosine of FAR %g = %g", tt.name, far, got)
			}
		}
	}
	// The full fit does not recover a squashed body's tail: what the tail fit is for.
	if got, want := fitFisher(tanhAll(squashed)).cosineAt(1e-5), math.Tanh(0.5+0.2*normalQuantile(1-1e-5)); math.Abs(got-want) < 0.01 {
		t.Errorf("Fisher z fit on a squashed body: %.4f, the tail's %.4f", got, want)
	}
	// The points are suggested from the Fisher-z fits only.
	if fits := onFisherZ(impostorFits(cos)); len(fits) != 2 || !fits[0].fit.fisher || !fits[1].fit.fisher {
		t.Errorf("fits on Fisher z: %+v", fits)
	}
	if _, ok := fitUpperTail(normalSample(100, 0, 1), tailShare); ok {
		t.Error("a tail fit on 10 values")
	}
}

func TestPercentile(t *testing.T) {
	five := []float64{1, 2, 3, 4, 5}
	for _, tt := range []struct {
		v       []float64
		p, want float64
	}{
		{five, 0, 1}, {five, 100, 5}, {five, 50, 3}, {five, 25, 2}, {five, 10, 1.4}, {five, 99, 4.96},
		{[]float64{7}, 1, 7}, {[]float64{7}, 100, 7},
	} {
		if got := percentile(tt.v, tt.p); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.v, tt.p, got, tt.want)
		}
	}
}

func TestMeanSD(t *testing.T) {
	mean, sd := meanSD([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if mean != 5 || math.Abs(sd-math.Sqrt(32.0/7)) > 1e-12 {
		t.Errorf("mean %v, sd %v; want 5, %v", mean, sd, math.Sqrt(32.0/7))
	}
}

func TestSuggestPoints(t *testing.T) {
	fitsOf := func(mu, sigma float64) []calibFit { return []calibFit{{"normal", normalFit{mu: mu, sigma: sigma}}} }
	tests := []struct {
		name                  string
		fits                  []calibFit
		mean, sd, max         float64
		c50, c80, c99         float64
		why80, why99, invalid string
	}{
		// FAR 1e-5 at 0 + 0.1 x 4.265, 1e-6 at 0.475; rounded up.
		{name: "fitted", fits: fitsOf(0, 0.1), mean: 0, sd: 0.1, max: 0.3, c50: 0.2, c80: 0.427, c99: 0.476, why80: "fitted", why99: "fitted"},
		// The highest of the fits counts.
		{name: "most cautious fit", fits: append(fitsOf(0, 0.1), fitsOf(0.05, 0.1)...), mean: 0, sd: 0.1, max: 0.3, c50: 0.2, c80: 0.477, c99: 0.526, why80: "fitted", why99: "fitted"},
		// An impostor above the fit: 80 at 0.45 + 0.025, 99 a margin above it.
		{name: "impostor above the fit", fits: fitsOf(0, 0.1), mean: 0, sd: 0.1, max: 0.45, c50: 0.2, c80: 0.475, c99: 0.5, why80: "impostor max", why99: "80's cosine"},
		{name: "beyond cosine 1", fits: fitsOf(0.9, 0.05), mean: 0.9, sd: 0.05, max: 0.95, c50: 1, c80: 1.114, c99: 1.138, why80: "fitted", why99: "fitted", invalid: "sorted by cosine"},
	}
	for _, tt := range tests {
		s := suggestPoints(tt.fits, tt.mean, tt.sd, tt.max)
		if math.Abs(s.c50-tt.c50) > 1e-9 || math.Abs(s.c80-tt.c80) > 1e-9 || math.Abs(s.c99-tt.c99) > 1e-9 {
			t.Errorf("%s: 50/80/99 at %v/%v/%v, want %v/%v/%v", tt.name, s.c50, s.c80, s.c99, tt.c50, tt.c80, tt.c99)
		}
		if !strings.HasPrefix(s.why80, tt.why80) || !strings.HasPrefix(s.why99, tt.why99) {
			t.Errorf("%s: 80 by %q, 99 by %q; want %q, %q", tt.name, s.why80, s.why99, tt.why80, tt.why99)
		}
		if tt.invalid == "" {
			// The points pass the manifest's own check, as pasted.
			if s.err != nil || (face.SimilaritySpec{Points: s.points}).Validate() != nil {
				t.Errorf("%s: points %v: %v", tt.name, s.points, s.err)
			}
		} else if s.err == nil || !strings.Contains(s.err.Error(), tt.invalid) {
			t.Errorf("%s: err %v, want one saying %q", tt.name, s.err, tt.invalid)
		}
	}
}

func TestPoolPairs(t *testing.T) {
	// Both sets have an alice and a bob: four people, not two.
	sets := []labelledSet{
		{name: "a", people: []string{"alice", "bob"}, photos: []labelled{{person: 0, file: "/x/alice/1.jpg"}, {person: 0, file: "/x/alice/2.jpg"}, {person: 1, file: "/x/bob/1.jpg"}}},
		{name: "b", people: []string{"alice", "bob"}, photos: []labelled{{person: 0, file: "/y/alice/1.jpg"}, {person: 1, file: "/y/bob/1.jpg"}, {person: 1, file: "/y/bob/2.jpg"}}},
	}
	photos, identities := pool(sets)
	if identities != 4 || len(photos) != 6 {
		t.Fatalf("%d identities, %d photos; want 4, 6", identities, len(photos))
	}
	wantPerson := []int{0, 0, 1, 2, 3, 3}
	person := make([]int, len(photos))
	for i, p := range photos {
		person[i] = p.person
		if p.person != wantPerson[i] {
			t.Errorf("%s: person %d, want %d", p.name, p.person, wantPerson[i])
		}
	}
	if photos[3].name != "b/alice/1.jpg" {
		t.Errorf("name %q, want b/alice/1.jpg", photos[3].name)
	}
	// Photo 5 has no face: its pairs are left out. The cosines differ per photo.
	emb := [][]float32{{1, 0}, {0.9, 0.1}, {0.8, 0.2}, {0.7, 0.3}, {0.6, 0.4}, nil}
	gen, imp := pairsOf(person, emb)
	if len(gen) != 1 || gen[0].a != 0 || gen[0].b != 1 {
		t.Errorf("genuine pairs %v, want only (0, 1)", gen)
	}
	if len(imp) != 9 { // C(5,2) - 1
		t.Errorf("%d impostor pairs, want 9", len(imp))
	}
	for i, p := range imp {
		if person[p.a] == person[p.b] || p.b == 5 {
			t.Errorf("impostor pair %v", p)
		}
		if i > 0 && imp[i-1].cos > p.cos {
			t.Errorf("impostor pairs not ascending at %d", i)
		}
	}
}
