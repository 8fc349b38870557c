package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Incremental compaction: a snapshot (format 3) is a list of runs, each a list of segments
// in bucket order with its own bucket index. A compaction keeps, by reference, the
// segments of the previous snapshot that hold exactly the captured faces stored in them,
// with the same users (and their record chunks, and a run's bucket index when none of its
// segments changed); it rewrites the others with the faces still live, in place in their
// run, and puts the faces added since in a new run. Erasure holds because a kept segment
// holds no face that is not live at the capture: everything else is written anew, and the
// cleanup removes what the new snapshot no longer names.

const (
	// maxRuns bounds a snapshot's runs: each costs a shard's load a bucket index (256 KiB)
	// and a few ranged GETs more.
	maxRuns = 8
	// mergeRatio: the newest run is merged with the one before while that one holds fewer
	// than mergeRatio times its faces, so that runs shrink geometrically from the oldest
	// and a face is rewritten about log_mergeRatio(faces/added) times, not at each
	// compaction.
	mergeRatio = 4
)

// outRun is a run of the new snapshot: its faces are cp.faces[start:start+n] once planned.
type outRun struct {
	start, n int
	segs     []outSeg
	// reuse is the previous snapshot's run, bucket index and all, when none of its
	// segments changed.
	reuse *runInfo
}

// outSeg is a segment of the new snapshot: cp.faces[start:start+n], written, or an older
// snapshot's segment kept as it is (reuse, its Dir explicit), with its records chunk when
// that chunk holds exactly its faces (records; otherwise the chunk is written).
type outSeg struct {
	start, n int
	reuse    *segmentInfo
	records  *segmentInfo
}

// prevSeg is a segment of the previous snapshot as the plan sees it.
type prevSeg struct {
	info    segmentInfo // Dir explicit
	key     string
	records *segmentInfo
	faces   []int32 // the captured faces stored in it (indices in cp.faces)
	keep    bool
}

// planCompaction decides what the snapshot of cp keeps of prev (the newest snapshot, or
// nil) and what it writes, and puts cp.faces in the new snapshot's order.
func (s *Store) planCompaction(ctx context.Context, cp *capture, prev *snapshot, p *pacer) ([]outRun, error) {
	if prev == nil || prev.Format < 2 || s.opts.fullCompaction {
		return s.wholePlan(cp), nil
	}
	c := cp.coll
	segs := make([]prevSeg, len(prev.Segments))
	byKey := make(map[string]int, len(segs))
	// Format 2's record chunks are cut independently of its segments: a chunk that starts
	// and ends with a segment can be kept with it.
	aligned := map[int]segmentInfo{}
	if prev.Format == 2 {
		at := 0
		for _, r := range prev.Records {
			aligned[at] = prev.placed(r)
			at += r.Count
		}
	}
	at := 0
	for i, info := range prev.Segments {
		ps := prevSeg{info: prev.placed(info), key: s.partObject(c, prev, info, info.Name)}
		var r segmentInfo
		ok := false
		if prev.Format >= 3 && i < len(prev.Records) {
			r, ok = prev.placed(prev.Records[i]), true
		} else if prev.Format == 2 {
			r, ok = aligned[at]
		}
		if ok && r.Count == info.Count {
			ps.records = &r
		}
		byKey[ps.key] = i
		segs[i] = ps
		at += info.Count
	}
	// The segment each of the captured objects is, -1 if none (a commit, an older snapshot).
	objSeg := make([]int32, len(cp.objs))
	for o := range cp.objs {
		objSeg[o] = -1
		if j, ok := byKey[cp.objs[o].key]; ok {
			objSeg[o] = int32(j)
		}
	}
	var others []int32 // faces stored elsewhere
	for i := range cp.faces {
		if j := objSeg[cp.faces[i].vec.obj]; j >= 0 {
			segs[j].faces = append(segs[j].faces, int32(i))
		} else {
			others = append(others, int32(i))
		}
	}
	for j := range segs {
		keep, err := s.segmentUnchanged(ctx, cp, &segs[j], p)
		if err != nil {
			return nil, err
		}
		segs[j].keep = keep
	}

	type prevRun struct {
		info  runInfo
		first int // segs[first:first+info.Segments]
		live  int
	}
	var runs []prevRun
	first := 0
	for _, r := range prev.runs() {
		if first+r.Segments > len(segs) {
			return nil, errorf(errs.Corrupt, "the runs of snapshot %d name more segments than it has", prev.Generation)
		}
		pr := prevRun{info: r, first: first}
		outSegs := 0
		group := 0
		flush := func() {
			outSegs += (group + s.opts.SegmentVectors - 1) / s.opts.SegmentVectors
			group = 0
		}
		for j := first; j < first+r.Segments; j++ {
			pr.live += len(segs[j].faces)
			if segs[j].keep {
				flush()
				outSegs++
			} else {
				group += len(segs[j].faces)
			}
		}
		flush()
		// Rewritten segments shrink: a run that would have more than twice the segments
		// its faces fill is rewritten whole, in place.
		if full := (pr.live + s.opts.SegmentVectors - 1) / s.opts.SegmentVectors; outSegs > 2*full {
			for j := first; j < first+r.Segments; j++ {
				segs[j].keep = false
			}
		}
		first += r.Segments
		if pr.live > 0 {
			runs = append(runs, pr)
		}
	}
	// Tiered merges: the faces added since form the newest run, merged with the runs
	// before it while they are not mergeRatio times larger, or while there are too many.
	tail, from := len(others), len(runs)
	for from > 0 {
		live := runs[from-1].live
		n := from
		if tail > 0 {
			n++
		}
		if n <= maxRuns && (tail == 0 || live >= mergeRatio*tail) {
			break
		}
		tail += live
		from--
	}
	written := tail
	for _, pr := range runs[:from] {
		for j := pr.first; j < pr.first+pr.info.Segments; j++ {
			if !segs[j].keep {
				written += len(segs[j].faces)
			}
		}
	}
	if 2*written > len(cp.faces) {
		return s.wholePlan(cp), nil // most of it changes: one run, fewer objects
	}

	order := make([]int32, 0, len(cp.faces))
	var out []outRun
	// cut appends faces (in order) as new segments of run.
	cut := func(run *outRun, faces []int32) {
		for len(faces) > 0 {
			m := min(len(faces), s.opts.SegmentVectors)
			run.segs = append(run.segs, outSeg{start: len(order), n: m})
			order = append(order, faces[:m]...)
			faces = faces[m:]
		}
	}
	byPos := func(faces []int32) []int32 {
		return slices.SortedFunc(slices.Values(faces), func(a, b int32) int {
			return cmp.Compare(cp.faces[a].vec.pos, cp.faces[b].vec.pos)
		})
	}
	for _, pr := range runs[:from] {
		run := outRun{start: len(order)}
		changed := false
		var group []int32 // consecutive rewritten segments' faces, in bucket order
		for j := pr.first; j < pr.first+pr.info.Segments; j++ {
			ps := &segs[j]
			if !ps.keep {
				changed = true
				group = append(group, byPos(ps.faces)...)
				continue
			}
			cut(&run, group)
			group = group[:0]
			run.segs = append(run.segs, outSeg{start: len(order), n: len(ps.faces), reuse: &ps.info, records: ps.records})
			order = append(order, byPos(ps.faces)...)
		}
		cut(&run, group)
		if !changed {
			run.reuse = &pr.info
		}
		run.n = len(order) - run.start
		out = append(out, run)
	}
	if tail > 0 {
		merged := others
		for _, pr := range runs[from:] {
			for j := pr.first; j < pr.first+pr.info.Segments; j++ {
				merged = append(merged, segs[j].faces...)
			}
		}
		s.sortBySource(cp, merged)
		run := outRun{start: len(order)}
		cut(&run, merged)
		run.n = len(order) - run.start
		out = append(out, run)
	}
	if len(order) != len(cp.faces) {
		return nil, errorf(errs.Corrupt, "compaction planned %d faces of %d", len(order), len(cp.faces))
	}
	permute(cp.faces, order)
	return out, nil
}

// permute puts faces in order (faces[k] becomes the old faces[order[k]]) in place,
// following its cycles: no second copy of the captured faces. order is spent.
func permute(faces []capturedFace, order []int32) {
	for k := range order {
		if order[k] < 0 {
			continue
		}
		tmp := faces[k]
		j := k
		for {
			src := int(order[j])
			order[j] = -1
			if src == k {
				faces[j] = tmp
				break
			}
			faces[j] = faces[src]
			j = src
		}
	}
}

// wholePlan writes every face anew, in one run.
func (s *Store) wholePlan(cp *capture) []outRun {
	idx := make([]int32, len(cp.faces))
	for i := range idx {
		idx[i] = int32(i)
	}
	s.sortBySource(cp, idx)
	permute(cp.faces, idx)
	n := len(cp.faces)
	if n == 0 {
		return nil
	}
	run := outRun{n: n}
	for start := 0; start < n; start += s.opts.SegmentVectors {
		run.segs = append(run.segs, outSeg{start: start, n: min(s.opts.SegmentVectors, n-start)})
	}
	return []outRun{run}
}

// sortBySource orders faces (indices in cp.faces) by bucket, so that a shard reads one
// range of each column; within a bucket, in the order of the sources, so that each is
// read front to back (a previous snapshot's run is in bucket order already: it is read in
// order).
func (s *Store) sortBySource(cp *capture, idx []int32) {
	rank := make([]int, len(cp.objs))
	byKey := make([]int, 0, len(cp.objs))
	for i := range cp.objs {
		byKey = append(byKey, i)
	}
	slices.SortFunc(byKey, func(a, b int) int { return strings.Compare(cp.objs[a].key, cp.objs[b].key) })
	for r, i := range byKey {
		rank[i] = r
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &cp.faces[i], &cp.faces[j]
		if c := cmp.Compare(a.bucket, b.bucket); c != 0 {
			return c
		}
		if c := cmp.Compare(rank[a.vec.obj], rank[b.vec.obj]); c != 0 {
			return c
		}
		return cmp.Compare(a.vec.pos, b.vec.pos)
	})
}

// segmentUnchanged says whether a segment of the previous snapshot holds exactly the
// captured faces stored in it, each with the user it has now: then the segment, and its
// records, are what a new one would be. Only the user column (4 bytes a face) is read, and
// only of segments whose faces have users.
func (s *Store) segmentUnchanged(ctx context.Context, cp *capture, ps *prevSeg, p *pacer) (bool, error) {
	n := ps.info.Count
	if len(ps.faces) != n {
		return false, nil // a face deleted since, or stored elsewhere by this process
	}
	seen := make([]bool, n)
	users := false
	for _, i := range ps.faces {
		f := &cp.faces[i]
		if int(f.vec.pos) >= n || seen[f.vec.pos] {
			return false, nil
		}
		seen[f.vec.pos] = true
		users = users || f.user != 0
	}
	if ps.info.Users == "" || !users {
		return ps.info.Users == "" && !users, nil
	}
	if ps.info.UsersHash != "" {
		byPos := make([]string, n)
		for _, i := range ps.faces {
			byPos[cp.faces[i].vec.pos] = cp.strs.get(cp.faces[i].user)
		}
		return usersHash(n, func(i int) string { return byPos[i] }) == ps.info.UsersHash, nil
	}
	// A segment written before the hashes: its user column is compared.
	lay := colsLayout(cp.coll.Dimension, n)
	col, err := s.getRange(ctx, ps.key, lay.users, lay.users+4*int64(n), nil, p)
	if err != nil {
		return false, err
	}
	data, err := s.getLarge(ctx, s.snapPrefix(cp.coll.ID, cp.coll.Incarnation)+ps.info.Dir+"/"+ps.info.Users)
	if err != nil {
		if isNotFound(err) {
			return false, errVectorMoved
		}
		return false, storageError("reading a segment's users", err)
	}
	var table []string
	if err := json.Unmarshal(data, &table); err != nil {
		return false, &errs.Error{Code: errs.Corrupt, Message: "bad users of a segment", Err: err}
	}
	for _, i := range ps.faces {
		f := &cp.faces[i]
		k := int(binary.LittleEndian.Uint32(col[4*f.vec.pos:]))
		had := ""
		if k > len(table) {
			return false, nil
		} else if k > 0 {
			had = table[k-1]
		}
		if had != cp.strs.get(f.user) {
			return false, nil
		}
	}
	return true, nil
}

// usersHash is a segment's users in order (user(i) of face i, "" for none), hashed: 128
// bits of SHA-256, so that two different columns never pass for one.
func usersHash(n int, user func(i int) string) string {
	h := sha256.New()
	for i := 0; i < n; i++ {
		h.Write([]byte(user(i)))
		h.Write([]byte{0}) // UserIds hold no NUL
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
