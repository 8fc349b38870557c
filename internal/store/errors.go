package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/minio/minio-go/v7"
)

// Error codes. They follow Rekognition's error types where Rekognition has one.
const (
	ErrResourceNotFound       = "ResourceNotFound"
	ErrResourceAlreadyExists  = "ResourceAlreadyExists"
	ErrConflict               = "Conflict"
	ErrServiceQuotaExceeded   = "ServiceQuotaExceeded"
	ErrInvalidParameter       = "InvalidParameter"
	ErrInvalidPaginationToken = "InvalidPaginationToken"
	// ErrStorageUnavailable means MinIO could not be reached or failed; retry later.
	ErrStorageUnavailable = "StorageUnavailable"
	// ErrGenerationGone means the commits after a generation were folded into a snapshot by
	// compaction: a follower must load the collection again.
	ErrGenerationGone = "GenerationGone"
	// ErrCorrupt means an object of the collection could not be decoded.
	ErrCorrupt = "Corrupt"
)

// Error is the one error type of the package.
type Error struct {
	Code      string
	Message   string
	Retryable bool
	// Err is the cause, if any.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the Code of a *Error in err's chain, or "" if there is none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsRetryable reports whether err is a *Error that is worth retrying.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// storageError wraps an error from minio-go; what cannot be told apart from an outage is
// reported as StorageUnavailable and retryable.
func storageError(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return &Error{Code: "AccessDenied", Message: "while " + op, Err: err}
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &Error{Code: ErrCorrupt, Message: "while " + op, Err: err}
	}
	var ne net.Error
	_ = errors.As(err, &ne)
	if errors.Is(err, context.Canceled) {
		return &Error{Code: ErrStorageUnavailable, Message: "while " + op + " (canceled)", Retryable: true, Err: err}
	}
	return &Error{Code: ErrStorageUnavailable, Message: "while " + op, Retryable: true, Err: err}
}

func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound
}

func isPreconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.PreconditionFailed || r.StatusCode == http.StatusPreconditionFailed
}
