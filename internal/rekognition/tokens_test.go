package rekognition

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// tokenStub stands in for internal/kubeauth (tested against a real API server there): it
// knows some tokens and allows some (operation, collection) pairs, and records what it was
// asked.
type tokenStub struct {
	mu      sync.Mutex
	callers map[string]*TokenCaller
	allowed map[string]bool // op + "/" + collection ("" for none)
	asked   []string
}

func (s *tokenStub) VerifyToken(_ context.Context, token string) (*TokenCaller, error) {
	if c, ok := s.callers[token]; ok {
		return c, nil
	}
	return nil, Errorf(TypeUnrecognizedClient, "The security token included in the request is invalid")
}

func (s *tokenStub) AuthorizeToken(_ context.Context, c *TokenCaller, op string, col *string) error {
	key := op + "/"
	if col != nil {
		key += *col
	}
	s.mu.Lock()
	s.asked = append(s.asked, key)
	s.mu.Unlock()
	if s.allowed[key] {
		return nil
	}
	return ErrAccessDenied("User: " + c.Username + " is not authorized to perform: rekognition:" + op)
}

// seen is what the backend learnt of one call's context.
type seen struct {
	namespace, caller string
	token             *TokenCaller
	record            bool
}

func TestTokenCallers(t *testing.T) {
	app := &TokenCaller{Username: "system:serviceaccount:apps:searcher", Namespace: "apps", ServiceAccount: "searcher", Pod: "app-1"}
	cases := []struct {
		name       string
		op, body   string
		header     map[string]string
		wantType   string
		wantSeen   *seen
		wantAsked  string
		noBodyRead bool
	}{
		{name: "a granted search reaches the caller's namespace",
			op: "SearchUsersByImage", body: `{"CollectionId":"people","Image":{"Bytes":"AAAA"}}`,
			header:   map[string]string{"Authorization": "Bearer good"},
			wantSeen: &seen{namespace: "apps", caller: app.Username, token: app}, wantAsked: "SearchUsersByImage/people"},
		{name: "the scheme is case-insensitive",
			op: "SearchUsersByImage", body: `{"CollectionId":"people","Image":{"Bytes":"AAAA"}}`,
			header:   map[string]string{"Authorization": "bearer good"},
			wantSeen: &seen{namespace: "apps", caller: app.Username, token: app}, wantAsked: "SearchUsersByImage/people"},
		{name: "a record is asked for",
			op: "SearchUsersByImage", body: `{"CollectionId":"people","Image":{"Bytes":"AAAA"}}`,
			header:   map[string]string{"Authorization": "Bearer good", RecordHeader: "true"},
			wantSeen: &seen{namespace: "apps", caller: app.Username, token: app, record: true}, wantAsked: "SearchUsersByImage/people"},
		{name: "an unknown token is refused before the body is read",
			op: "SearchUsersByImage", body: `{"CollectionId":"people"}`,
			header: map[string]string{"Authorization": "Bearer forged"}, wantType: TypeUnrecognizedClient, noBodyRead: true},
		{name: "an empty bearer is no token",
			op: "SearchUsersByImage", body: `{"CollectionId":"people"}`,
			header: map[string]string{"Authorization": "Bearer "}, wantType: TypeIncompleteSignature, noBodyRead: true},
		{name: "RBAC refuses another collection",
			op: "SearchUsersByImage", body: `{"CollectionId":"secret","Image":{"Bytes":"AAAA"}}`,
			header: map[string]string{"Authorization": "Bearer good"}, wantType: TypeAccessDenied, wantAsked: "SearchUsersByImage/secret"},
		{name: "operations on collection resources are not offered to tokens",
			op: "DeleteCollection", body: `{"CollectionId":"people"}`,
			header: map[string]string{"Authorization": "Bearer good"}, wantType: TypeAccessDenied, noBodyRead: true},
		{name: "ListCollections is asked without a collection and not filtered",
			op: "ListCollections", body: `{}`,
			header:   map[string]string{"Authorization": "Bearer good"},
			wantSeen: &seen{namespace: "apps", caller: app.Username, token: app}, wantAsked: "ListCollections/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verifier := &tokenStub{callers: map[string]*TokenCaller{"good": app},
				allowed: map[string]bool{"SearchUsersByImage/people": true, "ListCollections/": true}}
			b := newStubBackend()
			var got *seen
			observe := func(ctx context.Context) {
				got = &seen{namespace: NamespaceFromContext(ctx), caller: CallerFromContext(ctx), token: TokenCallerFromContext(ctx), record: RecordRequested(ctx)}
			}
			b.answer("SearchUsersByImage", func(ctx context.Context, _ *SearchUsersByImageInput) (*SearchUsersByImageOutput, error) {
				observe(ctx)
				return &SearchUsersByImageOutput{}, nil
			})
			b.answer("ListCollections", func(ctx context.Context, _ *ListCollectionsInput) (*ListCollectionsOutput, error) {
				observe(ctx)
				return &ListCollectionsOutput{CollectionIds: []string{"people", "secret"}}, nil
			})
			h := NewHandler(b, HandlerOptions{Tokens: verifier, RateLimit: -1})
			// Served in-process, so that the body counts what the handler read.
			body := &countingBody{r: strings.NewReader(tc.body)}
			req := httptest.NewRequest(http.MethodPost, "/", body)
			req.ContentLength = int64(len(tc.body))
			req.Header.Set("X-Amz-Target", TargetPrefix+tc.op)
			req.Header.Set("Content-Type", ContentType)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			status, text := rec.Code, rec.Header().Get("X-Amzn-ErrorType")+" "+rec.Body.String()
			if tc.wantType != "" {
				if status != http.StatusBadRequest || !strings.HasPrefix(text, tc.wantType+" ") {
					t.Fatalf("status %d, %s; want 400 %s", status, text, tc.wantType)
				}
				if got != nil {
					t.Errorf("the backend was called: %+v", got)
				}
			} else if status != http.StatusOK {
				t.Fatalf("status %d, %s", status, text)
			}
			if tc.wantSeen != nil && (got == nil || *got != *tc.wantSeen) {
				t.Errorf("backend saw %+v, want %+v", got, tc.wantSeen)
			}
			if tc.op == "ListCollections" && tc.wantType == "" && !strings.Contains(text, "secret") {
				t.Errorf("ListCollections filtered for a token caller: %s", text)
			}
			if asked := strings.Join(verifier.asked, ","); asked != tc.wantAsked {
				t.Errorf("authorization asked for %q, want %q", asked, tc.wantAsked)
			}
			if tc.noBodyRead && body.read.Load() > 0 {
				t.Errorf("%d bytes of the body were read for a refused token", body.read.Load())
			}
		})
	}
}

// TestTokenCallersAreRateLimited: each ServiceAccount has its own bucket, as each key has.
func TestTokenCallersAreRateLimited(t *testing.T) {
	verifier := &tokenStub{callers: map[string]*TokenCaller{
		"a": {Username: "system:serviceaccount:apps:a", Namespace: "apps"},
		"b": {Username: "system:serviceaccount:apps:b", Namespace: "apps"},
	}, allowed: map[string]bool{"ListCollections/": true}}
	srv := httptest.NewServer(NewHandler(newStubBackend(), HandlerOptions{Tokens: verifier, RateLimit: 1, RateBurst: 1}))
	defer srv.Close()
	call := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", TargetPrefix+"ListCollections")
		req.Header.Set("Authorization", "Bearer "+token)
		return send(t, req)
	}
	if s, text := call("a"); s != http.StatusOK {
		t.Fatalf("first call: %d %s", s, text)
	}
	if s, text := call("a"); s != http.StatusInternalServerError || !strings.Contains(text, "system:serviceaccount:apps:a") || !strings.HasPrefix(text, TypeThrottling) {
		t.Errorf("second call within the burst: %d %s; want ThrottlingException naming the ServiceAccount", s, text)
	}
	if s, text := call("b"); s != http.StatusOK {
		t.Errorf("another ServiceAccount's first call: %d %s", s, text)
	}
}

// TestBearerWithoutTokenVerifier: an endpoint that does not accept tokens treats a bearer
// as no credentials at all.
func TestBearerWithoutTokenVerifier(t *testing.T) {
	srv := httptest.NewServer(NewHandler(newStubBackend(), HandlerOptions{Credentials: StaticCredentials{}}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", TargetPrefix+"ListCollections")
	req.Header.Set("Authorization", "Bearer good")
	if s, text := send(t, req); s != http.StatusBadRequest || strings.HasPrefix(text, " ") {
		t.Errorf("status %d, %s; want a 400 authentication error", s, text)
	}
}
