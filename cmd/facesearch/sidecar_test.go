package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// TestSidecarFlags: the listen address must be a loopback one, the endpoint is required
// (from the flag or FACESEARCH_ENDPOINT) except to probe.
func TestSidecarFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     string // FACESEARCH_ENDPOINT
		wantErr string // "" = accepted
	}{
		{"defaults with --endpoint", []string{"--endpoint=https://facesearch-api:8443"}, "", ""},
		{"endpoint from the environment", nil, "https://facesearch-api:8443", ""},
		{"no endpoint", nil, "", "--endpoint"},
		{"probe needs no endpoint", []string{"--probe"}, "", ""},
		{"127.0.0.0/8", []string{"--listen=127.10.0.1:8480"}, "https://facesearch-api", ""},
		{"IPv6 loopback", []string{"--listen=[::1]:8480"}, "https://facesearch-api", ""},
		{"localhost", []string{"--listen=localhost:8480"}, "https://facesearch-api", ""},
		{"every interface", []string{"--listen=:8480"}, "https://facesearch-api", "loopback"},
		{"0.0.0.0", []string{"--listen=0.0.0.0:8480"}, "https://facesearch-api", "loopback"},
		{"[::]", []string{"--listen=[::]:8480"}, "https://facesearch-api", "loopback"},
		{"pod IP", []string{"--listen=10.1.2.3:8480"}, "https://facesearch-api", "loopback"},
		{"a host name", []string{"--listen=app.example.com:8480"}, "https://facesearch-api", "loopback"},
		{"no port", []string{"--listen=127.0.0.1"}, "https://facesearch-api", "loopback"},
		{"probe of a non-loopback address", []string{"--probe", "--listen=0.0.0.0:8480"}, "", "loopback"},
		{"stray argument", []string{"--endpoint=https://facesearch-api", "extra"}, "", "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FACESEARCH_ENDPOINT", tc.env)
			f, err := parseSidecarFlags(tc.args)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error about %s", err, tc.wantErr)
			case err == nil && !f.probe && f.endpoint != "https://facesearch-api:8443" && f.endpoint != "https://facesearch-api":
				t.Errorf("endpoint %q", f.endpoint)
			}
		})
	}
}

// sidecarTestEndpoint is a TLS server answering every request with 200 {}.
func sidecarTestEndpoint(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, "{}")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestSidecarEndpointCA: the endpoint is trusted through --ca-file or FACESEARCH_ENDPOINT_CA,
// not through the system's roots or another CA; both at once, or a file without a
// certificate, stop the start.
func TestSidecarEndpointCA(t *testing.T) {
	srv := sidecarTestEndpoint(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeAtomically(t, token, []byte("pod-token"))
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile, otherFile, junkFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "other.crt"), filepath.Join(dir, "junk.crt")
	writeAtomically(t, caFile, []byte(caPEM))
	writeAtomically(t, otherFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newTestCA(t).cert.Raw}))
	writeAtomically(t, junkFile, []byte("not a certificate"))
	for _, tc := range []struct {
		name     string
		caFile   string
		caEnv    string
		startErr string // "" = starts
		status   int
	}{
		{"--ca-file", caFile, "", "", http.StatusOK},
		{"FACESEARCH_ENDPOINT_CA", "", caPEM, "", http.StatusOK},
		{"system roots", "", "", "", http.StatusInternalServerError},
		{"another CA", otherFile, "", "", http.StatusInternalServerError},
		{"both", caFile, caPEM, "give one", 0},
		{"no certificate in the file", junkFile, "", "no PEM certificate", 0},
		{"missing file", filepath.Join(dir, "missing.crt"), "", "--ca-file", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &sidecarFlags{endpoint: srv.URL, caFile: tc.caFile, tokenFile: token}
			proxy, err := newSidecarProxy(f, tc.caEnv, logr.Discard())
			if tc.startErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.startErr) {
					t.Errorf("got %v, want an error about %q", err, tc.startErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("X-Amz-Target", "RekognitionService.ListCollections")
			w := httptest.NewRecorder()
			proxy.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Errorf("got %d %q, want %d", w.Code, w.Body.String(), tc.status)
			}
		})
	}
}

// probeProcess runs `facesearch sidecar --probe --listen addr` as the kubelet's exec probe
// does, and returns its exit code.
func probeProcess(t *testing.T, addr string) int {
	t.Helper()
	args, _ := json.Marshal([]string{"sidecar", "--probe", "--listen", addr})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args))
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestSidecarServesAndProbes: --probe exits 1 while the token is missing and 0 once it is
// there; after the stop signal the sidecar serves for --shutdown-delay, then stops, and the
// probe exits 1 again.
func TestSidecarServesAndProbes(t *testing.T) {
	srv := sidecarTestEndpoint(t)
	token := filepath.Join(t.TempDir(), "token")
	f, err := parseSidecarFlags([]string{"--listen=127.0.0.1:0", "--endpoint=" + srv.URL, "--token-file=" + token, "--shutdown-delay=1s"})
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := newSidecarProxy(f, "", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serveSidecar(ctx, f, proxy, logr.Discard(), func(addr string) { started <- addr }) }()
	var addr string
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("the sidecar did not start: %v", err)
	}

	if code := probeProcess(t, addr); code != 1 {
		t.Errorf("probe without a token: exit %d, want 1", code)
	}
	writeAtomically(t, token, []byte("pod-token"))
	time.Sleep(1100 * time.Millisecond) // the token file is looked at once a second
	if code := probeProcess(t, addr); code != 0 {
		t.Errorf("probe with a token: exit %d, want 0", code)
	}

	cancel()
	if err := probeSidecar(addr); err != nil {
		t.Errorf("probe during the shutdown delay: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the sidecar ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar did not stop within 10 s of the signal")
	}
	if code := probeProcess(t, addr); code != 1 {
		t.Errorf("probe of a stopped sidecar: exit %d, want 1", code)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the stopped sidecar still accepts connections")
	}
}
