package workload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/pki"
)

// Every Collection's shards take searches only from the operator. The operator keeps, per
// Collection, a Secret in the Collection's namespace (AuthSecretName, owned by the
// Collection) holding:
//
//   - token, previousToken: the bearer token the manager sends, and the one before it while
//     a rotation is under way (empty otherwise). Index pods mount both and accept either.
//   - ca.crt, ca.key: the Collection's own CA (ca.crt may also hold the CA before it, while
//     a CA rotation is under way); the key never leaves the Secret for the pods.
//   - tls.crt, tls.key: the shards' serving certificate, for ServerName, issued by that CA.
//
// Index pods read the mounted files again as the kubelet updates them, so a rotation needs
// no restart: the manager sends the new token at once and falls back to the previous one on
// a 401, and the previous token is dropped after TokenOverlap.

// Keys of the index auth Secret.
const (
	AuthTokenKey         = "token"
	AuthPreviousTokenKey = "previousToken"
	AuthCACertKey        = "ca.crt"
	AuthCAKeyKey         = "ca.key"
	AuthTLSCertKey       = corev1.TLSCertKey
	AuthTLSKeyKey        = corev1.TLSPrivateKeyKey
)

// Annotations on the index auth Secret: when the token and the CA were last replaced.
const (
	annotationTokenRotatedAt = "facesearch.io/token-rotated-at"
	annotationCARotatedAt    = "facesearch.io/ca-rotated-at"
)

const (
	defaultTokenRotation = 30 * 24 * time.Hour
	defaultTokenOverlap  = 10 * time.Minute
	caValidity           = 10 * 365 * 24 * time.Hour
	// caRenewBefore: a CA with less left than this is replaced (with an overlap).
	caRenewBefore      = 365 * 24 * time.Hour
	servingValidity    = 365 * 24 * time.Hour
	servingRenewBefore = 30 * 24 * time.Hour
)

// AuthSecretName is the name of the Secret holding the index token and certificates of the
// Collection named collectionName.
func AuthSecretName(collectionName string) string { return collectionName + "-index-auth" }

// ServerName is the name in the serving certificate of a Collection's shards; the manager's
// client expects it whichever shard Service it dials.
func ServerName(namespace, collectionName string) string {
	return fmt.Sprintf("%s-index.%s.svc", collectionName, namespace)
}

// indexAuth is what the manager needs to reach a collection's shards.
type indexAuth struct {
	token, previous string
	caBundle        []byte
}

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (d *Deployer) reader() client.Reader {
	if d.Reader != nil {
		return d.Reader
	}
	return d.Client
}

// ensureAuth creates the Collection's index auth Secret, or rotates and renews what is due
// in it, and returns the credentials the manager uses.
func (d *Deployer) ensureAuth(ctx context.Context, spec IndexSpec) (*indexAuth, error) {
	key := spec.key()
	name := AuthSecretName(key.Name)
	sec := &corev1.Secret{}
	err := d.reader().Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace}, Type: corev1.SecretTypeOpaque}
		if _, err := d.fillAuth(sec, key); err != nil {
			return nil, err
		}
		if err := controllerutil.SetControllerReference(spec.Owner, sec, d.Scheme); err != nil {
			return nil, err
		}
		if err := d.Client.Create(ctx, sec); err != nil {
			return nil, fmt.Errorf("while creating Secret %s: %w", name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("while reading Secret %s: %w", name, err)
	default:
		if !metav1.IsControlledBy(sec, spec.Owner) {
			return nil, fmt.Errorf("secret %s exists and does not belong to Collection %s: rename or remove it", name, key.Name)
		}
		changed, err := d.fillAuth(sec, key)
		if err != nil {
			return nil, err
		}
		if changed {
			if err := d.Client.Update(ctx, sec); err != nil {
				return nil, fmt.Errorf("while updating Secret %s: %w", name, err)
			}
		}
	}
	return &indexAuth{token: string(sec.Data[AuthTokenKey]), previous: string(sec.Data[AuthPreviousTokenKey]),
		caBundle: sec.Data[AuthCACertKey]}, nil
}

// fillAuth makes sec hold a token, a CA and a serving certificate that are current, and
// rotates what is due; it reports whether sec changed.
func (d *Deployer) fillAuth(sec *corev1.Secret, key types.NamespacedName) (bool, error) {
	now := time.Now()
	rotation, overlap := d.TokenRotation, d.TokenOverlap
	if rotation == 0 {
		rotation = defaultTokenRotation
	}
	if overlap <= 0 {
		overlap = defaultTokenOverlap
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Labels = map[string]string{"app.kubernetes.io/name": "facesearch", LabelComponent: componentIndex, LabelCollection: key.Name}
	changed := false
	set := func(k string, v []byte) {
		if old, ok := sec.Data[k]; !ok || !bytes.Equal(old, v) {
			sec.Data[k] = v
			changed = true
		}
	}
	since := func(annotation string) time.Duration {
		t, _ := time.Parse(time.RFC3339, sec.Annotations[annotation])
		return now.Sub(t)
	}
	stamp := func(annotation string) {
		sec.Annotations[annotation] = now.UTC().Format(time.RFC3339)
		changed = true
	}
	for _, a := range []string{annotationTokenRotatedAt, annotationCARotatedAt} {
		if _, err := time.Parse(time.RFC3339, sec.Annotations[a]); err != nil {
			stamp(a) // missing or unreadable: count from now
		}
	}

	// The token: made once, replaced every rotation, the previous one kept for overlap.
	token, previous := sec.Data[AuthTokenKey], sec.Data[AuthPreviousTokenKey]
	switch {
	case len(token) == 0:
		set(AuthTokenKey, []byte(newToken()))
		set(AuthPreviousTokenKey, []byte{})
		stamp(annotationTokenRotatedAt)
	case rotation > 0 && since(annotationTokenRotatedAt) >= rotation:
		set(AuthPreviousTokenKey, token)
		set(AuthTokenKey, []byte(newToken()))
		stamp(annotationTokenRotatedAt)
	case len(previous) > 0 && since(annotationTokenRotatedAt) >= overlap:
		set(AuthPreviousTokenKey, []byte{})
	case previous == nil:
		set(AuthPreviousTokenKey, []byte{}) // the pods mount the key: it must exist
	}

	// The CA: the first certificate of ca.crt is the one ca.key belongs to; a CA before it
	// stays trusted (and so does the serving certificate it issued) for the overlap.
	bundle := sec.Data[AuthCACertKey]
	first, rest := pem.Decode(bundle)
	ca := pki.KeyPair{KeyPEM: sec.Data[AuthCAKeyKey]}
	if first != nil {
		ca.CertPEM = pem.EncodeToMemory(first)
	}
	if !pki.ValidCA(ca, caRenewBefore) {
		next, err := pki.NewCA(ServerName(key.Namespace, key.Name)+" CA", caValidity)
		if err != nil {
			return false, err
		}
		newBundle := next.CertPEM
		if pki.ValidCA(ca, 0) {
			newBundle = append(append([]byte{}, next.CertPEM...), ca.CertPEM...)
		}
		ca = next
		set(AuthCACertKey, newBundle)
		set(AuthCAKeyKey, next.KeyPEM)
		stamp(annotationCARotatedAt)
	} else if len(bytes.TrimSpace(rest)) > 0 && since(annotationCARotatedAt) >= overlap {
		set(AuthCACertKey, ca.CertPEM)
	}

	// The serving certificate: issued by the current CA, renewed well before it expires.
	serving := pki.KeyPair{CertPEM: sec.Data[AuthTLSCertKey], KeyPEM: sec.Data[AuthTLSKeyKey]}
	name := ServerName(key.Namespace, key.Name)
	if !pki.Valid(serving, ca.CertPEM, name, servingRenewBefore) {
		next, err := pki.IssueServing(ca, []string{name}, servingValidity)
		if err != nil {
			return false, err
		}
		set(AuthTLSCertKey, next.CertPEM)
		set(AuthTLSKeyKey, next.KeyPEM)
	}
	return changed, nil
}

// shardConn is the manager's connection to one collection's shards: one HTTP client (its
// pooled connections) per CA bundle, and credentials that rotations update in place.
type shardConn struct {
	caBundle []byte
	opts     index.ClientOptions
}

// shardClientOptions returns what the clients of a collection's shards share.
func (d *Deployer) shardClientOptions(key types.NamespacedName, auth *indexAuth) (index.ClientOptions, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conns == nil {
		d.conns = map[types.NamespacedName]*shardConn{}
	}
	if c := d.conns[key]; c != nil {
		if bytes.Equal(c.caBundle, auth.caBundle) {
			c.opts.Credentials.Set(auth.token, auth.previous)
			return c.opts, nil
		}
		c.opts.HTTPClient.CloseIdleConnections()
	}
	cfg, err := pki.ClientConfig(auth.caBundle, ServerName(key.Namespace, key.Name))
	if err != nil {
		return index.ClientOptions{}, fmt.Errorf("the CA of Secret %s: %w", AuthSecretName(key.Name), err)
	}
	c := &shardConn{caBundle: auth.caBundle, opts: index.ClientOptions{
		Credentials: index.NewCredentials(auth.token, auth.previous), HTTPClient: index.NewHTTPClient(cfg)}}
	d.conns[key] = c
	return c.opts, nil
}

// dropShardClients closes the idle connections to a removed collection's shards.
func (d *Deployer) dropShardClients(key types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.conns[key]; c != nil {
		c.opts.HTTPClient.CloseIdleConnections()
		delete(d.conns, key)
	}
}
