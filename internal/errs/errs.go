// Package errs is the project's one error vocabulary: a code, a message, whether the same
// call may succeed later, and the cause. The face engine, the store, the index and the search
// path return *Error; the index role sends it on the wire; the HTTP endpoint maps a Code to a
// Rekognition error type and the controllers map it to a declared condition reason, each with
// one table. It imports nothing of ours, so every package may use it.
package errs

import (
	"errors"
	"fmt"
)

// Code names a kind of failure. The codes follow Rekognition's exception names without the
// "Exception" suffix where Rekognition has one.
type Code string

const (
	// ResourceNotFound means no such collection, user or face.
	ResourceNotFound Code = "ResourceNotFound"
	// ResourceAlreadyExists means a collection or user of that id exists.
	ResourceAlreadyExists Code = "ResourceAlreadyExists"
	// ResourceNotReady means the collection's index is loading, scaled to zero or unreachable.
	ResourceNotReady Code = "ResourceNotReady"
	// Conflict means the user is being changed in a way that clashes with this call.
	Conflict Code = "Conflict"
	// IdempotentParameterMismatch means a ClientRequestToken was already used with other
	// parameters.
	IdempotentParameterMismatch Code = "IdempotentParameterMismatch"
	// ServiceQuotaExceeded means a limit such as 100 faces per user.
	ServiceQuotaExceeded Code = "ServiceQuotaExceeded"
	// ProvisionedThroughputExceeded means the server is at its capacity, such as the memory
	// for decoding images, and the same call may succeed a little later.
	ProvisionedThroughputExceeded Code = "ProvisionedThroughputExceeded"
	// InvalidParameter means the request cannot be answered as asked.
	InvalidParameter Code = "InvalidParameter"
	// InvalidPaginationToken means a NextToken this service did not make.
	InvalidPaginationToken Code = "InvalidPaginationToken"
	// InvalidImageFormat means the image is not a JPEG, PNG or WebP that decodes.
	InvalidImageFormat Code = "InvalidImageFormat"
	// ImageTooLarge means the image is over the byte or pixel limit.
	ImageTooLarge Code = "ImageTooLarge"
	// InvalidS3Object means the image object (or ConfigMap or Secret key) could not be read.
	InvalidS3Object Code = "InvalidS3Object"
	// CredentialsNotFound means the storage credentials Secret is missing or lacks a key.
	CredentialsNotFound Code = "CredentialsNotFound"
	// AccessDenied means the storage refused the credentials; on the wire also an index
	// shard refusing a search without the collection's token (the manager's client turns
	// that into ResourceNotReady: it is the operator's credential, not the caller's).
	AccessDenied Code = "AccessDenied"
	// FaceModelUnavailable means no model pack for the collection's FaceModelVersion.
	FaceModelUnavailable Code = "FaceModelUnavailable"
	// FaceModelMismatch means the stored collection was made with another FaceModelVersion.
	FaceModelMismatch Code = "FaceModelMismatch"
	// CollectionOwnedElsewhere means the stored collection belongs to another Collection
	// resource (its manifest names another namespace or UID), so it is neither read, served
	// nor erased on behalf of this one.
	CollectionOwnedElsewhere Code = "CollectionOwnedElsewhere"
	// StorageUnavailable means the storage could not be reached or failed.
	StorageUnavailable Code = "StorageUnavailable"
	// GenerationGone means the commits after a generation were folded into a snapshot; a
	// follower must load the collection again.
	GenerationGone Code = "GenerationGone"
	// Corrupt means a stored object could not be decoded.
	Corrupt Code = "Corrupt"
	// Internal means anything unexpected. Errors that carry no code are Internal.
	Internal Code = "InternalError"
)

// retryable says which codes a later, unchanged call may get past.
var retryable = map[Code]bool{
	ResourceNotReady:              true,
	ProvisionedThroughputExceeded: true,
	StorageUnavailable:            true,
	GenerationGone:                true,
	Internal:                      true,
}

// Error is the one error type. Retryable starts as the code's default (New, Wrap) and may be
// set otherwise where the caller knows better.
type Error struct {
	Code      Code
	Message   string
	Retryable bool
	// Err is the cause, if any.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of the code with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Retryable: retryable[code]}
}

// Wrap is New with a cause.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	e := New(code, format, args...)
	e.Err = cause
	return e
}

// As returns the outermost *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf is the code of err: "" for nil, Internal for an error that carries none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the code.
func Is(err error, code Code) bool {
	e := As(err)
	return e != nil && e.Code == code
}

// IsRetryable reports whether the same call may succeed later: a coded error says so itself;
// an error with no code is unexpected, and worth another try.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if e := As(err); e != nil {
		return e.Retryable
	}
	return true
}

// Message is the text of the outermost *Error without its code, or err's own text.
func Message(err error) string {
	if e := As(err); e != nil {
		return e.Message
	}
	return err.Error()
}
