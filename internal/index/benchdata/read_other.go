//go:build !amd64 || purego

package benchdata

func sum(b []uint64) uint64 { return sumGeneric(b) }
