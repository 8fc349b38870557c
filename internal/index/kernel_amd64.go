//go:build amd64 && !purego

package index

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotBatchF32AVX2(q *float32, data *float32, dim int, count int, out *float32)

//go:noescape
func dotBatchI8AVX2(q *int16, data *int8, dim int, count int, out *int32)

//go:noescape
func dotI8I8AVX2(a *int8, b *int8, dim int) int32
