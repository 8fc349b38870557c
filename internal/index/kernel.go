package index

// The kernels compute dot products of one query with many contiguous vectors. Vectors are
// L2-normalised, so a dot product is a cosine. On amd64 with AVX2 and FMA they run in
// assembly when the dimension is a multiple of 32; everywhere else the portable Go loops
// below run, and a test checks that both agree.

// dotBatchF32 sets out[i] to the dot product of q and data[i*dim:(i+1)*dim].
func dotBatchF32(q, data []float32, out []float32) {
	dim := len(q)
	n := len(out)
	if n == 0 {
		return
	}
	_ = data[n*dim-1]
	if useAVX2 && dim%32 == 0 {
		dotBatchF32AVX2(&q[0], &data[0], dim, n, &out[0])
		return
	}
	dotBatchF32Generic(q, data, out)
}

func dotBatchF32Generic(q, data []float32, out []float32) {
	dim := len(q)
	for i := range out {
		v := data[i*dim : (i+1)*dim : (i+1)*dim]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= dim; j += 4 {
			s0 += q[j] * v[j]
			s1 += q[j+1] * v[j+1]
			s2 += q[j+2] * v[j+2]
			s3 += q[j+3] * v[j+3]
		}
		for ; j < dim; j++ {
			s0 += q[j] * v[j]
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

// dotBatchI8 sets out[i] to the integer dot product of q (int8 values widened to int16) and
// data[i*dim:(i+1)*dim].
func dotBatchI8(q []int16, data []int8, out []int32) {
	dim := len(q)
	n := len(out)
	if n == 0 {
		return
	}
	_ = data[n*dim-1]
	if useAVX2 && dim%32 == 0 {
		dotBatchI8AVX2(&q[0], &data[0], dim, n, &out[0])
		return
	}
	dotBatchI8Generic(q, data, out)
}

func dotBatchI8Generic(q []int16, data []int8, out []int32) {
	dim := len(q)
	for i := range out {
		v := data[i*dim : (i+1)*dim : (i+1)*dim]
		var s0, s1 int32
		j := 0
		for ; j+2 <= dim; j += 2 {
			s0 += int32(q[j]) * int32(v[j])
			s1 += int32(q[j+1]) * int32(v[j+1])
		}
		for ; j < dim; j++ {
			s0 += int32(q[j]) * int32(v[j])
		}
		out[i] = s0 + s1
	}
}

// dot is one float32 dot product.
func dot(a, b []float32) float32 {
	var out [1]float32
	dotBatchF32(a, b[:len(a)], out[:])
	return out[0]
}

// dotI8I8 is the integer dot product of two int8 vectors.
func dotI8I8(a, b []int8) int32 {
	if useAVX2 && len(a)%32 == 0 && len(a) > 0 {
		_ = b[len(a)-1]
		return dotI8I8AVX2(&a[0], &b[0], len(a))
	}
	return dotI8I8Generic(a, b)
}

func dotI8I8Generic(a, b []int8) int32 {
	var s int32
	for i := range a {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}
