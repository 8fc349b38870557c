package store

import (
	"bytes"
	"cmp"
	"context"
	"math"
	"slices"
	"sort"

	"github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// IndexFaces adds faces of one image and returns one record per face given, in order. A
// face of an ImageID and ExternalImageID already indexed is not stored twice: the face
// stored for them whose bounding box overlaps it (sameFace) is its record. A re-index
// thus adds only the faces the earlier calls left out (a larger MaxFaces, another
// QualityFilter) and answers the stored records of the others, as Rekognition "doesn't
// save duplicate face metadata". All new faces commit together or none.
func (s *Store) IndexFaces(ctx context.Context, coll string, faces []NewFace, _ IndexFacesOptions) ([]FaceRecord, error) {
	if len(faces) == 0 {
		return nil, nil
	}
	if len(faces) > 100 {
		return nil, errorf(errs.InvalidParameter, "at most 100 faces per call")
	}
	return s.indexFaces(ctx, coll, faces)
}

// MaxImportFaces is the most faces one ImportFaces call commits.
const MaxImportFaces = 16384

// ImportFaces is IndexFaces for bulk loads (re-indexing, migrations, benchmarks): up to
// MaxImportFaces faces of any number of images in one commit, with the same rules.
func (s *Store) ImportFaces(ctx context.Context, coll string, faces []NewFace, _ IndexFacesOptions) ([]FaceRecord, error) {
	if len(faces) > MaxImportFaces {
		return nil, errorf(errs.InvalidParameter, "at most %d faces per import", MaxImportFaces)
	}
	return s.indexFaces(ctx, coll, faces)
}

func (s *Store) indexFaces(ctx context.Context, coll string, faces []NewFace) ([]FaceRecord, error) {
	if len(faces) == 0 {
		return nil, nil
	}
	var out []FaceRecord
	err := s.commit(ctx, coll, func(c *Collection, st *state) (*entry, error) {
		out = nil
		e := &entry{}
		matched := map[uint32]bool{} // stored faces already answered for a face of this call
		for _, f := range faces {
			if f.ExternalImageID != "" && !externalIDPattern.MatchString(f.ExternalImageID) {
				return nil, errorf(errs.InvalidParameter, "ExternalImageId %q must match [a-zA-Z0-9_.\\-:]{1,255}", f.ExternalImageID)
			}
			if f.ImageID == "" {
				return nil, errorf(errs.InvalidParameter, "ImageId is required")
			}
			if len(f.Embedding) != c.Dimension {
				return nil, errorf(errs.InvalidParameter, "embedding has %d values, the collection %d", len(f.Embedding), c.Dimension)
			}
			if slot, ok := st.sameFace(f, matched); ok {
				matched[slot] = true
				out = append(out, st.record(slot))
				continue
			}
			v, err := normalize(f.Embedding)
			if err != nil {
				return nil, err
			}
			r := FaceRecord{
				FaceID: uuid.NewString(), ExternalImageID: f.ExternalImageID, ImageID: f.ImageID,
				BoundingBox: f.BoundingBox, Confidence: f.Confidence, IndexFacesModelVersion: c.FaceModelVersion,
			}
			e.Added = append(e.Added, r)
			e.vectors = append(e.vectors, v)
			out = append(out, r)
		}
		if len(e.Added) == 0 {
			return nil, nil
		}
		sortAddedByBucket(e)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sortAddedByBucket puts a commit's new faces (records and vectors alike) in bucket order.
// Snapshot segments hold contiguous bucket ranges, so a compaction then reads each segment's
// share of the commit as one range; in request order the share of a large import was spread
// over the whole object, and a compaction read every such commit once per segment (at 1M
// faces, 16 times the log).
func sortAddedByBucket(e *entry) {
	type added struct {
		bucket int
		rec    FaceRecord
		vec    []float32
	}
	all := make([]added, len(e.Added))
	for i, r := range e.Added {
		all[i] = added{bucket: BucketOf(uuid.MustParse(r.FaceID)), rec: r, vec: e.vectors[i]}
	}
	slices.SortStableFunc(all, func(a, b added) int { return cmp.Compare(a.bucket, b.bucket) })
	for i := range all {
		e.Added[i], e.vectors[i] = all[i].rec, all[i].vec
	}
}

// sameFaceIoU is the overlap (intersection over union of the bounding boxes) from which a
// face is the one already stored for its image. The same bytes give the engine the same
// detections, so a face found again overlaps its stored box all but fully, and two faces
// of one image (kept apart by the detector's non-maximum suppression) far less.
const sameFaceIoU = 0.5

// sameFace returns the slot of the stored face of f's ImageID and ExternalImageID that
// overlaps f the most, at least sameFaceIoU, among those not in taken; of equals, the
// latest stored. ok is false if there is none.
func (st *state) sameFace(f NewFace, taken map[uint32]bool) (best uint32, ok bool) {
	img, imgStr := splitImageID(f.ImageID)
	bestIoU := float32(sameFaceIoU)
	head, found := st.byImage[imageHash(img, imgStr, f.ExternalImageID)]
	// The chain runs from the latest face to the first.
	for p := head; found && p != noSlot; p = st.recs[p].next {
		r := &st.recs[p]
		if taken[p] || !st.sameImage(r, img, imgStr, f.ExternalImageID) {
			continue
		}
		if iou := boxIoU(r.box, f.BoundingBox); iou >= sameFaceIoU && (!ok || iou > bestIoU) {
			best, bestIoU, ok = p, iou, true
		}
	}
	return best, ok
}

// sameImage says whether a face is of the image (img, imgStr as splitImageID gives them)
// and external ID.
func (st *state) sameImage(r *faceRec, img uuid.UUID, imgStr, ext string) bool {
	if st.strs.get(r.ext) != ext {
		return false
	}
	if imgStr == "" {
		return r.imgStr == 0 && r.img == img
	}
	return r.imgStr != 0 && st.strs.get(r.imgStr) == imgStr
}

func boxIoU(a, b BoundingBox) float32 {
	w := min(a.Left+a.Width, b.Left+b.Width) - max(a.Left, b.Left)
	h := min(a.Top+a.Height, b.Top+b.Height) - max(a.Top, b.Top)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	union := a.Width*a.Height + b.Width*b.Height - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

func normalize(v []float32) ([]float32, error) {
	var n float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errorf(errs.InvalidParameter, "embedding holds NaN or Inf")
		}
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return nil, errorf(errs.InvalidParameter, "embedding is zero")
	}
	inv := float32(1 / math.Sqrt(n))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out, nil
}

// ListFaces lists faces in FaceId order, optionally those of one user or of given IDs.
func (s *Store) ListFaces(ctx context.Context, coll string, opts ListFacesOptions) ([]FaceRecord, string, error) {
	limit, after, err := page(opts.MaxResults, opts.NextToken, 1000, MaxListResults)
	if err != nil {
		return nil, "", err
	}
	if len(opts.FaceIDs) > MaxListResults {
		return nil, "", errorf(errs.InvalidParameter, "at most %d FaceIds", MaxListResults)
	}
	var out []FaceRecord
	next := ""
	err = s.read(ctx, coll, func(_ *Collection, st *state) error {
		var ids []uuid.UUID
		switch {
		case len(opts.FaceIDs) > 0:
			for _, id := range opts.FaceIDs {
				if slot, ok := st.face(id); ok && (opts.UserID == "" || st.userOf(slot) == opts.UserID) {
					ids = append(ids, st.recs[slot].id)
				}
			}
			slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		case opts.UserID != "":
			if u := st.users[opts.UserID]; u != nil {
				ids = slices.Clone(u.faces)
				slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
			}
		default:
			ids = st.sortedFaceIDs()
		}
		// The canonical strings sort as the UUIDs' bytes do.
		start := 0
		if after != "" {
			start = sort.Search(len(ids), func(i int) bool { return ids[i].String() > after })
		}
		for _, id := range ids[start:] {
			if len(out) == limit {
				next = encodeToken(out[len(out)-1].FaceID)
				break
			}
			out = append(out, st.record(st.faces[id]))
		}
		return nil
	})
	return out, next, err
}

// DeleteFaces deletes faces that belong to no user. Their vectors and records stay in
// storage until Compact runs.
func (s *Store) DeleteFaces(ctx context.Context, coll string, faceIDs []string) (deleted []string, unsuccessful []FaceFailure, err error) {
	if len(faceIDs) == 0 || len(faceIDs) > MaxListResults {
		return nil, nil, errorf(errs.InvalidParameter, "FaceIds must hold 1..%d IDs", MaxListResults)
	}
	err = s.commit(ctx, coll, func(_ *Collection, st *state) (*entry, error) {
		deleted, unsuccessful = nil, nil
		e := &entry{}
		seen := map[string]bool{}
		for _, id := range faceIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			slot, ok := st.face(id)
			switch {
			case !ok:
				unsuccessful = append(unsuccessful, FaceFailure{FaceID: id, Reasons: []string{ReasonFaceNotFound}})
			case st.userOf(slot) != "":
				unsuccessful = append(unsuccessful, FaceFailure{FaceID: id, UserID: st.userOf(slot), Reasons: []string{ReasonAssociatedToAnExistingUser}})
			default:
				e.Deleted = append(e.Deleted, id)
			}
		}
		deleted = e.Deleted
		if len(e.Deleted) == 0 {
			return nil, nil
		}
		return e, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return deleted, unsuccessful, nil
}
