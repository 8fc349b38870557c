package rekognition

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	sigV4Service   = "rekognition"
	amzDateFormat  = "20060102T150405Z"
)

// requiredSignedHeaders must be among a request's SignedHeaders: the operation and the body's
// media type are what the signature binds, so that a request signed for one operation cannot
// be sent as another. Every AWS SDK signs them.
var requiredSignedHeaders = []string{"content-type", "host", "x-amz-date", "x-amz-target"}

// sigV4Request is a request whose Authorization header passed every check that needs no
// body: the key is known, the scope and date are right, the operation is signed. verify then
// checks the signature over the body.
type sigV4Request struct {
	keyID         string
	cred          Credential
	amzDate       string
	scopeDate     string
	region        string
	signedHeaders string
	headers       []string
	signature     string
}

// parseSigV4 checks the header-based AWS Signature Version 4 of r as far as the headers
// allow, as the AWS SDKs send it (Authorization: AWS4-HMAC-SHA256 Credential=...,
// SignedHeaders=..., Signature=...), for service "rekognition" in any region. It costs no
// body read, so a request that fails here costs the server next to nothing.
//
// It returns an *Error with the type AWS endpoints answer: MissingAuthenticationTokenException
// (no Authorization), IncompleteSignatureException (malformed Authorization or missing
// X-Amz-Date), UnrecognizedClientException (unknown key), InvalidSignatureException (wrong
// service or scope, the operation or content type not signed, or a request time more than
// maxSkew away from now: "Signature expired").
func parseSigV4(r *http.Request, store CredentialStore, now time.Time, maxSkew time.Duration) (*sigV4Request, *Error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if r.URL.Query().Get("X-Amz-Signature") != "" {
			return nil, newErr(TypeIncompleteSignature, "Presigned (query string) requests are not supported; sign the Authorization header")
		}
		return nil, newErr(TypeMissingAuthenticationToken, "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, sigV4Algorithm+" ")
	if !ok {
		return nil, newErr(TypeIncompleteSignature, "Authorization header must use "+sigV4Algorithm)
	}
	p := &sigV4Request{}
	var credential string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			p.signedHeaders = v
		case "Signature":
			p.signature = v
		}
	}
	if credential == "" || p.signedHeaders == "" || p.signature == "" {
		return nil, newErr(TypeIncompleteSignature, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'")
	}
	// Credential=AKID/20260101/region/service/aws4_request
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return nil, newErr(TypeIncompleteSignature, "Credential must have the form <key>/<date>/<region>/<service>/aws4_request")
	}
	var service string
	p.keyID, p.scopeDate, p.region, service = scope[0], scope[1], scope[2], scope[3]

	p.amzDate = r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, p.amzDate)
	if err != nil {
		return nil, newErr(TypeIncompleteSignature, "Authorization header requires an X-Amz-Date header in the form yyyyMMddTHHmmssZ")
	}

	if p.cred, ok = store.Lookup(p.keyID); !ok {
		return nil, newErr(TypeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	if service != sigV4Service {
		return nil, newErr(TypeInvalidSignature, "Credential should be scoped to correct service: '"+sigV4Service+"'.")
	}
	if p.scopeDate != t.Format("20060102") {
		return nil, newErr(TypeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+p.scopeDate+"' != '"+t.Format("20060102")+"'")
	}
	if d := now.Sub(t); d > maxSkew {
		return nil, newErr(TypeInvalidSignature, "Signature expired: "+p.amzDate+" is now earlier than "+now.Add(-maxSkew).UTC().Format(amzDateFormat)+" ("+now.UTC().Format(amzDateFormat)+" - "+maxSkew.String()+".)")
	} else if d < -maxSkew {
		return nil, newErr(TypeInvalidSignature, "Signature not yet current: "+p.amzDate+" is still later than "+now.Add(maxSkew).UTC().Format(amzDateFormat)+" ("+now.UTC().Format(amzDateFormat)+" + "+maxSkew.String()+".)")
	}
	p.headers = strings.Split(p.signedHeaders, ";")
	if !sort.StringsAreSorted(p.headers) {
		return nil, newErr(TypeInvalidSignature, "SignedHeaders must be sorted")
	}
	for _, h := range requiredSignedHeaders {
		if !containsStr(p.headers, h) {
			return nil, newErr(TypeInvalidSignature, "SignedHeaders must include "+strings.Join(requiredSignedHeaders, ", ")+": the operation and content type are bound to the signature")
		}
	}
	return p, nil
}

// verify checks the signature over the body actually received. The payload hash is
// X-Amz-Content-Sha256 when present (and must then match the body) or computed from body.
func (p *sigV4Request) verify(r *http.Request, body []byte) *Error {
	bodyHash := sha256Hex(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != "UNSIGNED-PAYLOAD" && h != bodyHash {
		return newErr(TypeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	var cr strings.Builder
	cr.Grow(512)
	cr.WriteString(r.Method)
	cr.WriteByte('\n')
	cr.WriteString(canonicalURI(r.URL))
	cr.WriteByte('\n')
	cr.WriteString(canonicalQuery(r.URL))
	cr.WriteByte('\n')
	for _, h := range p.headers {
		cr.WriteString(h)
		cr.WriteByte(':')
		cr.WriteString(canonicalHeaderValue(r, h))
		cr.WriteByte('\n')
	}
	cr.WriteByte('\n')
	cr.WriteString(p.signedHeaders)
	cr.WriteByte('\n')
	cr.WriteString(bodyHash)

	scopeStr := p.scopeDate + "/" + p.region + "/" + sigV4Service + "/aws4_request"
	sts := sigV4Algorithm + "\n" + p.amzDate + "\n" + scopeStr + "\n" + sha256Hex([]byte(cr.String()))

	k := hmacSHA256([]byte("AWS4"+p.cred.SecretAccessKey), p.scopeDate)
	k = hmacSHA256(k, p.region)
	k = hmacSHA256(k, sigV4Service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(p.signature))) {
		return newErr(TypeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalHeaderValue returns the value of a signed header as the signer
// saw it: Go's server moves Host and Content-Length out of r.Header.
func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
		return ""
	}
	vals := r.Header.Values(name)
	for i, v := range vals {
		vals[i] = collapseSpaces(strings.TrimSpace(v))
	}
	return strings.Join(vals, ",")
}

func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// canonicalURI is the URI-encoded path, encoded once more as non-S3 services
// expect ("/" for the Rekognition endpoint).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return escapePath(p)
}

func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func canonicalQuery(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := q[k]
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escapeQuery(k)+"="+escapeQuery(v))
		}
	}
	return strings.Join(parts, "&")
}

func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
