package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// endpointCATTL is how long the api's CA is kept between reads: the Secret is read at
// injection time, not watched (the manager may not list Secrets), and a burst of pods should
// not read it once each.
const endpointCATTL = 30 * time.Second

// endpointCA reads ca.crt of the api's TLS Secret through a client that reads live.
type endpointCA struct {
	reader client.Reader
	// secret is the api's TLS Secret; an empty name means no CA (a plain HTTP endpoint).
	secret types.NamespacedName
	now    func() time.Time

	mu     sync.Mutex
	pem    []byte
	readAt time.Time
}

// get returns the CA's PEM, nil when the Secret has no ca.crt. A failed read falls back to
// the last one read, so that a blip of the API server does not refuse pods.
func (c *endpointCA) get(ctx context.Context) ([]byte, error) {
	if c.secret.Name == "" {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < endpointCATTL {
		return c.pem, nil
	}
	sec := &corev1.Secret{}
	if err := c.reader.Get(ctx, c.secret, sec); err != nil {
		if !c.readAt.IsZero() {
			logf.FromContext(ctx).Info("Kept the endpoint's CA read before", "secret", c.secret.String(), "reason", err.Error())
			return c.pem, nil
		}
		return nil, fmt.Errorf("while reading Secret %s: %w", c.secret, err)
	}
	c.pem, c.readAt = sec.Data["ca.crt"], now
	return c.pem, nil
}
