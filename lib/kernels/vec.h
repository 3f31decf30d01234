/* SPDX-License-Identifier: MIT */
/*
 * vec.h - DESIGN.md "Numerics" on vectors, written once with GCC's vector
 * extensions so that every ISA compiles the same source.
 *
 * An ISA file defines VB (bytes per vector: 32 for AVX2, 64 for AVX-512),
 * includes this file, defines the few primitives declared below that GCC's
 * generic vectors cannot say (or not in one instruction), then includes
 * reduce-body.h.
 *
 * Every function here computes what the scalar definition in numerics.h
 * computes, lane by lane and bit for bit; the unit tests hold them to it.
 */
#ifndef LIBSHMAR_KERNELS_VEC_H
#define LIBSHMAR_KERNELS_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/numerics.h"

#if !defined(VB) || (VB != 16 && VB != 32 && VB != 64)
#error "define VB, the vector size in bytes, before including vec.h"
#endif

typedef float vf32 __attribute__((vector_size(VB)));
typedef double vf64 __attribute__((vector_size(VB)));
typedef int32_t vi32 __attribute__((vector_size(VB)));
typedef uint32_t vu32 __attribute__((vector_size(VB)));
typedef int64_t vi64 __attribute__((vector_size(VB)));
typedef uint64_t vu64 __attribute__((vector_size(VB)));
typedef uint16_t vu16 __attribute__((vector_size(VB)));
typedef int8_t vi8 __attribute__((vector_size(VB)));
typedef uint8_t vu8 __attribute__((vector_size(VB)));
/* half vectors of 16-bit values, and doubles as many as int32 in a vector */
typedef uint16_t vu16h __attribute__((vector_size(VB / 2)));
typedef double vf64w __attribute__((vector_size(2 * VB)));

/*
 * The ISA's own primitives (defined by the ISA file).
 */
/* VB / 4 binary16 values at p, exactly (subnormals included) */
static inline vf32 f16_widen(const void *p);
/* v rounded to binary16, nearest even, stored at p; a NaN lane only as
 * the canonical fp32 NaN, which narrows to the canonical 0x7e00 */
static inline void f16_narrow(void *p, vf32 v);
/* whether any lane of a or of b is a NaN */
static inline int any_unordered(vf32 a, vf32 b);
/* all ones in the lanes where a or b is a NaN */
static inline vi32 unord_f32(vf32 a, vf32 b);
static inline vi64 unord_f64(vf64 a, vf64 b);
/* x86's maxps/minps/maxpd/minpd: b where a and b are equal or unordered */
static inline vf32 x86_max_f32(vf32 a, vf32 b);
static inline vf32 x86_min_f32(vf32 a, vf32 b);
static inline vf64 x86_max_f64(vf64 a, vf64 b);
static inline vf64 x86_min_f64(vf64 a, vf64 b);

/* Unaligned loads and stores of whole vectors (memcpy compiles to one move). */
#define VEC_LDST(T)                                                                        \
	static inline T ld_##T(const void *p)                                              \
	{                                                                                  \
		T v;                                                                       \
		memcpy(&v, p, sizeof(v));                                                  \
		return v;                                                                  \
	}                                                                                  \
	static inline void st_##T(void *p, T v) { memcpy(p, &v, sizeof(v)); }
VEC_LDST(vf32)
VEC_LDST(vf64)
VEC_LDST(vu32)
VEC_LDST(vu64)
VEC_LDST(vu8)
VEC_LDST(vu16h)

/* Every lane c. */
static inline vi32 splat32(int32_t c) { return (vi32){ 0 } + c; }
static inline vi64 splat64(int64_t c) { return (vi64){ 0 } + c; }

/* Lane-wise m ? a : b, m all ones or all zeros per lane. */
static inline vi32 sel32(vi32 m, vi32 a, vi32 b) { return (a & m) | (b & ~m); }
static inline vi64 sel64(vi64 m, vi64 a, vi64 b) { return (a & m) | (b & ~m); }
static inline vi8 sel8(vi8 m, vi8 a, vi8 b) { return (a & m) | (b & ~m); }

/* ------------------------------------------------------------ combining steps */

/*
 * MAX and MIN of the accumulator a and the next source x: NaN wins, -0
 * ranks below +0.  x86's max and min give their second operand where the
 * two are equal or unordered, so both orders agree on the larger (smaller)
 * of two different numbers, and for +0 against -0 the AND (OR) of the two
 * results is +0 (-0).  A lane where either is a NaN becomes all ones, a NaN
 * too, which the store writes as the canonical one.
 */
static inline vf32 vmax_f32(vf32 a, vf32 x)
{
	return (vf32)(((vi32)x86_max_f32(a, x) & (vi32)x86_max_f32(x, a)) | unord_f32(a, x));
}

static inline vf32 vmin_f32(vf32 a, vf32 x)
{
	return (vf32)((vi32)x86_min_f32(a, x) | (vi32)x86_min_f32(x, a) | unord_f32(a, x));
}

static inline vf64 vmax_f64(vf64 a, vf64 x)
{
	return (vf64)(((vi64)x86_max_f64(a, x) & (vi64)x86_max_f64(x, a)) | unord_f64(a, x));
}

static inline vf64 vmin_f64(vf64 a, vf64 x)
{
	return (vf64)((vi64)x86_min_f64(a, x) | (vi64)x86_min_f64(x, a) | unord_f64(a, x));
}

/* integers: computed unsigned (wrapping, no undefined behaviour), compared signed */
static inline vu32 vmax_i32(vu32 a, vu32 x) { return (vu32)sel32((vi32)x > (vi32)a, (vi32)x, (vi32)a); }
static inline vu32 vmin_i32(vu32 a, vu32 x) { return (vu32)sel32((vi32)x < (vi32)a, (vi32)x, (vi32)a); }
static inline vu64 vmax_i64(vu64 a, vu64 x) { return (vu64)sel64((vi64)x > (vi64)a, (vi64)x, (vi64)a); }
static inline vu64 vmin_i64(vu64 a, vu64 x) { return (vu64)sel64((vi64)x < (vi64)a, (vi64)x, (vi64)a); }
static inline vu8 vmax_u8(vu8 a, vu8 x) { return (vu8)sel8(x > a, (vi8)x, (vi8)a); }
static inline vu8 vmin_u8(vu8 a, vu8 x) { return (vu8)sel8(x < a, (vi8)x, (vi8)a); }

/* ------------------------------------------------------------ AVG finishing */

static inline vf32 vdiv_f32(vf32 a, unsigned n) { return a / (float)n; }
static inline vf64 vdiv_f64(vf64 a, unsigned n) { return a / (double)n; }

/*
 * int32: the wrapped sum over n, toward zero, through double: every int32 is
 * a double, and the correctly rounded quotient of |a| < 2^31 by n <= 256
 * never crosses an integer (a fraction is at least 1/n away from the next
 * one; the rounding error is below 2^-21), so truncating it is exact.
 */
static inline vu32 vavg_i32(vu32 a, unsigned n)
{
	vf64w q = __builtin_convertvector((vi32)a, vf64w) / (double)n;

	return (vu32)__builtin_convertvector(q, vi32);
}

/* int64: no vector division and no exact shortcut; lane by lane. */
static inline vu64 vavg_i64(vu64 a, unsigned n)
{
	for (size_t l = 0; l < VB / 8; l++)
		a[l] = (uint64_t)((int64_t)a[l] / (int64_t)n);
	return a;
}

/*
 * uint8: floor(a / n) = (a * M) >> 16 with M = ceil(2^16 / n), exact for
 * a <= 255 and 1 <= n <= 256 (the error a * (M - 2^16 / n) / 2^16 stays
 * below 1 / n, the least distance of a / n to the next integer; checked
 * for every a and n by the unit test).  In 16-bit lanes: M = 256 Mh + Ml, and
 * (a M) >> 16 = (a Mh + ((a Ml) >> 8)) >> 8, no intermediate above 65534.
 * The even and the odd bytes each in their own 16-bit lane, as with bf16.
 */
static inline vu16 div_u8_by_magic(vu16 w, uint16_t mh, uint16_t ml)
{
	return (w * mh + ((w * ml) >> 8)) >> 8;
}

static inline vu8 vavg_u8(vu8 a, unsigned n)
{
	unsigned m = (65536 + n - 1) / n;
	uint16_t mh = (uint16_t)(m >> 8), ml = (uint16_t)(m & 0xff);
	vu16 w = (vu16)a;

	return (vu8)(div_u8_by_magic(w & 0xff, mh, ml) | div_u8_by_magic(w >> 8, mh, ml) << 8);
}

/* ------------------------------------------------------------ rounding */

/* The canonical NaN in every NaN lane. */
static inline vf32 canon_f32(vf32 v)
{
	return (vf32)sel32(v != v, splat32((int32_t)SHMAR_NAN_F32), (vi32)v);
}

static inline vf64 canon_f64(vf64 v)
{
	return (vf64)sel64(v != v, splat64((int64_t)SHMAR_NAN_F64), (vi64)v);
}

/*
 * fp32 to bf16, nearest even, as shmar__f32_to_bf16: the result is in the
 * upper 16 bits of each lane (the lower ones hold garbage).  v holds no NaN
 * but the canonical one (canon_f32), which rounds to the canonical bf16
 * NaN; no other value carries out of the lane (-Inf gives 0xff807fff).
 * u + 0x7fff + (bit 16 of u), the bit taken by a compare, not a shift.
 */
static inline vu32 bf16_round(vf32 v)
{
	vu32 u = (vu32)v;

	return u + 0x7fffu - (vu32)((u & 0x10000u) == 0x10000u);
}

/* 16-bit lanes 0, 2, 4, ... of a and 1, 3, 5, ... of b */
#if VB == 16
#define EVEN_ODD_16 0, 9, 2, 11, 4, 13, 6, 15
#elif VB == 32
#define EVEN_ODD_16 0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31
#else
#define EVEN_ODD_16 0, 33, 2, 35, 4, 37, 6, 39, 8, 41, 10, 43, 12, 45, 14, 47, \
	16, 49, 18, 51, 20, 53, 22, 55, 24, 57, 26, 59, 28, 61, 30, 63
#endif

/* Round the even and the odd elements (ld_bf16's split) and put them back
 * side by side: the bf16 storage vector. */
static inline vu32 bf16_pack(vf32 even, vf32 odd)
{
	vu16 lo = (vu16)(bf16_round(even) >> 16), hi = (vu16)bf16_round(odd);

	return (vu32)__builtin_shufflevector(lo, hi, EVEN_ODD_16);
}

#endif /* LIBSHMAR_KERNELS_VEC_H */
