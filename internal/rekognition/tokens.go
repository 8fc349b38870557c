package rekognition

import (
	"context"
	"net/http"
	"strings"
)

// TokenCaller is a caller authenticated by a Kubernetes ServiceAccount token instead of an
// access key: an application pod, through its facesearch sidecar. It sees the collections of
// its own namespace, as a SearchRequest does.
type TokenCaller struct {
	// Username is the token's user: system:serviceaccount:<namespace>:<name>.
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
	// Namespace and ServiceAccount are the ServiceAccount's.
	Namespace, ServiceAccount string
	// Pod is the name of the pod the token is bound to ("" for a token bound to no pod).
	Pod string
}

// TokenVerifier authenticates bearer tokens and authorizes what their callers do. The
// operator's implementation (internal/kubeauth) asks the Kubernetes API: a TokenReview for
// the token, a SubjectAccessReview for each operation on a collection resource.
type TokenVerifier interface {
	// VerifyToken returns the caller the token names, or an *Error: UnrecognizedClient for
	// a token that is not valid here (wrong audience, not signed by the cluster),
	// ExpiredToken for one past its expiry, AccessDenied for a valid token that is not a
	// ServiceAccount's.
	VerifyToken(ctx context.Context, token string) (*TokenCaller, error)
	// AuthorizeToken returns nil when the caller may call the operation on the collection
	// (nil: an operation without one), an AccessDenied *Error otherwise.
	AuthorizeToken(ctx context.Context, caller *TokenCaller, operation string, collectionID *string) error
}

// TokenOperations are the operations a token caller may be granted: the searches, the image
// operations without a collection, reading a collection and changing its faces and users.
// Creating, deleting and tagging collections is done on the Collection resources themselves
// (kubectl, GitOps), so it is not offered to tokens.
var TokenOperations = map[string]bool{
	"SearchFaces": true, "SearchFacesByImage": true, "SearchUsers": true, "SearchUsersByImage": true,
	"DetectFaces": true, "CompareFaces": true,
	"DescribeCollection": true, "ListCollections": true, "ListFaces": true, "ListUsers": true,
	"IndexFaces": true, "DeleteFaces": true, "CreateUser": true, "DeleteUser": true,
	"AssociateFaces": true, "DisassociateFaces": true,
}

// bearerToken is the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

// RecordHeader asks the endpoint to record a SearchUsersByImage as a SearchRequest ("true").
const RecordHeader = "X-Facesearch-Record"

type (
	namespaceKey struct{}
	recordKey    struct{}
	tokenCallerK struct{}
)

// withNamespace makes the backend serve the collections of namespace for this request.
func withNamespace(ctx context.Context, namespace string) context.Context {
	return context.WithValue(ctx, namespaceKey{}, namespace)
}

// NamespaceFromContext is the namespace whose collections a request reaches, when it is not
// the endpoint's own (a token caller's); "" otherwise.
func NamespaceFromContext(ctx context.Context) string {
	s, _ := ctx.Value(namespaceKey{}).(string)
	return s
}

// TokenCallerFromContext is the request's token caller, or nil for an access key's request.
func TokenCallerFromContext(ctx context.Context) *TokenCaller {
	c, _ := ctx.Value(tokenCallerK{}).(*TokenCaller)
	return c
}

// RecordRequested says whether the caller asked for the search to be recorded.
func RecordRequested(ctx context.Context) bool {
	b, _ := ctx.Value(recordKey{}).(bool)
	return b
}
