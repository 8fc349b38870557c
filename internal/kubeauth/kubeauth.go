// Package kubeauth lets Kubernetes decide who calls the endpoint with a ServiceAccount token
// and what they may do: a TokenReview authenticates the token, a SubjectAccessReview on the
// Collection resource authorizes each operation, so that who may search which collection is
// declared with RBAC, in Git, like everything else.
package kubeauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

// DefaultAudience is the audience the sidecar's projected token is issued for. A token made
// for anything else (the API server's own audience included) is refused.
const DefaultAudience = "facesearch.io"

// Group and Resource of the Collection resources the SubjectAccessReviews are about.
const (
	Group    = "facesearch.io"
	Resource = "collections"
)

// Verbs of the SubjectAccessReviews. search and index are verbs of their own, which no
// built-in role grants: searching biometric data and changing it are granted explicitly.
const (
	VerbSearch = "search"
	VerbGet    = "get"
	VerbList   = "list"
	VerbIndex  = "index"
)

// OperationVerbs maps each operation a token may call to the verb checked on the collection.
// DetectFaces and CompareFaces name no collection: they need the verb on collections without
// a resource name (a Role rule without resourceNames).
var OperationVerbs = map[string]string{
	"SearchFaces": VerbSearch, "SearchFacesByImage": VerbSearch, "SearchUsers": VerbSearch, "SearchUsersByImage": VerbSearch,
	"DetectFaces": VerbSearch, "CompareFaces": VerbSearch,
	"DescribeCollection": VerbGet, "ListFaces": VerbGet, "ListUsers": VerbGet,
	"ListCollections": VerbList,
	"IndexFaces":      VerbIndex, "DeleteFaces": VerbIndex, "CreateUser": VerbIndex, "DeleteUser": VerbIndex,
	"AssociateFaces": VerbIndex, "DisassociateFaces": VerbIndex,
}

// Cache lifetimes: how long a revoked grant or token may still be honoured.
const (
	tokenTTL       = time.Minute
	deniedTokenTTL = 10 * time.Second
	accessTTL      = 10 * time.Second
	maxCacheSize   = 8192
	// maxReviews bounds the reviews in flight: a flood of forged tokens cannot make the
	// endpoint flood the API server.
	maxReviews = 16
)

// podNameExtra is where a bound token's pod name is in the TokenReview's user info.
const podNameExtra = "authentication.kubernetes.io/pod-name"

// Verifier is the endpoint's rekognition.TokenVerifier.
type Verifier struct {
	// Client creates the TokenReviews and SubjectAccessReviews (system:auth-delegator's rights).
	Client client.Client
	// Audience the tokens must be issued for (DefaultAudience when empty).
	Audience string
	// Namespaces are those whose collections the endpoint serves: a token of another
	// namespace is refused.
	Namespaces []string
	// CollectionName resolves a CollectionId of a namespace to its Collection resource's
	// name, which the RBAC rules name ("" when unknown: the id is used, as it defaults to
	// the name).
	CollectionName func(namespace, id string) string
	// Now is the clock (default time.Now).
	Now func() time.Time

	once    sync.Once
	reviews chan struct{}
	tokens  ttlCache[*tokenResult]
	access  ttlCache[bool]
}

type tokenResult struct {
	caller *rekognition.TokenCaller
	err    error
}

var _ rekognition.TokenVerifier = (*Verifier)(nil)

func (v *Verifier) init() {
	v.once.Do(func() {
		if v.Audience == "" {
			v.Audience = DefaultAudience
		}
		if v.Now == nil {
			v.Now = time.Now
		}
		v.reviews = make(chan struct{}, maxReviews)
	})
}

// VerifyToken authenticates a token with a TokenReview, after the checks that need no API
// call (a JWT, for this audience, not expired).
func (v *Verifier) VerifyToken(ctx context.Context, token string) (*rekognition.TokenCaller, error) {
	v.init()
	now := v.Now()
	if err := v.precheck(token, now); err != nil {
		return nil, err
	}
	key := tokenKey(token)
	if r, ok := v.tokens.get(key, now); ok {
		return r.caller, r.err
	}
	if err := v.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-v.reviews }()
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{v.Audience}}}
	if err := v.Client.Create(ctx, tr); err != nil {
		return nil, rekognition.ErrInternalServer(fmt.Sprintf("Could not verify the token: the Kubernetes API did not answer the TokenReview: %v", err))
	}
	r := &tokenResult{}
	r.caller, r.err = v.callerOf(tr)
	ttl := tokenTTL
	if r.err != nil {
		ttl = deniedTokenTTL
	}
	if exp, ok := expiry(token); ok && exp.Sub(now) < ttl {
		ttl = exp.Sub(now)
	}
	v.tokens.put(key, r, now.Add(ttl))
	return r.caller, r.err
}

// acquire takes one of the review slots, waiting for one while ctx lasts.
func (v *Verifier) acquire(ctx context.Context) error {
	select {
	case v.reviews <- struct{}{}:
		return nil
	case <-ctx.Done():
		return rekognition.ErrProvisionedThroughputExceeded("Too many tokens are being verified; try again later")
	}
}

func (v *Verifier) callerOf(tr *authnv1.TokenReview) (*rekognition.TokenCaller, error) {
	st := tr.Status
	if !st.Authenticated {
		// The API server's reason stays in its own logs: it may say why a forgery failed.
		return nil, rekognition.Errorf(rekognition.TypeUnrecognizedClient, "The security token included in the request is invalid: the cluster did not authenticate it")
	}
	if !slices.Contains(st.Audiences, v.Audience) {
		return nil, rekognition.Errorf(rekognition.TypeUnrecognizedClient, "The security token included in the request is invalid: it is not issued for the audience %q", v.Audience)
	}
	ns, sa, ok := serviceAccount(st.User.Username)
	if !ok {
		return nil, rekognition.ErrAccessDenied(fmt.Sprintf("User: %s is not a ServiceAccount: only a pod's ServiceAccount token is accepted here; other callers sign with an access key", st.User.Username))
	}
	if !slices.Contains(v.Namespaces, ns) {
		return nil, rekognition.ErrAccessDenied(fmt.Sprintf("User: %s is not authorized: this endpoint does not serve the collections of namespace %s (the chart's api.servedNamespaces)", st.User.Username, ns))
	}
	c := &rekognition.TokenCaller{Username: st.User.Username, UID: st.User.UID, Groups: st.User.Groups,
		Namespace: ns, ServiceAccount: sa, Extra: map[string][]string{}}
	for k, val := range st.User.Extra {
		c.Extra[k] = []string(val)
	}
	if p := st.User.Extra[podNameExtra]; len(p) == 1 {
		c.Pod = p[0]
	}
	return c, nil
}

// AuthorizeToken asks the API server, with a SubjectAccessReview, whether the caller may use
// the verb of the operation on the Collection resource in its namespace.
func (v *Verifier) AuthorizeToken(ctx context.Context, caller *rekognition.TokenCaller, operation string, collectionID *string) error {
	v.init()
	verb, ok := OperationVerbs[operation]
	if !ok {
		return rekognition.ErrAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: rekognition:%s: ServiceAccount tokens may not call it", caller.Username, operation))
	}
	name, resource := "", "*"
	if collectionID != nil {
		name = *collectionID
		if v.CollectionName != nil {
			if n := v.CollectionName(caller.Namespace, *collectionID); n != "" {
				name = n
			}
		}
		resource = "collection/" + *collectionID
	}
	now := v.Now()
	key := strings.Join([]string{caller.Username, caller.UID, verb, caller.Namespace, name}, "\x00")
	allowed, cached := v.access.get(key, now)
	if !cached {
		if err := v.acquire(ctx); err != nil {
			return err
		}
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: caller.Username, UID: caller.UID, Groups: caller.Groups, Extra: map[string]authzv1.ExtraValue{},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: caller.Namespace, Verb: verb, Group: Group, Resource: Resource, Name: name},
		}}
		for k, val := range caller.Extra {
			sar.Spec.Extra[k] = val
		}
		err := v.Client.Create(ctx, sar)
		<-v.reviews
		if err != nil {
			return rekognition.ErrInternalServer(fmt.Sprintf("Could not authorize the call: the Kubernetes API did not answer the SubjectAccessReview: %v", err))
		}
		allowed = sar.Status.Allowed && !sar.Status.Denied
		v.access.put(key, allowed, now.Add(accessTTL))
	}
	if allowed {
		return nil
	}
	target := fmt.Sprintf("collections.%s %q", Group, name)
	if name == "" {
		target = "collections." + Group
	}
	return rekognition.ErrAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: rekognition:%s on resource: %s because no RBAC rule grants the verb %q on %s in namespace %s",
		caller.Username, operation, resource, verb, target, caller.Namespace))
}

// precheck refuses, without an API call, what cannot be a valid token for this endpoint: it
// reads the JWT's claims unverified, only to refuse early; the TokenReview decides.
func (v *Verifier) precheck(token string, now time.Time) error {
	claims, ok := jwtClaims(token)
	if !ok {
		return rekognition.Errorf(rekognition.TypeUnrecognizedClient, "The security token included in the request is invalid: it is not a JSON Web Token")
	}
	if !claims.Audience.has(v.Audience) {
		return rekognition.Errorf(rekognition.TypeUnrecognizedClient, "The security token included in the request is invalid: it is not issued for the audience %q", v.Audience)
	}
	if claims.Expiry != 0 && now.After(time.Unix(claims.Expiry, 0)) {
		return rekognition.Errorf(rekognition.TypeExpiredToken, "The security token included in the request is expired")
	}
	return nil
}

type audience []string

// UnmarshalJSON reads "aud" as JWTs carry it: one string or a list.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

func (a audience) has(s string) bool { return slices.Contains(a, s) }

type claims struct {
	Audience audience `json:"aud"`
	Expiry   int64    `json:"exp"`
}

func jwtClaims(token string) (claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 16<<10 {
		return claims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, false
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return claims{}, false
	}
	return c, true
}

func expiry(token string) (time.Time, bool) {
	c, ok := jwtClaims(token)
	if !ok || c.Expiry == 0 {
		return time.Time{}, false
	}
	return time.Unix(c.Expiry, 0), true
}

// serviceAccount splits system:serviceaccount:<namespace>:<name>.
func serviceAccount(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}

// tokenKey is what the cache keeps of a token: its hash, never the token.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

// ttlCache is a small map with expiring entries, emptied when full: bounded memory, and
// a miss costs one review.
type ttlCache[T any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[T]
}

type ttlEntry[T any] struct {
	v       T
	expires time.Time
}

func (c *ttlCache[T]) get(k string, now time.Time) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		var zero T
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[T]) put(k string, v T, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCacheSize {
		c.m = map[string]ttlEntry[T]{}
	}
	c.m[k] = ttlEntry[T]{v: v, expires: expires}
}
