#include "textflag.h"

// erf8s's constants, each 8 times (one YMM register's worth): the clamps
// ±4, then Eigen's coefficients as float32, as Erf has them.
DATA erfk<>+0(SB)/8, $0x4080000040800000  // 4
DATA erfk<>+8(SB)/8, $0x4080000040800000
DATA erfk<>+16(SB)/8, $0x4080000040800000
DATA erfk<>+24(SB)/8, $0x4080000040800000
DATA erfk<>+32(SB)/8, $0xc0800000c0800000  // -4
DATA erfk<>+40(SB)/8, $0xc0800000c0800000
DATA erfk<>+48(SB)/8, $0xc0800000c0800000
DATA erfk<>+56(SB)/8, $0xc0800000c0800000
DATA erfk<>+64(SB)/8, $0xaf95df0baf95df0b  // alpha 6
DATA erfk<>+72(SB)/8, $0xaf95df0baf95df0b
DATA erfk<>+80(SB)/8, $0xaf95df0baf95df0b
DATA erfk<>+88(SB)/8, $0xaf95df0baf95df0b
DATA erfk<>+96(SB)/8, $0x32edffee32edffee  // alpha 5
DATA erfk<>+104(SB)/8, $0x32edffee32edffee
DATA erfk<>+112(SB)/8, $0x32edffee32edffee
DATA erfk<>+120(SB)/8, $0x32edffee32edffee
DATA erfk<>+128(SB)/8, $0xb60cff51b60cff51  // alpha 4
DATA erfk<>+136(SB)/8, $0xb60cff51b60cff51
DATA erfk<>+144(SB)/8, $0xb60cff51b60cff51
DATA erfk<>+152(SB)/8, $0xb60cff51b60cff51
DATA erfk<>+160(SB)/8, $0xb86ec2d2b86ec2d2  // alpha 3
DATA erfk<>+168(SB)/8, $0xb86ec2d2b86ec2d2
DATA erfk<>+176(SB)/8, $0xb86ec2d2b86ec2d2
DATA erfk<>+184(SB)/8, $0xb86ec2d2b86ec2d2
DATA erfk<>+192(SB)/8, $0xba40ac63ba40ac63  // alpha 2
DATA erfk<>+200(SB)/8, $0xba40ac63ba40ac63
DATA erfk<>+208(SB)/8, $0xba40ac63ba40ac63
DATA erfk<>+216(SB)/8, $0xba40ac63ba40ac63
DATA erfk<>+224(SB)/8, $0xbb41a1f6bb41a1f6  // alpha 1
DATA erfk<>+232(SB)/8, $0xbb41a1f6bb41a1f6
DATA erfk<>+240(SB)/8, $0xbb41a1f6bb41a1f6
DATA erfk<>+248(SB)/8, $0xbb41a1f6bb41a1f6
DATA erfk<>+256(SB)/8, $0xbc83dbd4bc83dbd4  // alpha 0
DATA erfk<>+264(SB)/8, $0xbc83dbd4bc83dbd4
DATA erfk<>+272(SB)/8, $0xbc83dbd4bc83dbd4
DATA erfk<>+280(SB)/8, $0xbc83dbd4bc83dbd4
DATA erfk<>+288(SB)/8, $0xb77460cdb77460cd  // beta 4
DATA erfk<>+296(SB)/8, $0xb77460cdb77460cd
DATA erfk<>+304(SB)/8, $0xb77460cdb77460cd
DATA erfk<>+312(SB)/8, $0xb77460cdb77460cd
DATA erfk<>+320(SB)/8, $0xb95fbd29b95fbd29  // beta 3
DATA erfk<>+328(SB)/8, $0xb95fbd29b95fbd29
DATA erfk<>+336(SB)/8, $0xb95fbd29b95fbd29
DATA erfk<>+344(SB)/8, $0xb95fbd29b95fbd29
DATA erfk<>+352(SB)/8, $0xbadc924ebadc924e  // beta 2
DATA erfk<>+360(SB)/8, $0xbadc924ebadc924e
DATA erfk<>+368(SB)/8, $0xbadc924ebadc924e
DATA erfk<>+376(SB)/8, $0xbadc924ebadc924e
DATA erfk<>+384(SB)/8, $0xbbf19bf8bbf19bf8  // beta 1
DATA erfk<>+392(SB)/8, $0xbbf19bf8bbf19bf8
DATA erfk<>+400(SB)/8, $0xbbf19bf8bbf19bf8
DATA erfk<>+408(SB)/8, $0xbbf19bf8bbf19bf8
DATA erfk<>+416(SB)/8, $0xbc69b6a7bc69b6a7  // beta 0
DATA erfk<>+424(SB)/8, $0xbc69b6a7bc69b6a7
DATA erfk<>+432(SB)/8, $0xbc69b6a7bc69b6a7
DATA erfk<>+440(SB)/8, $0xbc69b6a7bc69b6a7
GLOBL erfk<>(SB), RODATA|NOPTR, $448

// ERF sets Y2 = erf(Y0) with Erf's arithmetic, clamping Y0 to [-4, 4]
// with the clamps in Y14 and Y13 (the input second, so that NaN stays
// NaN); Y1 and Y3 are scratch.
#define ERF \
	VMINPS  Y0, Y14, Y0; \
	VMAXPS  Y0, Y13, Y0; \
	VMULPS  Y0, Y0, Y1; \
	VMOVUPS erfk<>+64(SB), Y2; \
	VFMADD213PS erfk<>+96(SB), Y1, Y2; \
	VFMADD213PS erfk<>+128(SB), Y1, Y2; \
	VFMADD213PS erfk<>+160(SB), Y1, Y2; \
	VFMADD213PS erfk<>+192(SB), Y1, Y2; \
	VFMADD213PS erfk<>+224(SB), Y1, Y2; \
	VFMADD213PS erfk<>+256(SB), Y1, Y2; \
	VMOVUPS erfk<>+288(SB), Y3; \
	VFMADD213PS erfk<>+320(SB), Y1, Y3; \
	VFMADD213PS erfk<>+352(SB), Y1, Y3; \
	VFMADD213PS erfk<>+384(SB), Y1, Y3; \
	VFMADD213PS erfk<>+416(SB), Y1, Y3; \
	VMULPS  Y0, Y2, Y2; \
	VDIVPS  Y3, Y2, Y2

// BLOCKS sets CX to the 8-float blocks of the length at n(FP) and writes
// their floats to ret(FP); with none it returns.
#define BLOCKS(n, ret) \
	MOVQ n, CX; \
	SHRQ $3, CX; \
	MOVQ CX, AX; \
	SHLQ $3, AX; \
	MOVQ AX, ret; \
	TESTQ CX, CX; \
	JZ   done

// func erf8s(dst, src []float32) int
//
// Erf on 8 floats at a time with AVX2 and FMA, for the first len(src)
// rounded down to a multiple of 8; returns how many it did.
TEXT ·erf8s(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	BLOCKS(src_len+32(FP), ret+48(FP))
	VMOVUPS erfk<>+0(SB), Y14 // 4
	VMOVUPS erfk<>+32(SB), Y13 // -4

loop:
	VMOVUPS (SI), Y0
	ERF
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER

done:
	RET

// geluk: 1/√2 and 1/2, each 8 times.
DATA geluk<>+0(SB)/8, $0x3f3504f33f3504f3
DATA geluk<>+8(SB)/8, $0x3f3504f33f3504f3
DATA geluk<>+16(SB)/8, $0x3f3504f33f3504f3
DATA geluk<>+24(SB)/8, $0x3f3504f33f3504f3
DATA geluk<>+32(SB)/8, $0x3f0000003f000000
DATA geluk<>+40(SB)/8, $0x3f0000003f000000
DATA geluk<>+48(SB)/8, $0x3f0000003f000000
DATA geluk<>+56(SB)/8, $0x3f0000003f000000
GLOBL geluk<>(SB), RODATA|NOPTR, $64

// func gelu8s(y, cdf, x []float32) int
//
// GELU on 8 floats at a time: cdf = 1/2 + erf(x/√2)/2, y = x·cdf.
TEXT ·gelu8s(SB), NOSPLIT, $0-80
	MOVQ y_base+0(FP), DI
	MOVQ cdf_base+24(FP), DX
	MOVQ x_base+48(FP), SI
	BLOCKS(x_len+56(FP), ret+72(FP))
	VMOVUPS erfk<>+0(SB), Y14
	VMOVUPS erfk<>+32(SB), Y13
	VMOVUPS geluk<>+0(SB), Y12 // 1/√2
	VMOVUPS geluk<>+32(SB), Y11 // 1/2

gloop:
	VMOVUPS (SI), Y4
	VMULPS  Y12, Y4, Y0
	ERF
	VFMADD213PS Y11, Y11, Y2 // erf/2 + 1/2
	VMOVUPS Y2, (DX)
	VMULPS  Y2, Y4, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  gloop
	VZEROUPPER

done:
	RET

// exp8s's constants, each 8 times: the range ends, n's rounding, ln2 in
// two parts, Cephes' polynomial, 1, the float32 exponent bias and +Inf.
DATA expk<>+0(SB)/8, $0xc2aea8f6c2aea8f6  // -87.33
DATA expk<>+8(SB)/8, $0xc2aea8f6c2aea8f6
DATA expk<>+16(SB)/8, $0xc2aea8f6c2aea8f6
DATA expk<>+24(SB)/8, $0xc2aea8f6c2aea8f6
DATA expk<>+32(SB)/8, $0x42b170a442b170a4  // 88.72
DATA expk<>+40(SB)/8, $0x42b170a442b170a4
DATA expk<>+48(SB)/8, $0x42b170a442b170a4
DATA expk<>+56(SB)/8, $0x42b170a442b170a4
DATA expk<>+64(SB)/8, $0x3fb8aa3b3fb8aa3b  // log2(e)
DATA expk<>+72(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+80(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+88(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+96(SB)/8, $0x4b4000004b400000  // 1.5·2²³
DATA expk<>+104(SB)/8, $0x4b4000004b400000
DATA expk<>+112(SB)/8, $0x4b4000004b400000
DATA expk<>+120(SB)/8, $0x4b4000004b400000
DATA expk<>+128(SB)/8, $0x3f3180003f318000  // ln2, high part
DATA expk<>+136(SB)/8, $0x3f3180003f318000
DATA expk<>+144(SB)/8, $0x3f3180003f318000
DATA expk<>+152(SB)/8, $0x3f3180003f318000
DATA expk<>+160(SB)/8, $0xb95e8083b95e8083  // ln2, low part
DATA expk<>+168(SB)/8, $0xb95e8083b95e8083
DATA expk<>+176(SB)/8, $0xb95e8083b95e8083
DATA expk<>+184(SB)/8, $0xb95e8083b95e8083
DATA expk<>+192(SB)/8, $0x3950696739506967  // p 0
DATA expk<>+200(SB)/8, $0x3950696739506967
DATA expk<>+208(SB)/8, $0x3950696739506967
DATA expk<>+216(SB)/8, $0x3950696739506967
DATA expk<>+224(SB)/8, $0x3ab743ce3ab743ce  // p 1
DATA expk<>+232(SB)/8, $0x3ab743ce3ab743ce
DATA expk<>+240(SB)/8, $0x3ab743ce3ab743ce
DATA expk<>+248(SB)/8, $0x3ab743ce3ab743ce
DATA expk<>+256(SB)/8, $0x3c0889083c088908  // p 2
DATA expk<>+264(SB)/8, $0x3c0889083c088908
DATA expk<>+272(SB)/8, $0x3c0889083c088908
DATA expk<>+280(SB)/8, $0x3c0889083c088908
DATA expk<>+288(SB)/8, $0x3d2aa9c13d2aa9c1  // p 3
DATA expk<>+296(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expk<>+304(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expk<>+312(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expk<>+320(SB)/8, $0x3e2aaaaa3e2aaaaa  // p 4
DATA expk<>+328(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expk<>+336(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expk<>+344(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expk<>+352(SB)/8, $0x3f0000003f000000  // p 5
DATA expk<>+360(SB)/8, $0x3f0000003f000000
DATA expk<>+368(SB)/8, $0x3f0000003f000000
DATA expk<>+376(SB)/8, $0x3f0000003f000000
DATA expk<>+384(SB)/8, $0x3f8000003f800000  // 1
DATA expk<>+392(SB)/8, $0x3f8000003f800000
DATA expk<>+400(SB)/8, $0x3f8000003f800000
DATA expk<>+408(SB)/8, $0x3f8000003f800000
DATA expk<>+416(SB)/8, $0x0000007f0000007f  // 127 (int32)
DATA expk<>+424(SB)/8, $0x0000007f0000007f
DATA expk<>+432(SB)/8, $0x0000007f0000007f
DATA expk<>+440(SB)/8, $0x0000007f0000007f
DATA expk<>+448(SB)/8, $0x7f8000007f800000  // +Inf
DATA expk<>+456(SB)/8, $0x7f8000007f800000
DATA expk<>+464(SB)/8, $0x7f8000007f800000
DATA expk<>+472(SB)/8, $0x7f8000007f800000
GLOBL expk<>(SB), RODATA|NOPTR, $480

// EXP sets Y3 = e^Y0 with Exp's arithmetic, the range ends in Y14 and
// Y13 and 0 in Y12. 2^n is applied as 2^(n>>1)·2^(n-(n>>1)), two normal
// powers for every n the clamped range gives, where Exp takes 2^n or
// 2^127·2: the same products, exactly. Below -87.33 the result is 0, above
// 88.72 +Inf; NaN stays NaN (the clamps keep the input second). Y1, Y2,
// Y4-Y6, Y10 and Y11 are scratch.
#define EXP \
	VCMPPS  $1, Y14, Y0, Y10; \
	VCMPPS  $14, Y13, Y0, Y11; \
	VMAXPS  Y0, Y14, Y0; \
	VMINPS  Y0, Y13, Y0; \
	VMULPS  expk<>+64(SB), Y0, Y1; \
	VADDPS  expk<>+96(SB), Y1, Y1; \
	VSUBPS  expk<>+96(SB), Y1, Y1; \
	VMOVAPS Y0, Y2; \
	VFNMADD231PS expk<>+128(SB), Y1, Y2; \
	VFNMADD231PS expk<>+160(SB), Y1, Y2; \
	VMOVUPS expk<>+192(SB), Y3; \
	VFMADD213PS expk<>+224(SB), Y2, Y3; \
	VFMADD213PS expk<>+256(SB), Y2, Y3; \
	VFMADD213PS expk<>+288(SB), Y2, Y3; \
	VFMADD213PS expk<>+320(SB), Y2, Y3; \
	VFMADD213PS expk<>+352(SB), Y2, Y3; \
	VMULPS  Y2, Y2, Y4; \
	VFMADD213PS Y2, Y4, Y3; \
	VADDPS  expk<>+384(SB), Y3, Y3; \
	VCVTTPS2DQ Y1, Y5; \
	VPSRAD  $1, Y5, Y6; \
	VPSUBD  Y6, Y5, Y5; \
	VPADDD  expk<>+416(SB), Y6, Y6; \
	VPSLLD  $23, Y6, Y6; \
	VPADDD  expk<>+416(SB), Y5, Y5; \
	VPSLLD  $23, Y5, Y5; \
	VMULPS  Y6, Y3, Y3; \
	VMULPS  Y5, Y3, Y3; \
	VBLENDVPS Y10, Y12, Y3, Y3; \
	VBLENDVPS Y11, expk<>+448(SB), Y3, Y3

// EXPCONSTS loads EXP's registers.
#define EXPCONSTS \
	VMOVUPS expk<>+0(SB), Y14; \
	VMOVUPS expk<>+32(SB), Y13; \
	VXORPS  Y12, Y12, Y12

// func exp8s(dst, src []float32) int
//
// Exp on 8 floats at a time with AVX2 and FMA, for the first len(src)
// rounded down to a multiple of 8; returns how many it did.
TEXT ·exp8s(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	BLOCKS(src_len+32(FP), ret+48(FP))
	EXPCONSTS

loop:
	VMOVUPS (SI), Y0
	EXP
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER

done:
	RET

// gradk: -1/2 and 1/√(2π), each 8 times.
DATA gradk<>+0(SB)/8, $0xbf000000bf000000
DATA gradk<>+8(SB)/8, $0xbf000000bf000000
DATA gradk<>+16(SB)/8, $0xbf000000bf000000
DATA gradk<>+24(SB)/8, $0xbf000000bf000000
DATA gradk<>+32(SB)/8, $0x3ecc422a3ecc422a
DATA gradk<>+40(SB)/8, $0x3ecc422a3ecc422a
DATA gradk<>+48(SB)/8, $0x3ecc422a3ecc422a
DATA gradk<>+56(SB)/8, $0x3ecc422a3ecc422a
GLOBL gradk<>(SB), RODATA|NOPTR, $64

// func geluGrad8s(dx, dy, x, cdf []float32) int
//
// GELUGrad on 8 floats at a time: dx = dy·(cdf + x·e^(-x²/2)/√(2π)).
TEXT ·geluGrad8s(SB), NOSPLIT, $0-104
	MOVQ dx_base+0(FP), DI
	MOVQ dy_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ cdf_base+72(FP), DX
	BLOCKS(x_len+56(FP), ret+96(FP))
	EXPCONSTS
	VMOVUPS gradk<>+0(SB), Y8 // -1/2
	VMOVUPS gradk<>+32(SB), Y9 // 1/√(2π)

gloop:
	VMOVUPS (SI), Y7
	VMULPS  Y7, Y7, Y0
	VMULPS  Y8, Y0, Y0 // -x²/2
	EXP
	VMULPS  Y7, Y3, Y3
	VFMADD213PS (DX), Y9, Y3 // x·φ(x) + Φ(x)
	VMULPS  (R8), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ  gloop
	VZEROUPPER

done:
	RET
