/* SPDX-License-Identifier: MIT */
/*
 * test-kernels.c - every kernel of every ISA the CPU has against the
 * independent reference (tests/reference.c) and against the scalar kernels,
 * bit for bit: seeded random data with special values mixed in (NaN payloads,
 * +-Inf, -0, subnormals, rounding ties, overflow), source counts 1..256,
 * misaligned buffers, in place, with canaries around the output.
 *
 * Every dtype also at the count boundaries of the vector code (one and two
 * vectors of 32 and of 64 bytes, and one element either side), NaN and
 * signed zeros at every lane, the AVG divisions at their edges; the fp32 <-> bf16/fp16
 * conversions of the kernel table; and the large-copy routine.
 *
 * Built once per ISA: TEST_ISA is 1 (scalar, always runs, with the dispatch,
 * numerics and copy tests), 2 (AVX2) or 3 (AVX-512); an ISA binary exits 77
 * (skip) on a CPU that lacks its ISA.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/numerics.h"
#include "helpers.h"
#include "reference.h"

#ifndef TEST_ISA
#define TEST_ISA SHMAR_ISA_SCALAR
#endif

#define CANARY 0xc3
#define PAD 64

static const size_t counts[] = { 0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 4097 };
static const unsigned nsrcs[] = { 1, 2, 3, 4, 5, 8, 17 };

static const struct shmar__kernels *kernels_of(int isa)
{
	const struct shmar__kernels *k = NULL;

	return shmar__kernels_select(isa, &k) == 0 ? k : NULL;
}

static bool canary_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != CANARY)
			return false;
	return true;
}

/*
 * Run one kernel on nsrc seeded inputs at a misalignment, out of place and in
 * place (into the first and into the last source), and compare with want.
 */
static void check_one(const struct shmar__kernels *k, int dtype, int op, unsigned nsrc,
		      size_t count, unsigned misalign, uint64_t seed)
{
	size_t es = ref_dtype_size(dtype), bytes = count * es;
	unsigned char *mem[SHMAR_MAX_RANKS], *want = malloc(bytes + 1), *out = malloc(bytes + 3 * PAD);
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned char *copy = malloc(bytes + 1);

	assert_non_null(want);
	assert_non_null(out);
	for (unsigned s = 0; s < nsrc; s++) {
		mem[s] = malloc(bytes + 3 * PAD);
		assert_non_null(mem[s]);
		memset(mem[s], CANARY, bytes + 3 * PAD);
		ref_fill(mem[s] + PAD + misalign, dtype, seed, (int)s, count);
		srcs[s] = mem[s] + PAD + misalign;
	}
	ref_reduce(want, srcs, nsrc, count, dtype, op);

	/* out of place, the output at another misalignment */
	memset(out, CANARY, bytes + 3 * PAD);
	k->reduce[dtype][op](out + PAD + (misalign * 5) % 64, srcs, nsrc, count);
	if (memcmp(out + PAD + (misalign * 5) % 64, want, bytes)) {
		for (size_t i = 0; i < count; i++) {
			unsigned long long g = 0, w = 0;

			memcpy(&g, out + PAD + (misalign * 5) % 64 + i * es, es);
			memcpy(&w, want + i * es, es);
			if (g != w)
				fail_msg("%s %s %s nsrc %u count %zu: element %zu is 0x%llx, want 0x%llx",
					 k->name, ref_dtype_name(dtype), ref_op_name(op), nsrc, count, i, g, w);
		}
	}
	assert_true(canary_ok(out, PAD + (misalign * 5) % 64));
	assert_true(canary_ok(out + PAD + (misalign * 5) % 64 + bytes, PAD));
	/* the sources are untouched */
	for (unsigned s = 0; s < nsrc; s++) {
		ref_fill(copy, dtype, seed, (int)s, count);
		assert_memory_equal(copy, srcs[s], bytes);
	}
	/* in place into the first source, then into the last */
	for (int which = 0; which < 2; which++) {
		unsigned s = which ? nsrc - 1 : 0;

		k->reduce[dtype][op](mem[s] + PAD + misalign, srcs, nsrc, count);
		assert_memory_equal(mem[s] + PAD + misalign, want, bytes);
		assert_true(canary_ok(mem[s], PAD + misalign));
		assert_true(canary_ok(mem[s] + PAD + misalign + bytes, PAD));
		ref_fill(mem[s] + PAD + misalign, dtype, seed, (int)s, count);
	}
	for (unsigned s = 0; s < nsrc; s++)
		free(mem[s]);
	free(want);
	free(out);
	free(copy);
}

static void check_isa(int isa)
{
	const struct shmar__kernels *k = kernels_of(isa);
	unsigned misalign = 0;

	assert_non_null(k); /* main() skipped the binary when the CPU lacks it */
	assert_int_equal(k->isa, isa);
	for (int dtype = 0; dtype < SHMAR_NDTYPES; dtype++)
		for (int op = 0; op < SHMAR_NOPS; op++)
			for (size_t n = 0; n < sizeof(nsrcs) / sizeof(nsrcs[0]); n++)
				for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
					misalign = (misalign + 13) % 64;
					check_one(k, dtype, op, nsrcs[n], counts[c], misalign,
						  (uint64_t)(dtype * 1000003 + op * 1009 + (int)n * 101 + (int)c));
				}
	/* 256 sources, the most a comm has */
	for (int dtype = 0; dtype < SHMAR_NDTYPES; dtype++)
		check_one(k, dtype, SHMAR_SUM, SHMAR_MAX_RANKS, 100, 3, 77);
}

static void test_kernels(void **state) { (void)state; check_isa(TEST_ISA); }

/* Hand-picked cases the numerics section names, through this binary's ISA. */
static void test_named_cases(void **state)
{
	(void)state;
	struct { uint16_t a, b, want; int dtype, op; } cases[] = {
		/* bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even (1) wins */
		{ 0x3f80, 0x3b80, 0x3f80, SHMAR_BFLOAT16, SHMAR_SUM },
		/* bf16: 1 + 3 * 2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6: even wins */
		{ 0x3f81, 0x3b80, 0x3f82, SHMAR_BFLOAT16, SHMAR_SUM },
		/* bf16: largest finite doubled overflows to +Inf */
		{ 0x7f7f, 0x7f7f, 0x7f80, SHMAR_BFLOAT16, SHMAR_SUM },
		/* bf16: NaN with a payload comes out as the default quiet NaN */
		{ 0x7f81, 0x3f80, 0x7fc0, SHMAR_BFLOAT16, SHMAR_SUM },
		{ 0xffc5, 0x3f80, 0x7fc0, SHMAR_BFLOAT16, SHMAR_MAX },
		/* bf16: +Inf + -Inf is NaN */
		{ 0x7f80, 0xff80, 0x7fc0, SHMAR_BFLOAT16, SHMAR_SUM },
		/* -0 below +0 */
		{ 0x8000, 0x0000, 0x0000, SHMAR_BFLOAT16, SHMAR_MAX },
		{ 0x0000, 0x8000, 0x8000, SHMAR_BFLOAT16, SHMAR_MIN },
		{ 0x8000, 0x8000, 0x8000, SHMAR_BFLOAT16, SHMAR_SUM },
		/* bf16 subnormals kept: smallest + smallest */
		{ 0x0001, 0x0001, 0x0002, SHMAR_BFLOAT16, SHMAR_SUM },
		/* fp16: 65504 + 16 = 65520 rounds to +Inf; 65504 + 8 stays */
		{ 0x7bff, 0x4c00, 0x7c00, SHMAR_FLOAT16, SHMAR_SUM },
		{ 0x7bff, 0x4800, 0x7bff, SHMAR_FLOAT16, SHMAR_SUM },
		/* fp16 subnormals: smallest + smallest, and NaN payloads */
		{ 0x0001, 0x0001, 0x0002, SHMAR_FLOAT16, SHMAR_SUM },
		{ 0x7c01, 0x0000, 0x7e00, SHMAR_FLOAT16, SHMAR_SUM },
		{ 0x0001, 0x0001, 0x0001, SHMAR_FLOAT16, SHMAR_AVG },
		{ 0x8000, 0x0000, 0x0000, SHMAR_FLOAT16, SHMAR_MAX },
	};
	{
		const struct shmar__kernels *k = kernels_of(TEST_ISA);

		assert_non_null(k);
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			/* 40 elements: through the vector body and the tail */
			uint16_t a[40], b[40], out[40];
			const void *srcs[2] = { a, b };

			for (int i = 0; i < 40; i++) {
				a[i] = cases[c].a;
				b[i] = cases[c].b;
			}
			k->reduce[cases[c].dtype][cases[c].op](out, srcs, 2, 40);
			for (int i = 0; i < 40; i++)
				if (out[i] != cases[c].want)
					fail_msg("%s case %zu element %d: 0x%04x, want 0x%04x", k->name,
						 c, i, out[i], cases[c].want);
		}
	}
}

/* fp16 conversions of numerics.h against libgcc's, over all 65536 inputs. */
static void test_f16_conversions(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 0x10000; h++) {
		_Float16 x;
		uint16_t hh = (uint16_t)h, back;
		float f = shmar__f16_to_f32(hh);

		memcpy(&x, &hh, 2);
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) /* NaN */
			assert_true(f != f);
		else
			assert_true(f == (float)x && (shmar__f32_bits(f) >> 31) == (h >> 15));
		back = shmar__f32_to_f16(f);
		assert_int_equal(back, (h & 0x7c00) == 0x7c00 && (h & 0x3ff) ? 0x7e00 : h);
	}
	/* and fp32 -> fp16 rounding on a sweep of fp32 bit patterns */
	for (uint64_t u = 0; u < 0x100000000ull; u += 0x1357) {
		float f = shmar__f32_from_bits((uint32_t)u);
		_Float16 x = (_Float16)f;
		uint16_t want;

		memcpy(&want, &x, 2);
		if (f != f)
			want = 0x7e00;
		if (shmar__f32_to_f16(f) != want)
			fail_msg("fp32 0x%08x: 0x%04x, want 0x%04x", (unsigned)u, shmar__f32_to_f16(f), want);
	}
}

/*
 * Around every count where the vector code changes course, for 32- and
 * 64-byte vectors: m whole vectors (m = 1..4: the two-vector blocks, the
 * single vector after them, the scalar tail) and one element either side.
 */
static void check_boundaries(int isa)
{
	static const unsigned boundary_nsrcs[] = { 1, 2, 3, 8 };
	const struct shmar__kernels *k = kernels_of(isa);
	unsigned misalign = 5;

	assert_non_null(k);
	for (int dtype = 0; dtype < SHMAR_NDTYPES; dtype++) {
		size_t es = ref_dtype_size(dtype);

		for (size_t vb = 32; vb <= 64; vb *= 2)
			for (size_t m = 1; m <= 4; m++)
				for (size_t c = m * (vb / es) - 1; c <= m * (vb / es) + 1; c++)
					for (int op = 0; op < SHMAR_NOPS; op++)
						for (size_t n = 0; n < 4; n++) {
							misalign = (misalign + 11) % 64;
							check_one(k, dtype, op, boundary_nsrcs[n], c, misalign,
								  (uint64_t)(dtype * 7919 + (int)c * 31 + op * 3 + (int)n));
						}
	}
}

static void test_boundaries(void **state) { (void)state; check_boundaries(TEST_ISA); }

/*
 * A NaN (with a payload) at every position of an otherwise finite input: each
 * lane of each vector and of the tail sees one, for every float dtype.
 */
static void test_nan_every_lane(void **state)
{
	enum { COUNT = 3 * 32 + 5 };
	static const uint64_t nan_of[] = { [SHMAR_FLOAT32] = 0x7f800123, [SHMAR_BFLOAT16] = 0xff81,
					   [SHMAR_FLOAT16] = 0x7c05, [SHMAR_FLOAT64] = 0xfff0000000000abcull };
	static const int float_dtypes[] = { SHMAR_FLOAT32, SHMAR_BFLOAT16, SHMAR_FLOAT16, SHMAR_FLOAT64 };
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	unsigned char a[COUNT * 8], b[COUNT * 8], out[COUNT * 8], want[COUNT * 8];
	const void *srcs[2] = { a, b };

	(void)state;
	assert_non_null(k);
	for (size_t d = 0; d < 4; d++) {
		int dtype = float_dtypes[d];
		size_t es = ref_dtype_size(dtype);

		for (int op = 0; op < SHMAR_NOPS; op++)
			for (size_t pos = 0; pos < COUNT; pos++) {
				/* small finite values, then the NaN in a or in b */
				for (size_t i = 0; i < COUNT; i++) {
					uint64_t x = 0x3c00 + i % 7, y = 0x3800 + i % 5;

					if (dtype == SHMAR_FLOAT32 || dtype == SHMAR_BFLOAT16)
						x = 0x3f80 + i % 7, y = 0x3f00 + i % 5;
					if (dtype == SHMAR_FLOAT32)
						x <<= 16, y <<= 16;
					if (dtype == SHMAR_FLOAT64)
						x = 0x3ff0000000000000ull + (i % 7 << 44), y = 0x3fe0000000000000ull;
					memcpy(a + i * es, &x, es);
					memcpy(b + i * es, &y, es);
				}
				memcpy((pos % 2 ? b : a) + pos * es, &nan_of[dtype], es);
				ref_reduce(want, srcs, 2, COUNT, dtype, op);
				k->reduce[dtype][op](out, srcs, 2, COUNT);
				if (memcmp(out, want, COUNT * es))
					fail_msg("%s %s %s: NaN at %zu", k->name, ref_dtype_name(dtype),
						 ref_op_name(op), pos);
			}
	}
}

/*
 * -0 below +0 in every order and lane: every pattern of signs of zero over
 * three sources, each in every lane position, for MAX and MIN of every
 * float dtype.
 */
static void test_signed_zeros(void **state)
{
	enum { COUNT = 3 * 32 + 5 };
	static const int float_dtypes[] = { SHMAR_FLOAT32, SHMAR_BFLOAT16, SHMAR_FLOAT16, SHMAR_FLOAT64 };
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	unsigned char src[3][COUNT * 8], out[COUNT * 8], want[COUNT * 8];
	const void *srcs[3] = { src[0], src[1], src[2] };

	(void)state;
	assert_non_null(k);
	for (size_t d = 0; d < 4; d++) {
		int dtype = float_dtypes[d];
		size_t es = ref_dtype_size(dtype);

		for (unsigned shift = 0; shift < 8; shift++) {
			/* element i of source s is -0 where bit s of (i + shift) is set */
			for (unsigned s = 0; s < 3; s++)
				for (size_t i = 0; i < COUNT; i++) {
					uint64_t z = (i + shift) >> s & 1 ? 1ull << (8 * es - 1) : 0;

					memcpy(src[s] + i * es, &z, es);
				}
			for (int op = SHMAR_MAX; op <= SHMAR_MIN; op++)
				for (unsigned n = 2; n <= 3; n++) {
					ref_reduce(want, srcs, n, COUNT, dtype, op);
					k->reduce[dtype][op](out, srcs, n, COUNT);
					if (memcmp(out, want, COUNT * es))
						fail_msg("%s %s %s of signed zeros, %u sources", k->name,
							 ref_dtype_name(dtype), ref_op_name(op), n);
				}
		}
	}
}

/* One source holds the sum wanted, the others zero: AVG of nsrc divides it. */
static void run_avg(const struct shmar__kernels *k, int dtype, unsigned nsrc, const void *sums,
		    size_t count, void *out)
{
	static unsigned char zeros[512 * 8];
	const void *srcs[SHMAR_MAX_RANKS];

	assert_true(count * ref_dtype_size(dtype) <= sizeof(zeros));
	srcs[0] = sums;
	for (unsigned s = 1; s < nsrc; s++)
		srcs[s] = zeros;
	k->reduce[dtype][SHMAR_AVG](out, srcs, nsrc, count);
}

/* uint8 AVG: every sum 0..255 over every source count 1..256. */
static void test_avg_u8_every_divisor(void **state)
{
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	uint8_t sums[300], out[300];

	(void)state;
	assert_non_null(k);
	for (size_t i = 0; i < sizeof(sums); i++)
		sums[i] = (uint8_t)(i * 167); /* 167 is odd: every residue in each 256 */
	for (unsigned n = 1; n <= SHMAR_MAX_RANKS; n++) {
		run_avg(k, SHMAR_UINT8, n, sums, sizeof(sums), out);
		for (size_t i = 0; i < sizeof(sums); i++)
			if (out[i] != sums[i] / n)
				fail_msg("%s uint8 avg of %u over %u: %u", k->name, sums[i], n, out[i]);
	}
}

/* int32 and int64 AVG where truncation could go wrong: extremes, exact
 * multiples of n and their neighbours, both signs. */
static void test_avg_int_edges(void **state)
{
	static const unsigned divisors[] = { 1, 2, 3, 5, 7, 8, 100, 255, 256 };
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	int32_t s32[64], o32[64];
	int64_t s64[64], o64[64];

	(void)state;
	assert_non_null(k);
	for (size_t d = 0; d < sizeof(divisors) / sizeof(divisors[0]); d++) {
		unsigned n = divisors[d];
		int64_t big32 = INT32_MAX / n * n, big64 = INT64_MAX / n * n;
		int64_t base32[] = { INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 0, 1, -1,
				     n, -(int64_t)n, n - 1, 1 - (int64_t)n, n + 1, -(int64_t)n - 1,
				     big32, big32 - 1, -big32, 1 - big32, -big32 - 1 };
		int64_t base64[] = { INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, 1, -1,
				     n, -(int64_t)n, n - 1, 1 - (int64_t)n, big64, big64 - 1,
				     -big64, 1 - big64, -big64 - 1 };
		size_t n32 = sizeof(base32) / sizeof(base32[0]), n64 = sizeof(base64) / sizeof(base64[0]);

		/* each value at several lanes: 64 elements cover vectors and tail */
		for (size_t i = 0; i < 64; i++) {
			s32[i] = (int32_t)base32[i % n32];
			s64[i] = base64[i % n64];
		}
		run_avg(k, SHMAR_INT32, n, s32, 64, o32);
		run_avg(k, SHMAR_INT64, n, s64, 64, o64);
		for (size_t i = 0; i < 64; i++) {
			if (o32[i] != (int32_t)((int64_t)s32[i] / (int64_t)n))
				fail_msg("%s int32 avg of %d over %u: %d", k->name, s32[i], n, o32[i]);
			if (o64[i] != s64[i] / (int64_t)n)
				fail_msg("%s int64 avg of %lld over %u: %lld", k->name, (long long)s64[i],
					 n, (long long)o64[i]);
		}
	}
}

/* ------------------------------------------------------------ conversions */

/* What widening h must give: the value, or for a NaN its sign and payload. */
static uint32_t want_widened(uint16_t h, int dtype)
{
	float f;
	uint32_t u;

	if (dtype == SHMAR_BFLOAT16)
		return (uint32_t)h << 16;
	if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
		return (uint32_t)(h & 0x8000) << 16 | 0x7f800000u | (uint32_t)(h & 0x3ff) << 13;
	f = ref_fp16_value(h);
	memcpy(&u, &f, 4);
	return u;
}

static float test_float(uint64_t r)
{
	uint32_t u = (uint32_t)r;
	float f;

	switch (r >> 61) {
	case 0: u = ref_special_f32(r >> 32); break;
	case 1: u = (u & 0xffff0000u) | 0x8000u; break; /* bf16 tie */
	case 2: u = (u & 0xffffe000u) | 0x1000u; break; /* fp16 tie */
	case 3: u = (u & 0x807fffffu) | (uint32_t)(100 + (r >> 40) % 44) << 23; break; /* fp16 range */
	default: break;
	}
	memcpy(&f, &u, 4);
	return f;
}

/* One conversion of the table at count elements and a misalignment, with
 * canaries: narrowing (fp32 in) or widening (16 bits in). */
static void check_conversion(const struct shmar__kernels *k, int dtype, int widen, size_t count,
			     unsigned misalign)
{
	size_t in_es = widen ? 2 : 4, out_es = widen ? 4 : 2;
	unsigned char *in = malloc(count * in_es + 2 * PAD), *out = malloc(count * out_es + 2 * PAD);
	unsigned char *src = in + misalign % PAD, *dst = out + PAD - 1 - (misalign * 7) % PAD;
	shmar__convert_fn fn = dtype == SHMAR_BFLOAT16 ? (widen ? k->bf16_to_f32 : k->f32_to_bf16)
						      : (widen ? k->f16_to_f32 : k->f32_to_f16);

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < count; i++) {
		uint64_t r = th_rand();

		if (widen) {
			uint16_t h = (uint16_t)r;

			memcpy(src + i * 2, &h, 2);
		} else {
			float f = test_float(r);

			memcpy(src + i * 4, &f, 4);
		}
	}
	memset(out, CANARY, count * out_es + 2 * PAD);
	fn(dst, src, count);
	for (size_t i = 0; i < count; i++) {
		if (widen) {
			uint16_t h;
			uint32_t got;

			memcpy(&h, src + i * 2, 2);
			memcpy(&got, dst + i * 4, 4);
			if (got != want_widened(h, dtype))
				fail_msg("%s %s widen of 0x%04x: 0x%08x, want 0x%08x", k->name,
					 ref_dtype_name(dtype), h, got, want_widened(h, dtype));
		} else {
			float f;
			uint16_t got, want;

			memcpy(&f, src + i * 4, 4);
			memcpy(&got, dst + i * 2, 2);
			want = dtype == SHMAR_BFLOAT16 ? ref_bf16_round(f) : ref_fp16_round(f);
			if (got != want)
				fail_msg("%s %s narrow of 0x%08x: 0x%04x, want 0x%04x", k->name,
					 ref_dtype_name(dtype), shmar__f32_bits(f), got, want);
		}
	}
	assert_true(canary_ok(out, (size_t)(dst - out)));
	assert_true(canary_ok(dst + count * out_es, PAD));
	free(in);
	free(out);
}

static void test_conversions(void **state)
{
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	unsigned misalign = 0;

	(void)state;
	assert_non_null(k);
	th_seed(0xc0417u + TEST_ISA);
	for (int dtype = SHMAR_BFLOAT16; dtype <= SHMAR_FLOAT16; dtype++)
		for (int widen = 0; widen < 2; widen++) {
			for (size_t count = 0; count <= 70; count++)
				check_conversion(k, dtype, widen, count, misalign++);
			check_conversion(k, dtype, widen, 1000, misalign++);
			check_conversion(k, dtype, widen, 100003, misalign++);
		}
}

/* Widening every 16-bit value through the table: exact, payloads kept. */
static void test_widen_every_value(void **state)
{
	const struct shmar__kernels *k = kernels_of(TEST_ISA);
	uint16_t *h = malloc(65536 * 2);
	uint32_t *f = malloc(65536 * 4);

	(void)state;
	assert_non_null(k);
	assert_non_null(h);
	assert_non_null(f);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	for (int dtype = SHMAR_BFLOAT16; dtype <= SHMAR_FLOAT16; dtype++) {
		(dtype == SHMAR_BFLOAT16 ? k->bf16_to_f32 : k->f16_to_f32)(f, h, 65536);
		for (uint32_t i = 0; i < 65536; i++)
			if (f[i] != want_widened((uint16_t)i, dtype))
				fail_msg("%s %s 0x%04x: 0x%08x", k->name, ref_dtype_name(dtype), i, f[i]);
	}
	free(h);
	free(f);
}

/* ------------------------------------------------------------ copy */

/* Every length up to a few lines, every alignment of source and destination. */
static void test_copy_stream(void **state)
{
	enum { MAXLEN = 300 };
	unsigned char src[MAXLEN + 2 * PAD], dst[MAXLEN + 3 * PAD];

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 131 + 7);
	for (size_t len = 0; len <= MAXLEN; len++)
		for (unsigned sa = 0; sa < 64; sa += 7)
			for (unsigned da = 0; da < 64; da += 3) {
				memset(dst, CANARY, sizeof(dst));
				shmar__copy_stream(dst + PAD + da, src + sa, len);
				assert_memory_equal(dst + PAD + da, src + sa, len);
				assert_true(canary_ok(dst, PAD + da));
				assert_true(canary_ok(dst + PAD + da + len, sizeof(dst) - PAD - da - len));
			}
}

/* The copy every table points to, below and above where it starts to
 * stream, into a destination that holds other bytes first. */
static void test_copy_large(void **state)
{
	size_t nt_min = shmar__copy_nt_min(), llc = shmar__llc_bytes();
	size_t sizes[] = { 1, 4096 + 5, nt_min - 3, nt_min + 77 };
	unsigned char *src = malloc(nt_min + 200), *dst = malloc(nt_min + 200 + 2 * PAD);
	const struct shmar__kernels *k;

	(void)state;
	/* the cache size is what sysfs or sysconf says, or unknown (0) */
	printf("last-level cache %zu bytes, streaming from %zu\n", llc, nt_min);
	assert_true(llc == 0 || llc >= 64 * 1024);
	assert_true(nt_min >= 64 * 1024);
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < nt_min + 200; i++)
		src[i] = (unsigned char)(i ^ i >> 9 ^ i >> 17);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		memset(dst, CANARY, sizes[s] + 2 * PAD);
		shmar__copy(dst + PAD + 3, src + 1, sizes[s]);
		assert_memory_equal(dst + PAD + 3, src + 1, sizes[s]);
		assert_true(canary_ok(dst, PAD + 3));
		assert_true(canary_ok(dst + PAD + 3 + sizes[s], PAD - 3));
	}
	for (int isa = SHMAR_ISA_SCALAR; isa <= SHMAR_ISA_AVX512; isa++)
		if (shmar__kernels_select(isa, &k) == 0)
			assert_ptr_equal(k->copy, shmar__copy);
	free(src);
	free(dst);
}

static void test_dispatch(void **state)
{
	const struct shmar__kernels *k = NULL;
	int best = SHMAR_ISA_SCALAR;

	(void)state;
	for (int isa = SHMAR_ISA_AVX512; isa > SHMAR_ISA_SCALAR; isa--)
		if (shmar__isa_supported(isa)) {
			best = isa;
			break;
		}
	assert_int_equal(shmar__kernels_select(SHMAR_ISA_AUTO, &k), 0);
	assert_int_equal(k->isa, best);
	assert_int_equal(shmar__kernels_select(SHMAR_ISA_SCALAR, &k), 0);
	assert_string_equal(k->name, "scalar");
	assert_int_equal(shmar__kernels_select(-1, &k), -EINVAL);
	assert_int_equal(shmar__kernels_select(4, &k), -EINVAL);
	for (int isa = SHMAR_ISA_AVX2; isa <= SHMAR_ISA_AVX512; isa++)
		if (!shmar__isa_supported(isa))
			assert_int_equal(shmar__kernels_select(isa, &k), -ENOTSUP);
	assert_int_equal(shmar__dtype_size(-1), 0);
	assert_int_equal(shmar__dtype_size(7), 0);
	assert_int_equal(shmar__dtype_size(SHMAR_BFLOAT16), 2);
	assert_string_equal(shmar__dtype_name(99), "?");
	assert_string_equal(shmar__op_name(-3), "?");
	assert_string_equal(shmar__isa_name(17), "?");
	/* every slot of every table is filled */
	for (int isa = SHMAR_ISA_SCALAR; isa <= SHMAR_ISA_AVX512; isa++) {
		if (shmar__kernels_select(isa, &k) < 0)
			continue;
		for (int d = 0; d < SHMAR_NDTYPES; d++)
			for (int o = 0; o < SHMAR_NOPS; o++)
				assert_non_null(k->reduce[d][o]);
		assert_non_null(k->f32_to_bf16);
		assert_non_null(k->bf16_to_f32);
		assert_non_null(k->f32_to_f16);
		assert_non_null(k->f16_to_f32);
		assert_non_null(k->copy);
	}
	/* the conversion helpers' pick: the best, every time */
	assert_int_equal(shmar__kernels_select(SHMAR_ISA_AUTO, &k), 0);
	assert_ptr_equal(shmar__kernels_best(), k);
	assert_ptr_equal(shmar__kernels_best(), k);
#if !HAVE_X86_KERNELS
	/* a build without the x86 kernels has only the scalar table */
	assert_int_equal(shmar__kernels_select(SHMAR_ISA_AVX2, &k), -ENOTSUP);
	assert_int_equal(shmar__kernels_select(SHMAR_ISA_AVX512, &k), -ENOTSUP);
	assert_int_equal(best, SHMAR_ISA_SCALAR);
#endif
}

int main(void)
{
	const struct CMUnitTest scalar_tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_f16_conversions),
		cmocka_unit_test(test_copy_stream),
		cmocka_unit_test(test_copy_large),
		cmocka_unit_test(test_named_cases),
		cmocka_unit_test(test_nan_every_lane),
		cmocka_unit_test(test_signed_zeros),
		cmocka_unit_test(test_avg_u8_every_divisor),
		cmocka_unit_test(test_avg_int_edges),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_widen_every_value),
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_boundaries),
	};
	const struct CMUnitTest isa_tests[] = {
		cmocka_unit_test(test_named_cases),
		cmocka_unit_test(test_nan_every_lane),
		cmocka_unit_test(test_signed_zeros),
		cmocka_unit_test(test_avg_u8_every_divisor),
		cmocka_unit_test(test_avg_int_edges),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_widen_every_value),
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_boundaries),
	};

	if (TEST_ISA == SHMAR_ISA_SCALAR)
		return cmocka_run_group_tests(scalar_tests, NULL, NULL) ? 1 : 0;
	if (!shmar__isa_supported(TEST_ISA)) {
		printf("%s: not on this CPU, skipped\n", shmar__isa_name(TEST_ISA));
		return 77;
	}
	return cmocka_run_group_tests(isa_tests, NULL, NULL) ? 1 : 0;
}
