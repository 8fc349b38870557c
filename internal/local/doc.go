// Package local runs the embedded local stack (MinIO, control plane, in-process index shards)
// used by `make demo`, `make run-local` and the tests. The processes it starts end with the
// process that started them, even when that one is killed (children.go).
package local
