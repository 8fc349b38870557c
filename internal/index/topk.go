package index

import (
	"cmp"
	"slices"
)

// Match is a face found by a search.
type Match struct {
	FaceID string  `json:"faceId"`
	UserID string  `json:"userId,omitempty"`
	Cosine float32 `json:"cosine"`
}

// UserMatch is a user found by a search: the cosine of its best face.
type UserMatch struct {
	UserID string  `json:"userId"`
	Cosine float32 `json:"cosine"`
}

// better orders matches: higher cosine first, then FaceID, so merges are deterministic.
func better(a, b Match) int {
	if c := cmp.Compare(b.Cosine, a.Cosine); c != 0 {
		return c
	}
	return cmp.Compare(a.FaceID, b.FaceID)
}

// MergeTopK merges the top-k lists of several shards into the exact top k. Shards hold
// disjoint faces, so the union of their top k holds the global top k.
func MergeTopK(lists [][]Match, k int) []Match {
	var all []Match
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortFunc(all, better)
	all = slices.CompactFunc(all, func(a, b Match) bool { return a.FaceID == b.FaceID })
	if k >= 0 && len(all) > k {
		all = all[:k]
	}
	return all
}

// AggregateUsers turns face matches into user matches: a user's cosine is that of its best
// face; faces without a user are left out. At most maxUsers (if > 0), best first.
func AggregateUsers(matches []Match, maxUsers int) []UserMatch {
	best := map[string]float32{}
	for _, m := range matches {
		if m.UserID == "" {
			continue
		}
		if c, ok := best[m.UserID]; !ok || m.Cosine > c {
			best[m.UserID] = m.Cosine
		}
	}
	out := make([]UserMatch, 0, len(best))
	for u, c := range best {
		out = append(out, UserMatch{UserID: u, Cosine: c})
	}
	slices.SortFunc(out, func(a, b UserMatch) int {
		if c := cmp.Compare(b.Cosine, a.Cosine); c != 0 {
			return c
		}
		return cmp.Compare(a.UserID, b.UserID)
	})
	if maxUsers > 0 && len(out) > maxUsers {
		out = out[:maxUsers]
	}
	return out
}

// topK keeps the k best (score, index) pairs in a min-heap.
type topK struct {
	k      int
	scores []float32
	idx    []int64
}

func newTopK(k int) *topK {
	return &topK{k: k, scores: make([]float32, 0, k), idx: make([]int64, 0, k)}
}

func (t *topK) push(score float32, i int64) {
	if len(t.scores) < t.k {
		t.scores = append(t.scores, score)
		t.idx = append(t.idx, i)
		t.up(len(t.scores) - 1)
		return
	}
	if score <= t.scores[0] {
		return
	}
	t.scores[0], t.idx[0] = score, i
	t.down(0)
}

func (t *topK) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if t.scores[p] <= t.scores[j] {
			break
		}
		t.scores[p], t.scores[j] = t.scores[j], t.scores[p]
		t.idx[p], t.idx[j] = t.idx[j], t.idx[p]
		j = p
	}
}

func (t *topK) down(j int) {
	n := len(t.scores)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.scores[r] < t.scores[l] {
			m = r
		}
		if t.scores[j] <= t.scores[m] {
			return
		}
		t.scores[j], t.scores[m] = t.scores[m], t.scores[j]
		t.idx[j], t.idx[m] = t.idx[m], t.idx[j]
		j = m
	}
}

// pushBatch offers scores[i] for indexes base+i.
func (t *topK) pushBatch(scores []float32, base int64) {
	for i, s := range scores {
		if len(t.scores) < t.k || s > t.scores[0] {
			t.push(s, base+int64(i))
		}
	}
}
