package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

// Sessions are cookies that any api replica can check with the access keys alone, so the
// replicas share no state: the cookie carries the key id, its expiry, a nonce and an
// HMAC-SHA256 over them keyed by a key derived from that access key's secret. A rotated or
// removed key ends its sessions on every replica at once.
const (
	sessionCookie = "facesearch_console"
	// signinCookie holds the sign-in form's CSRF token (double submit): a page of another
	// site cannot sign a person in with its own key.
	signinCookie = "facesearch_console_signin"
	sessionTTL   = 8 * time.Hour
	// maxFailedSignIns per minute, per access key id and per client address.
	maxFailedSignIns = 5
)

// session is a signed-in access key, checked against the current keys.
type session struct {
	keyID   string
	cred    rekognition.Credential
	expires time.Time
	nonce   string
	// csrf is the token every form of the session posts back.
	csrf string
}

// derive is a key for one purpose from an access key's secret, so that neither a session's
// MAC nor its CSRF token is anything a SigV4 signature or another token would be.
func derive(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("facesearch console " + purpose))
	return m.Sum(nil)
}

func sessionMAC(secret, keyID string, expires int64, nonce, purpose string) []byte {
	m := hmac.New(sha256.New, derive(secret, purpose))
	fmt.Fprintf(m, "%s\x00%d\x00%s", keyID, expires, nonce)
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// newSession signs a session in for the key and returns it with its cookie's value.
func newSession(keyID string, cred rekognition.Credential, now time.Time) (*session, string) {
	n := make([]byte, 16)
	_, _ = rand.Read(n)
	s := &session{keyID: keyID, cred: cred, expires: now.Add(sessionTTL).Truncate(time.Second), nonce: b64.EncodeToString(n)}
	exp := s.expires.Unix()
	s.csrf = b64.EncodeToString(sessionMAC(cred.SecretAccessKey, keyID, exp, s.nonce, "csrf"))
	mac := b64.EncodeToString(sessionMAC(cred.SecretAccessKey, keyID, exp, s.nonce, "session"))
	return s, strings.Join([]string{keyID, strconv.FormatInt(exp, 10), s.nonce, mac}, ".")
}

// Why a request has no session.
const (
	noSession      = "none"
	sessionEnded   = "ended"   // expired
	sessionInvalid = "invalid" // altered, or its key removed or rotated
)

// parseSession checks a cookie's value against the keys in force: the key must exist, the
// MAC must be its, and the expiry must be ahead (and no further than a session lasts).
func parseSession(value string, creds rekognition.CredentialStore, now time.Time) (*session, string) {
	parts := strings.Split(value, ".")
	if len(parts) != 4 || !rekognition.ValidAccessKeyID(parts[0]) || len(parts[2]) > 64 {
		return nil, sessionInvalid
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, sessionInvalid
	}
	mac, err := b64.DecodeString(parts[3])
	if err != nil {
		return nil, sessionInvalid
	}
	cred, ok := creds.Lookup(parts[0])
	if !ok || !hmac.Equal(mac, sessionMAC(cred.SecretAccessKey, parts[0], exp, parts[2], "session")) {
		return nil, sessionInvalid
	}
	expires := time.Unix(exp, 0)
	if !now.Before(expires) {
		return nil, sessionEnded
	}
	if expires.After(now.Add(sessionTTL + time.Minute)) {
		return nil, sessionInvalid
	}
	return &session{keyID: parts[0], cred: cred, expires: expires, nonce: parts[2],
		csrf: b64.EncodeToString(sessionMAC(cred.SecretAccessKey, parts[0], exp, parts[2], "csrf"))}, ""
}

// checkCSRF compares a posted token with the session's, in constant time.
func (s *session) checkCSRF(posted string) bool {
	return posted != "" && hmac.Equal([]byte(posted), []byte(s.csrf))
}

// readSession is the request's session, or why it has none.
func (h *handler) readSession(r *http.Request) (*session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, noSession
	}
	return parseSession(c.Value, h.opts.Credentials, h.opts.Now())
}

// verifyKey checks an access key pair in constant time: an unknown key id costs the same
// comparison as a wrong secret, and the two get one answer.
func verifyKey(creds rekognition.CredentialStore, keyID, secret string) (rekognition.Credential, bool) {
	cred, ok := creds.Lookup(keyID)
	want := cred.SecretAccessKey
	if !ok {
		want = "not an access key's secret"
	}
	// Hashes compare in constant time whatever the lengths.
	a, b := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(secret))
	same := subtle.ConstantTimeCompare(a[:], b[:]) == 1
	return cred, ok && same && rekognition.ValidAccessKeyID(keyID)
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) { setCookie(w, r, name, "", -1) }

// clientIP is the peer's address: a header could name any address, so none is believed.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failureLimiter counts failures per key in a sliding window. Its state is per process: with
// N api replicas a client may fail up to N times the limit, spread over them.
type failureLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	seen   map[string][]time.Time // failures within the window, oldest first
}

// maxLimiterKeys bounds the memory a flood of made-up key ids or addresses can take.
const maxLimiterKeys = 10000

// newFailureLimiter allows maxFailedSignIns failures a minute.
func newFailureLimiter() *failureLimiter {
	return &failureLimiter{max: maxFailedSignIns, window: time.Minute, seen: map[string][]time.Time{}}
}

// wait is how long key must wait before it may try again: 0 when it may now.
func (l *failureLimiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) < l.max {
		return 0
	}
	return ts[len(ts)-l.max].Add(l.window).Sub(now)
}

// fail records a failure of key.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[key]; !ok && len(l.seen) >= maxLimiterKeys {
		for k := range l.seen {
			if len(l.recent(k, now)) == 0 {
				delete(l.seen, k)
			}
		}
		for k := range l.seen {
			if len(l.seen) < maxLimiterKeys {
				break
			}
			delete(l.seen, k) // any one: the map must stay bounded
		}
	}
	ts := append(l.recent(key, now), now)
	if len(ts) > l.max {
		ts = ts[len(ts)-l.max:]
	}
	l.seen[key] = ts
}

// recent drops key's failures older than the window; l.mu is held.
func (l *failureLimiter) recent(key string, now time.Time) []time.Time {
	ts := l.seen[key]
	i := 0
	for i < len(ts) && !ts[i].Add(l.window).After(now) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.seen, key)
		return nil
	}
	l.seen[key] = ts
	return ts
}
