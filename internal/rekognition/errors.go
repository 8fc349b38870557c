package rekognition

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Error is an error with an Amazon Rekognition error type. A Backend returns
// an *Error to make the handler answer with that type; any other error
// becomes InternalServerError (its text is logged, never sent to the client).
//
// Type is the name as it appears in the "__type" member of the response
// body, for example "ResourceNotFoundException" or "InternalServerError".
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Error types of the Rekognition service model used by the operations this
// package serves, plus the protocol-level ones AWS answers before an operation
// runs (authentication, serialization, unknown operation).
const (
	TypeAccessDenied                  = "AccessDeniedException"
	TypeConflict                      = "ConflictException"
	TypeIdempotentParameterMismatch   = "IdempotentParameterMismatchException"
	TypeImageTooLarge                 = "ImageTooLargeException"
	TypeInternalServerError           = "InternalServerError"
	TypeInvalidImageFormat            = "InvalidImageFormatException"
	TypeInvalidPaginationToken        = "InvalidPaginationTokenException"
	TypeInvalidParameter              = "InvalidParameterException"
	TypeInvalidS3Object               = "InvalidS3ObjectException"
	TypeProvisionedThroughputExceeded = "ProvisionedThroughputExceededException"
	TypeResourceAlreadyExists         = "ResourceAlreadyExistsException"
	TypeResourceInUse                 = "ResourceInUseException"
	TypeResourceNotFound              = "ResourceNotFoundException"
	TypeServiceQuotaExceeded          = "ServiceQuotaExceededException"
	TypeThrottling                    = "ThrottlingException"

	// Protocol and authentication errors (not in the service model; these are
	// the codes AWS endpoints answer and the SDKs understand).
	TypeSerialization              = "SerializationException"
	TypeUnknownOperation           = "UnknownOperationException"
	TypeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	TypeUnrecognizedClient         = "UnrecognizedClientException"
	TypeInvalidSignature           = "InvalidSignatureException"
	TypeIncompleteSignature        = "IncompleteSignatureException"
	TypeExpiredToken               = "ExpiredTokenException"
)

func newErr(t, msg string) *Error { return &Error{Type: t, Message: msg} }

// Errorf builds an *Error of type t with a formatted message.
func Errorf(t, format string, args ...any) *Error {
	return &Error{Type: t, Message: fmt.Sprintf(format, args...)}
}

// Constructor helpers, one per error type a Backend may return.

// ErrAccessDenied is an *Error of type AccessDeniedException.
func ErrAccessDenied(msg string) *Error { return newErr(TypeAccessDenied, msg) }

// ErrConflict is an *Error of type ConflictException.
func ErrConflict(msg string) *Error { return newErr(TypeConflict, msg) }

// ErrImageTooLarge is an *Error of type ImageTooLargeException.
func ErrImageTooLarge(msg string) *Error { return newErr(TypeImageTooLarge, msg) }

// ErrInternalServer is an *Error of type InternalServerError.
func ErrInternalServer(msg string) *Error { return newErr(TypeInternalServerError, msg) }

// ErrInvalidImageFormat is an *Error of type InvalidImageFormatException.
func ErrInvalidImageFormat(msg string) *Error { return newErr(TypeInvalidImageFormat, msg) }

// ErrInvalidPaginationToken is an *Error of type InvalidPaginationTokenException.
func ErrInvalidPaginationToken(msg string) *Error {
	return newErr(TypeInvalidPaginationToken, msg)
}

// ErrInvalidParameter is an *Error of type InvalidParameterException.
func ErrInvalidParameter(msg string) *Error { return newErr(TypeInvalidParameter, msg) }

// ErrInvalidS3Object is an *Error of type InvalidS3ObjectException.
func ErrInvalidS3Object(msg string) *Error { return newErr(TypeInvalidS3Object, msg) }

// ErrProvisionedThroughputExceeded is an *Error of type ProvisionedThroughputExceededException.
func ErrProvisionedThroughputExceeded(msg string) *Error {
	return newErr(TypeProvisionedThroughputExceeded, msg)
}

// ErrResourceAlreadyExists is an *Error of type ResourceAlreadyExistsException.
func ErrResourceAlreadyExists(msg string) *Error { return newErr(TypeResourceAlreadyExists, msg) }

// ErrResourceInUse is an *Error of type ResourceInUseException.
func ErrResourceInUse(msg string) *Error { return newErr(TypeResourceInUse, msg) }

// ErrResourceNotFound is an *Error of type ResourceNotFoundException.
func ErrResourceNotFound(msg string) *Error { return newErr(TypeResourceNotFound, msg) }

// ErrServiceQuotaExceeded is an *Error of type ServiceQuotaExceededException.
func ErrServiceQuotaExceeded(msg string) *Error { return newErr(TypeServiceQuotaExceeded, msg) }

// ErrThrottling is an *Error of type ThrottlingException.
func ErrThrottling(msg string) *Error { return newErr(TypeThrottling, msg) }

// ErrIdempotentParameterMismatch is an *Error of type IdempotentParameterMismatchException.
func ErrIdempotentParameterMismatch(msg string) *Error {
	return newErr(TypeIdempotentParameterMismatch, msg)
}

// errorTypes is the one table from the project's error codes to Rekognition's error types. A
// code that is not here (Internal, Corrupt, FaceModelUnavailable...) is a server fault:
// InternalServerError with a generic message, its cause logged.
var errorTypes = map[errs.Code]string{
	errs.ResourceNotFound:       TypeResourceNotFound,
	errs.ResourceAlreadyExists:  TypeResourceAlreadyExists,
	errs.Conflict:               TypeConflict,
	errs.ServiceQuotaExceeded:   TypeServiceQuotaExceeded,
	errs.InvalidParameter:       TypeInvalidParameter,
	errs.InvalidPaginationToken: TypeInvalidPaginationToken,
	errs.InvalidImageFormat:     TypeInvalidImageFormat,
	errs.ImageTooLarge:          TypeImageTooLarge,
	errs.InvalidS3Object:        TypeInvalidS3Object,
	// CreateCollection of an id whose stored collection belongs to another Collection
	// resource: the id is taken, as far as this caller is concerned.
	errs.CollectionOwnedElsewhere: TypeResourceAlreadyExists,
	// An index still loading (or a shard behind its writer) is transient. The operations that
	// meet it (the searches) do not declare ResourceNotReadyException, so an SDK would turn it
	// into a generic error and not retry; ThrottlingException is declared by every one of
	// them and retried with backoff by the standard retryers.
	errs.ResourceNotReady: TypeThrottling,
	// The server is at its capacity (the images in flight fill its decode memory), as when
	// the handler has no free slot: the SDKs retry it with backoff.
	errs.ProvisionedThroughputExceeded: TypeProvisionedThroughputExceeded,
	// A storage outage is a server fault, and the SDKs retry a 500 on their own without
	// counting it as throttling, which would tell the client to slow down for a fault that
	// is not its load.
	errs.StorageUnavailable: TypeInternalServerError,
	// A ClientRequestToken reused with other parameters, found in the store's records (the
	// handler's cache answers the same before the backend on the replica of the first call).
	errs.IdempotentParameterMismatch: TypeIdempotentParameterMismatch,
}

// fixedMessages replace the cause's text where it would tell the client about the inside.
var fixedMessages = map[errs.Code]string{
	errs.ResourceNotReady:              "The collection's index is loading or catching up; retry later",
	errs.StorageUnavailable:            "The collection storage is unavailable; retry later",
	errs.ProvisionedThroughputExceeded: "The server is processing as many images as its memory allows; retry later",
	// Neither the storage nor the owner is the caller's business.
	errs.CollectionOwnedElsewhere: "The collection id already exists in the collection storage and belongs to another owner",
}

// MapError turns an error of the search path into the Rekognition error the SDKs decode.
// An *Error passes through; a context error is left to the handler (it answers a timeout);
// an error with no code in the table stays as it is and becomes InternalServerError.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	code := errs.CodeOf(err)
	// A storage call that timed out is an outage, though it wraps DeadlineExceeded: the
	// store bounds each call itself, so the caller's request may still have time left.
	if errors.Is(err, context.Canceled) || (code != errs.StorageUnavailable && errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	// A commit that lost its race too many times (the store's "too many concurrent writers")
	// is contention, not a clash with the caller's data: every operation declares
	// ThrottlingException and the SDKs retry it with backoff, while ConflictException is
	// declared by four operations only and retried by none.
	if code == errs.Conflict && errs.IsRetryable(err) {
		return newErr(TypeThrottling, "Too many concurrent writes to the collection; retry later")
	}
	t, ok := errorTypes[code]
	if !ok {
		return err
	}
	msg, ok := fixedMessages[code]
	if !ok {
		msg = errs.Message(err)
	}
	return newErr(t, msg)
}

// IsType reports whether err is (or wraps) an *Error of type t.
func IsType(err error, t string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == t
}

// httpStatus is the HTTP status code sent with an error type, as Rekognition's API
// reference gives it for each error of each operation: InternalServerError and
// ThrottlingException 500 ("Amazon Rekognition is temporarily unable to process the
// request"), every other error 400, AccessDeniedException included. The protocol's
// authentication errors are 400 as well: the developer guide's error list puts
// "authentication failure" under HTTP 400. The SDKs decode the type from the
// X-Amzn-ErrorType header or the "__type" member, not from the status; the status only
// makes a 5xx retryable for them.
func httpStatus(t string) int {
	switch t {
	case TypeInternalServerError, TypeThrottling:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// isAuthError reports whether t is an authentication or authorization failure (logged with
// the access key id).
func isAuthError(t string) bool {
	switch t {
	case TypeAccessDenied, TypeMissingAuthenticationToken, TypeUnrecognizedClient,
		TypeInvalidSignature, TypeIncompleteSignature, TypeExpiredToken:
		return true
	}
	return false
}

// declaredErrors lists, per operation, the error types its model declares (botocore's
// service-2.json "errors", as the SDKs' deserializers switch on them). An SDK decodes any
// other type into a generic error its callers do not expect, so the handler answers an
// undeclared type as InternalServerError (see undeclared).
var declaredErrors = func() map[string]map[string]bool {
	common := []string{TypeAccessDenied, TypeInternalServerError, TypeInvalidParameter,
		TypeProvisionedThroughputExceeded, TypeThrottling}
	image := []string{TypeImageTooLarge, TypeInvalidImageFormat, TypeInvalidS3Object}
	user := []string{TypeConflict, TypeIdempotentParameterMismatch}
	ops := map[string][]string{
		"CreateCollection":    {TypeResourceAlreadyExists, TypeServiceQuotaExceeded},
		"DescribeCollection":  {TypeResourceNotFound},
		"ListCollections":     {TypeInvalidPaginationToken, TypeResourceNotFound},
		"DeleteCollection":    {TypeResourceNotFound},
		"IndexFaces":          append([]string{TypeResourceNotFound, TypeServiceQuotaExceeded}, image...),
		"ListFaces":           {TypeInvalidPaginationToken, TypeResourceNotFound},
		"DeleteFaces":         {TypeResourceNotFound},
		"CreateUser":          append([]string{TypeResourceNotFound, TypeServiceQuotaExceeded}, user...),
		"DeleteUser":          append([]string{TypeResourceNotFound}, user...),
		"ListUsers":           {TypeInvalidPaginationToken, TypeResourceNotFound},
		"AssociateFaces":      append([]string{TypeResourceNotFound, TypeServiceQuotaExceeded}, user...),
		"DisassociateFaces":   append([]string{TypeResourceNotFound}, user...),
		"SearchFaces":         {TypeResourceNotFound},
		"SearchFacesByImage":  append([]string{TypeResourceNotFound}, image...),
		"SearchUsers":         {TypeResourceNotFound},
		"SearchUsersByImage":  append([]string{TypeResourceNotFound}, image...),
		"TagResource":         {TypeResourceNotFound, TypeServiceQuotaExceeded},
		"UntagResource":       {TypeResourceNotFound},
		"ListTagsForResource": {TypeResourceNotFound},
		"DetectFaces":         image,
		"CompareFaces":        image,
	}
	out := make(map[string]map[string]bool, len(ops))
	for op, types := range ops {
		set := map[string]bool{}
		for _, t := range append(types, common...) {
			set[t] = true
		}
		out[op] = set
	}
	return out
}()

// undeclared turns an *Error whose type op's model does not declare into a plain error,
// which the handler answers as InternalServerError and logs. Protocol errors (not in the
// model) pass: the SDKs know them whatever the operation.
func undeclared(op string, err error) error {
	var e *Error
	if !errors.As(err, &e) || isProtocolError(e.Type) {
		return err
	}
	if declared, ok := declaredErrors[op]; ok && !declared[e.Type] {
		return fmt.Errorf("%s answered %s, which its model does not declare: %s", op, e.Type, e.Message)
	}
	return err
}

func isProtocolError(t string) bool {
	switch t {
	case TypeSerialization, TypeUnknownOperation, TypeMissingAuthenticationToken,
		TypeUnrecognizedClient, TypeInvalidSignature, TypeIncompleteSignature, TypeExpiredToken:
		return true
	}
	return false
}
