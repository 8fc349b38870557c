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
