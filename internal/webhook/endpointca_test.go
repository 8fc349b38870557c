package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// TestEndpointCA: the api's CA is read at most once per TTL, a Secret without ca.crt gives
// none, and a failed read keeps the last one (an unreachable API server is a fault a real
// one cannot produce on demand, hence the fake client).
func TestEndpointCA(t *testing.T) {
	key := types.NamespacedName{Namespace: testNamespace, Name: "api-tls"}
	secret := func(data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Data: data}
	}
	type step struct {
		// after is the time since the first read; fail makes the read fail; update replaces
		// the Secret's data before the step.
		after  time.Duration
		fail   bool
		update map[string][]byte
		want   string
		err    bool
		reads  int
	}
	cases := []struct {
		name   string
		secret *corev1.Secret
		steps  []step
	}{
		{name: "cached for the TTL", secret: secret(map[string][]byte{"ca.crt": []byte("ca-1")}), steps: []step{
			{want: "ca-1", reads: 1},
			{after: 10 * time.Second, update: map[string][]byte{"ca.crt": []byte("ca-2")}, want: "ca-1", reads: 1},
			{after: 31 * time.Second, want: "ca-2", reads: 2},
		}},
		{name: "no ca.crt", secret: secret(map[string][]byte{"tls.crt": []byte("cert")}), steps: []step{{want: "", reads: 1}}},
		{name: "read fails after a success", secret: secret(map[string][]byte{"ca.crt": []byte("ca-1")}), steps: []step{
			{want: "ca-1", reads: 1},
			{after: time.Minute, fail: true, want: "ca-1", reads: 2},
		}},
		{name: "no Secret", steps: []step{{err: true, reads: 1}}},
		{name: "first read fails", secret: secret(map[string][]byte{"ca.crt": []byte("ca-1")}), steps: []step{{fail: true, err: true, reads: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			if tc.secret != nil {
				b = b.WithObjects(tc.secret)
			}
			var reads int
			var fail bool
			base := b.Build()
			c := interceptor.NewClient(base, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				reads++
				if fail {
					return errors.New("connection refused")
				}
				return c.Get(ctx, key, obj, opts...)
			}})
			start := time.Now()
			clk := &clock{t: start}
			ca := &endpointCA{reader: c, secret: key, now: clk.Now}
			for i, s := range tc.steps {
				if s.update != nil {
					sec := &corev1.Secret{}
					if err := base.Get(context.Background(), key, sec); err != nil {
						t.Fatal(err)
					}
					sec.Data = s.update
					if err := base.Update(context.Background(), sec); err != nil {
						t.Fatal(err)
					}
				}
				clk.set(start.Add(s.after))
				fail = s.fail
				got, err := ca.get(context.Background())
				if (err != nil) != s.err || string(got) != s.want || reads != s.reads {
					t.Errorf("step %d: %q, err %v after %d reads; want %q, error %v after %d", i, got, err, reads, s.want, s.err, s.reads)
				}
			}
		})
	}
	// No Secret named: a plain HTTP endpoint, nothing read.
	if got, err := (&endpointCA{now: time.Now}).get(context.Background()); got != nil || err != nil {
		t.Errorf("without a Secret: %q, %v", got, err)
	}
}
