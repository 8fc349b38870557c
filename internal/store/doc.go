// Package store keeps face collections in MinIO: a manifest per collection, an append-only
// commit log written with conditional PUTs, and snapshots whose vectors live in large
// segment files that an index shard loads with a few reads.
package store
