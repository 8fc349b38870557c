package face

import (
	"errors"
	"fmt"
)

// Error codes. They are the names of Rekognition's exceptions without the "Exception"
// suffix, so the HTTP API can map them one to one.
const (
	CodeInvalidImageFormat = "InvalidImageFormat"
	CodeImageTooLarge      = "ImageTooLarge"
	CodeInvalidParameter   = "InvalidParameter"
)

// Error is the one error type the engine returns for a bad request (as opposed to an
// internal failure, which is a plain error).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of a *Error anywhere in err's chain, or "" for any other error
// (which callers should report as an internal server error).
func ErrorCode(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}
