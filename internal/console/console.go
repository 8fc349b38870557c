package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// Prefix is the path the console is served under, on the endpoint's listener.
const Prefix = "/console/"

// Options configure New.
type Options struct {
	// Search is the endpoint's search path, viewing the endpoint's namespace.
	Search *search.Service
	// Credentials are the endpoint's access keys: a sign-in is checked against them, and so
	// is every request's session, so that a key rotated or removed ends its sessions.
	Credentials rekognition.CredentialStore
	// Namespace is the endpoint's: the SearchRequests and Users shown are its own.
	Namespace string
	// Reader reads SearchRequests, Users and Collections from the API server; nil leaves
	// the SearchRequest pages out and looks for faces' images in the image sources only.
	Reader client.Reader
	// Log receives what a person is not shown: internal errors, failed sign-ins.
	Log logr.Logger
	// Now is the clock (default time.Now); for tests.
	Now func() time.Time
}

//go:embed web
var web embed.FS

// contentSecurityPolicy allows the console's own files only: no inline script or style, no
// frames. Images may also be data: URLs (the photo searched, sent back in the page rather
// than kept) and blob: URLs (the preview of a photo before it is sent).
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type handler struct {
	opts  Options
	pages map[string]*template.Template
	// byKey and byIP count failed sign-ins: each allows 5 a minute.
	byKey, byIP *failureLimiter
}

// New returns the console's handler, to be mounted at Prefix.
func New(opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Credentials == nil {
		opts.Credentials = rekognition.StaticCredentials(nil) // no key: nobody signs in
	}
	h := &handler{opts: opts, pages: parsePages(),
		byKey: newFailureLimiter(), byIP: newFailureLimiter()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/{$}", h.withSession(h.home))
	mux.HandleFunc("GET /console/static/{file}", h.static)
	mux.HandleFunc("GET /console/signin", h.signinPage)
	mux.HandleFunc("POST /console/signin", h.signin)
	mux.HandleFunc("POST /console/signout", h.withSession(h.signout))
	mux.HandleFunc("GET /console/collections", h.withSession(h.collections))
	mux.HandleFunc("GET /console/collections/{id}", h.withCollection(anyCollectionPage, h.collection))
	mux.HandleFunc("GET /console/collections/{id}/users/{user}", h.withCollection("ListFaces", h.userFaces))
	mux.HandleFunc("GET /console/collections/{id}/faces", h.withCollection("ListFaces", h.faces))
	mux.HandleFunc("GET /console/collections/{id}/faces/{face}/crop", h.withCollectionImage("ListFaces", h.crop))
	mux.HandleFunc("GET /console/collections/{id}/search", h.withCollection("SearchUsersByImage", h.searchPage))
	mux.HandleFunc("POST /console/collections/{id}/search", h.withCollection("SearchUsersByImage", h.search))
	if opts.Reader != nil {
		mux.HandleFunc("GET /console/searchrequests", h.withSession(h.searchRequests))
		mux.HandleFunc("GET /console/searchrequests/{namespace}/{name}", h.withSession(h.searchRequest))
	}
	mux.HandleFunc("/console/", h.notFound)
	return securityHeaders(mux)
}

// securityHeaders go on every answer, errors included. Pages name people and faces: no cache
// keeps them, and no other site frames or sniffs them.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

var staticTypes = map[string]string{
	"console.css": "text/css; charset=utf-8",
	"console.js":  "text/javascript; charset=utf-8",
}

func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := staticTypes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(web, "web/static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(data)
}

func (h *handler) home(w http.ResponseWriter, r *http.Request, _ *session) {
	http.Redirect(w, r, "/console/collections", http.StatusSeeOther)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	s, _ := h.readSession(r)
	h.fail(w, s, http.StatusNotFound, "Not found", "There is no such page in the console.")
}

// base is what every page's layout shows.
type base struct {
	Title string
	// KeyID is the signed-in access key; empty on the sign-in page.
	KeyID string
	// CSRF is the session's token, in every form that posts.
	CSRF string
	// SearchRequests: the SearchRequest pages are served.
	SearchRequests bool
}

func (h *handler) base(s *session, title string) base {
	b := base{Title: title, SearchRequests: h.opts.Reader != nil}
	if s != nil {
		b.KeyID, b.CSRF = s.keyID, s.csrf
	}
	return b
}

// render writes a page whole, or a bare 500 when its template fails: never half a page.
func (h *handler) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.opts.Log.Error(err, "Console page failed to render", "page", page)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	base
	Message string
}

// fail shows a message on a page of its own, with the status it stands for.
func (h *handler) fail(w http.ResponseWriter, s *session, status int, title, msg string) {
	h.render(w, status, "error.html", errorPage{base: h.base(s, title), Message: msg})
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"ratio": func(v float32) string { return strconv.FormatFloat(float64(v), 'f', -1, 32) },
		"pct":   func(v float32) string { return strconv.FormatFloat(float64(v), 'f', 2, 32) },
		"path":  pathEscape,
		"join":  strings.Join,
	}
	names, err := fs.Glob(web, "web/templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimPrefix(n, "web/templates/")
		if name == "layout.html" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(web, "web/templates/layout.html", n))
	}
	return pages
}

// pathEscape makes an id one segment of a console URL.
func pathEscape(s string) string { return url.PathEscape(s) }
