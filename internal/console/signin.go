package console

import (
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/facesearch/facesearch-operator/internal/search"
)

type signinPage struct {
	base
	// Token is the form's CSRF token, also in the signinCookie.
	Token         string
	KeyIDValue    string
	Error, Notice string
}

// signinToken is the sign-in form's token: the one in the browser's cookie when it has a
// well-formed one (so that two open forms both work), a new one otherwise.
func signinToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) == 43 {
		if _, err := b64.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	t := make([]byte, 32)
	_, _ = rand.Read(t)
	tok := b64.EncodeToString(t)
	setCookie(w, r, signinCookie, tok, 3600)
	return tok
}

func (h *handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if s, _ := h.readSession(r); s != nil {
		http.Redirect(w, r, "/console/collections", http.StatusSeeOther)
		return
	}
	p := signinPage{base: h.base(nil, "Sign in"), Token: signinToken(w, r)}
	switch r.URL.Query().Get("why") {
	case sessionEnded:
		p.Notice = "Your session ended: sign in again."
	case sessionInvalid:
		p.Notice = "Your session is no longer valid (its access key was rotated or removed): sign in again."
	case "signedout":
		p.Notice = "You signed out."
	}
	h.render(w, http.StatusOK, "signin.html", p)
}

// signin checks an access key pair and starts a session. Failures count against the key id
// and the client's address, each allowed maxFailedSignIns a minute; past that even the right
// pair waits, so that guessing a secret is slow.
func (h *handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, nil, http.StatusBadRequest, "Sign in", "The sign-in form could not be read.")
		return
	}
	keyID := strings.TrimSpace(r.PostFormValue("access_key_id"))
	p := signinPage{base: h.base(nil, "Sign in"), KeyIDValue: keyID}
	c, err := r.Cookie(signinCookie)
	if err != nil || !hmac.Equal([]byte(c.Value), []byte(r.PostFormValue("csrf"))) {
		p.Token = signinToken(w, r)
		p.Error = "The sign-in form had expired or came from another page: sign in again."
		h.render(w, http.StatusForbidden, "signin.html", p)
		return
	}
	p.Token = c.Value
	now := h.opts.Now()
	ip := clientIP(r)
	limited := keyID
	if len(limited) > 128 {
		limited = limited[:128]
	}
	if wait := max(h.byKey.wait(limited, now), h.byIP.wait(ip, now)); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		p.Error = fmt.Sprintf("Too many failed sign-ins for this access key or from this address: try again in %d s.", secs)
		h.render(w, http.StatusTooManyRequests, "signin.html", p)
		return
	}
	cred, ok := verifyKey(h.opts.Credentials, keyID, r.PostFormValue("secret_access_key"))
	if !ok {
		h.byKey.fail(limited, now)
		h.byIP.fail(ip, now)
		h.opts.Log.Info("Console sign-in failed", "accessKeyId", limited, "client", ip)
		p.Error = "The access key id or the secret access key is wrong."
		h.render(w, http.StatusUnauthorized, "signin.html", p)
		return
	}
	_, value := newSession(keyID, cred, now)
	setCookie(w, r, sessionCookie, value, int(sessionTTL.Seconds()))
	clearCookie(w, r, signinCookie)
	h.opts.Log.Info("Console sign-in", "accessKeyId", keyID, "client", ip)
	http.Redirect(w, r, "/console/collections", http.StatusSeeOther)
}

func (h *handler) signout(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r.PostFormValue("csrf")) {
		h.fail(w, s, http.StatusForbidden, "Sign out", "The form's token is missing or wrong: reload the page and try again.")
		return
	}
	clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/console/signin?why=signedout", http.StatusSeeOther)
}

type pageFunc func(http.ResponseWriter, *http.Request, *session)

// withSession serves a page to a signed-in key only; others go to the sign-in form.
func (h *handler) withSession(page pageFunc) http.HandlerFunc { return h.guard(false, page) }

// guard is withSession; an image (a face crop, fetched by an <img>) is answered a bare 401
// instead of the form.
func (h *handler) guard(image bool, page pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, why := h.readSession(r)
		if s == nil {
			if why != noSession {
				clearCookie(w, r, sessionCookie)
			}
			if image {
				http.Error(w, "not signed in", http.StatusUnauthorized)
				return
			}
			target := "/console/signin"
			if why != noSession {
				target += "?why=" + why
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		page(w, r, s)
	}
}

type collectionFunc func(http.ResponseWriter, *http.Request, *session, *search.Collection)

// anyCollectionPage stands for the collection's own page, which shows what the key may see
// of it: it needs one of these operations.
const anyCollectionPage = ""

var collectionPageOperations = []string{"DescribeCollection", "ListUsers", "ListFaces", "SearchUsersByImage"}

// withCollection serves a collection's page to a key that may use the collection and call
// the operation the page stands for. A key that may not is refused before the collection
// is looked up, so the answer says nothing of whether it exists.
func (h *handler) withCollection(operation string, page collectionFunc) http.HandlerFunc {
	return h.collectionGuard(false, operation, page)
}

// withCollectionImage is withCollection for an image: refusals are bare text.
func (h *handler) withCollectionImage(operation string, page collectionFunc) http.HandlerFunc {
	return h.collectionGuard(true, operation, page)
}

func (h *handler) collectionGuard(image bool, operation string, page collectionFunc) http.HandlerFunc {
	return h.guard(image, func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		msg := ""
		switch {
		case !s.cred.Allows(id):
			msg = fmt.Sprintf("The access key %s may not use collection %s.", s.keyID, id)
		case operation != anyCollectionPage && !s.cred.MayCall(operation):
			msg = fmt.Sprintf("The access key %s may not call %s, which this page needs.", s.keyID, operation)
		case operation == anyCollectionPage && !mayCallAny(s, collectionPageOperations):
			msg = fmt.Sprintf("The access key %s may call none of %s on collection %s.", s.keyID, strings.Join(collectionPageOperations, ", "), id)
		}
		if msg != "" {
			if image {
				http.Error(w, msg, http.StatusForbidden)
				return
			}
			h.fail(w, s, http.StatusForbidden, "Not allowed", msg)
			return
		}
		c, err := h.opts.Search.Collection(id)
		if err != nil {
			if image {
				http.NotFound(w, r)
				return
			}
			h.fail(w, s, http.StatusNotFound, "Not found", fmt.Sprintf("There is no collection %s in namespace %s.", id, h.opts.Namespace))
			return
		}
		page(w, r, s, c)
	})
}

func mayCallAny(s *session, ops []string) bool {
	for _, op := range ops {
		if s.cred.MayCall(op) {
			return true
		}
	}
	return false
}
