/* SPDX-License-Identifier: MIT */
/*
 * reference.c - the independent numerics model (see reference.h).
 */
#include <math.h>
#include <string.h>

#include "reference.h"

size_t ref_dtype_size(int dtype)
{
	static const size_t sizes[] = { 4, 2, 2, 8, 4, 8, 1 };

	return dtype >= 0 && dtype < 7 ? sizes[dtype] : 0;
}

const char *ref_dtype_name(int dtype)
{
	static const char *const names[] = { "fp32", "bf16", "fp16", "fp64", "int32", "int64", "uint8" };

	return dtype >= 0 && dtype < 7 ? names[dtype] : "?";
}

const char *ref_op_name(int op)
{
	static const char *const names[] = { "sum", "prod", "max", "min", "avg" };

	return op >= 0 && op < 5 ? names[op] : "?";
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser: a counter-based generator, any element in O(1) */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---------------------------------------------------------------- conversions */

static float bits_to_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static uint32_t f32_to_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

float ref_bf16_value(uint16_t h)
{
	return bits_to_f32((uint32_t)h << 16);
}

/* Round to bf16 by choosing the nearer of the two neighbours, ties to the
 * one with an even last bit; differences taken exactly in double. */
uint16_t ref_bf16_round(float f)
{
	uint32_t u = f32_to_bits(f);
	uint16_t lo, hi;
	double dlo, dhi;

	if (isnan(f))
		return 0x7fc0;
	lo = (uint16_t)(u >> 16); /* toward zero */
	if ((u & 0xffff) == 0)
		return lo;
	hi = (uint16_t)(lo + 1); /* away from zero; 0x7f7f + 1 is Inf, as it should */
	dlo = fabs((double)f - (double)ref_bf16_value(lo));
	dhi = fabs((double)ref_bf16_value(hi) - (double)f);
	if (isinf(ref_bf16_value(hi)) && !isinf(f)) {
		/* overflow threshold: halfway between the largest finite and 2^128 */
		dhi = fabs(ldexp(1.0, 128) - fabs((double)f));
	}
	if (dlo < dhi)
		return lo;
	if (dhi < dlo)
		return hi;
	return (lo & 1) ? hi : lo;
}

float ref_fp16_value(uint16_t h)
{
	_Float16 x;

	memcpy(&x, &h, 2);
	return (float)x;
}

uint16_t ref_fp16_round(float f)
{
	_Float16 x = (_Float16)f; /* libgcc: IEEE round to nearest even */
	uint16_t h;

	if (isnan(f))
		return 0x7e00;
	memcpy(&h, &x, 2);
	return h;
}

/* ---------------------------------------------------------------- inputs */

uint32_t ref_special_f32(uint64_t r)
{
	static const uint32_t v[] = {
		0x7fc00000, 0x7fc01234, 0xffc00001, 0x7f800001, 0xff812345, /* NaNs, quiet and signalling */
		0x7f800000, 0xff800000, 0x00000000, 0x80000000,             /* +-Inf, +-0 */
		0x00000001, 0x807fffff, 0x00400000, 0x00012345,             /* subnormals */
		0x7f7fffff, 0xff7fffff, 0x3f800000, 0x3b800000,             /* max, 1, 2^-8 */
	};
	return v[r % (sizeof(v) / sizeof(v[0]))];
}

static uint16_t special_16(uint64_t r, int dtype)
{
	static const uint16_t bf[] = { 0x7fc0, 0x7fc5, 0xffc1, 0x7f81, 0xff81, 0x7f80, 0xff80,
				       0x0000, 0x8000, 0x0001, 0x807f, 0x0040, 0x7f7f, 0xff7f,
				       0x3f80, 0x3b80 };
	static const uint16_t hf[] = { 0x7e00, 0x7e55, 0xfe01, 0x7c01, 0xfc33, 0x7c00, 0xfc00,
				       0x0000, 0x8000, 0x0001, 0x83ff, 0x0200, 0x7bff, 0xfbff,
				       0x3c00, 0x1400 };
	return dtype == SHMAR_BFLOAT16 ? bf[r % 16] : hf[r % 16];
}

void ref_input(void *out, int dtype, uint64_t seed, int rank, size_t i)
{
	uint64_t r = mix(seed ^ ((uint64_t)rank << 48) ^ (uint64_t)i * 0x100000001b3ull);
	unsigned kind = (unsigned)(r >> 60); /* 0: special, 1..9: narrow range, else wide */
	uint16_t h;
	uint32_t u;
	double d;

	switch (dtype) {
	case SHMAR_FLOAT32:
		if (kind == 0)
			u = ref_special_f32(r);
		else if (kind < 10)
			/* exponents near 1: sums overlap and round, often to ties */
			u = (uint32_t)(r & 0x807fffffu) | ((uint32_t)(124 + (r >> 32) % 6) << 23);
		else
			u = (uint32_t)r;
		memcpy(out, &u, 4);
		break;
	case SHMAR_BFLOAT16:
	case SHMAR_FLOAT16:
		if (kind == 0)
			h = special_16(r, dtype);
		else if (kind < 10)
			h = dtype == SHMAR_BFLOAT16
				    ? (uint16_t)((r & 0x807f) | ((124 + (r >> 32) % 6) << 7))
				    : (uint16_t)((r & 0x83ff) | ((13 + (r >> 32) % 6) << 10));
		else
			h = (uint16_t)r;
		memcpy(out, &h, 2);
		break;
	case SHMAR_FLOAT64:
		if (kind == 0) {
			static const uint64_t v[] = { 0x7ff8000000000000ull, 0x7ff8000000001234ull,
						      0x7ff0000000000001ull, 0xfff0000000000000ull,
						      0x8000000000000000ull, 0x0000000000000001ull,
						      0x7fefffffffffffffull, 0x0000000000000000ull };
			memcpy(out, &v[r % 8], 8);
		} else if (kind < 10) {
			d = ldexp((double)(r & 0xfffffffffffull), -40 - (int)((r >> 50) % 4));
			if (r & 1)
				d = -d;
			memcpy(out, &d, 8);
		} else {
			memcpy(out, &r, 8);
		}
		break;
	case SHMAR_INT32:
		u = kind == 0 ? (r & 2 ? 0x80000000u : 0x7fffffffu) : (uint32_t)r;
		memcpy(out, &u, 4);
		break;
	case SHMAR_INT64:
		if (kind == 0)
			r = r & 2 ? 0x8000000000000000ull : 0x7fffffffffffffffull;
		memcpy(out, &r, 8);
		break;
	case SHMAR_UINT8:
		*(uint8_t *)out = (uint8_t)(r >> 8);
		break;
	}
}

void ref_fill(void *buf, int dtype, uint64_t seed, int rank, size_t count)
{
	size_t es = ref_dtype_size(dtype);

	for (size_t i = 0; i < count; i++)
		ref_input((char *)buf + i * es, dtype, seed, rank, i);
}

/* ---------------------------------------------------------------- reduction */

static double fmax_rule(double a, double b, int op)
{
	if (isnan(a) || isnan(b))
		return NAN;
	if (a == b) /* +0 and -0: -0 ranks below +0 */
		return (op == SHMAR_MAX) == !!signbit(a) ? b : a;
	return (op == SHMAR_MAX) == (a > b) ? a : b;
}

/* One float step in the accumulator type: fp32 (acc_is_f32) or fp64. */
static double fstep(double acc, double x, int op, int acc_is_f32)
{
	if (op == SHMAR_MAX || op == SHMAR_MIN)
		return fmax_rule(acc, x, op);
	if (acc_is_f32) {
		float a = (float)acc, y = (float)x;
		volatile float r = op == SHMAR_PROD ? a * y : a + y;

		return r;
	}
	return op == SHMAR_PROD ? acc * x : acc + x;
}

static double load_float(const void *p, int dtype)
{
	uint16_t h;
	double d;
	float f;

	switch (dtype) {
	case SHMAR_FLOAT32: memcpy(&f, p, 4); return f;
	case SHMAR_BFLOAT16: memcpy(&h, p, 2); return ref_bf16_value(h);
	case SHMAR_FLOAT16: memcpy(&h, p, 2); return ref_fp16_value(h);
	default: memcpy(&d, p, 8); return d;
	}
}

static void store_float(void *p, int dtype, double v)
{
	uint16_t h;
	uint32_t u;
	uint64_t q;

	switch (dtype) {
	case SHMAR_FLOAT32:
		u = isnan(v) ? 0x7fc00000u : f32_to_bits((float)v);
		memcpy(p, &u, 4);
		break;
	case SHMAR_BFLOAT16:
		h = ref_bf16_round((float)v);
		memcpy(p, &h, 2);
		break;
	case SHMAR_FLOAT16:
		h = ref_fp16_round((float)v);
		memcpy(p, &h, 2);
		break;
	default:
		if (isnan(v))
			q = 0x7ff8000000000000ull;
		else
			memcpy(&q, &v, 8);
		memcpy(p, &q, 8);
		break;
	}
}

static int64_t load_int(const void *p, int dtype)
{
	int32_t i32;
	int64_t i64;

	switch (dtype) {
	case SHMAR_INT32: memcpy(&i32, p, 4); return i32;
	case SHMAR_INT64: memcpy(&i64, p, 8); return i64;
	default: return *(const uint8_t *)p;
	}
}

/* Wrap to the dtype's width (two's complement). */
static int64_t wrap(int dtype, uint64_t v)
{
	return dtype == SHMAR_INT32 ? (int32_t)(uint32_t)v
	       : dtype == SHMAR_UINT8 ? (int64_t)(uint8_t)v
				      : (int64_t)v;
}

static void store_int(void *p, int dtype, int64_t v)
{
	int32_t i32 = (int32_t)v;
	uint8_t u8 = (uint8_t)v;

	switch (dtype) {
	case SHMAR_INT32: memcpy(p, &i32, 4); break;
	case SHMAR_INT64: memcpy(p, &v, 8); break;
	default: memcpy(p, &u8, 1); break;
	}
}

static void reduce_one(void *out, int dtype, int op, unsigned n, const void *(*get)(unsigned, void *),
		       void *ctx)
{
	if (dtype == SHMAR_INT32 || dtype == SHMAR_INT64 || dtype == SHMAR_UINT8) {
		int64_t acc = load_int(get(0, ctx), dtype);

		for (unsigned k = 1; k < n; k++) {
			int64_t x = load_int(get(k, ctx), dtype);

			switch (op) {
			case SHMAR_SUM: case SHMAR_AVG: acc = wrap(dtype, (uint64_t)acc + (uint64_t)x); break;
			case SHMAR_PROD: acc = wrap(dtype, (uint64_t)acc * (uint64_t)x); break;
			case SHMAR_MAX: acc = x > acc ? x : acc; break;
			default: acc = x < acc ? x : acc; break;
			}
		}
		if (op == SHMAR_AVG)
			acc /= (int64_t)n; /* C division truncates toward zero */
		store_int(out, dtype, acc);
		return;
	}
	int f32 = dtype != SHMAR_FLOAT64;
	double acc = load_float(get(0, ctx), dtype);

	for (unsigned k = 1; k < n; k++)
		acc = fstep(acc, load_float(get(k, ctx), dtype), op, f32);
	if (op == SHMAR_AVG) {
		if (f32) {
			volatile float q = (float)acc / (float)n;

			acc = q;
		} else {
			acc = acc / (double)n;
		}
	}
	store_float(out, dtype, acc);
}

struct gen_ctx {
	int dtype;
	uint64_t seed;
	size_t i;
	unsigned char tmp[SHMAR_MAX_RANKS][8];
};

static const void *gen_get(unsigned k, void *p)
{
	struct gen_ctx *c = p;

	ref_input(c->tmp[k], c->dtype, c->seed, (int)k, c->i);
	return c->tmp[k];
}

void ref_reduce_elem(void *out, int dtype, int op, uint64_t seed, int nranks, size_t i)
{
	struct gen_ctx c = { .dtype = dtype, .seed = seed, .i = i };

	reduce_one(out, dtype, op, (unsigned)nranks, gen_get, &c);
}

struct arr_ctx {
	const void *const *srcs;
	size_t off;
};

static const void *arr_get(unsigned k, void *p)
{
	struct arr_ctx *c = p;

	return (const char *)c->srcs[k] + c->off;
}

void ref_reduce(void *dst, const void *const *srcs, unsigned n, size_t count, int dtype, int op)
{
	size_t es = ref_dtype_size(dtype);

	for (size_t i = 0; i < count; i++) {
		struct arr_ctx c = { srcs, i * es };

		reduce_one((char *)dst + i * es, dtype, op, n, arr_get, &c);
	}
}

uint64_t ref_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
