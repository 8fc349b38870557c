// Package local runs the embedded local stack (MinIO, control plane, in-process index shards)
// used by `make demo`, `make run-local` and the tests.
package local
