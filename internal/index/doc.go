// Package index searches face vectors: SIMD cosine kernels over float32 and int8, shards of a
// collection loaded from the store and kept up to date, exact top-k merging, user
// aggregation, an HNSW graph for very large shards, and the index role's HTTP server.
package index
