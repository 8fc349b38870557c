package webhook

import (
	"strings"
	"testing"
)

// TestOptionsValidate: a manager started with the injection on but a flag missing or wrong
// stops with the flag's name, rather than serving a webhook that injects a broken sidecar.
func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		return Options{Port: 9443, Namespace: testNamespace, CertMode: CertSelf, Service: "fs-facesearch-webhook",
			Secret: "fs-facesearch-webhook-tls", Configuration: "fs-facesearch-sidecar-injector",
			Sidecar: Sidecar{Image: testImage, Endpoint: testEndpoint}}
	}
	cases := []struct {
		name   string
		change func(*Options)
		want   string // "" valid
	}{
		{name: "self", change: func(*Options) {}},
		{name: "files", change: func(o *Options) {
			o.CertMode, o.Secret, o.Configuration, o.CertDir = CertFiles, "", "", "/etc/facesearch/webhook-tls"
		}},
		{name: "plain HTTP endpoint", change: func(o *Options) { o.Sidecar.Endpoint = "http://fs-facesearch-api.facesearch-system.svc:8443" }},
		{name: "no endpoint", change: func(o *Options) { o.Sidecar.Endpoint = "" }, want: "--sidecar-endpoint is required"},
		{name: "endpoint without scheme", change: func(o *Options) { o.Sidecar.Endpoint = "fs-facesearch-api:8443" }, want: "want an http(s)://host:port URL"},
		{name: "no image", change: func(o *Options) { o.Sidecar.Image = "" }, want: "--sidecar-image"},
		{name: "no namespace", change: func(o *Options) { o.Namespace = "" }, want: "--manager-namespace"},
		{name: "self without configuration", change: func(o *Options) { o.Configuration = "" }, want: "--webhook-configuration is required"},
		{name: "files without directory", change: func(o *Options) { o.CertMode = CertFiles }, want: "--webhook-cert-dir is required"},
		{name: "unknown mode", change: func(o *Options) { o.CertMode = "cert-manager" }, want: `--webhook-cert-mode "cert-manager"`},
		{name: "port out of range", change: func(o *Options) { o.Port = 70000 }, want: "--webhook-port 70000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.change(&o)
			err := o.Validate()
			if tc.want == "" && err != nil {
				t.Errorf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
