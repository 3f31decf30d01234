/* SPDX-License-Identifier: MIT */
/*
 * numerics.c - the node-order combination of per-node partials.
 *
 * The definition (shmar_mpi_allreduce(3), "Numerics"): for each element,
 * node n's partial P[n] is libshmar's rank-order accumulation over the node's
 * local ranks, in the accumulator type, not rounded; the result is
 * P[0] (+) P[1] (+) ... (+) P[M-1], left to right in node order, in the
 * accumulator type; AVG then divides by the number of ranks of the whole
 * communicator; bf16 and fp16 are rounded once, at the very end.  The rules
 * of each step are libshmar's: NaN wins MAX and MIN, -0 is below +0,
 * integers wrap, every NaN result is the type's default quiet NaN.
 *
 * Rounding uses libshmar's own conversion (shmar_float_to_bf16() and
 * shmar_float_to_fp16()), so one node gives exactly libshmar's bits.  This
 * file is compiled like the library: no FMA contraction, no fast-math.
 */
#include <math.h>
#include <string.h>

#include "mpi-private.h"

/* Elements converted per step through the stack buffers below. */
#define CHUNK 512

enum shmar_dtype shmar_mpi__acc_dtype(enum shmar_dtype dtype, enum shmar_op op)
{
	/* MAX and MIN pick one of their operands: no rounding, so bf16/fp16
	 * partials are exact in their own type and travel at half the size. */
	if ((dtype == SHMAR_BFLOAT16 || dtype == SHMAR_FLOAT16) && op != SHMAR_MAX && op != SHMAR_MIN)
		return SHMAR_FLOAT32;
	return dtype;
}

enum shmar_op shmar_mpi__node_op(enum shmar_op op)
{
	return op == SHMAR_AVG ? SHMAR_SUM : op;
}

void shmar_mpi__to_acc(void *dst, const void *src, size_t count, enum shmar_dtype dtype,
		       enum shmar_dtype acc)
{
	if (dtype == acc)
		memcpy(dst, src, count * shmar_mpi__dtype_size(dtype));
	else if (dtype == SHMAR_BFLOAT16)
		(void)shmar_bf16_to_float(dst, src, count);
	else
		(void)shmar_fp16_to_float(dst, src, count);
}

/* ---------------------------------------------------------------- rules */

/* MAX/MIN: does b replace the accumulator a?  NaN wins; -0 is below +0. */
static bool takes_over(double a, double b, bool max)
{
	if (isnan(a))
		return false;
	if (isnan(b))
		return true;
	if (a == b)
		return max ? signbit(a) && !signbit(b) : !signbit(a) && signbit(b);
	return max ? b > a : b < a;
}

static float step_f32(float a, float b, enum shmar_op op)
{
	switch (op) {
	case SHMAR_PROD:
		return a * b;
	case SHMAR_MAX:
	case SHMAR_MIN:
		return takes_over(a, b, op == SHMAR_MAX) ? b : a;
	default: /* SUM, and AVG's sum */
		return a + b;
	}
}

static double step_f64(double a, double b, enum shmar_op op)
{
	switch (op) {
	case SHMAR_PROD:
		return a * b;
	case SHMAR_MAX:
	case SHMAR_MIN:
		return takes_over(a, b, op == SHMAR_MAX) ? b : a;
	default:
		return a + b;
	}
}

/* Integers: sums and products in unsigned arithmetic (wrap, no undefined
 * behaviour); `bits` is the width, is_signed picks the order of MAX/MIN. */
static uint64_t step_int(uint64_t a, uint64_t b, enum shmar_op op, bool is_signed, int bits)
{
	uint64_t mask = bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
	int64_t sa, sb;

	switch (op) {
	case SHMAR_PROD:
		return (a * b) & mask;
	case SHMAR_MAX:
	case SHMAR_MIN:
		if (is_signed) {
			/* sign-extend from `bits` */
			sa = (int64_t)(a << (64 - bits)) >> (64 - bits);
			sb = (int64_t)(b << (64 - bits)) >> (64 - bits);
			return (op == SHMAR_MAX ? sb > sa : sb < sa) ? b : a;
		}
		return (op == SHMAR_MAX ? b > a : b < a) ? b : a;
	default:
		return (a + b) & mask;
	}
}

/* ---------------------------------------------------------------- loads, stores */

static uint64_t load_int(const void *p, size_t i, enum shmar_dtype dtype)
{
	uint32_t u32;
	uint64_t u64;

	switch (dtype) {
	case SHMAR_INT32:
		memcpy(&u32, (const char *)p + 4 * i, 4);
		return u32;
	case SHMAR_INT64:
		memcpy(&u64, (const char *)p + 8 * i, 8);
		return u64;
	default:
		return ((const uint8_t *)p)[i];
	}
}

static void store_int(void *p, size_t i, enum shmar_dtype dtype, uint64_t v, enum shmar_op op,
		      int nranks)
{
	uint32_t u32 = (uint32_t)v;

	if (op == SHMAR_AVG) {
		/* the wrapped sum over all ranks, divided, truncated toward zero */
		if (dtype == SHMAR_INT32)
			v = (uint64_t)(int64_t)((int32_t)u32 / nranks);
		else if (dtype == SHMAR_INT64)
			v = (uint64_t)((int64_t)v / nranks);
		else
			v = (uint8_t)v / (unsigned)nranks;
		u32 = (uint32_t)v;
	}
	switch (dtype) {
	case SHMAR_INT32:
		memcpy((char *)p + 4 * i, &u32, 4);
		break;
	case SHMAR_INT64:
		memcpy((char *)p + 8 * i, &v, 8);
		break;
	default:
		((uint8_t *)p)[i] = (uint8_t)v;
		break;
	}
}

/* ---------------------------------------------------------------- combine */

static void combine_int(void *out, const void *const *parts, int nparts, size_t count,
			enum shmar_dtype dtype, enum shmar_op op, int nranks)
{
	int bits = (int)shmar_mpi__dtype_size(dtype) * 8;
	bool is_signed = dtype != SHMAR_UINT8;

	for (size_t i = 0; i < count; i++) {
		uint64_t acc = load_int(parts[0], i, dtype);

		for (int n = 1; n < nparts; n++)
			acc = step_int(acc, load_int(parts[n], i, dtype), op, is_signed, bits);
		store_int(out, i, dtype, acc, op, nranks);
	}
}

static void combine_f64(void *out, const void *const *parts, int nparts, size_t count,
			enum shmar_op op, int nranks)
{
	const uint64_t qnan = 0x7ff8000000000000ull;

	for (size_t i = 0; i < count; i++) {
		double acc, x;

		memcpy(&acc, (const char *)parts[0] + 8 * i, 8);
		for (int n = 1; n < nparts; n++) {
			memcpy(&x, (const char *)parts[n] + 8 * i, 8);
			acc = step_f64(acc, x, op);
		}
		if (op == SHMAR_AVG)
			acc = acc / (double)nranks;
		if (isnan(acc))
			memcpy((char *)out + 8 * i, &qnan, 8);
		else
			memcpy((char *)out + 8 * i, &acc, 8);
	}
}

/* fp32 partials: of fp32 data, or widened bf16/fp16 data (SUM, PROD, AVG). */
static void combine_f32(void *out, const void *const *parts, int nparts, size_t count,
			enum shmar_dtype dtype, enum shmar_op op, int nranks)
{
	float acc[CHUNK];

	for (size_t base = 0; base < count; base += CHUNK) {
		size_t n = count - base < CHUNK ? count - base : CHUNK;

		memcpy(acc, (const float *)parts[0] + base, n * 4);
		for (int p = 1; p < nparts; p++) {
			const float *x = (const float *)parts[p] + base;

			for (size_t i = 0; i < n; i++) {
				float xi;

				memcpy(&xi, x + i, 4);
				acc[i] = step_f32(acc[i], xi, op);
			}
		}
		for (size_t i = 0; i < n; i++)
			acc[i] = op == SHMAR_AVG ? acc[i] / (float)nranks : acc[i];
		if (dtype == SHMAR_BFLOAT16)
			(void)shmar_float_to_bf16((uint16_t *)out + base, acc, n);
		else if (dtype == SHMAR_FLOAT16)
			(void)shmar_float_to_fp16((uint16_t *)out + base, acc, n);
		else
			for (size_t i = 0; i < n; i++) {
				const uint32_t qnan = 0x7fc00000u;

				memcpy((float *)out + base + i, isnan(acc[i]) ? (const void *)&qnan
									    : (const void *)&acc[i], 4);
			}
	}
}

/* bf16/fp16 MAX and MIN, in their own type: the winner's bits are kept. */
static void combine_half_minmax(void *out, const void *const *parts, int nparts, size_t count,
				enum shmar_dtype dtype, enum shmar_op op)
{
	int (*widen)(float *, const uint16_t *, size_t) =
		dtype == SHMAR_BFLOAT16 ? shmar_bf16_to_float : shmar_fp16_to_float;
	uint16_t qnan = dtype == SHMAR_BFLOAT16 ? 0x7fc0 : 0x7e00;
	float acc[CHUNK], x[CHUNK];
	uint16_t bits[CHUNK];

	for (size_t base = 0; base < count; base += CHUNK) {
		size_t n = count - base < CHUNK ? count - base : CHUNK;

		memcpy(bits, (const uint16_t *)parts[0] + base, n * 2);
		(void)widen(acc, bits, n);
		for (int p = 1; p < nparts; p++) {
			const uint16_t *src = (const uint16_t *)parts[p] + base;

			(void)widen(x, src, n);
			for (size_t i = 0; i < n; i++)
				if (takes_over(acc[i], x[i], op == SHMAR_MAX)) {
					acc[i] = x[i];
					memcpy(&bits[i], src + i, 2);
				}
		}
		for (size_t i = 0; i < n; i++)
			if (isnan(acc[i]))
				bits[i] = qnan;
		memcpy((uint16_t *)out + base, bits, n * 2);
	}
}

void shmar_mpi__combine(void *out, const void *const *parts, int nparts, size_t count,
			enum shmar_dtype dtype, enum shmar_op op, int nranks)
{
	switch (shmar_mpi__acc_dtype(dtype, op)) {
	case SHMAR_FLOAT32:
		combine_f32(out, parts, nparts, count, dtype, op, nranks);
		break;
	case SHMAR_FLOAT64:
		combine_f64(out, parts, nparts, count, op, nranks);
		break;
	case SHMAR_BFLOAT16:
	case SHMAR_FLOAT16:
		combine_half_minmax(out, parts, nparts, count, dtype, op);
		break;
	default:
		combine_int(out, parts, nparts, count, dtype, op, nranks);
		break;
	}
}
