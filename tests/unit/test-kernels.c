/* SPDX-License-Identifier: MIT */
/*
 * test-kernels.c - every kernel of every ISA the CPU has against the
 * independent reference (tests/reference.c) and against the scalar kernels,
 * bit for bit: seeded random data with special values mixed in (NaN payloads,
 * +-Inf, -0, subnormals, rounding ties, overflow), source counts 1..256,
 * misaligned buffers, in place, with canaries around the output.
 *
 * Built once per ISA: TEST_ISA is 1 (scalar, always runs, with the dispatch
 * and conversion tests), 2 (AVX2) or 3 (AVX-512); an ISA binary exits 77
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
	}
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
		cmocka_unit_test(test_named_cases),
		cmocka_unit_test(test_kernels),
	};
	const struct CMUnitTest isa_tests[] = {
		cmocka_unit_test(test_named_cases),
		cmocka_unit_test(test_kernels),
	};

	if (TEST_ISA == SHMAR_ISA_SCALAR)
		return cmocka_run_group_tests(scalar_tests, NULL, NULL) ? 1 : 0;
	if (!shmar__isa_supported(TEST_ISA)) {
		printf("%s: not on this CPU, skipped\n", shmar__isa_name(TEST_ISA));
		return 77;
	}
	return cmocka_run_group_tests(isa_tests, NULL, NULL) ? 1 : 0;
}
