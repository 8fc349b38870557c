//go:build amd64 && !purego

#include "textflag.h"

// func dotBatchF32AVX2(q *float32, data *float32, dim int, count int, out *float32)
// dim must be a positive multiple of 32; four accumulators hide the FMA latency.
TEXT ·dotBatchF32AVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ data+8(FP), DI
	MOVQ dim+16(FP), CX
	MOVQ count+24(FP), DX
	MOVQ out+32(FP), R8
	SHLQ $2, CX

f32vec:
	TESTQ DX, DX
	JZ    f32done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ  AX, AX

f32inner:
	VMOVUPS     (SI)(AX*1), Y4
	VMOVUPS     32(SI)(AX*1), Y5
	VMOVUPS     64(SI)(AX*1), Y6
	VMOVUPS     96(SI)(AX*1), Y7
	VFMADD231PS (DI)(AX*1), Y4, Y0
	VFMADD231PS 32(DI)(AX*1), Y5, Y1
	VFMADD231PS 64(DI)(AX*1), Y6, Y2
	VFMADD231PS 96(DI)(AX*1), Y7, Y3
	ADDQ        $128, AX
	CMPQ        AX, CX
	JL          f32inner

	VADDPS       Y0, Y1, Y0
	VADDPS       Y2, Y3, Y2
	VADDPS       Y0, Y2, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X0, X1, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R8)
	ADDQ         CX, DI
	ADDQ         $4, R8
	DECQ         DX
	JMP          f32vec

f32done:
	VZEROUPPER
	RET

// func dotBatchI8AVX2(q *int16, data *int8, dim int, count int, out *int32)
// dim must be a positive multiple of 32. Each step widens 16 int8 to int16 and multiplies
// pairs into int32 (VPMADDWD): no overflow for dimensions up to 4096.
TEXT ·dotBatchI8AVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ data+8(FP), DI
	MOVQ dim+16(FP), CX
	MOVQ count+24(FP), DX
	MOVQ out+32(FP), R8

i8vec:
	TESTQ DX, DX
	JZ    i8done
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	XORQ  AX, AX
	MOVQ  SI, R9

i8inner:
	VPMOVSXBW (DI)(AX*1), Y4
	VPMOVSXBW 16(DI)(AX*1), Y5
	VPMADDWD  (R9), Y4, Y4
	VPMADDWD  32(R9), Y5, Y5
	VPADDD    Y4, Y0, Y0
	VPADDD    Y5, Y1, Y1
	ADDQ      $32, AX
	ADDQ      $64, R9
	CMPQ      AX, CX
	JL        i8inner

	VPADDD       Y0, Y1, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X0, X1, X0
	VPHADDD      X0, X0, X0
	VPHADDD      X0, X0, X0
	VMOVD        X0, (R8)
	ADDQ         CX, DI
	ADDQ         $4, R8
	DECQ         DX
	JMP          i8vec

i8done:
	VZEROUPPER
	RET

// func dotI8I8AVX2(a *int8, b *int8, dim int) int32
// dim must be a positive multiple of 32.
TEXT ·dotI8I8AVX2(SB), NOSPLIT, $0-28
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  dim+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	XORQ  AX, AX

ii8inner:
	VPMOVSXBW (SI)(AX*1), Y2
	VPMOVSXBW 16(SI)(AX*1), Y3
	VPMOVSXBW (DI)(AX*1), Y4
	VPMOVSXBW 16(DI)(AX*1), Y5
	VPMADDWD  Y2, Y4, Y4
	VPMADDWD  Y3, Y5, Y5
	VPADDD    Y4, Y0, Y0
	VPADDD    Y5, Y1, Y1
	ADDQ      $32, AX
	CMPQ      AX, CX
	JL        ii8inner

	VPADDD       Y0, Y1, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X0, X1, X0
	VPHADDD      X0, X0, X0
	VPHADDD      X0, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET
