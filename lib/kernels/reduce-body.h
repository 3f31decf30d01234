/* SPDX-License-Identifier: MIT */
/*
 * reduce-body.h - the vector reduce kernels and the conversions, written
 * once for every ISA on top of vec.h.
 *
 * An ISA file defines VB, includes vec.h, defines the primitives vec.h
 * declares, includes this file and instantiates VEC_KERNELS.  Accumulation is in
 * source order, in the accumulator type of DESIGN.md "Numerics", with one
 * rounding at the store: exactly scalar.h's loops, which also do the tails
 * shorter than one vector, so no byte outside the arrays is ever touched.
 */
#include "kernels/scalar.h"

/*
 * One storage vector (VB bytes) of a dtype t holds LANES(t) elements; ld_t
 * widens them into one accumulator vector of type ACC_t (two for the 16-bit
 * floats), st_t writes them back, NaN canonical and rounded once.
 */
#define ACC_f32 vf32
#define ACC_bf16 vf32
#define ACC_f16 vf32
#define ACC_f64 vf64
#define ACC_i32 vu32
#define ACC_i64 vu64
#define ACC_u8 vu8

#define ES_f32 4
#define ES_bf16 2
#define ES_f16 2
#define ES_f64 8
#define ES_i32 4
#define ES_i64 8
#define ES_u8 1

#define LANES(t) (VB / ES_##t)

static inline void ld_f32(const char *p, vf32 *a) { a[0] = ld_vf32(p); }
static inline void ld_f64(const char *p, vf64 *a) { a[0] = ld_vf64(p); }
static inline void ld_i32(const char *p, vu32 *a) { a[0] = ld_vu32(p); }
static inline void ld_i64(const char *p, vu64 *a) { a[0] = ld_vu64(p); }
static inline void ld_u8(const char *p, vu8 *a) { a[0] = ld_vu8(p); }

/*
 * bf16, "shifts and blends": each 32-bit lane holds two neighbours, element
 * 2j in its lower and 2j + 1 in its upper half.  a[0] gets the even
 * elements (shifted up), a[1] the odd ones (lower half cleared): fp32
 * exactly, without moving anything across lanes.  The store undoes it.
 */
static inline void ld_bf16(const char *p, vf32 *a)
{
	vu32 u = ld_vu32(p);

	a[0] = (vf32)(u << 16);
	a[1] = (vf32)(u & 0xffff0000u);
}

static inline void ld_f16(const char *p, vf32 *a)
{
	a[0] = f16_widen(p);
	a[1] = f16_widen(p + VB / 2);
}

static inline void st_f32(char *p, const vf32 *a) { st_vf32(p, canon_f32(a[0])); }
static inline void st_f64(char *p, const vf64 *a) { st_vf64(p, canon_f64(a[0])); }
static inline void st_i32(char *p, const vu32 *a) { st_vu32(p, a[0]); }
static inline void st_i64(char *p, const vu64 *a) { st_vu64(p, a[0]); }
static inline void st_u8(char *p, const vu8 *a) { st_vu8(p, a[0]); }

/* NaNs are rare: one test for both halves, and the canonical NaN put in
 * only when there is one (the rounding itself is cheaper than a blend) */
static inline void st_bf16(char *p, const vf32 *a)
{
	vf32 even = a[0], odd = a[1];

	if (__builtin_expect(any_unordered(even, odd), 0)) {
		even = canon_f32(even);
		odd = canon_f32(odd);
	}
	st_vu32(p, bf16_pack(even, odd));
}

static inline void st_f16(char *p, const vf32 *a)
{
	f16_narrow(p, canon_f32(a[0]));
	f16_narrow(p + VB / 2, canon_f32(a[1]));
}

/* combining steps and finishing, by accumulator type */
#define VSUM(a, x) ((a) + (x))
#define VPROD(a, x) ((a) * (x))
#define VKEEP(a, n) (a)

#define AT(p, i, t) ((const char *)(p) + (size_t)(i) * ES_##t)
#define AT_OUT(p, i, t) ((char *)(p) + (size_t)(i) * ES_##t)

/*
 * Reduce blocks of U storage vectors while whole blocks remain: every
 * source's block is loaded before the block is stored, so dst may be one of
 * the sources.  U = 2 keeps enough loads in flight to be bound by memory.
 */
#define VEC_BLOCKS(t, NA, U, STEP, FIN, dst, srcs, nsrc, i, count)                         \
	for (; (i) + (U) * LANES(t) <= (count); (i) += (U) * LANES(t)) {                    \
		ACC_##t acc[(U) * (NA)], x[(U) * (NA)];                                      \
		_Pragma("GCC unroll 4") for (unsigned u = 0; u < (U); u++)                    \
			ld_##t(AT(srcs[0], (i) + u * LANES(t), t), &acc[u * (NA)]);           \
		for (unsigned k = 1; k < (nsrc); k++) {                                      \
			_Pragma("GCC unroll 4") for (unsigned u = 0; u < (U); u++)            \
				ld_##t(AT(srcs[k], (i) + u * LANES(t), t), &x[u * (NA)]);     \
			_Pragma("GCC unroll 8") for (unsigned j = 0; j < (U) * (NA); j++)     \
				acc[j] = STEP(acc[j], x[j]);                                 \
		}                                                                            \
		_Pragma("GCC unroll 8") for (unsigned j = 0; j < (U) * (NA); j++)             \
			acc[j] = FIN(acc[j], nsrc);                                          \
		_Pragma("GCC unroll 4") for (unsigned u = 0; u < (U); u++)                    \
			st_##t(AT_OUT(dst, (i) + u * LANES(t), t), &acc[u * (NA)]);           \
	}

#define VEC_KERNEL(pfx, t, NA, op, STEP, FIN)                                               \
	static void pfx##_v##t##_##op(void *dst, const void *const *srcs, unsigned nsrc,     \
				      size_t count)                                          \
	{                                                                                    \
		size_t i = 0;                                                                \
		VEC_BLOCKS(t, NA, 2, STEP, FIN, dst, srcs, nsrc, i, count)                   \
		VEC_BLOCKS(t, NA, 1, STEP, FIN, dst, srcs, nsrc, i, count)                   \
		pfx##_##t##_##op##_range(dst, srcs, nsrc, i, count);                         \
	}

/* the five ops of a dtype: NA accumulators per storage vector, acc type a */
#define VEC_TYPE(pfx, t, NA, a, DIV)                                                       \
	VEC_KERNEL(pfx, t, NA, sum, VSUM, VKEEP)                                           \
	VEC_KERNEL(pfx, t, NA, prod, VPROD, VKEEP)                                         \
	VEC_KERNEL(pfx, t, NA, max, vmax_##a, VKEEP)                                       \
	VEC_KERNEL(pfx, t, NA, min, vmin_##a, VKEEP)                                       \
	VEC_KERNEL(pfx, t, NA, avg, VSUM, DIV)

#define VEC_ROW(pfx, t) \
	{ pfx##_v##t##_sum, pfx##_v##t##_prod, pfx##_v##t##_max, pfx##_v##t##_min, pfx##_v##t##_avg }

/* ------------------------------------------------------------ conversions */

/* Whole vectors, then the scalar conversion of numerics.h for the tail. */
#define VEC_CONVERSIONS(pfx)                                                               \
	static void pfx##_f32_to_bf16(void *dst, const void *src, size_t count)            \
	{                                                                                    \
		const size_t n = VB / 4;                                                     \
		size_t i = 0;                                                                \
		for (; i + n <= count; i += n)                                               \
			st_vu16h((char *)dst + i * 2, __builtin_convertvector(                \
				bf16_round(canon_f32(ld_vf32((const char *)src + i * 4))) >> 16, \
				vu16h));                                                      \
		for (; i < count; i++)                                                       \
			sc_narrow_bf16(dst, src, i);                                         \
	}                                                                                    \
	static void pfx##_bf16_to_f32(void *dst, const void *src, size_t count)            \
	{                                                                                    \
		const size_t n = VB / 4;                                                     \
		size_t i = 0;                                                                \
		for (; i + n <= count; i += n)                                               \
			st_vu32((char *)dst + i * 4, __builtin_convertvector(                 \
				ld_vu16h((const char *)src + i * 2), vu32) << 16);            \
		for (; i < count; i++)                                                       \
			sc_widen_bf16(dst, src, i);                                          \
	}                                                                                    \
	static void pfx##_f32_to_f16(void *dst, const void *src, size_t count)             \
	{                                                                                    \
		const size_t n = VB / 4;                                                     \
		size_t i = 0;                                                                \
		for (; i + n <= count; i += n)                                               \
			f16_narrow((char *)dst + i * 2,                                      \
				   canon_f32(ld_vf32((const char *)src + i * 4)));           \
		for (; i < count; i++)                                                       \
			sc_narrow_f16(dst, src, i);                                          \
	}                                                                                    \
	/* the hardware quiets a signalling NaN, but a NaN keeps its payload:        \
	 * vectors holding one go the scalar way */                                         \
	static void pfx##_f16_to_f32(void *dst, const void *src, size_t count)             \
	{                                                                                    \
		const size_t n = VB / 4;                                                     \
		size_t i = 0;                                                                \
		for (; i + n <= count; i += n) {                                             \
			vf32 v = f16_widen((const char *)src + i * 2);                      \
			if (__builtin_expect(any_unordered(v, v), 0))                        \
				for (size_t j = i; j < i + n; j++)                           \
					sc_widen_f16(dst, src, j);                           \
			else                                                                 \
				st_vf32((char *)dst + i * 4, v);                             \
		}                                                                            \
		for (; i < count; i++)                                                       \
			sc_widen_f16(dst, src, i);                                           \
	}

#define VEC_KERNELS(pfx, NAME, ISA)                                                        \
	SHMAR_SCALAR_KERNELS(pfx)                                                          \
	VEC_TYPE(pfx, f32, 1, f32, vdiv_f32)                                               \
	VEC_TYPE(pfx, bf16, 2, f32, vdiv_f32)                                              \
	VEC_TYPE(pfx, f16, 2, f32, vdiv_f32)                                               \
	VEC_TYPE(pfx, f64, 1, f64, vdiv_f64)                                               \
	VEC_TYPE(pfx, i32, 1, i32, vavg_i32)                                               \
	VEC_TYPE(pfx, i64, 1, i64, vavg_i64)                                               \
	VEC_TYPE(pfx, u8, 1, u8, vavg_u8)                                                  \
	VEC_CONVERSIONS(pfx)                                                               \
	const struct shmar__kernels shmar__kernels_##pfx = {                               \
		.name = NAME,                                                              \
		.isa = ISA,                                                                \
		.reduce = {                                                                \
			[SHMAR_FLOAT32] = VEC_ROW(pfx, f32),                               \
			[SHMAR_BFLOAT16] = VEC_ROW(pfx, bf16),                             \
			[SHMAR_FLOAT16] = VEC_ROW(pfx, f16),                               \
			[SHMAR_FLOAT64] = VEC_ROW(pfx, f64),                               \
			[SHMAR_INT32] = VEC_ROW(pfx, i32),                                 \
			[SHMAR_INT64] = VEC_ROW(pfx, i64),                                 \
			[SHMAR_UINT8] = VEC_ROW(pfx, u8),                                  \
		},                                                                         \
		.f32_to_bf16 = pfx##_f32_to_bf16,                                          \
		.bf16_to_f32 = pfx##_bf16_to_f32,                                          \
		.f32_to_f16 = pfx##_f32_to_f16,                                            \
		.f16_to_f32 = pfx##_f16_to_f32,                                            \
		.copy = shmar__copy,                                                       \
	};
