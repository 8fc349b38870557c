package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/jpeg"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestConsole drives the console over HTTP as a browser would, on one env (the engine and
// the enrolment are its costly part).
func TestConsole(t *testing.T) {
	e := newEnv(t)
	t.Run("SignIn", func(t *testing.T) { testSignIn(t, e) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, e) })
	t.Run("CSRF", func(t *testing.T) { testCSRF(t, e) })
	t.Run("Scope", func(t *testing.T) { testScope(t, e) })
	t.Run("Headers", func(t *testing.T) { testHeaders(t, e) })
	t.Run("Collections", func(t *testing.T) { testCollections(t, e) })
	t.Run("FacesAndCrops", func(t *testing.T) { testFacesAndCrops(t, e) })
	t.Run("Search", func(t *testing.T) { testSearch(t, e) })
	t.Run("SearchErrors", func(t *testing.T) { testSearchErrors(t, e) })
	t.Run("SearchRequests", func(t *testing.T) { testSearchRequests(t, e) })
}

// fromAddress is a browser whose connections come from another loopback address, as
// another client's would.
func fromAddress(t *testing.T, b *browser, ip string) *browser {
	tr := b.c.Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext
	c := *b.c
	c.Transport = tr
	return &browser{t: t, c: &c, base: b.base}
}

func testSignIn(t *testing.T, e *env) {
	t.Run("the right pair", func(t *testing.T) {
		b := newBrowser(t, e.server(t, nil))
		p := b.signIn(adminKey, adminSecret)
		if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/console/collections" {
			t.Fatalf("%s to %q, want 303 to the collections", p.Status, p.Header.Get("Location"))
		}
		c := sessionCookieOf(t, p.Response)
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != Prefix || c.Secure || c.MaxAge != int(sessionTTL.Seconds()) {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=%s, 8 h, not Secure over plain HTTP", c, Prefix)
		}
		home := b.get("/console/collections")
		if home.StatusCode != http.StatusOK || text(byID(home.doc, "signed-in-key")) != adminKey {
			t.Errorf("collections after sign-in: %s, signed in as %q", home.Status, text(byID(home.doc, "signed-in-key")))
		}
		if strings.Contains(home.body, adminSecret) || strings.Contains(p.body, adminSecret) {
			t.Error("a page shows the secret access key")
		}
	})
	t.Run("over TLS the cookie is Secure", func(t *testing.T) {
		srv := httptestTLS(t, e)
		p := newBrowser(t, srv).signIn(adminKey, adminSecret)
		if c := sessionCookieOf(t, p.Response); !c.Secure {
			t.Errorf("session cookie over TLS is not Secure: %+v", c)
		}
	})
	wrong := []struct {
		name, id, secret string
	}{
		{"unknown key", "AKIDCONSOLENOBODY001", adminSecret},
		{"wrong secret", adminKey, "not-the-secret"},
		{"empty secret", adminKey, ""},
		{"not a key id", "x", adminSecret},
	}
	for _, tc := range wrong {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, e.server(t, nil))
			p := b.signIn(tc.id, tc.secret)
			if p.StatusCode != http.StatusUnauthorized || !strings.Contains(text(byID(p.doc, "signin-error")), "access key id or the secret access key is wrong") {
				t.Fatalf("%s, error %q; want 401 and one message for both", p.Status, text(byID(p.doc, "signin-error")))
			}
			if len(p.Cookies()) > 0 && sessionCookieOf(t, p.Response) != nil {
				t.Error("a session cookie after a failed sign-in")
			}
		})
	}
	t.Run("no form token", func(t *testing.T) {
		b := newBrowser(t, e.server(t, nil))
		p := b.post("/console/signin", url.Values{"access_key_id": {adminKey}, "secret_access_key": {adminSecret}})
		if p.StatusCode != http.StatusForbidden {
			t.Errorf("%s, want 403", p.Status)
		}
	})
	t.Run("five failures of a key", func(t *testing.T) {
		srv := e.server(t, nil)
		b := newBrowser(t, srv)
		for i := 0; i < maxFailedSignIns; i++ {
			if p := b.signIn(staffKey, "guess-"+strconv.Itoa(i)); p.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d: %s", i, p.Status)
			}
		}
		// From another address the key is still held back; another key is not.
		other := fromAddress(t, newBrowser(t, srv), "127.0.0.2")
		p := other.signIn(staffKey, staffSecret)
		if p.StatusCode != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" ||
			!strings.Contains(text(byID(p.doc, "signin-error")), "Too many failed sign-ins") {
			t.Fatalf("the right pair after 5 failures: %s, %q; want 429 with Retry-After", p.Status, text(byID(p.doc, "signin-error")))
		}
		if p := other.signIn(adminKey, adminSecret); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("another key from another address: %s", p.Status)
		}
		e.clock.add(61 * time.Second)
		if p := fromAddress(t, newBrowser(t, srv), "127.0.0.2").signIn(staffKey, staffSecret); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("a minute later: %s", p.Status)
		}
	})
	t.Run("five failures from an address", func(t *testing.T) {
		b := newBrowser(t, e.server(t, nil))
		for i := 0; i < maxFailedSignIns; i++ {
			b.signIn("AKIDCONSOLEGUESS00"+strconv.Itoa(i)+"0", "guess")
		}
		if p := b.signIn(adminKey, adminSecret); p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("from an address with 5 failures: %s, want 429", p.Status)
		}
		e.clock.add(61 * time.Second)
	})
}

func httptestTLS(t *testing.T, e *env) *httptest.Server {
	srv := httptest.NewTLSServer(e.handler(nil))
	t.Cleanup(srv.Close)
	return srv
}

func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c
		}
	}
	return nil
}

// withCookie is a GET with the session cookie given, as a browser holding it would send.
func withCookie(t *testing.T, b *browser, path, value string) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	return b.do(req)
}

func testSessions(t *testing.T, e *env) {
	srv := e.server(t, nil)
	p := newBrowser(t, srv).signIn(adminKey, adminSecret)
	value := sessionCookieOf(t, p.Response).Value
	parts := strings.Split(value, ".")
	exp, _ := strconv.ParseInt(parts[1], 10, 64)
	bare := func() *browser { // a browser without cookies of its own
		b := newBrowser(t, srv)
		b.c.Jar = nil
		return b
	}
	rotated := keyData()
	rotated[adminKey] = []byte("the rotated secret")
	removed := keyData()
	delete(removed, adminKey)
	delete(removed, adminKey+".scope")
	delete(removed, adminKey+".collections")
	cases := []struct {
		name    string
		value   string
		keys    map[string][]byte
		advance time.Duration
		// another replica serves the request.
		replica bool
		want    string // "" for the page, else the sign-in's why
	}{
		{"as signed in", value, nil, 0, false, ""},
		{"on another replica", value, nil, 0, true, ""},
		{"expiry pushed back", strings.Join([]string{parts[0], strconv.FormatInt(exp+3600, 10), parts[2], parts[3]}, "."), nil, 0, false, sessionInvalid},
		{"MAC altered", strings.Join([]string{parts[0], parts[1], parts[2], strings.Repeat("B", len(parts[3]))}, "."), nil, 0, false, sessionInvalid},
		{"another key's id", strings.Join([]string{staffKey, parts[1], parts[2], parts[3]}, "."), nil, 0, false, sessionInvalid},
		{"key rotated", value, rotated, 0, false, sessionInvalid},
		{"key removed", value, removed, 0, true, sessionInvalid},
		{"8 hours later", value, nil, sessionTTL, false, sessionEnded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.keys != nil {
				if err := e.creds.Update(tc.keys); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = e.creds.Update(keyData()) }()
			}
			e.clock.add(tc.advance)
			b := bare()
			if tc.replica {
				b.base = e.server(t, nil).URL
			}
			got := withCookie(t, b, "/console/collections", tc.value)
			if tc.want == "" {
				if got.StatusCode != http.StatusOK || text(byID(got.doc, "signed-in-key")) != adminKey {
					t.Fatalf("%s, signed in as %q; want the page", got.Status, text(byID(got.doc, "signed-in-key")))
				}
				return
			}
			if got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/console/signin?why="+tc.want {
				t.Fatalf("%s to %q, want 303 to the sign-in (why=%s)", got.Status, got.Header.Get("Location"), tc.want)
			}
			cleared := false
			for _, c := range got.Cookies() {
				cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
			}
			if !cleared {
				t.Error("the dead session's cookie was not cleared")
			}
		})
	}
}

func testCSRF(t *testing.T, e *env) {
	srv := e.server(t, nil)
	b := newBrowser(t, srv)
	b.mustSignIn(adminKey, adminSecret)
	token := b.csrf()
	other := newBrowser(t, srv)
	other.mustSignIn(adminKey, adminSecret)
	othersToken := other.csrf()
	photo := readFile(t, e.people[e.persons[0]][8])
	cases := []struct {
		name, token string
		status      int
	}{
		{"missing", "", http.StatusForbidden},
		{"wrong", strings.Repeat("A", len(token)), http.StatusForbidden},
		{"another session's", othersToken, http.StatusForbidden},
		{"the session's", token, 0},
	}
	for _, tc := range cases {
		t.Run("search/"+tc.name, func(t *testing.T) {
			fields := map[string]string{}
			if tc.token != "" {
				fields["csrf"] = tc.token
			}
			p := b.postMultipart("/console/collections/staff/search", fields, photo)
			want := tc.status
			if want == 0 {
				want = http.StatusOK
			}
			if p.StatusCode != want {
				t.Errorf("%s, want %d\n%s", p.Status, want, text(byID(p.doc, "error-message")))
			}
			if want == http.StatusOK && byID(p.doc, "search-result") == nil {
				t.Error("no search result")
			}
		})
	}
	for _, tc := range cases {
		t.Run("signout/"+tc.name, func(t *testing.T) {
			p := b.post("/console/signout", url.Values{"csrf": {tc.token}})
			if tc.status != 0 {
				if p.StatusCode != tc.status {
					t.Errorf("%s, want %d", p.Status, tc.status)
				}
				return
			}
			if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/console/signin?why=signedout" {
				t.Fatalf("%s to %q, want 303 to the sign-in", p.Status, p.Header.Get("Location"))
			}
			if after := b.get("/console/collections"); after.StatusCode != http.StatusSeeOther {
				t.Errorf("after sign-out the collections answer %s, want a redirect to the sign-in", after.Status)
			}
		})
	}
}

// faceID returns a FaceId of the collection.
func faceID(t *testing.T, e *env, collection string) string {
	t.Helper()
	recs, _, err := e.svc.ListFaces(context.Background(), collection, store.ListFacesOptions{MaxResults: 1})
	if err != nil || len(recs) == 0 {
		t.Fatalf("ListFaces %s: %v", collection, err)
	}
	return recs[0].FaceID
}

func testScope(t *testing.T, e *env) {
	srv := e.server(t, nil)
	browsers := map[string]*browser{}
	for key, secret := range map[string]string{adminKey: adminSecret, staffKey: staffSecret, lookKey: lookSecret, searchKey: searchSecret} {
		browsers[key] = newBrowser(t, srv)
		browsers[key].mustSignIn(key, secret)
	}
	visitorFace := faceID(t, e, "visitors")
	cases := []struct {
		key, path string
		status    int
		// has and hasNot are element ids the page must and must not have.
		has, hasNot []string
	}{
		{adminKey, "/console/collections/visitors", http.StatusOK, []string{"collection-details", "search-link", "users"}, nil},
		{adminKey, "/console/collections/nowhere", http.StatusNotFound, []string{"error-message"}, nil},
		{staffKey, "/console/collections/staff", http.StatusOK, []string{"collection-details", "search-link"}, nil},
		{staffKey, "/console/collections/visitors", http.StatusForbidden, []string{"error-message"}, []string{"collection-details"}},
		{staffKey, "/console/collections/visitors/faces", http.StatusForbidden, nil, []string{"faces"}},
		{staffKey, "/console/collections/visitors/search", http.StatusForbidden, nil, []string{"search-form"}},
		{staffKey, "/console/collections/visitors/faces/" + visitorFace + "/crop", http.StatusForbidden, nil, nil},
		// Refused before the lookup: a limited key cannot tell absent from forbidden.
		{staffKey, "/console/collections/nowhere", http.StatusForbidden, []string{"error-message"}, nil},
		{lookKey, "/console/collections/staff", http.StatusOK, []string{"collection-details", "users", "faces-link"}, []string{"search-link"}},
		{lookKey, "/console/collections/staff/search", http.StatusForbidden, []string{"error-message"}, []string{"search-form"}},
		{searchKey, "/console/collections/staff", http.StatusOK, []string{"search-link"}, []string{"collection-details", "users", "faces-link"}},
		{searchKey, "/console/collections/staff/search", http.StatusOK, []string{"search-form"}, nil},
		{searchKey, "/console/collections/staff/faces", http.StatusForbidden, nil, []string{"faces"}},
	}
	for _, tc := range cases {
		t.Run(tc.key+tc.path, func(t *testing.T) {
			p := browsers[tc.key].get(tc.path)
			if p.StatusCode != tc.status {
				t.Fatalf("%s, want %d", p.Status, tc.status)
			}
			for _, id := range tc.has {
				if byID(p.doc, id) == nil {
					t.Errorf("no #%s", id)
				}
			}
			for _, id := range tc.hasNot {
				if byID(p.doc, id) != nil {
					t.Errorf("#%s shown", id)
				}
			}
		})
	}
	t.Run("a read-only key cannot post a search", func(t *testing.T) {
		b := browsers[lookKey]
		p := b.postMultipart("/console/collections/staff/search", map[string]string{"csrf": b.csrf()}, readFile(t, e.people[e.persons[0]][8]))
		if p.StatusCode != http.StatusForbidden || byID(p.doc, "search-result") != nil {
			t.Errorf("%s, want 403 and no result", p.Status)
		}
	})
	t.Run("a limited key's list names only its collections", func(t *testing.T) {
		p := browsers[staffKey].get("/console/collections")
		if byID(p.doc, "collection-staff") == nil || byID(p.doc, "collection-visitors") != nil || strings.Contains(p.body, "visitors") {
			t.Errorf("the staff key's list: staff %v, visitors named %v", byID(p.doc, "collection-staff") != nil, strings.Contains(p.body, "visitors"))
		}
		// A key without ListCollections sees the collections its scope names, without details.
		p = browsers[searchKey].get("/console/collections")
		row := byID(p.doc, "collection-staff")
		if row == nil || len(byClass(row, "face-count")) > 0 || len(byClass(row, "search-link")) != 1 || byID(p.doc, "open-collection") == nil {
			t.Errorf("the search key's list: %s", text(byID(p.doc, "content")))
		}
	})
}

func testHeaders(t *testing.T, e *env) {
	srv := e.server(t, nil)
	b := newBrowser(t, srv)
	anon := newBrowser(t, srv)
	b.mustSignIn(adminKey, adminSecret)
	staffFace := e.enrolled[e.persons[0]][0]
	cases := []struct {
		path         string
		signedIn     bool
		status       int
		cacheControl string
	}{
		{"/console/signin", false, http.StatusOK, "no-store"},
		{"/console/collections", false, http.StatusSeeOther, "no-store"},
		{"/console/collections", true, http.StatusOK, "no-store"},
		{"/console/collections/staff", true, http.StatusOK, "no-store"},
		{"/console/collections/staff/users/" + e.persons[0], true, http.StatusOK, "no-store"},
		{"/console/collections/staff/search", true, http.StatusOK, "no-store"},
		{"/console/collections/staff/faces/" + staffFace + "/crop", true, http.StatusOK, "private, no-store"},
		{"/console/collections/staff/faces/" + staffFace + "/crop", false, http.StatusUnauthorized, "no-store"},
		{"/console/static/console.css", false, http.StatusOK, "no-store"},
		{"/console/static/console.js", false, http.StatusOK, "no-store"},
		{"/console/nothing-here", true, http.StatusNotFound, "no-store"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			c := anon
			if tc.signedIn {
				c = b
			}
			p := c.get(tc.path)
			if p.StatusCode != tc.status {
				t.Fatalf("%s, want %d", p.Status, tc.status)
			}
			h := p.Header
			if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != tc.cacheControl {
				t.Errorf("X-Frame-Options %q, X-Content-Type-Options %q, Cache-Control %q (want %q)",
					h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"), h.Get("Cache-Control"), tc.cacheControl)
			}
			if p.doc != nil {
				checkMarkup(t, p.doc)
			}
		})
	}
}

// checkMarkup checks what the CSP would refuse anyway (inline script, style or handlers) and
// that ids are unique, as the browser tests' selectors need.
func checkMarkup(t *testing.T, doc *html.Node) {
	t.Helper()
	ids := map[string]bool{}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		if id := attr(n, "id"); id != "" {
			if ids[id] {
				t.Errorf("id %q twice", id)
			}
			ids[id] = true
		}
		if (n.Data == "script" && attr(n, "src") == "") || n.Data == "style" || hasAttr(n, "style") {
			t.Errorf("inline code: <%s %v>", n.Data, n.Attr)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("inline handler %s on <%s>", a.Key, n.Data)
			}
		}
	}
}

func testCollections(t *testing.T, e *env) {
	ctx := context.Background()
	b := newBrowser(t, e.server(t, nil))
	b.mustSignIn(adminKey, adminSecret)
	p := b.get("/console/collections")
	for _, tc := range []struct {
		id     string
		shards int
	}{{"staff", 2}, {"visitors", 1}} {
		t.Run(tc.id, func(t *testing.T) {
			d, err := e.svc.DescribeCollection(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			row := byID(p.doc, "collection-"+tc.id)
			if row == nil {
				t.Fatalf("no row for %s", tc.id)
			}
			get := func(class string) string {
				if n := byClass(row, class); len(n) > 0 {
					return text(n[0])
				}
				return ""
			}
			if get("face-count") != strconv.FormatInt(d.FaceCount, 10) || get("user-count") != strconv.FormatInt(d.UserCount, 10) ||
				get("face-model-version") != d.FaceModelVersion || get("arn") != d.ARN {
				t.Errorf("row %q; want %d faces, %d users, %s, %s", text(row), d.FaceCount, d.UserCount, d.FaceModelVersion, d.ARN)
			}
			shards := byClass(row, "shard")
			if len(shards) != tc.shards {
				t.Fatalf("%d shards shown, want %d", len(shards), tc.shards)
			}
			for i, s := range shards {
				if attr(s, "data-shard") != strconv.Itoa(i) || attr(s, "data-ready-replicas") != "1" || attr(s, "data-replicas") != "1" {
					t.Errorf("shard %d: %v", i, s.Attr)
				}
			}
			// The collection's own page says the same, with its users.
			c := b.get("/console/collections/" + tc.id)
			if text(byID(c.doc, "face-count")) != strconv.FormatInt(d.FaceCount, 10) || len(byClass(byID(c.doc, "shards"), "shard")) != tc.shards ||
				len(byClass(c.doc, "user")) != int(d.UserCount) || attr(byID(c.doc, "collection-ready"), "data-ready") != "true" {
				t.Errorf("the page of %s: %s", tc.id, text(byID(c.doc, "content")))
			}
		})
	}
}

func testFacesAndCrops(t *testing.T, e *env) {
	ctx := context.Background()
	srv := e.server(t, nil)
	b := newBrowser(t, srv)
	b.mustSignIn(adminKey, adminSecret)
	person := e.persons[1]
	p := b.get("/console/collections/staff/users/" + person)
	recs, _, err := e.svc.ListFaces(ctx, "staff", store.ListFacesOptions{UserID: person, MaxResults: 100})
	if err != nil {
		t.Fatal(err)
	}
	faces := byClass(byID(p.doc, "faces"), "face")
	if len(faces) != len(recs) || len(recs) != 3 {
		t.Fatalf("%d faces shown, %d stored; want 3", len(faces), len(recs))
	}
	for i, r := range recs {
		f := faces[i]
		bb := r.BoundingBox
		want := map[string]string{"id": "face-" + r.FaceID, "data-user-id": person, "data-external-image-id": r.ExternalImageID,
			"data-left": ratioOf(bb.Left), "data-top": ratioOf(bb.Top), "data-width": ratioOf(bb.Width), "data-height": ratioOf(bb.Height), "data-confidence": ratioOf(r.Confidence)}
		for k, v := range want {
			if attr(f, k) != v {
				t.Errorf("face %d: %s=%q, want %q", i, k, attr(f, k), v)
			}
		}
	}

	// Faces whose image is or is not at hand.
	photo := func(i int) []byte { return readFile(t, e.people[e.persons[2]][i]) }
	index := func(ext string, img []byte) string {
		res, err := e.svc.IndexFaces(ctx, "staff", search.Image{Bytes: img}, search.IndexFacesOptions{ExternalImageID: ext, MaxFaces: 1})
		if err != nil || len(res.FaceRecords) != 1 {
			t.Fatalf("IndexFaces %s: %v", ext, err)
		}
		return res.FaceRecords[0].Record.FaceID
	}
	secondSource := index("elsewhere.jpg", photo(4))
	e.put(t, "cameras/elsewhere.jpg", photo(4))
	replaced := index("replaced.jpg", photo(5))
	e.put(t, "enrol/replaced.jpg", photo(6))
	outside := index("outside.jpg", photo(7))
	e.put(t, "private/outside.jpg", photo(7))
	inlineOnly := index("never-stored.jpg", photo(9))
	cases := []struct {
		name   string
		face   string
		status int
	}{
		{"enrolled from an image source", recs[0].FaceID, http.StatusOK},
		{"named in the second image source", secondSource, http.StatusOK},
		{"its object replaced by other bytes", replaced, http.StatusNotFound},
		{"its object outside the image sources", outside, http.StatusNotFound},
		{"indexed from bytes nobody kept", inlineOnly, http.StatusNotFound},
		{"no such face", "00000000-0000-0000-0000-000000000000", http.StatusNotFound},
		{"not a FaceId", "..%2f..%2fsecret", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := b.get("/console/collections/staff/faces/" + tc.face + "/crop")
			if c.StatusCode != tc.status {
				t.Fatalf("%s, want %d", c.Status, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			img, err := jpeg.Decode(bytes.NewReader([]byte(c.body)))
			if err != nil || c.Header.Get("Content-Type") != "image/jpeg" || c.Header.Get("Cache-Control") != "private, no-store" {
				t.Fatalf("crop: %v, %s, %s", err, c.Header.Get("Content-Type"), c.Header.Get("Cache-Control"))
			}
			if s := img.Bounds().Size(); s.X < 40 || s.Y < 40 || s.X > 256 || s.Y > 256 {
				t.Errorf("crop of %v", s)
			}
		})
	}
}

func ratioOf(v float32) string { return strconv.FormatFloat(float64(v), 'f', -1, 32) }

// boxes reads the face boxes drawn over the photo, by face index.
func boxes(t *testing.T, doc *html.Node) []*html.Node {
	t.Helper()
	rects := byClass(byID(doc, "face-overlay"), "face-box")
	for i, r := range rects {
		if attr(r, "data-face-index") != strconv.Itoa(i) || attr(r, "id") != "face-box-"+strconv.Itoa(i) {
			t.Fatalf("box %d is %v: the boxes are not in face order", i, r.Attr)
		}
	}
	return rects
}

func testSearch(t *testing.T, e *env) {
	ctx := context.Background()
	b := newBrowser(t, e.server(t, nil))
	b.mustSignIn(searchKey, searchSecret)
	// Three people not photographed for their enrolment, largest first.
	tiles := []tile{
		{person: e.persons[0], photo: e.people[e.persons[0]][8], side: 260, x: 20, y: 70},
		{person: e.persons[1], photo: e.people[e.persons[1]][8], side: 200, x: 330, y: 100},
		{person: e.persons[2], photo: e.people[e.persons[2]][8], side: 150, x: 590, y: 125},
	}
	group := groupPhoto(t, 800, 400, tiles)
	detected, err := e.svc.DetectFaces(ctx, search.Image{Bytes: group}, search.DetectFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// whose is the person whose tile holds the face's centre.
	whose := func(i int) string {
		bb := detected.FaceDetails[i].BoundingBox
		cx := (bb.Left + bb.Width/2) * 800
		for _, tl := range tiles {
			if cx >= float32(tl.x) && cx < float32(tl.x+tl.side) {
				return tl.person
			}
		}
		return ""
	}
	if len(detected.FaceDetails) < len(tiles) {
		t.Fatalf("DetectFaces found %d faces in the group photo, want at least %d", len(detected.FaceDetails), len(tiles))
	}

	form := b.get("/console/collections/staff/search")
	token := inputValue(byID(form.doc, "search-form"), "csrf")
	p := b.postMultipart("/console/collections/staff/search", map[string]string{"csrf": token, "threshold": "80", "max_users": "5"}, group)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("search: %s\n%s", p.Status, text(byID(p.doc, "search-error")))
	}
	checkResult := func(t *testing.T, p *page, searched int) {
		t.Helper()
		checkMarkup(t, p.doc)
		rects := boxes(t, p.doc)
		if len(rects) != len(detected.FaceDetails) {
			t.Fatalf("%d boxes, DetectFaces found %d faces", len(rects), len(detected.FaceDetails))
		}
		for i, r := range rects {
			bb := detected.FaceDetails[i].BoundingBox
			for k, v := range map[string]float32{"data-left": bb.Left, "data-top": bb.Top, "data-width": bb.Width, "data-height": bb.Height} {
				if attr(r, k) != ratioOf(v) {
					t.Errorf("box %d: %s=%s, DetectFaces says %s", i, k, attr(r, k), ratioOf(v))
				}
			}
			if attr(r, "x") != attr(r, "data-left") || attr(r, "y") != attr(r, "data-top") || attr(r, "width") != attr(r, "data-width") {
				t.Errorf("box %d is drawn elsewhere than its data says: %v", i, r.Attr)
			}
			isSearched := strings.Contains(attr(r, "class"), "searched")
			if isSearched != (i == searched) || attr(r, "data-searched") != strconv.FormatBool(i == searched) {
				t.Errorf("box %d: class %q, data-searched %s; face %d was searched", i, attr(r, "class"), attr(r, "data-searched"), searched)
			}
		}
		if got := attr(byID(p.doc, "searched-face"), "data-face-index"); got != strconv.Itoa(searched) {
			t.Errorf("searched face %q, want %d", got, searched)
		}
		matches := byClass(byID(p.doc, "user-matches"), "user-match")
		if len(matches) == 0 || attr(matches[0], "data-user-id") != whose(searched) {
			t.Fatalf("top match %v, want %s (face %d)", matches, whose(searched), searched)
		}
		if sim, _ := strconv.ParseFloat(attr(matches[0], "data-similarity"), 32); sim < 80 {
			t.Errorf("similarity %v below the threshold", sim)
		}
		for _, li := range byClass(byID(p.doc, "unsearched-faces"), "unsearched-face") {
			i, _ := strconv.Atoi(attr(li, "data-face-index"))
			if i == searched {
				t.Errorf("the searched face %d is listed as unsearched", i)
			}
			want := "FACE_NOT_LARGEST"
			if searched != 0 {
				want = "FACE_NOT_CHOSEN"
			}
			if !strings.Contains(text(li), want) {
				t.Errorf("face %d: %q, want reason %s", i, text(li), want)
			}
			if btn := byClass(li, "search-face"); len(btn) != 1 || attr(btn[0], "value") != strconv.Itoa(i) || attr(btn[0], "form") != "research-form" {
				t.Errorf("face %d has no button searching it", i)
			}
		}
		// The photo comes back in the page, under its boxes and in the form a click posts.
		src, _ := strings.CutPrefix(attr(byID(p.doc, "photo"), "src"), "data:image/jpeg;base64,")
		shown, err := base64.StdEncoding.DecodeString(src)
		if err != nil || !bytes.Equal(shown, group) {
			t.Error("the photo under the boxes is not the one searched")
		}
		if posted, err := base64.StdEncoding.DecodeString(inputValue(byID(p.doc, "research-form"), "image_data")); err != nil || !bytes.Equal(posted, group) {
			t.Error("the form a click posts does not hold the photo searched")
		}
	}
	t.Run("the largest face", func(t *testing.T) { checkResult(t, p, 0) })
	if whose(0) != e.persons[0] {
		t.Fatalf("the largest face is %s's, want %s's", whose(0), e.persons[0])
	}

	// A click on another face posts the photo back with that face's index.
	research := byID(p.doc, "research-form")
	for i := 1; i < len(tiles); i++ {
		idx := -1
		for j := range detected.FaceDetails {
			if whose(j) == tiles[i].person {
				idx = j
				break
			}
		}
		t.Run("clicked face of "+tiles[i].person, func(t *testing.T) {
			if idx < 0 {
				t.Fatalf("no face of %s detected", tiles[i].person)
			}
			fields := map[string]string{"face": strconv.Itoa(idx)}
			for _, name := range []string{"csrf", "threshold", "max_users", "image_data"} {
				fields[name] = inputValue(research, name)
			}
			again := b.postMultipart("/console/collections/staff/search", fields, nil)
			if again.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", again.Status, text(byID(again.doc, "search-error")))
			}
			checkResult(t, again, idx)
		})
	}
}

func testSearchErrors(t *testing.T, e *env) {
	b := newBrowser(t, e.server(t, nil))
	b.mustSignIn(adminKey, adminSecret)
	token := b.csrf()
	photo := readFile(t, e.people[e.persons[0]][8])
	big := append(append([]byte{}, photo...), make([]byte, 5<<20)...)
	cases := []struct {
		name   string
		fields map[string]string
		image  []byte
		status int
		want   string
	}{
		{"over 5 MB", nil, big, http.StatusBadRequest, "ImageTooLargeException: image is"},
		{"over the body limit", nil, make([]byte, 8<<20), http.StatusBadRequest, "ImageTooLargeException: Request body is larger than"},
		{"not an image", nil, []byte("hello, not a photo"), http.StatusBadRequest, "InvalidImageFormatException"},
		{"no photo", nil, nil, http.StatusBadRequest, "InvalidParameterException: choose a photo"},
		{"a face index that is not one", map[string]string{"face": "many"}, photo, http.StatusBadRequest, "InvalidParameterException"},
		{"a face past those found", map[string]string{"face": "7"}, photo, http.StatusBadRequest, "InvalidParameterException"},
		{"a threshold over 100", map[string]string{"threshold": "101"}, photo, http.StatusBadRequest, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{"csrf": token}
			for k, v := range tc.fields {
				fields[k] = v
			}
			p := b.postMultipart("/console/collections/staff/search", fields, tc.image)
			if p.StatusCode != tc.status || !strings.HasPrefix(text(byID(p.doc, "search-error")), tc.want) {
				t.Errorf("%s, %q; want %d, %q", p.Status, text(byID(p.doc, "search-error")), tc.status, tc.want)
			}
		})
	}
}
