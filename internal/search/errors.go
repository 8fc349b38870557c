package search

import (
	"errors"
	"fmt"

	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Error codes this package adds to those of internal/face and internal/store. They follow
// Rekognition's exception names without the suffix.
const (
	// CodeResourceNotFound: no such collection.
	CodeResourceNotFound = "ResourceNotFound"
	// CodeResourceNotReady: the collection's index is still loading (or scaled to zero).
	CodeResourceNotReady = "ResourceNotReady"
	// CodeInvalidS3Object: the image object could not be read.
	CodeInvalidS3Object = "InvalidS3Object"
	// CodeInvalidParameter: the request cannot be answered as asked.
	CodeInvalidParameter = "InvalidParameter"
	// CodeFaceModelUnavailable: no model pack for the collection's FaceModelVersion.
	CodeFaceModelUnavailable = "FaceModelUnavailable"
	// CodeInternal: anything unexpected.
	CodeInternal = "InternalServerError"
)

// Error is a failure of the search path with a Rekognition-like code.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode gives the Rekognition-like code of any error from the search path, the face
// engine, the store or the index; CodeInternal when it has none.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	if c := face.ErrorCode(err); c != "" {
		return c
	}
	if c := store.ErrorCode(err); c != "" {
		return c
	}
	var re *index.RemoteError
	if errors.As(err, &re) {
		return CodeResourceNotReady
	}
	return CodeInternal
}

// IsRetryable says whether the same call may succeed later unchanged: storage outages and
// indexes still loading.
func IsRetryable(err error) bool {
	switch ErrorCode(err) {
	case CodeResourceNotReady, store.ErrStorageUnavailable, CodeInternal:
		return true
	}
	return store.IsRetryable(err)
}
