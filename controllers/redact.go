package controllers

import "strings"

// userIDPlaceholder stands for a userId in what the manager logs and records as Events.
const userIDPlaceholder = "<userId>"

// redactedError is an error whose text no longer names a user; errors.Is and errors.As (and
// so errs.CodeOf and the reasons) still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactUserID takes a userId out of an error's text. The store's messages name the user
// they are about, as Rekognition's do for the caller who gave the userId; a User reconcile
// that fails with one must not copy the name into the manager's log ("Reconciler error") or
// an Event, which outlive the user's erasure and are read by others.
func redactUserID(err error, userID string) error {
	if err == nil || userID == "" {
		return err
	}
	msg := err.Error()
	out := redactWord(msg, userID)
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}

// redactWord replaces each occurrence of word in s that is not part of a longer run of
// letters and digits.
func redactWord(s, word string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, word)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(word)
		if (i > 0 && isAlnum(s[i-1])) || (end < len(s) && isAlnum(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(userIDPlaceholder)
		s = s[end:]
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
