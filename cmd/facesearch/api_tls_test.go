package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// testCA is a CA that signs server certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "facesearch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// writeServerCert writes a certificate for 127.0.0.1 with the serial number given, signed by
// the CA, to certFile and keyFile. Each file is written to a temporary name and renamed, as
// the kubelet swaps a Secret volume's files.
func (ca *testCA) writeServerCert(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "facesearch-api"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomically(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestAPIEndpointServesTLS starts the endpoint as the manager does with the chart's TLS
// flags: it answers HTTPS with TLS 1.2 or newer under a certificate its CA verifies, refuses
// plain HTTP and older TLS, and serves a replaced certificate without a restart.
func TestAPIEndpointServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newTestCA(t)
	ca.writeServerCert(t, 100, certFile, keyFile)

	var af apiFlags
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	af.bind(fs, "")
	if err := fs.Parse([]string{"--api-bind-address=127.0.0.1:0", "--api-tls-cert-file=" + certFile, "--api-tls-key-file=" + keyFile, "--api-namespace=default"}); err != nil {
		t.Fatal(err)
	}
	if af.scheme() != "https" {
		t.Fatalf("scheme %q with the TLS flags, want https", af.scheme())
	}
	api, err := newAPIEndpoint(&af, search.NewService(nil), nil, nil, rekognition.StaticCredentials{}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- api.run(ctx, &af, func(addr string) { started <- addr }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("the endpoint ended with %v", err)
		}
	})
	var addr string
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("the endpoint did not start: %v", err)
	}

	// A new connection per request, so that every request sees the certificate served now.
	client := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}
	served := func() (serial int64, version uint16, err error) {
		resp, err := client(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}).Get("https://" + addr + "/healthz")
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, errors.New(resp.Status)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.TLS.Version, nil
	}

	t.Run("HTTPS verified by the CA", func(t *testing.T) {
		serial, version, err := served()
		if err != nil {
			t.Fatal(err)
		}
		if serial != 100 || version < tls.VersionTLS12 {
			t.Errorf("served certificate %d over TLS version %#x, want 100 over 1.2 or newer", serial, version)
		}
	})
	t.Run("unknown CA refused by the client", func(t *testing.T) {
		_, err := client(&tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}).Get("https://" + addr + "/healthz")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("a client without the CA: %v, want an unknown authority error", err)
		}
	})
	t.Run("plain HTTP refused", func(t *testing.T) {
		resp, err := client(nil).Post("http://"+addr+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
		if err != nil {
			return // the connection was closed: refused too
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") || resp.Header.Get("X-Amzn-RequestId") != "" {
			t.Errorf("plain HTTP got %s %q, want the TLS server's 400 without reaching the API", resp.Status, body)
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		_, err := client(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}).Get("https://" + addr + "/healthz")
		if err == nil {
			t.Error("a TLS 1.1 client was served")
		}
	})
	t.Run("replaced certificate served without a restart", func(t *testing.T) {
		// A broken pair first (a key that does not match): the previous certificate stays.
		other := filepath.Join(dir, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		ca.writeServerCert(t, 150, filepath.Join(other, "tls.crt"), filepath.Join(other, "tls.key"))
		mismatched, err := os.ReadFile(filepath.Join(other, "tls.key"))
		if err != nil {
			t.Fatal(err)
		}
		writeAtomically(t, keyFile, mismatched)
		time.Sleep(1200 * time.Millisecond) // past the reloader's check interval
		if serial, _, err := served(); err != nil || serial != 100 {
			t.Fatalf("after a broken key: certificate %d (%v), want the previous one, 100", serial, err)
		}
		// Then a good new pair, as cert-manager's renewal or a replaced Secret brings it.
		ca.writeServerCert(t, 200, certFile, keyFile)
		deadline := time.Now().Add(10 * time.Second)
		for {
			serial, _, err := served()
			if err == nil && serial == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replaced certificate was not served within 10 s: still %d (%v)", serial, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// TestAPITLSFlagsGoTogether: a certificate without its key stops the start.
func TestAPITLSFlagsGoTogether(t *testing.T) {
	af := apiFlags{addr: "127.0.0.1:0", tlsCert: "tls.crt"}
	if _, err := newAPIEndpoint(&af, search.NewService(nil), nil, nil, rekognition.StaticCredentials{}, logr.Discard()); err == nil || !strings.Contains(err.Error(), "--api-tls-key-file") {
		t.Errorf("a certificate without a key: %v, want an error naming --api-tls-key-file", err)
	}
	af = apiFlags{addr: "127.0.0.1:0", tlsCert: filepath.Join(t.TempDir(), "missing.crt"), tlsKey: "missing.key"}
	if _, err := newAPIEndpoint(&af, search.NewService(nil), nil, nil, rekognition.StaticCredentials{}, logr.Discard()); err == nil {
		t.Error("missing certificate files were accepted")
	}
}
