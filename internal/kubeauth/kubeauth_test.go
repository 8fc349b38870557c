package kubeauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// cluster is a real API server with two namespaces, a searcher ServiceAccount granted
// "search" on the collection "people" of apps, and one granted nothing.
type cluster struct {
	c  client.Client
	cs *kubernetes.Clientset
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cp := testenv.ControlPlane(t)
	c, err := client.New(cp.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "searcher"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "nobody"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "searcher"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "search-people"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{Group}, Resources: []string{Resource}, Verbs: []string{VerbSearch}, ResourceNames: []string{"people"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "searcher"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "search-people"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "apps", Name: "searcher"}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "app"}, Spec: corev1.PodSpec{
			ServiceAccountName: "searcher", Containers: []corev1.Container{{Name: "app", Image: "app"}}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	return &cluster{c: c, cs: cs}
}

// token asks the API server for a real token of the ServiceAccount, bound to pod if given.
func (k *cluster) token(t *testing.T, ns, sa, audience, pod string) string {
	t.Helper()
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)}}
	if pod != "" {
		p, err := k.cs.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		req.Spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID}
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func errType(err error) string {
	var e *rekognition.Error
	if errors.As(err, &e) {
		return e.Type
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestVerifierWithARealAPIServer(t *testing.T) {
	k := newCluster(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	v := &Verifier{Client: k.c, Namespaces: []string{"facesearch", "apps"}, Now: clock,
		CollectionName: func(ns, id string) string {
			if ns == "apps" && id == "people-id" {
				return "people"
			}
			return ""
		}}

	searcher := k.token(t, "apps", "searcher", DefaultAudience, "app")
	caller, err := v.VerifyToken(ctx, searcher)
	if err != nil {
		t.Fatalf("a pod's token for the audience: %v", err)
	}
	if caller.Namespace != "apps" || caller.ServiceAccount != "searcher" || caller.Pod != "app" ||
		caller.Username != "system:serviceaccount:apps:searcher" {
		t.Errorf("caller = %+v", caller)
	}

	forged := searcher[:strings.LastIndex(searcher, ".")+1] + "c2lnbmF0dXJl"
	tokens := []struct {
		name, token, want string
	}{
		{"not a JWT", "opaque-secret", rekognition.TypeUnrecognizedClient},
		{"another audience", k.token(t, "apps", "searcher", "https://kubernetes.default.svc", ""), rekognition.TypeUnrecognizedClient},
		{"forged signature", forged, rekognition.TypeUnrecognizedClient},
		{"namespace not served", k.token(t, "other", "searcher", DefaultAudience, ""), rekognition.TypeAccessDenied},
		{"unbound token of the served namespace", k.token(t, "apps", "nobody", DefaultAudience, ""), ""},
	}
	for _, tc := range tokens {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyToken(ctx, tc.token)
			if got := errType(err); got != tc.want {
				t.Errorf("VerifyToken: %q (%v), want %q", got, err, tc.want)
			}
			// Cached answers are the same answers.
			_, err = v.VerifyToken(ctx, tc.token)
			if got := errType(err); got != tc.want {
				t.Errorf("VerifyToken again: %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		later := &Verifier{Client: k.c, Namespaces: v.Namespaces, Now: func() time.Time { return now.Add(11 * time.Minute) }}
		if _, err := later.VerifyToken(ctx, searcher); errType(err) != rekognition.TypeExpiredToken {
			t.Errorf("a token 11 minutes after its 10 minutes: %v, want ExpiredTokenException", err)
		}
	})

	nobody, err := v.VerifyToken(ctx, k.token(t, "apps", "nobody", DefaultAudience, ""))
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) *string { return &s }
	cases := []struct {
		name   string
		caller *rekognition.TokenCaller
		op     string
		coll   *string
		want   string
	}{
		{"granted collection, by its id", caller, "SearchUsersByImage", id("people-id"), ""},
		{"granted collection, every search", caller, "SearchFaces", id("people-id"), ""},
		{"another collection", caller, "SearchUsersByImage", id("secret"), rekognition.TypeAccessDenied},
		{"search does not grant index", caller, "IndexFaces", id("people-id"), rekognition.TypeAccessDenied},
		{"search does not grant reading", caller, "ListFaces", id("people-id"), rekognition.TypeAccessDenied},
		{"a grant by name does not cover DetectFaces", caller, "DetectFaces", nil, rekognition.TypeAccessDenied},
		{"no grant", nobody, "SearchUsersByImage", id("people-id"), rekognition.TypeAccessDenied},
		{"not offered to tokens", caller, "DeleteCollection", id("people-id"), rekognition.TypeAccessDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.AuthorizeToken(ctx, tc.caller, tc.op, tc.coll)
			if got := errType(err); got != tc.want {
				t.Errorf("AuthorizeToken(%s): %q (%v), want %q", tc.op, got, err, tc.want)
			}
			if tc.want == rekognition.TypeAccessDenied && !strings.Contains(err.Error(), tc.caller.Username) {
				t.Errorf("the refusal does not name the caller: %v", err)
			}
		})
	}

	t.Run("a revoked grant is refused once the cache expires", func(t *testing.T) {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "searcher"}}
		if err := k.c.Delete(ctx, rb); err != nil {
			t.Fatal(err)
		}
		now = now.Add(accessTTL + time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := v.AuthorizeToken(ctx, caller, "SearchUsersByImage", id("people-id"))
			if errType(err) == rekognition.TypeAccessDenied {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still allowed after the RoleBinding was deleted: %v", err)
			}
			// The API server's RBAC cache follows the deletion within moments.
			now = now.Add(accessTTL + time.Second)
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestPrecheck(t *testing.T) {
	v := &Verifier{}
	v.init()
	now := time.Unix(1_800_000_000, 0)
	jwt := func(payload string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + b64(payload) + ".c2ln"
	}
	cases := []struct {
		name, token, want string
	}{
		{"audience as a string", jwt(`{"aud":"facesearch.io","exp":1800000600}`), ""},
		{"audience in a list", jwt(`{"aud":["x","facesearch.io"],"exp":1800000600}`), ""},
		{"other audience", jwt(`{"aud":["x"],"exp":1800000600}`), rekognition.TypeUnrecognizedClient},
		{"no audience", jwt(`{"exp":1800000600}`), rekognition.TypeUnrecognizedClient},
		{"expired", jwt(`{"aud":"facesearch.io","exp":1799999999}`), rekognition.TypeExpiredToken},
		{"two parts", "a.b", rekognition.TypeUnrecognizedClient},
		{"payload not base64", "a.!!.c", rekognition.TypeUnrecognizedClient},
		{"payload not JSON", jwt(`not json`), rekognition.TypeUnrecognizedClient},
		{"too long", jwt(`{"aud":"facesearch.io","x":"` + strings.Repeat("a", 20000) + `"}`), rekognition.TypeUnrecognizedClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := errType(v.precheck(tc.token, now)); got != tc.want {
				t.Errorf("precheck = %q, want %q", got, tc.want)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestServiceAccount(t *testing.T) {
	cases := []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:apps:searcher", "apps", "searcher", true},
		{"system:serviceaccount:apps:", "", "", false},
		{"system:serviceaccount::x", "", "", false},
		{"alice", "", "", false},
		{"system:serviceaccount:apps", "", "", false},
	}
	for _, tc := range cases {
		ns, name, ok := serviceAccount(tc.in)
		if ok != tc.ok || (ok && (ns != tc.ns || name != tc.name)) {
			t.Errorf("serviceAccount(%q) = %q, %q, %v", tc.in, ns, name, ok)
		}
	}
}
