// Package index searches face vectors: SIMD cosine kernels over float32 and int8, shards of a
// collection (int8 codes and fp16 copies) loaded from the store and kept up to date, exact
// top-k merging, user aggregation, and the index role's HTTP server.
package index
