//go:build amd64 && !purego

#include "textflag.h"

// func sumAVX2(p *uint64, n int) uint64
// n is a multiple of 16; four 256-bit accumulators keep the loads in flight.
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ  p+0(FP), SI
	MOVQ  n+8(FP), CX
	SHLQ  $3, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	XORQ  AX, AX

loop:
	VPADDQ (SI)(AX*1), Y0, Y0
	VPADDQ 32(SI)(AX*1), Y1, Y1
	VPADDQ 64(SI)(AX*1), Y2, Y2
	VPADDQ 96(SI)(AX*1), Y3, Y3
	ADDQ   $128, AX
	CMPQ   AX, CX
	JL     loop

	VPADDQ       Y0, Y1, Y0
	VPADDQ       Y2, Y3, Y2
	VPADDQ       Y0, Y2, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X0, X1, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X0, X1, X0
	VMOVQ        X0, AX
	MOVQ         AX, ret+16(FP)
	VZEROUPPER
	RET
