package index

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// HNSWOptions tune the approximate index (Malkov & Yashunin's hierarchical navigable small
// world graph).
type HNSWOptions struct {
	// M is the number of links per node above level 0 (twice that at level 0); default 16.
	M int
	// EfConstruction is the candidate list size while inserting; default 100.
	EfConstruction int
	// EfSearch is the candidate list size while searching; default 64, at least K.
	EfSearch int
}

// graphIndex is an HNSW graph over a shard. It navigates with its own int8 codes (so a
// deleted face's node can still be passed through until the next load) and re-ranks its
// candidates with the shard's exact float32 vectors.
type graphIndex struct {
	opts     HNSWOptions
	dim      int
	codes    []int8
	scales   []float32
	links    [][][]int32
	entry    int32
	maxLevel int
	nodeID   []uuid.UUID
	nodePos  []int32 // node -> shard position, -1 once deleted
	posNode  []int32 // shard position -> node
	rng      *rand.Rand
	levelMul float64
	visited  sync.Pool
}

// buildGraph builds a graph over a copy of a shard's int8 codes, so that it can run
// without the shard's lock; reconcile then maps it onto the shard as it is by then.
func buildGraph(dim int, codes []int8, scales []float32, ids []uuid.UUID, opts HNSWOptions) *graphIndex {
	if opts.M <= 0 {
		opts.M = 16
	}
	if opts.EfConstruction <= 0 {
		opts.EfConstruction = 100
	}
	if opts.EfSearch <= 0 {
		opts.EfSearch = 64
	}
	g := &graphIndex{opts: opts, dim: dim, entry: -1, rng: rand.New(rand.NewPCG(7, 11)), levelMul: 1 / math.Log(float64(opts.M))}
	for i := range ids {
		g.add(codes[i*dim:(i+1)*dim], scales[i], ids[i], i)
	}
	return g
}

// reconcile maps the graph's nodes onto the shard's current positions: deleted faces'
// nodes are kept for navigation only, faces added meanwhile are inserted.
func (g *graphIndex) reconcile(f *flat, ids []uuid.UUID, pos map[uuid.UUID]int) {
	g.posNode = make([]int32, len(ids))
	for i := range g.posNode {
		g.posNode[i] = -1
	}
	for node, id := range g.nodeID {
		if p, ok := pos[id]; ok && g.posNode[p] == -1 {
			g.nodePos[node] = int32(p)
			g.posNode[p] = int32(node)
		} else {
			g.nodePos[node] = -1
		}
	}
	d := g.dim
	for p := range g.posNode {
		if g.posNode[p] == -1 {
			g.add(f.codes[p*d:(p+1)*d], f.scales[p], ids[p], p)
		}
	}
}

type visitSet struct {
	stamp []uint32
	cur   uint32
}

func (g *graphIndex) getVisited() *visitSet {
	v, _ := g.visited.Get().(*visitSet)
	if v == nil {
		v = &visitSet{}
	}
	if len(v.stamp) < len(g.links) {
		v.stamp = make([]uint32, len(g.links)+len(g.links)/4+64)
		v.cur = 0
	}
	v.cur++
	if v.cur == 0 {
		clear(v.stamp)
		v.cur = 1
	}
	return v
}

// query is a query in the graph's int8 form.
type query struct {
	q16   []int16
	scale float32
	out   [1]int32
}

func (g *graphIndex) newQuery(v []float32) *query {
	codes := make([]int8, g.dim)
	s := quantize(v, codes)
	q := &query{q16: make([]int16, g.dim), scale: s}
	for i, c := range codes {
		q.q16[i] = int16(c)
	}
	return q
}

func (g *graphIndex) sim(q *query, node int32) float32 {
	d := g.dim
	dotBatchI8(q.q16, g.codes[int(node)*d:(int(node)+1)*d], q.out[:])
	return float32(q.out[0]) * q.scale * g.scales[node]
}

type cand struct {
	sim  float32
	node int32
}

// searchLayer is the best-first search of one level; it returns up to ef nodes, best first.
func (g *graphIndex) searchLayer(q *query, eps []cand, ef, level int, vis *visitSet) []cand {
	// candidates: a max-heap by sim (kept as a sorted slice, small); results: min-heap by sim.
	cands := slices.Clone(eps)
	res := newTopK(ef)
	for _, e := range eps {
		vis.stamp[e.node] = vis.cur
		res.push(e.sim, e.node)
	}
	h := candHeap(cands)
	h.init()
	for len(h) > 0 {
		c := h.pop()
		if res.full() && c.sim < res.scores[0] {
			break
		}
		for _, nb := range g.links[c.node][level] {
			if vis.stamp[nb] == vis.cur {
				continue
			}
			vis.stamp[nb] = vis.cur
			s := g.sim(q, nb)
			if !res.full() || s > res.scores[0] {
				res.push(s, nb)
				h.push(cand{s, nb})
			}
		}
	}
	out := make([]cand, len(res.idx))
	for i := range res.idx {
		out[i] = cand{res.scores[i], res.idx[i]}
	}
	slices.SortFunc(out, func(a, b cand) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return int(a.node - b.node)
	})
	return out
}

// selectNeighbors keeps diverse neighbors: a candidate is dropped if it is closer to an
// already kept neighbor than to the new node (the paper's heuristic).
func (g *graphIndex) selectNeighbors(cands []cand, m int) []int32 {
	out := make([]int32, 0, m)
	for _, c := range cands {
		if len(out) == m {
			break
		}
		good := true
		for _, k := range out {
			if g.nodeSim(k, c.node) > c.sim {
				good = false
				break
			}
		}
		if good {
			out = append(out, c.node)
		}
	}
	return out
}

// nodeSim is the similarity of two nodes.
func (g *graphIndex) nodeSim(a, b int32) float32 {
	d := g.dim
	return float32(dotI8I8(g.codes[int(a)*d:(int(a)+1)*d], g.codes[int(b)*d:(int(b)+1)*d])) * g.scales[a] * g.scales[b]
}

func (g *graphIndex) nodeQuery(node int32) *query {
	d := g.dim
	q := &query{q16: make([]int16, d), scale: g.scales[node]}
	for i, c := range g.codes[int(node)*d : (int(node)+1)*d] {
		q.q16[i] = int16(c)
	}
	return q
}

func (g *graphIndex) maxLinks(level int) int {
	if level == 0 {
		return 2 * g.opts.M
	}
	return g.opts.M
}

// add inserts a vector that sits at shard position pos.
func (g *graphIndex) add(code []int8, scale float32, id uuid.UUID, pos int) {
	node := int32(len(g.links))
	g.codes = append(g.codes, code...)
	g.scales = append(g.scales, scale)
	g.nodeID = append(g.nodeID, id)
	g.nodePos = append(g.nodePos, int32(pos))
	if pos == len(g.posNode) {
		g.posNode = append(g.posNode, node)
	} else {
		g.posNode[pos] = node
	}
	level := int(-math.Log(1-g.rng.Float64()) * g.levelMul)
	g.links = append(g.links, make([][]int32, level+1))
	if g.entry < 0 {
		g.entry, g.maxLevel = node, level
		return
	}
	q := g.nodeQuery(node)
	vis := g.getVisited()
	defer g.visited.Put(vis)
	ep := []cand{{g.sim(q, g.entry), g.entry}}
	for l := g.maxLevel; l > level; l-- {
		vis.cur++
		ep = g.searchLayer(q, ep, 1, l, vis)
	}
	for l := min(level, g.maxLevel); l >= 0; l-- {
		vis.cur++
		cands := g.searchLayer(q, ep, g.opts.EfConstruction, l, vis)
		nbs := g.selectNeighbors(cands, g.opts.M)
		g.links[node][l] = nbs
		for _, nb := range nbs {
			g.links[nb][l] = append(g.links[nb][l], node)
			if len(g.links[nb][l]) > g.maxLinks(l) {
				g.shrink(nb, l)
			}
		}
		ep = cands
	}
	if level > g.maxLevel {
		g.entry, g.maxLevel = node, level
	}
}

// shrink drops a node's least similar link at a level; cheaper than running the neighbour
// heuristic again on every overflow, which dominated build time.
func (g *graphIndex) shrink(node int32, level int) {
	l := g.links[node][level]
	worst, ws := 0, float32(math.Inf(1))
	for i, nb := range l {
		if s := g.nodeSim(node, nb); s < ws {
			worst, ws = i, s
		}
	}
	l[worst] = l[len(l)-1]
	g.links[node][level] = l[:len(l)-1]
}

// remove records that shard position i was deleted and position last moved into it.
func (g *graphIndex) remove(i, last int) {
	g.nodePos[g.posNode[i]] = -1
	moved := g.posNode[last]
	g.nodePos[moved] = int32(i)
	g.posNode[i] = moved
	g.posNode = g.posNode[:last]
}

// search finds k vectors: the graph's candidates re-ranked with the exact vectors of f.
func (g *graphIndex) search(f *flat, v []float32, k int) *topK {
	q := g.newQuery(v)
	vis := g.getVisited()
	defer g.visited.Put(vis)
	ep := []cand{{g.sim(q, g.entry), g.entry}}
	for l := g.maxLevel; l > 0; l-- {
		vis.cur++
		ep = g.searchLayer(q, ep, 1, l, vis)
	}
	vis.cur++
	cands := g.searchLayer(q, ep, max(g.opts.EfSearch, k), 0, vis)
	out := newTopK(k)
	d := f.dim
	for _, c := range cands {
		p := g.nodePos[c.node]
		if p < 0 {
			continue
		}
		out.push(dot(v, f.vecs[int(p)*d:(int(p)+1)*d]), p)
	}
	return out
}

// candHeap is a max-heap of candidates by similarity.
type candHeap []cand

func (h candHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *candHeap) push(c cand) {
	*h = append(*h, c)
	s := *h
	j := len(s) - 1
	for j > 0 {
		p := (j - 1) / 2
		if s[p].sim >= s[j].sim {
			break
		}
		s[p], s[j] = s[j], s[p]
		j = p
	}
}

func (h *candHeap) pop() cand {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return top
}

func (h candHeap) down(j int) {
	n := len(h)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].sim > h[l].sim {
			m = r
		}
		if h[j].sim >= h[m].sim {
			return
		}
		h[j], h[m] = h[m], h[j]
		j = m
	}
}
