package rekognition

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// TargetPrefix is the X-Amz-Target prefix of the Rekognition JSON API.
const TargetPrefix = "RekognitionService."

// ContentType is the media type of requests and responses.
const ContentType = "application/x-amz-json-1.1"

// DefaultMaxBodyBytes admits a 5 MiB image as base64 (4/3 * 5 MiB = 6.67 MiB)
// plus the JSON envelope, with slack.
const DefaultMaxBodyBytes = 7<<20 + 512<<10

// HandlerOptions configures NewHandler. Zero values select the defaults.
type HandlerOptions struct {
	// Credentials verifies AWS Signature Version 4. Nil rejects every request
	// unless AllowUnauthenticated is set.
	Credentials CredentialStore
	// AllowUnauthenticated serves requests without checking signatures (every
	// operation on every collection). For local development and tests only.
	AllowUnauthenticated bool
	// Tokens, when set, also accepts "Authorization: Bearer <token>": a Kubernetes
	// ServiceAccount token, verified and authorized by Tokens (see TokenVerifier). Its
	// callers reach the collections of their own namespace, and only TokenOperations.
	Tokens TokenVerifier

	// MaxBodyBytes bounds the request body (default DefaultMaxBodyBytes), and
	// twice that for CompareFaces, which carries two images. Over the limit:
	// ImageTooLargeException for the operations that take an image
	// (IndexFaces, SearchFacesByImage, SearchUsersByImage, DetectFaces,
	// CompareFaces), InvalidParameterException for the others.
	MaxBodyBytes int64
	// MaxClockSkew is how far X-Amz-Date may be from the server clock
	// (default 5 minutes, as AWS).
	MaxClockSkew time.Duration

	// RateLimit is the sustained requests per second allowed per access key
	// (token bucket; default 50, negative = unlimited); RateBurst the bucket
	// size (default 2*RateLimit). Over it: ThrottlingException. Both are the
	// budget of the whole endpoint: with Replicas, each replica allows its share.
	RateLimit float64
	RateBurst int
	// Replicas, when set, is the number of replicas serving the endpoint: each
	// allows RateLimit/n per key with a burst of max(1, RateBurst/n), and its
	// buckets follow when n changes (n < 1 counts as 1). It is called on every
	// rate-limited request, from many goroutines: an atomic load, not an API call.
	Replicas func() int

	// MaxConcurrent bounds authenticated requests being served at once
	// (default 64, negative = unbounded). A request that finds no free slot
	// within QueueWait (default 100ms) gets
	// ProvisionedThroughputExceededException.
	MaxConcurrent int
	QueueWait     time.Duration
	// MaxConcurrentPerKey bounds the requests of one access key in flight,
	// from the moment its headers are checked, body read included (default a
	// quarter of MaxConcurrent, at least 2; negative = unbounded): one client,
	// slow or busy, cannot take every slot. A request past the share waits at
	// most QueueWait for one of the key's own requests to finish.
	MaxConcurrentPerKey int
	// BodyReadTimeout bounds the reading of one request's body (default 30s).
	BodyReadTimeout time.Duration

	// RequestTimeout bounds the backend call (default 30s); the context the
	// Backend gets carries this deadline.
	RequestTimeout time.Duration

	// IdempotencyTTL is how long a ClientRequestToken's response is kept
	// (default 1h); IdempotencyMaxEntries bounds the cache (default 10000).
	IdempotencyTTL        time.Duration
	IdempotencyMaxEntries int

	// Log, when set, receives internal errors and rejected requests as a
	// message and key/value pairs (logr style: logger.Info works).
	Log func(msg string, keysAndValues ...any)

	// Now is the clock (default time.Now); for tests.
	Now func() time.Time
}

type handler struct {
	backend Backend
	opts    HandlerOptions
	limiter *rateLimiter
	sem     chan struct{}
	perKey  *keyShares
	replays *replayCache
	idem    *idempotencyCache
}

// NewHandler returns the http.Handler of the Rekognition JSON 1.1 API:
// POST / with X-Amz-Target: RekognitionService.<Operation> and a JSON body.
// Per request, in order: operation lookup; the SigV4 checks that need no body
// (key known, scope, date, X-Amz-Target and Content-Type signed); the key's
// share of requests in flight; the body, bounded in size and read time; the
// signature over it; replay refusal for mutating calls; per-key rate limit;
// a concurrency slot; JSON decoding, the key's operation and collection
// access check, validation, idempotency (ClientRequestToken), backend call
// with a deadline, JSON response. Nothing that costs memory or a slot
// happens for a request whose headers fail. Errors are sent as AWS JSON 1.1
// errors: status 400 or 500 (httpStatus), header X-Amzn-ErrorType and body
// {"__type", "Code", "Logref", "Message"}.
func NewHandler(backend Backend, opts HandlerOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = 5 * time.Minute
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 50
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = int(2 * opts.RateLimit)
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = 64
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 100 * time.Millisecond
	}
	if opts.MaxConcurrentPerKey == 0 {
		opts.MaxConcurrentPerKey = -1
		if opts.MaxConcurrent > 0 {
			opts.MaxConcurrentPerKey = max(2, opts.MaxConcurrent/4)
		}
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = 30 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = time.Hour
	}
	if opts.IdempotencyMaxEntries <= 0 {
		opts.IdempotencyMaxEntries = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{backend: backend, opts: opts}
	if opts.RateLimit > 0 {
		h.limiter = newRateLimiter(opts.RateLimit, opts.RateBurst, opts.Replicas, opts.Now)
	}
	if opts.MaxConcurrent > 0 {
		h.sem = make(chan struct{}, opts.MaxConcurrent)
	}
	if opts.MaxConcurrentPerKey > 0 {
		h.perKey = newKeyShares(opts.MaxConcurrentPerKey)
	}
	h.replays = newReplayCache(opts.Now)
	h.idem = newIdempotencyCache(opts.IdempotencyTTL, opts.IdempotencyMaxEntries, opts.Now)
	return h
}

// call is one request in flight.
type call struct {
	op    string
	keyID string
	cred  Credential
	authn bool // credentials were checked; cred applies
	// caller is set for a token's request: tokens authorizes it instead of cred.
	caller *TokenCaller
	tokens TokenVerifier
	body   []byte
	reqID  string
}

// opSpec describes one operation.
type opSpec struct {
	image bool // takes an Image: body over the limit is ImageTooLargeException
	// images is how many images the body may carry, each up to 5 MB: the body limit is
	// that many times MaxBodyBytes (0 counts as 1).
	images int
	run    func(h *handler, ctx context.Context, c *call) ([]byte, error)
}

// twoImages is spec for CompareFaces, whose body carries a source and a target image.
func twoImages(s opSpec) opSpec {
	s.images = 2
	return s
}

// mutating lists the operations that change stored data: a replayed signature of one of
// them is refused.
var mutating = map[string]bool{
	"CreateCollection": true, "DeleteCollection": true, "IndexFaces": true, "DeleteFaces": true,
	"CreateUser": true, "DeleteUser": true, "AssociateFaces": true, "DisassociateFaces": true,
	"TagResource": true, "UntagResource": true,
}

var operations = map[string]opSpec{
	"CreateCollection":   spec(Backend.CreateCollection, func(in *CreateCollectionInput) (*string, *string) { return in.CollectionId, nil }, false),
	"DescribeCollection": spec(Backend.DescribeCollection, func(in *DescribeCollectionInput) (*string, *string) { return in.CollectionId, nil }, false),
	"ListCollections":    specFor((*handler).listCollections, func(*ListCollectionsInput) (*string, *string) { return nil, nil }, false),
	"DeleteCollection":   spec(Backend.DeleteCollection, func(in *DeleteCollectionInput) (*string, *string) { return in.CollectionId, nil }, false),
	"IndexFaces":         spec(Backend.IndexFaces, func(in *IndexFacesInput) (*string, *string) { return in.CollectionId, nil }, true),
	"ListFaces":          spec(Backend.ListFaces, func(in *ListFacesInput) (*string, *string) { return in.CollectionId, nil }, false),
	"DeleteFaces":        spec(Backend.DeleteFaces, func(in *DeleteFacesInput) (*string, *string) { return in.CollectionId, nil }, false),
	"CreateUser":         spec(Backend.CreateUser, func(in *CreateUserInput) (*string, *string) { return in.CollectionId, in.ClientRequestToken }, false),
	"DeleteUser":         spec(Backend.DeleteUser, func(in *DeleteUserInput) (*string, *string) { return in.CollectionId, in.ClientRequestToken }, false),
	"ListUsers":          spec(Backend.ListUsers, func(in *ListUsersInput) (*string, *string) { return in.CollectionId, nil }, false),
	"AssociateFaces":     spec(Backend.AssociateFaces, func(in *AssociateFacesInput) (*string, *string) { return in.CollectionId, in.ClientRequestToken }, false),
	"DisassociateFaces":  spec(Backend.DisassociateFaces, func(in *DisassociateFacesInput) (*string, *string) { return in.CollectionId, in.ClientRequestToken }, false),
	"SearchFaces":        spec(Backend.SearchFaces, func(in *SearchFacesInput) (*string, *string) { return in.CollectionId, nil }, false),
	"SearchFacesByImage": spec(Backend.SearchFacesByImage, func(in *SearchFacesByImageInput) (*string, *string) { return in.CollectionId, nil }, true),
	"SearchUsers":        spec(Backend.SearchUsers, func(in *SearchUsersInput) (*string, *string) { return in.CollectionId, nil }, false),
	"SearchUsersByImage": spec(Backend.SearchUsersByImage, func(in *SearchUsersByImageInput) (*string, *string) { return in.CollectionId, nil }, true),
	// No collection: the key's scope alone decides (see Credential).
	"DetectFaces":  spec(Backend.DetectFaces, func(*DetectFacesInput) (*string, *string) { return nil, nil }, true),
	"CompareFaces": twoImages(spec(Backend.CompareFaces, func(*CompareFacesInput) (*string, *string) { return nil, nil }, true)),
	// The tag operations name a collection by its ARN: the key's collection check applies to
	// the id at its end.
	"TagResource":         spec(Backend.TagResource, func(in *TagResourceInput) (*string, *string) { return arnCollection(in.ResourceArn), nil }, false),
	"UntagResource":       spec(Backend.UntagResource, func(in *UntagResourceInput) (*string, *string) { return arnCollection(in.ResourceArn), nil }, false),
	"ListTagsForResource": spec(Backend.ListTagsForResource, func(in *ListTagsForResourceInput) (*string, *string) { return arnCollection(in.ResourceArn), nil }, false),
}

// arnCollection is the collection id a collection ARN ends with ("arn:...:collection/<id>"),
// or nil when arn is not one. Any ARN with a collection id at its end is taken at its
// word here; the backend finds whether it is one of its collections'.
func arnCollection(arn *string) *string {
	if arn == nil {
		return nil
	}
	i := strings.LastIndex(*arn, ":collection/")
	if !strings.HasPrefix(*arn, "arn:") || i < 0 {
		return nil
	}
	id := (*arn)[i+len(":collection/"):]
	if id == "" || len(id) > maxCollectionID || !reCollectionID.MatchString(id) {
		return nil
	}
	return &id
}

// Operations lists the operation names the handler serves.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	return names
}

type validatable[I any] interface {
	*I
	Validate() error
}

// spec builds the opSpec of one operation served by a Backend method. keys
// returns the request's collection id and ClientRequestToken (nil when the
// operation has none).
func spec[I any, O any, PI validatable[I]](
	method func(Backend, context.Context, *I) (*O, error),
	keys func(*I) (collection, token *string),
	image bool,
) opSpec {
	return specFor[I, O, PI](func(h *handler, ctx context.Context, _ *call, in *I) (*O, error) {
		return method(h.backend, ctx, in)
	}, keys, image)
}

// specFor builds the opSpec of an operation the handler serves itself (with
// the caller's call at hand), around the same checks as spec.
func specFor[I any, O any, PI validatable[I]](
	method func(*handler, context.Context, *call, *I) (*O, error),
	keys func(*I) (collection, token *string),
	image bool,
) opSpec {
	return opSpec{image: image, run: func(h *handler, ctx context.Context, c *call) ([]byte, error) {
		in := new(I)
		if err := decodeJSON(c.body, in); err != nil {
			return nil, err
		}
		col, tok := keys(in)
		if err := c.authorize(ctx, col); err != nil {
			return nil, err
		}
		if err := PI(in).Validate(); err != nil {
			return nil, err
		}
		invoke := func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, h.opts.RequestTimeout)
			defer cancel()
			out, err := method(h, ctx, c, in)
			if err != nil {
				err = undeclared(c.op, MapError(err))
				if ctx.Err() != nil && !isRekognitionError(err) {
					return nil, ErrInternalServer(fmt.Sprintf("request timed out after %s", h.opts.RequestTimeout))
				}
				return nil, err
			}
			if out == nil {
				out = new(O)
			}
			return encodeJSON(out)
		}
		if tok == nil || *tok == "" {
			return invoke()
		}
		// Idempotent operation with a token: hash the parameters without it.
		saved := *tok
		*tok = ""
		params, err := json.Marshal(in)
		*tok = saved
		if err != nil {
			return nil, err
		}
		key := idemKey{op: c.op, collection: *col, token: saved}
		return h.idem.do(ctx, key, sha256.Sum256(params), invoke)
	}}
}

func isRekognitionError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// authorize checks that the caller's key may call the operation and, when
// the request names one, use the collection: IAM's answer otherwise. A token's
// caller is authorized by the TokenVerifier (Kubernetes RBAC). It allows
// everything when authentication is disabled.
func (c *call) authorize(ctx context.Context, col *string) error {
	if !c.authn {
		return nil
	}
	if c.caller != nil {
		return c.tokens.AuthorizeToken(ctx, c.caller, c.op, col)
	}
	resource := "*"
	if col != nil {
		resource = "collection/" + *col
	}
	var why string
	switch {
	case !c.cred.MayCall(c.op):
		why = "the access key's scope does not include this operation"
	case col != nil && !c.cred.Allows(*col):
		why = "the access key may not use this collection"
	default:
		return nil
	}
	return ErrAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: rekognition:%s on resource: %s because %s", c.keyID, c.op, resource, why))
}

func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	// json.Unmarshal works on the body in place (a Decoder would copy it).
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Errorf(TypeSerialization, "Cannot deserialize member '%s': expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return Errorf(TypeSerialization, "Malformed JSON request body: %v", err)
	}
	return nil
}

// encodeJSON marshals an output; top-level nil slices become [] and nil maps
// {} as Rekognition sends them (clients index into them without checks).
func encodeJSON(out any) ([]byte, error) {
	rv := reflect.ValueOf(out).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		switch {
		case f.Kind() == reflect.Slice && f.IsNil() && f.CanSet():
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		case f.Kind() == reflect.Map && f.IsNil() && f.CanSet():
			f.Set(reflect.MakeMap(f.Type())) // ListTagsForResource's Tags: {}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{reqID: newRequestID()}
	w.Header().Set("X-Amzn-RequestId", c.reqID)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.writeError(w, c, Errorf(TypeUnknownOperation, "Method %s is not supported; use POST", r.Method))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, TargetPrefix)
	spec, known := operations[name]
	if !ok || !known {
		h.writeError(w, c, Errorf(TypeUnknownOperation, "Unknown operation %q", target))
		return
	}
	c.op = name
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-amz-json-1.") && !strings.HasPrefix(ct, "application/json") {
		h.writeError(w, c, Errorf(TypeUnknownOperation, "Content-Type %q is not supported; use %s", ct, ContentType))
		return
	}
	var sig *sigV4Request
	if tok, ok := bearerToken(r); ok && h.opts.Tokens != nil {
		// A pod's ServiceAccount token (through its sidecar): verified before the body is read.
		caller, err := h.opts.Tokens.VerifyToken(r.Context(), tok)
		if err != nil {
			h.writeError(w, c, err)
			return
		}
		if !TokenOperations[c.op] {
			h.writeError(w, c, ErrAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: rekognition:%s because ServiceAccount tokens may not call it: collections are created, deleted and tagged as Collection resources", caller.Username, c.op)))
			return
		}
		c.keyID, c.caller, c.tokens = caller.Username, caller, h.opts.Tokens
	} else if !h.opts.AllowUnauthenticated {
		store := h.opts.Credentials
		if store == nil {
			store = StaticCredentials(nil)
		}
		var aerr *Error
		if sig, aerr = parseSigV4(r, store, h.opts.Now(), h.opts.MaxClockSkew); aerr != nil {
			h.writeError(w, c, aerr)
			return
		}
		c.keyID = sig.keyID
	}
	// The key's share bounds what one client (or one who knows its key id) holds, body
	// reads included, before anything is buffered.
	if h.perKey != nil {
		if !h.perKey.acquire(r.Context(), c.keyID, h.opts.QueueWait) {
			w.Header().Set("Retry-After", "1")
			h.writeError(w, c, ErrProvisionedThroughputExceeded(fmt.Sprintf("Access key %s has %d requests in flight, its share; try again later", c.keyID, h.opts.MaxConcurrentPerKey)))
			return
		}
		defer h.perKey.release(c.keyID)
	}

	_ = http.NewResponseController(w).SetReadDeadline(h.opts.Now().Add(h.opts.BodyReadTimeout))
	limit := h.opts.MaxBodyBytes * int64(max(spec.images, 1))
	body, err := readBody(r, limit)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			w.Header().Set("Connection", "close")
			msg := fmt.Sprintf("Request body is larger than %d bytes", limit)
			if spec.image {
				h.writeError(w, c, ErrImageTooLarge(msg+"; images given as bytes may be at most 5 MB"))
			} else {
				h.writeError(w, c, ErrInvalidParameter(msg))
			}
			return
		}
		h.writeError(w, c, Errorf(TypeSerialization, "Could not read the request body: %v", err))
		return
	}
	c.body = body

	ctx := r.Context()
	if r.Header.Get(RecordHeader) == "true" {
		ctx = context.WithValue(ctx, recordKey{}, true)
	}
	if c.caller != nil {
		c.authn = true
		ctx = context.WithValue(ctx, callerKey{}, c.keyID)
		ctx = context.WithValue(ctx, tokenCallerK{}, c.caller)
		ctx = withNamespace(ctx, c.caller.Namespace)
		if h.limiter != nil && !h.limiter.allow(c.keyID) {
			h.writeError(w, c, ErrThrottling(fmt.Sprintf("Rate exceeded for %s (%.0f requests per second, burst %d)", c.keyID, h.opts.RateLimit, h.opts.RateBurst)))
			return
		}
	}
	if sig != nil {
		if aerr := sig.verify(r, body); aerr != nil {
			h.writeError(w, c, aerr)
			return
		}
		if mutating[c.op] {
			if aerr := h.replays.check(sig.signature, sig.amzDate, h.opts.MaxClockSkew); aerr != nil {
				h.writeError(w, c, aerr)
				return
			}
		}
		c.cred, c.authn = sig.cred, true
		ctx = context.WithValue(ctx, callerKey{}, c.keyID)
		if h.limiter != nil && !h.limiter.allow(c.keyID) {
			h.writeError(w, c, ErrThrottling(fmt.Sprintf("Rate exceeded for access key %s (%.0f requests per second, burst %d)", c.keyID, h.opts.RateLimit, h.opts.RateBurst)))
			return
		}
	}

	// Bound the work in flight: only authenticated requests take a slot.
	if h.sem != nil {
		select {
		case h.sem <- struct{}{}:
		default:
			t := time.NewTimer(h.opts.QueueWait)
			select {
			case h.sem <- struct{}{}:
				t.Stop()
			case <-t.C:
				w.Header().Set("Retry-After", "1")
				h.writeError(w, c, ErrProvisionedThroughputExceeded(fmt.Sprintf("The server is serving %d requests, its limit; try again later", cap(h.sem))))
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-h.sem }()
	}

	resp, err := spec.run(h, ctx, c)
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp) // a client gone away cannot be told
}

var errBodyTooLarge = errors.New("request body too large")

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	n := r.ContentLength
	if n < 0 || n > limit {
		n = 512
	}
	// bytes.Buffer.ReadFrom grows when less than 512 bytes are free: leave
	// room so that a body of the announced length is read without copying.
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead+1))
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, errBodyTooLarge
	}
	return buf.Bytes(), nil
}

type errorBody struct {
	Type   string `json:"__type"`
	Code   string `json:"Code"`
	Logref string `json:"Logref,omitempty"`
	// Rekognition sends "Message" (the developer guide's error example); the SDKs read
	// either spelling.
	Message string `json:"Message"`
}

func (h *handler) writeError(w http.ResponseWriter, c *call, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			e = ErrInternalServer("request timed out or was canceled")
		} else {
			e = ErrInternalServer("Internal server error (request " + c.reqID + ")")
		}
		if h.opts.Log != nil {
			h.opts.Log("internal error", "operation", c.op, "requestId", c.reqID, "error", err.Error())
		}
	} else if h.opts.Log != nil && (e.Type == TypeInternalServerError || isAuthError(e.Type)) {
		h.opts.Log("request rejected", "operation", c.op, "requestId", c.reqID, "accessKeyId", c.keyID, "type", e.Type, "message", e.Message)
	}
	b, _ := json.Marshal(errorBody{Type: e.Type, Code: e.Type, Logref: c.reqID, Message: e.Message})
	hd := w.Header()
	if e.Type == TypeProvisionedThroughputExceeded && hd.Get("Retry-After") == "" {
		hd.Set("Retry-After", "1") // the server is full, whichever limit said so
	}
	hd.Set("Content-Type", ContentType)
	hd.Set("X-Amzn-ErrorType", e.Type)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus(e.Type))
	_, _ = w.Write(b) // a client gone away cannot be told
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
