/* SPDX-License-Identifier: MIT */
/*
 * numerics.h - the scalar definition of doc/design.md "Numerics" (section 7), shared by the
 * scalar kernels and the vector kernels' tails: the single source of truth.
 *
 * Conversions are integer-based (no FTZ/DAZ dependence): bf16 and fp16 are
 * rounded once, to nearest even, subnormals kept, overflow to infinity; every
 * NaN result is the type's positive default quiet NaN.
 */
#ifndef LIBSHMAR_NUMERICS_H
#define LIBSHMAR_NUMERICS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define SHMAR_NAN_BF16 0x7fc0u
#define SHMAR_NAN_F16 0x7e00u
#define SHMAR_NAN_F32 0x7fc00000u
#define SHMAR_NAN_F64 0x7ff8000000000000ull

static inline uint32_t shmar__f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float shmar__f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline float shmar__bf16_to_f32(uint16_t h)
{
	return shmar__f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t shmar__f32_to_bf16(float f)
{
	uint32_t u = shmar__f32_bits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return SHMAR_NAN_BF16;
	/* round to nearest even on the 16 bits that go; a carry into the
	 * exponent is right, up to infinity */
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* binary16 to fp32, exactly, as bits: a NaN keeps its sign and payload */
static inline uint32_t shmar__f16_to_f32_bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;

	if (exp == 0x1f) /* Inf, NaN */
		return sign | 0x7f800000u | (man << 13);
	if (exp == 0) /* zero, or subnormal: man * 2^-24, a normal fp32 */
		return man ? sign | shmar__f32_bits((float)man * 0x1p-24f) : sign;
	return sign | ((exp + 112) << 23) | (man << 13);
}

static inline float shmar__f16_to_f32(uint16_t h)
{
	return shmar__f32_from_bits(shmar__f16_to_f32_bits(h));
}

static inline uint16_t shmar__f32_to_f16(float f)
{
	uint32_t u = shmar__f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
	uint32_t exp, man, shift, rounded;

	if (a > 0x7f800000u)
		return SHMAR_NAN_F16;
	if (a >= 0x477ff000u) /* >= 65520: rounds to infinity (and Inf itself) */
		return (uint16_t)(sign | 0x7c00u);
	exp = a >> 23;
	if (exp >= 113) { /* normal fp16: drop 13 bits, nearest even */
		rounded = a + 0xfffu + ((a >> 13) & 1u);
		return (uint16_t)(sign | ((rounded - (112u << 23)) >> 13));
	}
	if (exp < 102) /* below half the smallest subnormal (2^-25): zero */
		return (uint16_t)sign;
	/* subnormal fp16: the significand with its hidden bit, shifted */
	man = (a & 0x7fffffu) | 0x800000u;
	shift = 126 - exp; /* 14..24 */
	rounded = (man >> shift) + (((man >> (shift - 1)) & 1u) &
				    (((man & ((1u << (shift - 1)) - 1)) != 0) | ((man >> shift) & 1u)));
	return (uint16_t)(sign | rounded);
}

/* MAX and MIN: NaN wins; -0 ranks below +0. */
static inline float shmar__maxf(float a, float b)
{
	if (isnan(a) || isnan(b))
		return NAN;
	if (a == b)
		return shmar__f32_from_bits(shmar__f32_bits(a) & shmar__f32_bits(b));
	return a > b ? a : b;
}

static inline float shmar__minf(float a, float b)
{
	if (isnan(a) || isnan(b))
		return NAN;
	if (a == b)
		return shmar__f32_from_bits(shmar__f32_bits(a) | shmar__f32_bits(b));
	return a < b ? a : b;
}

static inline double shmar__maxd(double a, double b)
{
	uint64_t x, y;

	if (isnan(a) || isnan(b))
		return NAN;
	if (a == b) {
		memcpy(&x, &a, 8);
		memcpy(&y, &b, 8);
		x &= y;
		memcpy(&a, &x, 8);
		return a;
	}
	return a > b ? a : b;
}

static inline double shmar__mind(double a, double b)
{
	uint64_t x, y;

	if (isnan(a) || isnan(b))
		return NAN;
	if (a == b) {
		memcpy(&x, &a, 8);
		memcpy(&y, &b, 8);
		x |= y;
		memcpy(&a, &x, 8);
		return a;
	}
	return a < b ? a : b;
}

static inline uint32_t shmar__f32_out(float f)
{
	return isnan(f) ? SHMAR_NAN_F32 : shmar__f32_bits(f);
}

static inline uint64_t shmar__f64_out(double d)
{
	uint64_t u;

	if (isnan(d))
		return SHMAR_NAN_F64;
	memcpy(&u, &d, 8);
	return u;
}

#endif /* LIBSHMAR_NUMERICS_H */
