package sidecar

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	// tokenCheckEvery bounds how often the token file is looked at (one os.Stat): every
	// request asks for the token, and the kubelet rotates it at most every few minutes.
	tokenCheckEvery = time.Second
	// tokenMaxAge bounds how long a token read is used without reading the file again, in
	// case a rotation kept the inode, the size and the modification time (a clock set back).
	tokenMaxAge = 5 * time.Minute
)

// tokenFile reads the projected ServiceAccount token. The kubelet rotates it by swapping a
// symlink to a new directory (its atomic writer), so os.Stat, which follows the links, sees
// another inode; the file is read again then, or after tokenMaxAge. A file missing or empty
// is an error now: a token that the kubelet stopped renewing will expire anyway, and an error
// naming the file tells the application what is wrong sooner than the endpoint's refusal.
type tokenFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	token   string
	err     error
	stat    os.FileInfo // of the file read into token; nil before a read
	readAt  time.Time
	checked time.Time
}

func newTokenFile(path string, now func() time.Time) *tokenFile {
	if now == nil {
		now = time.Now
	}
	return &tokenFile{path: path, now: now}
}

// Token returns the token, or an error naming the file (never its content).
func (f *tokenFile) Token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.checked.IsZero() && now.Sub(f.checked) < tokenCheckEvery {
		return f.token, f.err
	}
	f.checked = now
	fi, err := os.Stat(f.path)
	if err != nil {
		f.token, f.stat, f.err = "", nil, fmt.Errorf("the ServiceAccount token file %s cannot be read: %w", f.path, unwrapPath(err))
		return "", f.err
	}
	if f.err == nil && f.stat != nil && sameFile(fi, f.stat) && now.Sub(f.readAt) < tokenMaxAge {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	switch tok := strings.TrimSpace(string(b)); {
	case err != nil:
		f.token, f.stat, f.err = "", nil, fmt.Errorf("the ServiceAccount token file %s cannot be read: %w", f.path, unwrapPath(err))
	case tok == "":
		f.token, f.stat, f.err = "", nil, fmt.Errorf("the ServiceAccount token file %s is empty", f.path)
	default:
		f.token, f.stat, f.err, f.readAt = tok, fi, nil, now
	}
	return f.token, f.err
}

// sameFile tells whether a file is the one seen before, unchanged.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// unwrapPath drops the *PathError's own copy of the path: the message names it once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
