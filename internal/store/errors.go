package store

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Error codes the store returns; transitional names for internal/errs' codes.
const (
	ErrResourceNotFound       = errs.ResourceNotFound
	ErrResourceAlreadyExists  = errs.ResourceAlreadyExists
	ErrConflict               = errs.Conflict
	ErrServiceQuotaExceeded   = errs.ServiceQuotaExceeded
	ErrInvalidParameter       = errs.InvalidParameter
	ErrInvalidPaginationToken = errs.InvalidPaginationToken
	ErrStorageUnavailable     = errs.StorageUnavailable
	ErrGenerationGone         = errs.GenerationGone
	ErrCorrupt                = errs.Corrupt
)

// Error is the one error type of the project.
type Error = errs.Error

// ErrorCode returns the code of an *errs.Error in err's chain, or "" if there is none.
func ErrorCode(err error) errs.Code {
	if e := errs.As(err); e != nil {
		return e.Code
	}
	return ""
}

// IsRetryable reports whether err is an *errs.Error that is worth retrying.
func IsRetryable(err error) bool { return errs.As(err) != nil && errs.IsRetryable(err) }

func errorf(code errs.Code, format string, args ...any) *Error {
	return errs.New(code, format, args...)
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
		return &Error{Code: errs.AccessDenied, Message: "while " + op, Err: err}
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
