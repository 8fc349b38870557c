// Package workload runs a collection's index shards: as Deployments and Services on a
// cluster, and defines the seam (IndexRunner) that local mode fills with in-process shards.
package workload
