package search

import (
	"context"
	"sort"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
)

// DetectFaces and CompareFaces analyse images without a collection, with the engine of the
// default FaceModelVersion (Engines.Default).

// DetectFacesOptions are DetectFaces' parameters.
type DetectFacesOptions struct {
	// Attributes to measure beyond the DEFAULT ones; those the pack cannot measure are left
	// out of the answer.
	Attributes face.Attributes
}

// DetectFacesResult is DetectFaces' answer: the 100 largest faces, largest first.
type DetectFacesResult struct {
	FaceDetails           []face.FaceDetail
	OrientationCorrection face.OrientationCorrection
	FaceModelVersion      string
}

// CompareFacesOptions are CompareFaces' parameters.
type CompareFacesOptions struct {
	// SimilarityThreshold is the least similarity of a match, 0-100.
	SimilarityThreshold float32
	// QualityFilter applies to the source's largest face and to the target's faces; the
	// faces it removes are not compared (default NONE).
	QualityFilter face.QualityFilter
}

// ComparedFace is a target face with its similarity (0-100) to the source face.
type ComparedFace struct {
	Detail     face.FaceDetail
	Similarity float32
}

// CompareFacesResult is CompareFaces' answer. FaceMatches are the target faces at or
// above the threshold, most similar first; UnmatchedFaces the other compared ones, largest
// first. Target faces the QualityFilter removed, or past the 100 largest, are in neither.
type CompareFacesResult struct {
	SourceFace                  face.FaceDetail
	FaceMatches                 []ComparedFace
	UnmatchedFaces              []ComparedFace
	SourceOrientationCorrection face.OrientationCorrection
	TargetOrientationCorrection face.OrientationCorrection
	FaceModelVersion            string
}

// bytesOnly returns an image's bytes. An S3Object is refused: the operations without a
// collection have no image sources to say which objects the caller may have read (see
// docs/http-api.md), and reading with the endpoint's storage credentials would let any key
// with the operation's scope see images of every collection stored there.
func bytesOnly(op, member string, img Image) ([]byte, error) {
	if img.S3Object != nil {
		return nil, errs.New(errs.InvalidParameter, "%s does not read S3Object images on this endpoint: it has no collection whose image sources would say which objects may be read; send %s.Bytes", op, member)
	}
	if len(img.Bytes) == 0 {
		return nil, errs.New(errs.InvalidParameter, "%s has neither Bytes nor S3Object", member)
	}
	return img.Bytes, nil
}

// DetectFaces finds the faces of an image, as Rekognition's DetectFaces: no collection is
// involved and nothing is stored.
func (s *Service) DetectFaces(ctx context.Context, img Image, opts DetectFacesOptions) (_ *DetectFacesResult, err error) {
	defer func(start time.Time) { observe("DetectFaces", start, err) }(time.Now())
	data, err := bytesOnly("DetectFaces", "Image", img)
	if err != nil {
		return nil, err
	}
	eng, err := s.Engines.Default()
	if err != nil {
		return nil, err
	}
	res, err := eng.DetectImage(ctx, data, face.DetectOptions{ImageLimits: face.ImageLimits{MaxBytes: face.MaxImageBytes}, Attributes: opts.Attributes})
	if err != nil {
		return nil, err
	}
	return &DetectFacesResult{FaceDetails: res.Faces, OrientationCorrection: res.OrientationCorrection, FaceModelVersion: eng.FaceModelVersion()}, nil
}

// CompareFaces compares the largest face of the source image with each of the 100 largest
// faces of the target, using the pack's calibrated Similarity. A source without a usable
// face is InvalidParameter, as in Rekognition; a target without one answers no faces.
func (s *Service) CompareFaces(ctx context.Context, source, target Image, opts CompareFacesOptions) (_ *CompareFacesResult, err error) {
	defer func(start time.Time) { observe("CompareFaces", start, err) }(time.Now())
	src, err := bytesOnly("CompareFaces", "SourceImage", source)
	if err != nil {
		return nil, err
	}
	tgt, err := bytesOnly("CompareFaces", "TargetImage", target)
	if err != nil {
		return nil, err
	}
	eng, err := s.Engines.Default()
	if err != nil {
		return nil, err
	}
	limits := face.ImageLimits{MaxBytes: face.MaxImageBytes}
	sr, err := eng.SearchImage(ctx, src, face.SearchOptions{ImageLimits: limits, QualityFilter: opts.QualityFilter})
	if err != nil {
		return nil, err
	}
	if sr.Face == nil {
		if len(sr.Unsearched) > 0 {
			return nil, errs.New(errs.InvalidParameter, "The largest face in the source image does not pass QualityFilter %s (%v)", opts.QualityFilter, sr.Unsearched[0].Reasons)
		}
		return nil, errs.New(errs.InvalidParameter, "There are no faces in the source image. Should be at least 1.")
	}
	// IndexImage embeds the 100 largest faces that pass the filter, as CompareFaces compares
	// them; nothing is stored.
	tr, err := eng.IndexImage(ctx, tgt, face.IndexOptions{ImageLimits: limits, MaxFaces: face.MaxIndexFaces, QualityFilter: qualityOrNone(opts.QualityFilter)})
	if err != nil {
		return nil, err
	}
	out := &CompareFacesResult{
		SourceFace: sr.Face.Detail, FaceModelVersion: eng.FaceModelVersion(),
		SourceOrientationCorrection: sr.OrientationCorrection, TargetOrientationCorrection: tr.OrientationCorrection,
	}
	for _, f := range tr.Faces {
		c := ComparedFace{Detail: f.Detail, Similarity: eng.Similarity(face.Cosine(sr.Face.Embedding, f.Embedding))}
		if c.Similarity >= opts.SimilarityThreshold {
			out.FaceMatches = append(out.FaceMatches, c)
		} else {
			out.UnmatchedFaces = append(out.UnmatchedFaces, c)
		}
	}
	sort.SliceStable(out.FaceMatches, func(i, j int) bool { return out.FaceMatches[i].Similarity > out.FaceMatches[j].Similarity })
	return out, nil
}

// qualityOrNone is CompareFaces' default filter, NONE: IndexImage's own default is AUTO.
func qualityOrNone(f face.QualityFilter) face.QualityFilter {
	if f == "" {
		return face.QualityNone
	}
	return f
}
