package rekognition

import "context"

// Backend carries out the face collection operations. The handler calls it
// only with requests that passed validation (Validate methods) and with the
// documented defaults filled in:
//
//   - thresholds: FaceMatchThreshold 80 (SearchFaces, SearchFacesByImage),
//     UserMatchThreshold 80 (SearchUsers, SearchUsersByImage) and 75
//     (AssociateFaces), SimilarityThreshold 80 (CompareFaces) are never nil;
//   - QualityFilter is never empty: AUTO for IndexFaces, NONE for
//     SearchFacesByImage, SearchUsersByImage and CompareFaces;
//   - every Image has exactly one of Bytes (1 byte to 5 MiB) or S3Object
//     (Bucket and Name set);
//   - optional limits (MaxResults, MaxFaces, MaxUsers) may be nil: the
//     backend chooses its default. ListCollections/ListFaces MaxResults may
//     be 0 (the model allows 0-4096); treat 0 like nil;
//   - NextToken is an opaque string the backend itself produced (at most 255
//     characters); a token it cannot decode is ErrInvalidPaginationToken;
//   - SearchUsers has exactly one of UserId and FaceId;
//   - a ResourceArn (TagResource, UntagResource, ListTagsForResource) has 20-2048
//     characters; when it names a collection (".../collection/<id>") the caller's key
//     may use that id. It may still be no collection's ARN: ResourceNotFound.
//
// The handler has already checked that the caller's access key may call the
// operation and use the collection. ListCollections of a key that may see
// every collection gets the backend's pages and NextTokens unchanged; for a
// key limited to some collections the handler reads the backend's whole
// listing (MaxResults 4096, following NextToken; a token answered twice is an
// internal error) and pages over the collections the key may see with tokens
// of its own, so the backend's tokens never reach that key.
//
// ClientRequestToken idempotency of CreateUser, DeleteUser, AssociateFaces
// and DisassociateFaces is handled by the handler (a repeated token with the
// same parameters is answered from a cache and does not reach the backend).
// That cache is one process's: the token is still passed in, and a backend
// served by several replicas must keep it durably, as ServiceBackend does in
// the store, so that a retry on another replica gets the first answer (or
// IdempotentParameterMismatch).
//
// Errors: return an *Error made with the Err* helpers (ErrResourceNotFound,
// ErrResourceAlreadyExists, ErrConflict, ErrServiceQuotaExceeded,
// ErrInvalidParameter, ErrInvalidPaginationToken, ErrImageTooLarge,
// ErrInvalidImageFormat, ErrInvalidS3Object, ...) to answer with that type and
// message. Any other error (including a wrapped *Error is fine: errors.As is
// used) becomes InternalServerError with a generic message; its text is only
// logged. A context error after the request deadline becomes
// InternalServerError "request timed out".
//
// The semantics follow Rekognition (see docs/http-api.md): DeleteCollection
// deletes all faces and users; DeleteUser disassociates the user's faces;
// AssociateFaces ignores faces already on the user, reports the others in
// UnsuccessfulFaceAssociations and answers ServiceQuotaExceeded past 100 faces
// per user; SearchFacesByImage with no face in the image is
// ErrInvalidParameter, SearchUsersByImage with no face answers empty
// UserMatches and no SearchedFace; CompareFaces with no face in the source
// image is ErrInvalidParameter, with none in the target empty lists.
//
// Output slices left nil are sent as empty JSON arrays. Implementations must
// be safe for concurrent use.
type Backend interface {
	CreateCollection(ctx context.Context, in *CreateCollectionInput) (*CreateCollectionOutput, error)
	DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error)
	ListCollections(ctx context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error)
	DeleteCollection(ctx context.Context, in *DeleteCollectionInput) (*DeleteCollectionOutput, error)

	IndexFaces(ctx context.Context, in *IndexFacesInput) (*IndexFacesOutput, error)
	ListFaces(ctx context.Context, in *ListFacesInput) (*ListFacesOutput, error)
	DeleteFaces(ctx context.Context, in *DeleteFacesInput) (*DeleteFacesOutput, error)

	CreateUser(ctx context.Context, in *CreateUserInput) (*CreateUserOutput, error)
	DeleteUser(ctx context.Context, in *DeleteUserInput) (*DeleteUserOutput, error)
	ListUsers(ctx context.Context, in *ListUsersInput) (*ListUsersOutput, error)
	AssociateFaces(ctx context.Context, in *AssociateFacesInput) (*AssociateFacesOutput, error)
	DisassociateFaces(ctx context.Context, in *DisassociateFacesInput) (*DisassociateFacesOutput, error)

	SearchFaces(ctx context.Context, in *SearchFacesInput) (*SearchFacesOutput, error)
	SearchFacesByImage(ctx context.Context, in *SearchFacesByImageInput) (*SearchFacesByImageOutput, error)
	SearchUsers(ctx context.Context, in *SearchUsersInput) (*SearchUsersOutput, error)
	SearchUsersByImage(ctx context.Context, in *SearchUsersByImageInput) (*SearchUsersByImageOutput, error)

	// DetectFaces and CompareFaces use no collection.
	DetectFaces(ctx context.Context, in *DetectFacesInput) (*DetectFacesOutput, error)
	CompareFaces(ctx context.Context, in *CompareFacesInput) (*CompareFacesOutput, error)

	// Tags of a collection, by its ARN.
	TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error)
	UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error)
	ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error)
}

// CallerFromContext returns the access key id of the authenticated caller of
// the request ctx belongs to ("" when authentication is disabled).
func CallerFromContext(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

type callerKey struct{}
