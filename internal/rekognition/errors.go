package rekognition

import (
	"errors"
	"fmt"
	"net/http"
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
)

func newErr(t, msg string) *Error { return &Error{Type: t, Message: msg} }

// Errorf builds an *Error of type t with a formatted message.
func Errorf(t, format string, args ...any) *Error {
	return &Error{Type: t, Message: fmt.Sprintf(format, args...)}
}

// Constructor helpers, one per error type a Backend may return.

func ErrAccessDenied(msg string) *Error       { return newErr(TypeAccessDenied, msg) }
func ErrConflict(msg string) *Error           { return newErr(TypeConflict, msg) }
func ErrImageTooLarge(msg string) *Error      { return newErr(TypeImageTooLarge, msg) }
func ErrInternalServer(msg string) *Error     { return newErr(TypeInternalServerError, msg) }
func ErrInvalidImageFormat(msg string) *Error { return newErr(TypeInvalidImageFormat, msg) }
func ErrInvalidPaginationToken(msg string) *Error {
	return newErr(TypeInvalidPaginationToken, msg)
}
func ErrInvalidParameter(msg string) *Error { return newErr(TypeInvalidParameter, msg) }
func ErrInvalidS3Object(msg string) *Error  { return newErr(TypeInvalidS3Object, msg) }
func ErrProvisionedThroughputExceeded(msg string) *Error {
	return newErr(TypeProvisionedThroughputExceeded, msg)
}
func ErrResourceAlreadyExists(msg string) *Error { return newErr(TypeResourceAlreadyExists, msg) }
func ErrResourceInUse(msg string) *Error         { return newErr(TypeResourceInUse, msg) }
func ErrResourceNotFound(msg string) *Error      { return newErr(TypeResourceNotFound, msg) }
func ErrServiceQuotaExceeded(msg string) *Error  { return newErr(TypeServiceQuotaExceeded, msg) }
func ErrThrottling(msg string) *Error            { return newErr(TypeThrottling, msg) }
func ErrIdempotentParameterMismatch(msg string) *Error {
	return newErr(TypeIdempotentParameterMismatch, msg)
}

// IsType reports whether err is (or wraps) an *Error of type t.
func IsType(err error, t string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == t
}

// httpStatus is the HTTP status code sent with an error type. AWS JSON 1.1
// services answer client faults with 400 and server faults with 500; the SDK
// decodes the type from the X-Amzn-ErrorType header or the "__type" member,
// never from the status. Authentication and authorization failures get 403,
// InternalServerError 500, everything else (including throttling and a body
// over the limit) 400, as Rekognition does.
func httpStatus(t string) int {
	switch t {
	case TypeInternalServerError:
		return http.StatusInternalServerError
	case TypeAccessDenied, TypeMissingAuthenticationToken, TypeUnrecognizedClient,
		TypeInvalidSignature, TypeIncompleteSignature:
		return http.StatusForbidden
	default:
		return http.StatusBadRequest
	}
}
