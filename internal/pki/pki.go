package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyPair is a certificate and its private key, PEM-encoded.
type KeyPair struct {
	CertPEM, KeyPEM []byte
}

// NewCA makes a self-signed CA certificate valid for validity from now.
func NewCA(commonName string, validity time.Duration) (KeyPair, error) {
	return NewCAAt(commonName, time.Now(), validity)
}

// NewCAAt is NewCA issued at now: the clock of whoever decides when to renew.
func NewCAAt(commonName string, now time.Time, validity time.Duration) (KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return issue(tmpl, nil, nil, now, validity)
}

// IssueServing issues a TLS server certificate for dnsNames, signed by ca.
func IssueServing(ca KeyPair, dnsNames []string, validity time.Duration) (KeyPair, error) {
	return IssueServingAt(ca, dnsNames, time.Now(), validity)
}

// IssueServingAt is IssueServing issued at now. A host that is an IP address goes into the
// certificate's IP addresses, for a client that dials one (a test's 127.0.0.1).
func IssueServingAt(ca KeyPair, hosts []string, now time.Time, validity time.Duration) (KeyPair, error) {
	caCert, caKey, err := parse(ca)
	if err != nil {
		return KeyPair{}, fmt.Errorf("the CA: %w", err)
	}
	if len(hosts) == 0 {
		return KeyPair{}, errors.New("a serving certificate needs a DNS name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(tmpl, caCert, caKey, now, validity)
}

func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, now time.Time, validity time.Duration) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.SerialNumber = serial
	// A little slack for clocks that run behind the manager's.
	tmpl.NotBefore = now.Add(-5 * time.Minute)
	tmpl.NotAfter = now.Add(validity)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return KeyPair{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func parse(kp KeyPair) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// Valid reports whether kp is a certificate with its key, signed by one of the CAs in
// caPEM, naming dnsName, and valid for at least another minRemaining.
func Valid(kp KeyPair, caPEM []byte, dnsName string, minRemaining time.Duration) bool {
	return ValidAt(kp, caPEM, dnsName, time.Now(), minRemaining)
}

// ValidAt is Valid at the time now.
func ValidAt(kp KeyPair, caPEM []byte, dnsName string, now time.Time, minRemaining time.Duration) bool {
	cert, _, err := parse(kp)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	for _, at := range []time.Time{now, now.Add(minRemaining)} {
		_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: dnsName, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			return false
		}
	}
	return true
}

// ValidCA reports whether kp is a CA certificate with its key, valid for at least another
// minRemaining.
func ValidCA(kp KeyPair, minRemaining time.Duration) bool {
	return ValidCAAt(kp, time.Now(), minRemaining)
}

// ValidCAAt is ValidCA at the time now.
func ValidCAAt(kp KeyPair, now time.Time, minRemaining time.Duration) bool {
	cert, _, err := parse(kp)
	if err != nil {
		return false
	}
	return cert.IsCA && !now.Before(cert.NotBefore) && now.Add(minRemaining).Before(cert.NotAfter)
}

// Lifetime is the validity period of the first certificate in certPEM, for renewing at a
// share of it.
func Lifetime(certPEM []byte) (notBefore, notAfter time.Time, err error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return time.Time{}, time.Time{}, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return cert.NotBefore, cert.NotAfter, nil
}

// ClientConfig is the TLS configuration of a client that trusts only the CAs in caPEM and
// expects the server to be serverName, whatever address it dials.
func ClientConfig(caPEM []byte, serverName string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in the bundle")
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS13}, nil
}
