package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// certReloader serves the certificate of a PEM certificate file and key file and loads them
// again when either changes. A Kubernetes Secret mounted as a volume is updated in place by
// the kubelet (cert-manager renewing it, or a person replacing it), so a renewed certificate
// is served without a restart.
//
// The files are looked at (os.Stat, no read) at most once per checkEvery, from the TLS
// handshake itself; they are read again only when the size, the modification time or the
// file itself (the kubelet swaps a symlink to a new directory) changed. A pair that does not
// load (a key written after its certificate, a broken file) keeps the previous certificate
// in service and is tried again on the next change.
type certReloader struct {
	certFile, keyFile string
	checkEvery        time.Duration
	log               logr.Logger

	mu                sync.Mutex
	cert              *tls.Certificate
	certStat, keyStat os.FileInfo
	checked           time.Time
}

func newCertReloader(certFile, keyFile string, log logr.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, checkEvery: time.Second, log: log}
	r.certStat, r.keyStat = stat(certFile), stat(keyFile)
	if err := r.load(); err != nil {
		return nil, err
	}
	r.checked = time.Now()
	return r, nil
}

func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

// sameFile tells whether a file is as it was when last seen.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (r *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("while loading the TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert = &cert
	return nil
}

// GetCertificate is the tls.Config hook: the current certificate, reloaded first if its
// files changed.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= r.checkEvery {
		r.checked = now
		certStat, keyStat := stat(r.certFile), stat(r.keyFile)
		if !sameFile(certStat, r.certStat) || !sameFile(keyStat, r.keyStat) {
			r.certStat, r.keyStat = certStat, keyStat
			if err := r.load(); err != nil {
				r.log.Error(err, "Keeping the previous TLS certificate until the files change again")
			} else {
				r.log.Info("Reloaded the TLS certificate", "cert", r.certFile, "notAfter", r.cert.Leaf.NotAfter)
			}
		}
	}
	return r.cert, nil
}

// serverTLSConfig is the endpoint's TLS: 1.2 or newer, and for 1.2 only the ECDHE suites
// with AEAD ciphers (forward secrecy; Mozilla's "intermediate" list). TLS 1.3's suites are
// not configurable and all qualify.
func serverTLSConfig(r *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: r.GetCertificate,
	}
}
