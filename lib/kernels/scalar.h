/* SPDX-License-Identifier: MIT */
/*
 * scalar.h - element-by-element reduce loops, instantiated once per dtype and
 * op.  The scalar kernels are these loops over whole arrays; the vector
 * kernels use the same loops for the tails they do not cover with vectors,
 * so every element goes through one definition of the numerics.
 */
#ifndef LIBSHMAR_KERNELS_SCALAR_H
#define LIBSHMAR_KERNELS_SCALAR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/numerics.h"

/* loads and stores of one element at index i, unaligned-safe */
static inline float sc_ld_f32(const void *p, size_t i) { float v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static inline float sc_ld_bf16(const void *p, size_t i) { uint16_t h; memcpy(&h, (const char *)p + i * 2, 2); return shmar__bf16_to_f32(h); }
static inline float sc_ld_f16(const void *p, size_t i) { uint16_t h; memcpy(&h, (const char *)p + i * 2, 2); return shmar__f16_to_f32(h); }
static inline double sc_ld_f64(const void *p, size_t i) { double v; memcpy(&v, (const char *)p + i * 8, 8); return v; }
static inline uint32_t sc_ld_i32(const void *p, size_t i) { uint32_t v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static inline uint64_t sc_ld_i64(const void *p, size_t i) { uint64_t v; memcpy(&v, (const char *)p + i * 8, 8); return v; }
static inline uint8_t sc_ld_u8(const void *p, size_t i) { return ((const uint8_t *)p)[i]; }

static inline void sc_st_f32(void *p, size_t i, float v) { uint32_t u = shmar__f32_out(v); memcpy((char *)p + i * 4, &u, 4); }
static inline void sc_st_bf16(void *p, size_t i, float v) { uint16_t h = shmar__f32_to_bf16(v); memcpy((char *)p + i * 2, &h, 2); }
static inline void sc_st_f16(void *p, size_t i, float v) { uint16_t h = shmar__f32_to_f16(v); memcpy((char *)p + i * 2, &h, 2); }
static inline void sc_st_f64(void *p, size_t i, double v) { uint64_t u = shmar__f64_out(v); memcpy((char *)p + i * 8, &u, 8); }
static inline void sc_st_i32(void *p, size_t i, uint32_t v) { memcpy((char *)p + i * 4, &v, 4); }
static inline void sc_st_i64(void *p, size_t i, uint64_t v) { memcpy((char *)p + i * 8, &v, 8); }
static inline void sc_st_u8(void *p, size_t i, uint8_t v) { ((uint8_t *)p)[i] = v; }

/* combining steps; integers wrap (computed unsigned, no undefined behaviour) */
#define SC_SUM(a, b) ((a) + (b))
#define SC_PROD(a, b) ((a) * (b))
#define SC_MAXF(a, b) shmar__maxf(a, b)
#define SC_MINF(a, b) shmar__minf(a, b)
#define SC_MAXD(a, b) shmar__maxd(a, b)
#define SC_MIND(a, b) shmar__mind(a, b)
#define SC_MAXS32(a, b) ((int32_t)(a) > (int32_t)(b) ? (a) : (b))
#define SC_MINS32(a, b) ((int32_t)(a) < (int32_t)(b) ? (a) : (b))
#define SC_MAXS64(a, b) ((int64_t)(a) > (int64_t)(b) ? (a) : (b))
#define SC_MINS64(a, b) ((int64_t)(a) < (int64_t)(b) ? (a) : (b))
#define SC_MAXU(a, b) ((a) > (b) ? (a) : (b))
#define SC_MINU(a, b) ((a) < (b) ? (a) : (b))
#define SC_PROD8(a, b) ((uint8_t)((unsigned)(a) * (unsigned)(b)))
#define SC_SUM8(a, b) ((uint8_t)((a) + (b)))

/* finishing: AVG divides in the accumulator, integers toward zero */
#define SC_KEEP(acc, n) (acc)
#define SC_DIVF(acc, n) ((acc) / (float)(n))
#define SC_DIVD(acc, n) ((acc) / (double)(n))
#define SC_DIVS32(acc, n) ((uint32_t)((int32_t)(acc) / (int32_t)(n)))
#define SC_DIVS64(acc, n) ((uint64_t)((int64_t)(acc) / (int64_t)(n)))
#define SC_DIVU8(acc, n) ((uint8_t)((acc) / (n)))

/* reduce elements [from, count) of every source into dst */
#define SC_LOOP(name, acc_t, ld, st, step, finish)                                         \
	static inline void name##_range(void *dst, const void *const *srcs, unsigned nsrc,   \
					size_t from, size_t count)                           \
	{                                                                                    \
		for (size_t i = from; i < count; i++) {                                      \
			acc_t acc = ld(srcs[0], i);                                          \
			for (unsigned k = 1; k < nsrc; k++)                                  \
				acc = step(acc, ld(srcs[k], i));                             \
			st(dst, i, finish(acc, nsrc));                                       \
		}                                                                            \
	}                                                                                    \
	static __attribute__((unused)) void name(void *dst, const void *const *srcs,          \
						 unsigned nsrc, size_t count)                 \
	{                                                                                    \
		name##_range(dst, srcs, nsrc, 0, count);                                     \
	}

#define SC_FLOAT_TYPE(pfx, t, acc_t, MAXOP, MINOP, DIV)                                     \
	SC_LOOP(pfx##_##t##_sum, acc_t, sc_ld_##t, sc_st_##t, SC_SUM, SC_KEEP)             \
	SC_LOOP(pfx##_##t##_prod, acc_t, sc_ld_##t, sc_st_##t, SC_PROD, SC_KEEP)           \
	SC_LOOP(pfx##_##t##_max, acc_t, sc_ld_##t, sc_st_##t, MAXOP, SC_KEEP)              \
	SC_LOOP(pfx##_##t##_min, acc_t, sc_ld_##t, sc_st_##t, MINOP, SC_KEEP)              \
	SC_LOOP(pfx##_##t##_avg, acc_t, sc_ld_##t, sc_st_##t, SC_SUM, DIV)

/* Every (dtype, op) loop, with names prefixed pfx_ (pfx_f32_sum, ...). */
#define SHMAR_SCALAR_KERNELS(pfx)                                                          \
	SC_FLOAT_TYPE(pfx, f32, float, SC_MAXF, SC_MINF, SC_DIVF)                          \
	SC_FLOAT_TYPE(pfx, bf16, float, SC_MAXF, SC_MINF, SC_DIVF)                         \
	SC_FLOAT_TYPE(pfx, f16, float, SC_MAXF, SC_MINF, SC_DIVF)                          \
	SC_FLOAT_TYPE(pfx, f64, double, SC_MAXD, SC_MIND, SC_DIVD)                         \
	SC_LOOP(pfx##_i32_sum, uint32_t, sc_ld_i32, sc_st_i32, SC_SUM, SC_KEEP)            \
	SC_LOOP(pfx##_i32_prod, uint32_t, sc_ld_i32, sc_st_i32, SC_PROD, SC_KEEP)          \
	SC_LOOP(pfx##_i32_max, uint32_t, sc_ld_i32, sc_st_i32, SC_MAXS32, SC_KEEP)         \
	SC_LOOP(pfx##_i32_min, uint32_t, sc_ld_i32, sc_st_i32, SC_MINS32, SC_KEEP)         \
	SC_LOOP(pfx##_i32_avg, uint32_t, sc_ld_i32, sc_st_i32, SC_SUM, SC_DIVS32)          \
	SC_LOOP(pfx##_i64_sum, uint64_t, sc_ld_i64, sc_st_i64, SC_SUM, SC_KEEP)            \
	SC_LOOP(pfx##_i64_prod, uint64_t, sc_ld_i64, sc_st_i64, SC_PROD, SC_KEEP)          \
	SC_LOOP(pfx##_i64_max, uint64_t, sc_ld_i64, sc_st_i64, SC_MAXS64, SC_KEEP)         \
	SC_LOOP(pfx##_i64_min, uint64_t, sc_ld_i64, sc_st_i64, SC_MINS64, SC_KEEP)         \
	SC_LOOP(pfx##_i64_avg, uint64_t, sc_ld_i64, sc_st_i64, SC_SUM, SC_DIVS64)          \
	SC_LOOP(pfx##_u8_sum, uint8_t, sc_ld_u8, sc_st_u8, SC_SUM8, SC_KEEP)               \
	SC_LOOP(pfx##_u8_prod, uint8_t, sc_ld_u8, sc_st_u8, SC_PROD8, SC_KEEP)             \
	SC_LOOP(pfx##_u8_max, uint8_t, sc_ld_u8, sc_st_u8, SC_MAXU, SC_KEEP)               \
	SC_LOOP(pfx##_u8_min, uint8_t, sc_ld_u8, sc_st_u8, SC_MINU, SC_KEEP)               \
	SC_LOOP(pfx##_u8_avg, uint8_t, sc_ld_u8, sc_st_u8, SC_SUM8, SC_DIVU8)

/* conversions of element i between fp32 and the 16-bit floats: narrowing
 * rounds as the reduce stores do; widening works on bits, so a NaN keeps
 * its payload (no float value is passed around that could be quieted) */
static inline void sc_narrow_bf16(void *dst, const void *src, size_t i) { sc_st_bf16(dst, i, sc_ld_f32(src, i)); }
static inline void sc_narrow_f16(void *dst, const void *src, size_t i) { sc_st_f16(dst, i, sc_ld_f32(src, i)); }

static inline void sc_widen_bf16(void *dst, const void *src, size_t i)
{
	uint16_t h;
	uint32_t u;

	memcpy(&h, (const char *)src + i * 2, 2);
	u = (uint32_t)h << 16;
	memcpy((char *)dst + i * 4, &u, 4);
}

static inline void sc_widen_f16(void *dst, const void *src, size_t i)
{
	uint16_t h;
	uint32_t u;

	memcpy(&h, (const char *)src + i * 2, 2);
	u = shmar__f16_to_f32_bits(h);
	memcpy((char *)dst + i * 4, &u, 4);
}

#define SC_CONVERT(name, one)                                                              \
	static __attribute__((unused)) void name(void *dst, const void *src, size_t count)  \
	{                                                                                  \
		for (size_t i = 0; i < count; i++)                                         \
			one(dst, src, i);                                                  \
	}

/* The four conversions, named pfx_f32_to_bf16 and so on. */
#define SHMAR_SCALAR_CONVERSIONS(pfx)                                                      \
	SC_CONVERT(pfx##_f32_to_bf16, sc_narrow_bf16)                                      \
	SC_CONVERT(pfx##_bf16_to_f32, sc_widen_bf16)                                       \
	SC_CONVERT(pfx##_f32_to_f16, sc_narrow_f16)                                        \
	SC_CONVERT(pfx##_f16_to_f32, sc_widen_f16)

#endif /* LIBSHMAR_KERNELS_SCALAR_H */
