// Package sidecar is the proxy that runs next to an application: it listens on the pod's
// loopback interface only and forwards Rekognition JSON requests to the operator's endpoint,
// authenticated with the pod's own projected ServiceAccount token instead of AWS keys. It
// also offers POST /search, a raw image in, SearchUsersByImage's answer out. It is a leaf:
// standard library only, so the container that runs it stays small.
package sidecar
