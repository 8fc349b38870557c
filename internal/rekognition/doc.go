// Package rekognition serves the face collection and user operations of
// Amazon Rekognition's HTTP API (JSON 1.1 protocol, API version 2016-06-27),
// and DetectFaces and CompareFaces, so that AWS SDKs work against this
// operator by changing only their endpoint.
//
// The package is the protocol layer only: request and response types with
// Rekognition's JSON member names, validation of every member against the
// service model (ranges, patterns, enums, defaults), AWS Signature Version 4
// verification against a CredentialStore (each key limited to its operations
// and its collections),
// ClientRequestToken idempotency, a request body limit, a per-key rate limit,
// bounded concurrency and a per-request deadline. What the operations do is
// the job of a Backend:
//
//	h := rekognition.NewHandler(backend, rekognition.HandlerOptions{
//		Credentials: creds, // e.g. a *SecretCredentials fed from a Secret
//	})
//	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
//
// docs/http-api.md describes the wire behaviour, the error types and the
// Secret format.
package rekognition
