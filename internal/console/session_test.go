package console

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

func TestParseSession(t *testing.T) {
	const key, other = "AKIDSESSIONTEST00001", "AKIDSESSIONTEST00002"
	now := time.Unix(1_800_000_000, 0)
	creds := rekognition.StaticCredentials{key: rekognition.FullAccess("first secret"), other: rekognition.FullAccess("other secret")}
	s, value := newSession(key, creds[key], now)
	parts := strings.Split(value, ".")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, ".")
	}
	exp, _ := strconv.ParseInt(parts[1], 10, 64)
	cases := []struct {
		name  string
		value string
		creds rekognition.StaticCredentials
		at    time.Time
		why   string
	}{
		{"as made", value, creds, now, ""},
		{"on another replica, an hour on", value, rekognition.StaticCredentials{key: creds[key]}, now.Add(time.Hour), ""},
		{"a second before its end", value, creds, now.Add(sessionTTL - time.Second), ""},
		{"expired", value, creds, now.Add(sessionTTL), sessionEnded},
		{"expiry pushed back", with(1, strconv.FormatInt(exp+3600, 10)), creds, now, sessionInvalid},
		{"another key's id", with(0, other), creds, now, sessionInvalid},
		{"another nonce", with(2, "AAAAAAAAAAAAAAAAAAAAAA"), creds, now, sessionInvalid},
		{"MAC altered", with(3, strings.Repeat("A", len(parts[3]))), creds, now, sessionInvalid},
		{"MAC not base64", with(3, "!!"), creds, now, sessionInvalid},
		{"key rotated", value, rekognition.StaticCredentials{key: rekognition.FullAccess("second secret")}, now, sessionInvalid},
		{"key removed", value, rekognition.StaticCredentials{other: creds[other]}, now, sessionInvalid},
		{"too few parts", strings.Join(parts[:3], "."), creds, now, sessionInvalid},
		{"not an access key id", with(0, "short"), creds, now, sessionInvalid},
		{"empty", "", creds, now, sessionInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := parseSession(tc.value, tc.creds, tc.at)
			if why != tc.why {
				t.Fatalf("why %q, want %q", why, tc.why)
			}
			if why == "" && (got.keyID != key || got.csrf != s.csrf || !got.expires.Equal(s.expires)) {
				t.Errorf("session %+v, want %+v", got, s)
			}
		})
	}
	// Each sign-in is a session of its own, with a token of its own.
	if s2, _ := newSession(key, creds[key], now); s2.csrf == s.csrf || s2.nonce == s.nonce {
		t.Error("two sign-ins share a CSRF token")
	}
	if !s.checkCSRF(s.csrf) || s.checkCSRF("") || s.checkCSRF(s.csrf[:len(s.csrf)-1]) {
		t.Error("checkCSRF accepts a wrong token or refuses the right one")
	}
}

func TestVerifyKey(t *testing.T) {
	creds := rekognition.StaticCredentials{"AKIDVERIFYTEST000001": rekognition.FullAccess("s3cret")}
	cases := []struct {
		id, secret string
		ok         bool
	}{
		{"AKIDVERIFYTEST000001", "s3cret", true},
		{"AKIDVERIFYTEST000001", "s3cret ", false},
		{"AKIDVERIFYTEST000001", "", false},
		{"AKIDVERIFYTEST000002", "s3cret", false},
		{"", "not an access key's secret", false},
	}
	for _, tc := range cases {
		if _, ok := verifyKey(creds, tc.id, tc.secret); ok != tc.ok {
			t.Errorf("verifyKey(%q, %q) = %v, want %v", tc.id, tc.secret, ok, tc.ok)
		}
	}
}

func TestFailureLimiter(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name     string
		failures []time.Duration // after start
		at       time.Duration
		wait     time.Duration
	}{
		{"none", nil, 0, 0},
		{"four", []time.Duration{0, 1, 2, 3}, 4, 0},
		{"five in a minute", []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second}, 50 * time.Second, 10 * time.Second},
		{"the oldest left the window", []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second}, 61 * time.Second, 0},
		{"seven: the fifth newest counts", []time.Duration{0, 1 * time.Second, 2 * time.Second, 30 * time.Second, 31 * time.Second, 32 * time.Second, 33 * time.Second}, 40 * time.Second, 22 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newFailureLimiter()
			for _, d := range tc.failures {
				l.fail("k", start.Add(d))
			}
			if got := l.wait("k", start.Add(tc.at)); got != tc.wait {
				t.Errorf("wait %v, want %v", got, tc.wait)
			}
			if got := l.wait("another", start.Add(tc.at)); got != 0 {
				t.Errorf("another key waits %v", got)
			}
		})
	}
	// A flood of made-up keys stays bounded.
	l := newFailureLimiter()
	for i := 0; i < maxLimiterKeys+100; i++ {
		l.fail(strconv.Itoa(i), start)
	}
	if len(l.seen) > maxLimiterKeys {
		t.Errorf("%d keys held, at most %d", len(l.seen), maxLimiterKeys)
	}
}
