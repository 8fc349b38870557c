//go:build amd64 && !purego

package benchdata

import "golang.org/x/sys/cpu"

//go:noescape
func sumAVX2(p *uint64, n int) uint64

func sum(b []uint64) uint64 {
	if cpu.X86.HasAVX2 && len(b) >= 16 {
		n := len(b) &^ 15
		return sumAVX2(&b[0], n) + sumGeneric(b[n:])
	}
	return sumGeneric(b)
}
