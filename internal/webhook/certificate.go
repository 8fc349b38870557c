package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/pki"
)

const (
	// CACertKey holds the CA bundle, as cert-manager names it.
	CACertKey = "ca.crt"
	// CAKeyKey holds the CA's key beside the kubernetes.io/tls keys, so that a serving
	// certificate is renewed under the same CA and the caBundle does not change.
	CAKeyKey = "ca.key"
	// The CA and the serving certificate are each renewed with a third of this left.
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 365 * 24 * time.Hour
	// resync is how often every replica re-reads the Secret (to serve a certificate another
	// replica renewed) and checks the caBundle; retryAfter is the first wait after a failed
	// pass.
	resync     = time.Minute
	retryAfter = 5 * time.Second
)

// Certifier keeps the webhook's CA and serving certificate in a Secret, serves the
// certificate and writes the CA into the caBundle of the webhook configuration. Every
// replica runs one (no leader): they race to create and renew the Secret through the API
// server's optimistic concurrency, and all serve what the Secret holds.
type Certifier struct {
	// Client writes the Secret and the webhook configuration.
	Client client.Client
	// Reader reads them live (the manager's API reader: no cache, no list or watch).
	Reader client.Reader
	// Secret is the kubernetes.io/tls Secret (ca.crt, tls.crt, tls.key, and ca.key).
	Secret types.NamespacedName
	// Configuration is the MutatingWebhookConfiguration whose webhooks get the CA; empty:
	// none is patched.
	Configuration string
	// Hosts are the names the serving certificate carries; the API server calls the webhook
	// Service as <service>.<namespace>.svc.
	Hosts []string
	// Now is the clock of the renewals; time.Now when nil.
	Now func() time.Time
	Log logr.Logger

	cert atomic.Pointer[tls.Certificate]
}

// NeedLeaderElection is false: every replica serves the webhook, so every one needs the
// certificate.
func (c *Certifier) NeedLeaderElection() bool { return false }

// GetCertificate serves the certificate last read from the Secret (tls.Config.GetCertificate).
func (c *Certifier) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cert.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("the webhook's certificate is not loaded yet")
}

// Start keeps the certificate until ctx ends: a pass at once, then every minute, and after a
// failure sooner (5 s, doubling up to the minute).
func (c *Certifier) Start(ctx context.Context) error {
	failures := 0
	for {
		wait := resync
		if err := c.Reconcile(ctx); err != nil {
			c.Log.Error(err, "Failed to keep the webhook's certificate; retrying", "secret", c.Secret.String())
			wait = min(retryAfter<<min(failures, 4), resync)
			failures++
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Reconcile is one pass: the Secret made or renewed as needed, its certificate served, its CA
// in the caBundle.
func (c *Certifier) Reconcile(ctx context.Context) error {
	sec, err := c.ensureSecret(ctx)
	if err != nil {
		return fmt.Errorf("while keeping Secret %s: %w", c.Secret, err)
	}
	pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return fmt.Errorf("the certificate of Secret %s: %w", c.Secret, err)
	}
	if old := c.cert.Load(); old == nil || !bytes.Equal(old.Certificate[0], pair.Certificate[0]) {
		c.cert.Store(&pair)
		c.Log.Info("Loaded the webhook's certificate", "secret", c.Secret.String(), "notAfter", pair.Leaf.NotAfter)
	}
	if c.Configuration == "" {
		return nil
	}
	if err := c.patchCABundle(ctx, sec.Data[CACertKey]); err != nil {
		return fmt.Errorf("while writing the caBundle of MutatingWebhookConfiguration %s: %w", c.Configuration, err)
	}
	return nil
}

// ensureSecret reads the Secret, creating or renewing it when needed. Losing a race to
// another replica (AlreadyExists, Conflict) means reading what that replica wrote.
func (c *Certifier) ensureSecret(ctx context.Context) (*corev1.Secret, error) {
	for range 5 {
		sec := &corev1.Secret{}
		err := c.Reader.Get(ctx, c.Secret, sec)
		if apierrors.IsNotFound(err) {
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: c.Secret.Namespace, Name: c.Secret.Name,
					Labels: map[string]string{"app.kubernetes.io/name": "facesearch", "app.kubernetes.io/component": "webhook"}},
				Type: corev1.SecretTypeTLS,
			}
			if _, err := c.renew(sec); err != nil {
				return nil, err
			}
			err = c.Client.Create(ctx, sec)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return sec, err
		}
		if err != nil {
			return nil, err
		}
		changed, err := c.renew(sec)
		if err != nil || !changed {
			return sec, err
		}
		// The resourceVersion read above makes this conditional.
		err = c.Client.Update(ctx, sec)
		if apierrors.IsConflict(err) {
			continue
		}
		if err == nil {
			c.Log.Info("Renewed the webhook's certificate", "secret", c.Secret.String())
		}
		return sec, err
	}
	return nil, errors.New("the Secret kept changing under this replica")
}

// renew makes what is missing or due in the Secret's data: the CA when less than a third of
// its validity is left, the serving certificate likewise or when it is not the current CA's
// for every host. It reports whether it changed anything.
func (c *Certifier) renew(sec *corev1.Secret) (bool, error) {
	now := c.now()
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	changed := false
	set := func(k string, v []byte) {
		if !bytes.Equal(sec.Data[k], v) {
			sec.Data[k] = v
			changed = true
		}
	}

	// The first certificate of ca.crt is the CA that ca.key belongs to; the one after it is
	// the CA it replaced, trusted until it expires, so that the API server accepts the
	// replicas that still serve the old certificate for the minute they take to re-read.
	bundle := sec.Data[CACertKey]
	first, rest := pem.Decode(bundle)
	ca := pki.KeyPair{KeyPEM: sec.Data[CAKeyKey]}
	if first != nil {
		ca.CertPEM = pem.EncodeToMemory(first)
	}
	if !pki.ValidCAAt(ca, now, third(ca.CertPEM)) {
		next, err := pki.NewCAAt(c.Hosts[0]+" CA", now, caValidity)
		if err != nil {
			return false, err
		}
		newBundle := next.CertPEM
		if pki.ValidCAAt(ca, now, 0) {
			newBundle = append(append([]byte{}, next.CertPEM...), ca.CertPEM...)
		}
		set(CACertKey, newBundle)
		set(CAKeyKey, next.KeyPEM)
		ca = next
	} else {
		set(CACertKey, append(append([]byte{}, ca.CertPEM...), unexpired(rest, now)...))
	}

	serving := pki.KeyPair{CertPEM: sec.Data[corev1.TLSCertKey], KeyPEM: sec.Data[corev1.TLSPrivateKeyKey]}
	valid := true
	for _, h := range c.Hosts {
		valid = valid && pki.ValidAt(serving, ca.CertPEM, h, now, third(serving.CertPEM))
	}
	if !valid {
		next, err := pki.IssueServingAt(ca, c.Hosts, now, servingValidity)
		if err != nil {
			return false, err
		}
		set(corev1.TLSCertKey, next.CertPEM)
		set(corev1.TLSPrivateKeyKey, next.KeyPEM)
	}
	return changed, nil
}

// patchCABundle writes caPEM into every webhook of the configuration, when it differs.
func (c *Certifier) patchCABundle(ctx context.Context, caPEM []byte) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Reader.Get(ctx, types.NamespacedName{Name: c.Configuration}, mwc); err != nil {
			return err
		}
		// A merge patch replaces the whole list of webhooks: the lock keeps it from undoing
		// a change made since the read.
		patch := client.MergeFromWithOptions(mwc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		changed := false
		for i := range mwc.Webhooks {
			if !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, caPEM) {
				mwc.Webhooks[i].ClientConfig.CABundle = caPEM
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if err := c.Client.Patch(ctx, mwc, patch); err != nil {
			return err
		}
		c.Log.Info("Wrote the webhook's CA into the caBundle", "configuration", c.Configuration)
		return nil
	})
}

func (c *Certifier) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// third is a third of the validity of the first certificate in certPEM: what must be left of
// it, or it is renewed. Zero for no certificate (then nothing is valid anyway).
func third(certPEM []byte) time.Duration {
	notBefore, notAfter, err := pki.Lifetime(certPEM)
	if err != nil {
		return 0
	}
	return notAfter.Sub(notBefore) / 3
}

// unexpired keeps the certificates of a PEM bundle that are still valid at now.
func unexpired(bundle []byte, now time.Time) []byte {
	var out []byte
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out
		}
		one := pem.EncodeToMemory(block)
		if _, notAfter, err := pki.Lifetime(one); err == nil && now.Before(notAfter) {
			out = append(out, one...)
		}
	}
}
