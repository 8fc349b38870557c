// Package pki issues the small certificate authorities and serving certificates that protect
// the manager-to-shard traffic (one CA per Collection, one serving certificate for its index
// pods) and the sidecar injection webhook (internal/webhook). It is a leaf: standard library
// only.
package pki
