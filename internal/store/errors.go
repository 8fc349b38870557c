package store

import (
	"context"
	"errors"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// errorf is errs.New, short for this package's many call sites.
func errorf(code errs.Code, format string, args ...any) *errs.Error {
	return errs.New(code, format, args...)
}

// storageError wraps an error from minio-go; what cannot be told apart from an outage is
// reported as StorageUnavailable and retryable.
func storageError(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return &errs.Error{Code: errs.AccessDenied, Message: "while " + op, Err: err}
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &errs.Error{Code: errs.Corrupt, Message: "while " + op, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &errs.Error{Code: errs.StorageUnavailable, Message: "while " + op + " (canceled)", Retryable: true, Err: err}
	}
	return &errs.Error{Code: errs.StorageUnavailable, Message: "while " + op, Retryable: true, Err: err}
}

func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound
}

func isPreconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.PreconditionFailed || r.StatusCode == http.StatusPreconditionFailed
}
