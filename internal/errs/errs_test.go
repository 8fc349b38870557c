package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeRetryableMessage(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		name      string
		err       error
		code      Code
		retryable bool
		message   string
	}{
		{"nil", nil, "", false, ""},
		{"plain error is internal and retryable", cause, Internal, true, "connection refused"},
		{"not found is final", New(ResourceNotFound, "collection %q not found", "c"), ResourceNotFound, false, `collection "c" not found`},
		{"storage outage may pass", Wrap(StorageUnavailable, cause, "while reading"), StorageUnavailable, true, "while reading"},
		{"wrapped keeps its code", fmt.Errorf("while indexing: %w", New(ImageTooLarge, "too big")), ImageTooLarge, false, "too big"},
		{"caller overrides retryable", &Error{Code: InvalidS3Object, Message: "m", Retryable: true}, InvalidS3Object, true, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.code {
				t.Errorf("CodeOf = %q, want %q", got, tt.code)
			}
			if got := IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if tt.err != nil {
				if got := Message(tt.err); got != tt.message {
					t.Errorf("Message = %q, want %q", got, tt.message)
				}
				if tt.code != Internal && !Is(tt.err, tt.code) {
					t.Errorf("Is(%q) = false", tt.code)
				}
			}
		})
	}
}

func TestWrapUnwraps(t *testing.T) {
	cause := errors.New("boom")
	err := Wrap(Corrupt, cause, "while decoding %s", "x")
	if !errors.Is(err, cause) {
		t.Fatal("the cause is not in the chain")
	}
	if got, want := err.Error(), "Corrupt: while decoding x: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if Is(err, StorageUnavailable) {
		t.Error("Is matched another code")
	}
}
