package rekognition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// CollectionAdmin creates and deletes collections for the endpoint. The operator's
// implementation makes a Collection resource (so that a collection made here and one
// declared in Kubernetes are the same thing); tests use one that drives the store and
// in-process shards directly.
type CollectionAdmin interface {
	// CreateCollection makes the collection appear, ready, in the search.Registry before it
	// returns, or returns an error; ResourceAlreadyExists if it exists.
	CreateCollection(ctx context.Context, id string, tags map[string]string) error
	// DeleteCollection deletes the collection with its faces and users; ResourceNotFound if
	// it is absent.
	DeleteCollection(ctx context.Context, id string) error
}

// CollectionTags keeps the tags of collections, which are their Collection resources' tags:
// the operator's implementation (controllers.CollectionAdmin) reads and writes them
// through the Kubernetes API, so that tags declared on the resource and tags set through
// the endpoint are the same tags.
type CollectionTags interface {
	// Tags returns the tags of the collection whose ARN is arn; ResourceNotFound if no
	// collection has it.
	Tags(ctx context.Context, arn string) (map[string]string, error)
	// UpdateTags sets the tags of set, then removes the keys of remove, in one write;
	// ServiceQuotaExceeded when the collection would have more than limit tags,
	// ResourceNotFound if no collection has the ARN.
	UpdateTags(ctx context.Context, arn string, set map[string]string, remove []string, limit int) error
}

// ServiceBackend is the Backend over the operator's one search path: collections come from
// the search.Registry (CreateCollection and DeleteCollection through Admin), faces and
// users from each collection's store, searches from its index shards.
type ServiceBackend struct {
	Service *search.Service
	// Admin creates and deletes collections; nil answers those two operations with
	// AccessDeniedException (collections are then managed only as Kubernetes resources).
	Admin CollectionAdmin
	// Tags serves TagResource, UntagResource and ListTagsForResource; nil answers them with
	// AccessDeniedException. NewServiceBackend takes Admin's when it has them.
	Tags CollectionTags
	// Recorder writes the SearchUsersByImage calls whose callers ask for it (RecordHeader)
	// as SearchRequests; nil refuses such calls with InvalidParameterException.
	Recorder SearchRecorder
}

// SearchRecorder keeps a search as a record readable with kubectl: the operator's
// controllers.SearchRecorder writes a SearchRequest with its answer in status and a TTL.
type SearchRecorder interface {
	RecordSearch(ctx context.Context, rec SearchRecord) error
}

// SearchRecord is one SearchUsersByImage to record. The image's bytes are not kept: only
// their SHA-256 and size, or the S3Object the image was read from.
type SearchRecord struct {
	// Collection is the collection searched (its Namespace and Name are the resource's).
	Collection *search.Collection
	// Caller is the ServiceAccount's username or the access key id; for a token's caller,
	// ServiceAccount is its name and Pod the pod its token is bound to.
	Caller, ServiceAccount, Pod string
	// ImageSHA256 (hex) and ImageSize describe an image given as bytes; S3Object one read
	// from storage.
	ImageSHA256 string
	ImageSize   int
	S3Object    *search.S3Object
	// The request's parameters, as given (0: unset).
	UserMatchThreshold float32
	MaxUsers           int
	QualityFilter      string
	Result             *search.SearchUsersResult
	Started            time.Time
}

// svc is the search path of the request's namespace: a token caller's own, the
// endpoint's otherwise.
func (b *ServiceBackend) svc(ctx context.Context) *search.Service {
	if ns := NamespaceFromContext(ctx); ns != "" {
		return b.Service.InNamespace(ns)
	}
	return b.Service
}

var _ Backend = (*ServiceBackend)(nil)

// NewServiceBackend returns a Backend over svc.
func NewServiceBackend(svc *search.Service, admin CollectionAdmin) *ServiceBackend {
	b := &ServiceBackend{Service: svc, Admin: admin}
	if t, ok := admin.(CollectionTags); ok {
		b.Tags = t
	}
	return b
}

// Defaults where the service model leaves the choice to the service.
const (
	defaultListCollections = 1000
	defaultListFaces       = 1000
)

// ---- collections ----

// CreateCollection serves Rekognition's CreateCollection through the search path.
func (b *ServiceBackend) CreateCollection(ctx context.Context, in *CreateCollectionInput) (*CreateCollectionOutput, error) {
	if b.Admin == nil {
		return nil, ErrAccessDenied("This endpoint does not create collections; declare a Collection resource")
	}
	id := *in.CollectionId
	if len(in.Tags) > MaxTagsPerCollection {
		return nil, ErrServiceQuotaExceeded(fmt.Sprintf("A collection may have at most %d tags; the request has %d", MaxTagsPerCollection, len(in.Tags)))
	}
	if err := b.Admin.CreateCollection(ctx, id, in.Tags); err != nil {
		if errs.Is(err, errs.ResourceAlreadyExists) {
			return nil, ErrResourceAlreadyExists(fmt.Sprintf("The collection id: %s already exists", id))
		}
		return nil, err
	}
	d, err := b.svc(ctx).DescribeCollection(ctx, id)
	if err != nil {
		return nil, err
	}
	return &CreateCollectionOutput{StatusCode: ptr(int32(200)), CollectionArn: ptr(d.ARN), FaceModelVersion: ptr(d.FaceModelVersion)}, nil
}

// DescribeCollection serves Rekognition's DescribeCollection through the search path.
func (b *ServiceBackend) DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	d, err := b.svc(ctx).DescribeCollection(ctx, *in.CollectionId)
	if err != nil {
		return nil, err
	}
	return &DescribeCollectionOutput{
		FaceCount: ptr(d.FaceCount), UserCount: ptr(d.UserCount),
		FaceModelVersion: ptr(d.FaceModelVersion), CollectionARN: ptr(d.ARN),
		CreationTimestamp: &Timestamp{d.CreationTimestamp},
	}, nil
}

// ListCollections serves Rekognition's ListCollections from the registry. Its NextToken is
// the page's last id, packed (packCollectionID): the next page starts at the first id after
// it, whichever collections were created or deleted in between.
func (b *ServiceBackend) ListCollections(ctx context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	limit := defaultListCollections
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = int(*in.MaxResults)
	}
	after := ""
	if in.NextToken != nil && *in.NextToken != "" {
		packed, ok := strings.CutPrefix(*in.NextToken, collectionTokenMarker)
		if ok {
			after, _, ok = unpackCollectionID(packed, 0)
		}
		if !ok {
			return nil, ErrInvalidPaginationToken("Invalid pagination token")
		}
	}
	out := &ListCollectionsOutput{CollectionIds: []string{}, FaceModelVersions: []string{}}
	for _, c := range b.svc(ctx).Collections.List() { // sorted
		id := c.ID
		if after != "" && id <= after {
			continue
		}
		if len(out.CollectionIds) == limit {
			out.NextToken = ptr(collectionTokenMarker + packCollectionID(out.CollectionIds[len(out.CollectionIds)-1], nil))
			break
		}
		out.CollectionIds = append(out.CollectionIds, id)
		out.FaceModelVersions = append(out.FaceModelVersions, c.FaceModelVersion)
	}
	return out, nil
}

// A ListCollections NextToken must fit the model's PaginationToken (at most 255
// characters) for every CollectionId (up to 255 characters), so it cannot hold the id as it
// is with a marker, nor in base64. It holds it whole all the same: an id is a number in
// base 65 (its alphabet, [a-zA-Z0-9_.-]), written in base 85 with characters JSON sends
// unescaped (packCollectionID), behind the marker collectionTokenMarker: at most 241
// characters. Being the id itself, a token pages exactly even after the id is deleted,
// which a hash could not.
const (
	collectionIDChars     = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	collectionTokenChars  = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#" // Z85's
	collectionTokenMarker = "C"
)

var (
	collectionIDBase    = big.NewInt(int64(len(collectionIDChars)))
	collectionTokenBase = big.NewInt(int64(len(collectionTokenChars)))
	bigOne              = big.NewInt(1)
)

// packCollectionID writes a valid CollectionId, followed by the bytes of tail, as base-85
// digits: 240 of them for a 255-character id and no tail, 250 with an 8-byte tail.
func packCollectionID(id string, tail []byte) string {
	v := big.NewInt(1) // the leading 1 keeps the id's leading '-' characters (digit 0)
	for i := 0; i < len(id); i++ {
		v.Mul(v, collectionIDBase)
		v.Add(v, big.NewInt(int64(strings.IndexByte(collectionIDChars, id[i]))))
	}
	v.Lsh(v, uint(8*len(tail)))
	v.Or(v, new(big.Int).SetBytes(tail))
	var digits []byte
	r := new(big.Int)
	for v.Sign() > 0 {
		v.QuoRem(v, collectionTokenBase, r)
		digits = append(digits, collectionTokenChars[r.Int64()])
	}
	slices.Reverse(digits)
	return string(digits)
}

// unpackCollectionID reads what packCollectionID wrote with a tail of tailLen bytes; ok is
// false for anything else.
func unpackCollectionID(digits string, tailLen int) (id string, tail []byte, ok bool) {
	if digits == "" || len(digits) > maxPaginationToken {
		return "", nil, false
	}
	v := new(big.Int)
	for i := 0; i < len(digits); i++ {
		d := strings.IndexByte(collectionTokenChars, digits[i])
		if d < 0 {
			return "", nil, false
		}
		v.Mul(v, collectionTokenBase)
		v.Add(v, big.NewInt(int64(d)))
	}
	tail = make([]byte, tailLen)
	new(big.Int).And(v, new(big.Int).Sub(new(big.Int).Lsh(bigOne, uint(8*tailLen)), bigOne)).FillBytes(tail)
	v.Rsh(v, uint(8*tailLen))
	var chars []byte
	r := new(big.Int)
	for v.Cmp(bigOne) > 0 {
		v.QuoRem(v, collectionIDBase, r)
		chars = append(chars, collectionIDChars[r.Int64()])
	}
	if v.Cmp(bigOne) != 0 || len(chars) == 0 || len(chars) > maxCollectionID {
		return "", nil, false
	}
	slices.Reverse(chars)
	return string(chars), tail, true
}

// DeleteCollection serves Rekognition's DeleteCollection through the search path.
func (b *ServiceBackend) DeleteCollection(ctx context.Context, in *DeleteCollectionInput) (*DeleteCollectionOutput, error) {
	if b.Admin == nil {
		return nil, ErrAccessDenied("This endpoint does not delete collections; delete the Collection resource")
	}
	id := *in.CollectionId
	if err := b.Admin.DeleteCollection(ctx, id); err != nil {
		if errs.Is(err, errs.ResourceNotFound) {
			return nil, ErrResourceNotFound(fmt.Sprintf("The collection id: %s does not exist", id))
		}
		return nil, err
	}
	return &DeleteCollectionOutput{StatusCode: ptr(int32(200))}, nil
}

// ---- tags ----

func (b *ServiceBackend) tagsOf(ctx context.Context, arn string) (map[string]string, error) {
	if b.Tags == nil {
		return nil, ErrAccessDenied("This endpoint does not manage tags; set them on the Collection resource")
	}
	return b.Tags.Tags(ctx, arn)
}

// TagResource serves Rekognition's TagResource: the tags are the Collection resource's.
func (b *ServiceBackend) TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error) {
	if b.Tags == nil {
		return nil, ErrAccessDenied("This endpoint does not manage tags; set them on the Collection resource")
	}
	if err := b.Tags.UpdateTags(ctx, *in.ResourceArn, in.Tags, nil, MaxTagsPerCollection); err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource serves Rekognition's UntagResource; a key the collection does not have is
// no error.
func (b *ServiceBackend) UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error) {
	if b.Tags == nil {
		return nil, ErrAccessDenied("This endpoint does not manage tags; set them on the Collection resource")
	}
	if err := b.Tags.UpdateTags(ctx, *in.ResourceArn, nil, in.TagKeys, MaxTagsPerCollection); err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// ListTagsForResource serves Rekognition's ListTagsForResource.
func (b *ServiceBackend) ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	tags, err := b.tagsOf(ctx, *in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if tags == nil {
		tags = map[string]string{} // sent as {}
	}
	return &ListTagsForResourceOutput{Tags: tags}, nil
}

// ---- faces ----

func searchImage(img *Image) search.Image {
	if img.S3Object != nil {
		o := img.S3Object
		return search.Image{S3Object: &search.S3Object{Bucket: deref(o.Bucket), Name: deref(o.Name), Version: deref(o.Version)}}
	}
	return search.Image{Bytes: img.Bytes}
}

// IndexFaces serves Rekognition's IndexFaces through the search path.
func (b *ServiceBackend) IndexFaces(ctx context.Context, in *IndexFacesInput) (*IndexFacesOutput, error) {
	opts := search.IndexFacesOptions{ExternalImageID: deref(in.ExternalImageId), QualityFilter: face.QualityFilter(in.QualityFilter), Attributes: faceAttributes(in.DetectionAttributes)}
	if in.MaxFaces != nil {
		opts.MaxFaces = int(min(*in.MaxFaces, face.MaxIndexFaces))
	}
	res, err := b.svc(ctx).IndexFaces(ctx, *in.CollectionId, searchImage(in.Image), opts)
	if err != nil {
		return nil, err
	}
	out := &IndexFacesOutput{
		FaceRecords: []FaceRecord{}, UnindexedFaces: []UnindexedFace{},
		FaceModelVersion: ptr(res.FaceModelVersion), OrientationCorrection: string(res.OrientationCorrection),
	}
	for _, f := range res.FaceRecords {
		out.FaceRecords = append(out.FaceRecords, FaceRecord{Face: faceOf(f.Record), FaceDetail: faceDetail(f.Detail)})
	}
	for _, u := range res.UnindexedFaces {
		reasons := make([]Reason, len(u.Reasons))
		for i, r := range u.Reasons {
			reasons[i] = Reason(r)
		}
		out.UnindexedFaces = append(out.UnindexedFaces, UnindexedFace{Reasons: reasons, FaceDetail: faceDetail(u.Detail)})
	}
	return out, nil
}

// ListFaces serves Rekognition's ListFaces through the search path.
func (b *ServiceBackend) ListFaces(ctx context.Context, in *ListFacesInput) (*ListFacesOutput, error) {
	c, err := b.svc(ctx).Collection(*in.CollectionId)
	if err != nil {
		return nil, err
	}
	opts := store.ListFacesOptions{UserID: deref(in.UserId), FaceIDs: in.FaceIds, MaxResults: defaultListFaces, NextToken: deref(in.NextToken)}
	if in.MaxResults != nil && *in.MaxResults > 0 {
		opts.MaxResults = int(*in.MaxResults)
	}
	recs, next, err := b.svc(ctx).ListFaces(ctx, c.ID, opts)
	if err != nil {
		return nil, err
	}
	out := &ListFacesOutput{Faces: make([]Face, 0, len(recs)), FaceModelVersion: ptr(c.FaceModelVersion)}
	for _, r := range recs {
		out.Faces = append(out.Faces, *faceOf(r))
	}
	if next != "" {
		out.NextToken = ptr(next)
	}
	return out, nil
}

// DeleteFaces serves Rekognition's DeleteFaces through the search path.
func (b *ServiceBackend) DeleteFaces(ctx context.Context, in *DeleteFacesInput) (*DeleteFacesOutput, error) {
	deleted, failed, err := b.svc(ctx).DeleteFaces(ctx, *in.CollectionId, in.FaceIds)
	if err != nil {
		return nil, err
	}
	out := &DeleteFacesOutput{DeletedFaces: append([]string{}, deleted...), UnsuccessfulFaceDeletions: []UnsuccessfulFaceDeletion{}}
	for _, f := range failed {
		out.UnsuccessfulFaceDeletions = append(out.UnsuccessfulFaceDeletions, UnsuccessfulFaceDeletion{FaceId: ptr(f.FaceID), UserId: optional(f.UserID), Reasons: f.Reasons})
	}
	return out, nil
}

// ---- users ----

// idempotency is a call's ClientRequestToken for the store, which records it with the call's
// answer in the collection's log: a retry that lands on any replica gets that answer again.
// params is the request without its token; every replica hashes it the same way.
func idempotency(op, collection string, token *string, params any) store.UserOptions {
	if token == nil || *token == "" {
		return store.UserOptions{}
	}
	return store.UserOptions{ClientRequestToken: *token, ParamsHash: store.ParamsHash(op, collection, params)}
}

// CreateUser serves Rekognition's CreateUser through the search path.
func (b *ServiceBackend) CreateUser(ctx context.Context, in *CreateUserInput) (*CreateUserOutput, error) {
	params := *in
	params.ClientRequestToken = nil
	opts := idempotency("CreateUser", *in.CollectionId, in.ClientRequestToken, params)
	err := b.svc(ctx).CreateUser(ctx, *in.CollectionId, *in.UserId, opts)
	if err != nil {
		// The store's retryable Conflict is contention, not the user existing: MapError
		// makes it a ThrottlingException.
		if errs.Is(err, errs.Conflict) && !errs.IsRetryable(err) {
			return nil, ErrConflict(fmt.Sprintf("A user with id %s already exists", *in.UserId))
		}
		return nil, err
	}
	return &CreateUserOutput{}, nil
}

// DeleteUser serves Rekognition's DeleteUser through the search path.
func (b *ServiceBackend) DeleteUser(ctx context.Context, in *DeleteUserInput) (*DeleteUserOutput, error) {
	params := *in
	params.ClientRequestToken = nil
	opts := idempotency("DeleteUser", *in.CollectionId, in.ClientRequestToken, params)
	err := b.svc(ctx).DeleteUser(ctx, *in.CollectionId, *in.UserId, opts)
	if err != nil {
		return nil, err
	}
	return &DeleteUserOutput{}, nil
}

// ListUsers serves Rekognition's ListUsers through the search path.
func (b *ServiceBackend) ListUsers(ctx context.Context, in *ListUsersInput) (*ListUsersOutput, error) {
	opts := store.ListOptions{NextToken: deref(in.NextToken)}
	if in.MaxResults != nil {
		opts.MaxResults = int(*in.MaxResults)
	}
	users, next, err := b.svc(ctx).ListUsers(ctx, *in.CollectionId, opts)
	if err != nil {
		return nil, err
	}
	out := &ListUsersOutput{Users: make([]User, 0, len(users))}
	for _, u := range users {
		out.Users = append(out.Users, User{UserId: ptr(u.UserID), UserStatus: UserStatus(u.UserStatus)})
	}
	if next != "" {
		out.NextToken = ptr(next)
	}
	return out, nil
}

// AssociateFaces serves Rekognition's AssociateFaces through the search path.
func (b *ServiceBackend) AssociateFaces(ctx context.Context, in *AssociateFacesInput) (*AssociateFacesOutput, error) {
	params := *in
	params.ClientRequestToken = nil
	opts := idempotency("AssociateFaces", *in.CollectionId, in.ClientRequestToken, params)
	res, err := b.svc(ctx).AssociateFaces(ctx, *in.CollectionId, *in.UserId, in.FaceIds, deref(in.UserMatchThreshold), opts)
	if err != nil {
		return nil, err
	}
	out := &AssociateFacesOutput{AssociatedFaces: []AssociatedFace{}, UnsuccessfulFaceAssociations: []UnsuccessfulFaceAssociation{}, UserStatus: UserStatus(res.UserStatus)}
	for _, id := range res.Associated {
		out.AssociatedFaces = append(out.AssociatedFaces, AssociatedFace{FaceId: ptr(id)})
	}
	for _, f := range res.Unsuccessful {
		u := UnsuccessfulFaceAssociation{FaceId: ptr(f.FaceID), UserId: optional(f.UserID), Reasons: f.Reasons}
		for _, r := range f.Reasons {
			if r == store.ReasonLowMatchConfidence {
				u.Confidence = ptr(f.Confidence)
			}
		}
		out.UnsuccessfulFaceAssociations = append(out.UnsuccessfulFaceAssociations, u)
	}
	return out, nil
}

// DisassociateFaces serves Rekognition's DisassociateFaces through the search path.
func (b *ServiceBackend) DisassociateFaces(ctx context.Context, in *DisassociateFacesInput) (*DisassociateFacesOutput, error) {
	params := *in
	params.ClientRequestToken = nil
	opts := idempotency("DisassociateFaces", *in.CollectionId, in.ClientRequestToken, params)
	res, err := b.svc(ctx).DisassociateFaces(ctx, *in.CollectionId, *in.UserId, in.FaceIds, opts)
	if err != nil {
		return nil, err
	}
	out := &DisassociateFacesOutput{DisassociatedFaces: []DisassociatedFace{}, UnsuccessfulFaceDisassociations: []UnsuccessfulFaceDisassociation{}, UserStatus: UserStatus(res.UserStatus)}
	for _, id := range res.Associated {
		out.DisassociatedFaces = append(out.DisassociatedFaces, DisassociatedFace{FaceId: ptr(id)})
	}
	for _, f := range res.Unsuccessful {
		out.UnsuccessfulFaceDisassociations = append(out.UnsuccessfulFaceDisassociations, UnsuccessfulFaceDisassociation{FaceId: ptr(f.FaceID), UserId: optional(f.UserID), Reasons: f.Reasons})
	}
	return out, nil
}

// ---- searches ----

// SearchFaces serves Rekognition's SearchFaces through the search path.
func (b *ServiceBackend) SearchFaces(ctx context.Context, in *SearchFacesInput) (*SearchFacesOutput, error) {
	res, err := b.svc(ctx).SearchFaces(ctx, *in.CollectionId, *in.FaceId, search.SearchFacesOptions{
		FaceMatchThreshold: deref(in.FaceMatchThreshold), MaxFaces: int(deref(in.MaxFaces)),
	})
	if err != nil {
		return nil, err
	}
	return &SearchFacesOutput{SearchedFaceId: in.FaceId, FaceMatches: faceMatches(res.FaceMatches), FaceModelVersion: ptr(res.FaceModelVersion)}, nil
}

// SearchFacesByImage serves Rekognition's SearchFacesByImage through the search path.
func (b *ServiceBackend) SearchFacesByImage(ctx context.Context, in *SearchFacesByImageInput) (*SearchFacesByImageOutput, error) {
	res, err := b.svc(ctx).SearchFacesByImage(ctx, *in.CollectionId, searchImage(in.Image), search.SearchFacesOptions{
		FaceMatchThreshold: deref(in.FaceMatchThreshold), MaxFaces: int(deref(in.MaxFaces)), QualityFilter: face.QualityFilter(in.QualityFilter),
	})
	if err != nil {
		return nil, err
	}
	out := &SearchFacesByImageOutput{FaceMatches: faceMatches(res.FaceMatches), FaceModelVersion: ptr(res.FaceModelVersion)}
	if res.SearchedFace != nil {
		out.SearchedFaceBoundingBox = boundingBox(res.SearchedFace.BoundingBox)
		out.SearchedFaceConfidence = ptr(res.SearchedFace.Confidence)
	}
	return out, nil
}

// SearchUsers serves Rekognition's SearchUsers through the search path.
func (b *ServiceBackend) SearchUsers(ctx context.Context, in *SearchUsersInput) (*SearchUsersOutput, error) {
	res, err := b.svc(ctx).SearchUsers(ctx, *in.CollectionId, search.SearchUsersByIDOptions{
		UserID: deref(in.UserId), FaceID: deref(in.FaceId),
		UserMatchThreshold: deref(in.UserMatchThreshold), MaxUsers: int(deref(in.MaxUsers)),
	})
	if err != nil {
		return nil, err
	}
	out := &SearchUsersOutput{UserMatches: userMatches(res.UserMatches), FaceModelVersion: ptr(res.FaceModelVersion)}
	if in.FaceId != nil {
		out.SearchedFace = &SearchedFace{FaceId: in.FaceId}
	} else {
		out.SearchedUser = &SearchedUser{UserId: in.UserId}
	}
	return out, nil
}

// SearchUsersByImage serves Rekognition's SearchUsersByImage through the search path.
func (b *ServiceBackend) SearchUsersByImage(ctx context.Context, in *SearchUsersByImageInput) (*SearchUsersByImageOutput, error) {
	record := RecordRequested(ctx)
	if record && b.Recorder == nil {
		return nil, ErrInvalidParameter("This endpoint does not record searches (" + RecordHeader + ")")
	}
	started := time.Now()
	res, err := b.svc(ctx).SearchUsersByImage(ctx, *in.CollectionId, searchImage(in.Image), search.SearchUsersOptions{
		UserMatchThreshold: deref(in.UserMatchThreshold), MaxUsers: int(deref(in.MaxUsers)), QualityFilter: face.QualityFilter(in.QualityFilter),
	})
	if err != nil {
		return nil, err
	}
	out := &SearchUsersByImageOutput{UserMatches: userMatches(res.UserMatches), FaceModelVersion: ptr(res.FaceModelVersion), UnsearchedFaces: []UnsearchedFace{}}
	if res.SearchedFace != nil {
		out.SearchedFace = &SearchedFaceDetails{FaceDetail: faceDetail(*res.SearchedFace)}
	}
	for _, u := range res.UnsearchedFaces {
		reasons := make([]UnsearchedFaceReason, len(u.Reasons))
		for i, r := range u.Reasons {
			reasons[i] = UnsearchedFaceReason(r)
		}
		out.UnsearchedFaces = append(out.UnsearchedFaces, UnsearchedFace{FaceDetails: faceDetail(u.Detail), Reasons: reasons})
	}
	if record {
		// No answer without its record: a caller that asked for an audit trail gets none
		// of the search's result unless the record was written.
		if err := b.record(ctx, in, res, started); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// record hands a finished SearchUsersByImage to the Recorder.
func (b *ServiceBackend) record(ctx context.Context, in *SearchUsersByImageInput, res *search.SearchUsersResult, started time.Time) error {
	coll, err := b.svc(ctx).Collection(*in.CollectionId)
	if err != nil {
		return err
	}
	rec := SearchRecord{Collection: coll, Caller: CallerFromContext(ctx), UserMatchThreshold: deref(in.UserMatchThreshold),
		MaxUsers: int(deref(in.MaxUsers)), QualityFilter: string(in.QualityFilter), Result: res, Started: started}
	if tc := TokenCallerFromContext(ctx); tc != nil {
		rec.ServiceAccount, rec.Pod = tc.ServiceAccount, tc.Pod
	}
	if img := searchImage(in.Image); img.S3Object != nil {
		rec.S3Object = img.S3Object
	} else {
		sum := sha256.Sum256(img.Bytes)
		rec.ImageSHA256, rec.ImageSize = hex.EncodeToString(sum[:]), len(img.Bytes)
	}
	if err := b.Recorder.RecordSearch(ctx, rec); err != nil {
		return ErrInternalServer(fmt.Sprintf("The search ran but could not be recorded, as the caller asked; its answer is withheld: %v", err))
	}
	return nil
}

// ---- without a collection ----

// DetectFaces serves Rekognition's DetectFaces through the search path.
func (b *ServiceBackend) DetectFaces(ctx context.Context, in *DetectFacesInput) (*DetectFacesOutput, error) {
	res, err := b.svc(ctx).DetectFaces(ctx, searchImage(in.Image), search.DetectFacesOptions{Attributes: faceAttributes(in.Attributes)})
	if err != nil {
		return nil, err
	}
	out := &DetectFacesOutput{FaceDetails: make([]FaceDetail, 0, len(res.FaceDetails)), OrientationCorrection: string(res.OrientationCorrection)}
	for _, d := range res.FaceDetails {
		out.FaceDetails = append(out.FaceDetails, *faceDetail(d))
	}
	return out, nil
}

// CompareFaces serves Rekognition's CompareFaces through the search path.
func (b *ServiceBackend) CompareFaces(ctx context.Context, in *CompareFacesInput) (*CompareFacesOutput, error) {
	res, err := b.svc(ctx).CompareFaces(ctx, searchImage(in.SourceImage), searchImage(in.TargetImage), search.CompareFacesOptions{
		SimilarityThreshold: deref(in.SimilarityThreshold), QualityFilter: face.QualityFilter(in.QualityFilter),
	})
	if err != nil {
		return nil, err
	}
	out := &CompareFacesOutput{
		SourceImageFace:                  &ComparedSourceImageFace{BoundingBox: boundingBox(res.SourceFace.BoundingBox), Confidence: ptr(res.SourceFace.Confidence)},
		FaceMatches:                      make([]CompareFacesMatch, 0, len(res.FaceMatches)),
		UnmatchedFaces:                   make([]ComparedFace, 0, len(res.UnmatchedFaces)),
		SourceImageOrientationCorrection: string(res.SourceOrientationCorrection),
		TargetImageOrientationCorrection: string(res.TargetOrientationCorrection),
	}
	for _, m := range res.FaceMatches {
		out.FaceMatches = append(out.FaceMatches, CompareFacesMatch{Similarity: ptr(m.Similarity), Face: comparedFace(m.Detail)})
	}
	for _, u := range res.UnmatchedFaces {
		out.UnmatchedFaces = append(out.UnmatchedFaces, *comparedFace(u.Detail))
	}
	return out, nil
}

// ---- conversions ----

// faceAttributes are the attributes asked for that an engine may measure: EyesOpen and
// MouthOpen. The others (AGE_RANGE, EMOTIONS, ...) have no model here and are never sent.
func faceAttributes(as []Attribute) face.Attributes {
	var out face.Attributes
	for _, a := range as {
		switch a {
		case AttributeAll:
			out |= face.AllAttributes
		case AttributeEyesOpen:
			out |= face.AttributeEyesOpen
		case AttributeMouthOpen:
			out |= face.AttributeMouthOpen
		}
	}
	return out
}

func boolAttribute(a *face.BoolAttribute) *BoolAttribute {
	if a == nil {
		return nil
	}
	return &BoolAttribute{Value: a.Value, Confidence: ptr(a.Confidence)}
}

func comparedFace(d face.FaceDetail) *ComparedFace {
	f := faceDetail(d)
	return &ComparedFace{BoundingBox: f.BoundingBox, Confidence: f.Confidence, Landmarks: f.Landmarks, Pose: f.Pose, Quality: f.Quality}
}

func faceOf(r store.FaceRecord) *Face {
	return &Face{
		FaceId: ptr(r.FaceID), BoundingBox: boundingBox(face.BoundingBox(r.BoundingBox)),
		ImageId: ptr(r.ImageID), ExternalImageId: optional(r.ExternalImageID),
		Confidence: ptr(r.Confidence), IndexFacesModelVersion: ptr(r.IndexFacesModelVersion),
		UserId: optional(r.UserID),
	}
}

func boundingBox(b face.BoundingBox) *BoundingBox {
	return &BoundingBox{Width: ptr(b.Width), Height: ptr(b.Height), Left: ptr(b.Left), Top: ptr(b.Top)}
}

func faceDetail(d face.FaceDetail) *FaceDetail {
	out := &FaceDetail{
		BoundingBox: boundingBox(d.BoundingBox), Confidence: ptr(d.Confidence),
		Pose:    &Pose{Roll: ptr(d.Pose.Roll), Yaw: ptr(d.Pose.Yaw), Pitch: ptr(d.Pose.Pitch)},
		Quality: &ImageQuality{Brightness: ptr(d.Quality.Brightness), Sharpness: ptr(d.Quality.Sharpness)},
	}
	for _, l := range d.Landmarks {
		out.Landmarks = append(out.Landmarks, Landmark{Type: string(l.Type), X: ptr(l.X), Y: ptr(l.Y)})
	}
	out.EyesOpen, out.MouthOpen = boolAttribute(d.EyesOpen), boolAttribute(d.MouthOpen)
	return out
}

func faceMatches(ms []search.FaceMatch) []FaceMatch {
	out := make([]FaceMatch, 0, len(ms))
	for _, m := range ms {
		out = append(out, FaceMatch{Similarity: ptr(m.Similarity), Face: faceOf(m.Face)})
	}
	return out
}

func userMatches(ms []search.UserMatch) []UserMatch {
	out := make([]UserMatch, 0, len(ms))
	for _, m := range ms {
		out = append(out, UserMatch{Similarity: ptr(m.Similarity), User: &MatchedUser{UserId: ptr(m.UserID), UserStatus: UserStatus(m.UserStatus)}})
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// optional is nil for an empty string, so that the member is left out of the JSON.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
