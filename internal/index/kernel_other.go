//go:build !amd64 || purego

package index

const useAVX2 = false

func dotBatchF32AVX2(q *float32, data *float32, dim int, count int, out *float32) {
	panic("unreachable")
}

func dotBatchI8AVX2(q *int16, data *int8, dim int, count int, out *int32) {
	panic("unreachable")
}

func dotI8I8AVX2(a *int8, b *int8, dim int) int32 { panic("unreachable") }
