package pki

import (
	"testing"
	"time"
)

func TestServingCertificateChecks(t *testing.T) {
	ca, err := NewCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("other", time.Hour)
	leaf, err := IssueServing(ca, []string{"people-index.team-a.svc"}, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		kp        KeyPair
		caPEM     []byte
		dnsName   string
		remaining time.Duration
		want      bool
	}{
		{"good", leaf, ca.CertPEM, "people-index.team-a.svc", 10 * time.Minute, true},
		{"good, CA among others", leaf, append(append([]byte{}, other.CertPEM...), ca.CertPEM...), "people-index.team-a.svc", 0, true},
		{"expires too soon", leaf, ca.CertPEM, "people-index.team-a.svc", 40 * time.Minute, false},
		{"another CA", leaf, other.CertPEM, "people-index.team-a.svc", 0, false},
		{"another name", leaf, ca.CertPEM, "guests-index.team-a.svc", 0, false},
		{"key of another certificate", KeyPair{CertPEM: leaf.CertPEM, KeyPEM: ca.KeyPEM}, ca.CertPEM, "people-index.team-a.svc", 0, false},
		{"nothing", KeyPair{}, ca.CertPEM, "people-index.team-a.svc", 0, false},
		{"a CA is no serving certificate", ca, ca.CertPEM, "ca", 0, false},
	}
	for _, tc := range cases {
		if got := Valid(tc.kp, tc.caPEM, tc.dnsName, tc.remaining); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !ValidCA(ca, 30*time.Minute) || ValidCA(ca, 2*time.Hour) || ValidCA(leaf, 0) {
		t.Error("ValidCA: want a CA valid for its remaining time only, and a leaf never")
	}
}

// TestIssuedAt: certificates issued at another time (a test's clock) are valid from then,
// checked at that time; an IP address is a host as good as a DNS name.
func TestIssuedAt(t *testing.T) {
	later := time.Now().Add(5 * 365 * 24 * time.Hour)
	ca, err := NewCAAt("ca", later, 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := IssueServingAt(ca, []string{"hook.system.svc", "127.0.0.1"}, later, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	notBefore, notAfter, err := Lifetime(leaf.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if notAfter.Sub(notBefore) < time.Hour || notBefore.After(later) || !notAfter.Equal(later.Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("lifetime %v to %v, want an hour from %v (with the slack before)", notBefore, notAfter, later)
	}
	cases := []struct {
		name      string
		host      string
		now       time.Time
		remaining time.Duration
		want      bool
	}{
		{"at the time of issue", "hook.system.svc", later, 0, true},
		{"by its IP address", "127.0.0.1", later, 0, true},
		{"another IP address", "127.0.0.2", later, 0, false},
		{"not yet valid", "hook.system.svc", time.Now(), 0, false},
		{"half an hour left", "hook.system.svc", later.Add(30 * time.Minute), 20 * time.Minute, true},
		{"less left than wanted", "hook.system.svc", later.Add(30 * time.Minute), 40 * time.Minute, false},
		{"expired", "hook.system.svc", later.Add(2 * time.Hour), 0, false},
	}
	for _, tc := range cases {
		if got := ValidAt(leaf, ca.CertPEM, tc.host, tc.now, tc.remaining); got != tc.want {
			t.Errorf("%s: ValidAt = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !ValidCAAt(ca, later.Add(time.Hour), 8*time.Hour) || ValidCAAt(ca, later.Add(time.Hour), 10*time.Hour) || ValidCAAt(ca, time.Now(), 0) {
		t.Error("ValidCAAt: want the CA valid from its time of issue for its validity only")
	}
	if _, _, err := Lifetime([]byte("no certificate")); err == nil {
		t.Error("Lifetime of no certificate: no error")
	}
}
