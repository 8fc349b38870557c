package index

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The manager authenticates to a shard with a bearer token: a random secret per Collection
// that only the operator (which makes it, in a Secret of the Collection's namespace) and the
// collection's index pods (which mount that Secret) hold. During a rotation the Secret holds
// the new token and the previous one; shards accept both, and the manager's client sends the
// new one and falls back to the previous one while a shard has not seen the new one yet.

// TokenSource gives the tokens a shard accepts now; empty strings are ignored.
type TokenSource interface {
	Tokens() []string
}

// StaticTokens accepts a fixed set of tokens.
type StaticTokens []string

// Tokens implements TokenSource.
func (t StaticTokens) Tokens() []string { return t }

// reloadEvery is how often files mounted from a Secret are read again: a rotated token or a
// renewed certificate takes effect within it, once the kubelet has updated the volume.
const reloadEvery = time.Second

// fileSet reads a set of small files again at most once per reloadEvery.
type fileSet struct {
	paths []string
	mu    sync.Mutex
	at    time.Time
	data  [][]byte
}

// read returns the files' contents and whether they changed since the last read.
func (f *fileSet) read() ([][]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data != nil && time.Since(f.at) < reloadEvery {
		return f.data, false, nil
	}
	data := make([][]byte, len(f.paths))
	for i, p := range f.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return f.data, false, err
		}
		data[i] = b
	}
	f.at = time.Now()
	changed := f.data == nil
	for i := range data {
		if !changed && !bytes.Equal(data[i], f.data[i]) {
			changed = true
		}
	}
	f.data = data
	return data, changed, nil
}

// TokenFiles accepts the tokens held in files, one per file (a Secret mounted as a volume:
// the current and the previous token), read again as they change. A file that cannot be read
// keeps the tokens last read.
type TokenFiles struct {
	files  fileSet
	tokens atomic.Pointer[[]string]
}

// NewTokenFiles reads the files once; it fails when none holds a token.
func NewTokenFiles(paths ...string) (*TokenFiles, error) {
	t := &TokenFiles{files: fileSet{paths: paths}}
	if err := t.reload(); err != nil {
		return nil, err
	}
	if len(t.Tokens()) == 0 {
		return nil, fmt.Errorf("no token in %s", strings.Join(paths, ", "))
	}
	return t, nil
}

func (t *TokenFiles) reload() error {
	data, changed, err := t.files.read()
	if err != nil {
		return err
	}
	if changed || t.tokens.Load() == nil {
		var tokens []string
		for _, b := range data {
			if tok := strings.TrimSpace(string(b)); tok != "" {
				tokens = append(tokens, tok)
			}
		}
		t.tokens.Store(&tokens)
	}
	return nil
}

// Tokens implements TokenSource.
func (t *TokenFiles) Tokens() []string {
	_ = t.reload()
	return *t.tokens.Load()
}

// authenticated reports whether r carries one of the accepted tokens as a bearer token. The
// comparison takes the same time whichever token, if any, matches and wherever it differs.
func authenticated(r *http.Request, src TokenSource) bool {
	if src == nil {
		return false
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || given == "" {
		return false
	}
	g := sha256.Sum256([]byte(given))
	match := 0
	for _, tok := range src.Tokens() {
		if tok == "" {
			continue
		}
		w := sha256.Sum256([]byte(tok))
		match |= subtle.ConstantTimeCompare(g[:], w[:])
	}
	return match == 1
}

// certFiles serves a certificate and key from files (a Secret mounted as a volume), read
// again as they change; a pair that does not parse (the kubelet swapping the files between
// two reads) keeps the last good one.
type certFiles struct {
	files fileSet
	cert  atomic.Pointer[tls.Certificate]
}

func newCertFiles(certFile, keyFile string) (*certFiles, error) {
	c := &certFiles{files: fileSet{paths: []string{certFile, keyFile}}}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certFiles) reload() error {
	data, changed, err := c.files.read()
	if err != nil {
		return err
	}
	if !changed && c.cert.Load() != nil {
		return nil
	}
	pair, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return fmt.Errorf("the serving certificate: %w", err)
	}
	c.cert.Store(&pair)
	return nil
}

func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	_ = c.reload()
	if cert := c.cert.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("no serving certificate")
}

// Credentials are the tokens the manager's client sends to a collection's shards: the
// current one, and the previous one while a rotation is under way. Set swaps them for every
// client that shares them.
type Credentials struct {
	v atomic.Pointer[[2]string]
}

// NewCredentials returns credentials holding token and previous (may be empty).
func NewCredentials(token, previous string) *Credentials {
	c := &Credentials{}
	c.Set(token, previous)
	return c
}

// Set replaces the tokens.
func (c *Credentials) Set(token, previous string) { c.v.Store(&[2]string{token, previous}) }

// tokens returns the tokens to try, in order.
func (c *Credentials) tokens() []string {
	if c == nil {
		return []string{""}
	}
	v := c.v.Load()
	if v[1] == "" || v[1] == v[0] {
		return []string{v[0]}
	}
	return []string{v[0], v[1]}
}
