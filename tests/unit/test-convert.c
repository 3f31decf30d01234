/* SPDX-License-Identifier: MIT */
/*
 * test-convert.c - shmar_float_to_bf16 and friends against the independent
 * conversions of tests/reference.c, bit for bit: every bf16 and fp16 value
 * widened, and seeded random floats plus special values (NaN payloads,
 * +-Inf, -0, subnormals, exact ties, overflow) narrowed; the same results
 * with flush-to-zero and denormals-are-zero set (x86); and each error path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "shmar.h"
#include "helpers.h"
#include "reference.h"

#define NRANDOM (1u << 20)

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Random floats over the whole range, special values and exact ties. */
static float *test_floats(size_t n)
{
	float *f = malloc(n * sizeof(*f));

	assert_non_null(f);
	th_seed(0x5eed);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = th_rand();
		uint32_t u = (uint32_t)r;

		switch (r >> 60) {
		case 0: u = ref_special_f32(r >> 32); break;
		case 1: u = (u & 0xffff0000u) | 0x8000u; break;    /* bf16 tie */
		case 2: u = (u & 0xffffe000u) | 0x1000u; break;    /* fp16 tie (normal range) */
		case 3: u = (u & 0x807fffffu) | (uint32_t)(100 + (r >> 40) % 14) << 23; break; /* fp16 subnormal range */
		case 4: u = (u & 0x807fffffu) | 0x47000000u; break; /* near fp16 overflow */
		default: break;
		}
		f[i] = from_bits(u);
	}
	return f;
}

static void widen_every_16_bit_value(void **state)
{
	uint16_t *h = malloc(65536 * sizeof(*h));
	float *f = malloc(65536 * sizeof(*f));

	(void)state;
	assert_non_null(h);
	assert_non_null(f);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	assert_int_equal(shmar_bf16_to_float(f, h, 65536), 0);
	for (uint32_t i = 0; i < 65536; i++)
		assert_int_equal(bits(f[i]), (uint32_t)i << 16); /* exact, payloads kept */
	assert_int_equal(shmar_fp16_to_float(f, h, 65536), 0);
	for (uint32_t i = 0; i < 65536; i++) {
		float want = ref_fp16_value(h[i]);

		if (isnan(want)) /* sign and payload kept, a signalling NaN too */
			assert_int_equal(bits(f[i]), (i & 0x8000) << 16 | 0x7f800000u | (i & 0x3ff) << 13);
		else
			assert_int_equal(bits(f[i]), bits(want));
	}
	free(h);
	free(f);
}

static void narrow_to_bf16(void **state)
{
	float *f = test_floats(NRANDOM);
	uint16_t *h = malloc(NRANDOM * sizeof(*h));

	(void)state;
	assert_non_null(h);
	assert_int_equal(shmar_float_to_bf16(h, f, NRANDOM), 0);
	for (size_t i = 0; i < NRANDOM; i++)
		if (h[i] != ref_bf16_round(f[i]))
			fail_msg("bf16 of 0x%08x: 0x%04x, want 0x%04x", bits(f[i]), h[i],
				 ref_bf16_round(f[i]));
	free(f);
	free(h);
}

static void narrow_to_fp16(void **state)
{
	float *f = test_floats(NRANDOM);
	uint16_t *h = malloc(NRANDOM * sizeof(*h));

	(void)state;
	assert_non_null(h);
	assert_int_equal(shmar_float_to_fp16(h, f, NRANDOM), 0);
	for (size_t i = 0; i < NRANDOM; i++)
		if (h[i] != ref_fp16_round(f[i]))
			fail_msg("fp16 of 0x%08x: 0x%04x, want 0x%04x", bits(f[i]), h[i],
				 ref_fp16_round(f[i]));
	free(f);
	free(h);
}

/*
 * The results do not depend on the floating-point environment: with x86's
 * flush-to-zero and denormals-are-zero set, every conversion gives the
 * same bits as with the default environment.
 */
static void same_bits_with_ftz_daz(void **state)
{
#if defined(__SSE2__)
	float *f = test_floats(NRANDOM), *wide[2];
	uint16_t *h = malloc(65536 * sizeof(*h)), *narrow[2][2];
	unsigned csr = _mm_getcsr();

	(void)state;
	for (int env = 0; env < 2; env++) {
		narrow[env][0] = malloc(NRANDOM * sizeof(uint16_t));
		narrow[env][1] = malloc(NRANDOM * sizeof(uint16_t));
		wide[env] = malloc(2 * 65536 * sizeof(float));
		assert_true(narrow[env][0] && narrow[env][1] && wide[env]);
	}
	assert_non_null(h);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	for (int env = 0; env < 2; env++) {
		_mm_setcsr(env ? csr | 0x8040 : csr); /* FTZ (bit 15) and DAZ (bit 6) */
		assert_int_equal(shmar_float_to_bf16(narrow[env][0], f, NRANDOM), 0);
		assert_int_equal(shmar_float_to_fp16(narrow[env][1], f, NRANDOM), 0);
		assert_int_equal(shmar_bf16_to_float(wide[env], h, 65536), 0);
		assert_int_equal(shmar_fp16_to_float(wide[env] + 65536, h, 65536), 0);
		_mm_setcsr(csr);
	}
	assert_memory_equal(narrow[0][0], narrow[1][0], NRANDOM * sizeof(uint16_t));
	assert_memory_equal(narrow[0][1], narrow[1][1], NRANDOM * sizeof(uint16_t));
	assert_memory_equal(wide[0], wide[1], 2 * 65536 * sizeof(float));
	for (int env = 0; env < 2; env++) {
		free(narrow[env][0]);
		free(narrow[env][1]);
		free(wide[env]);
	}
	free(f);
	free(h);
#else
	(void)state; /* no such modes to set on this architecture */
#endif
}

/* Bad arrays are refused and nothing is written. */
static void bad_arrays(void **state)
{
	float f[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint16_t h[8] = { 0x1111, 0x1111, 0x1111, 0x1111, 0x1111, 0x1111, 0x1111, 0x1111 };
	uint16_t before[8];

	(void)state;
	memcpy(before, h, sizeof(h));
	assert_int_equal(shmar_float_to_bf16(NULL, f, 1), -EINVAL);
	assert_int_equal(shmar_float_to_bf16(h, NULL, 1), -EINVAL);
	assert_int_equal(shmar_bf16_to_float(NULL, h, 1), -EINVAL);
	assert_int_equal(shmar_fp16_to_float(f, NULL, 1), -EINVAL);
	assert_int_equal(shmar_float_to_fp16(h, f, SIZE_MAX), -EINVAL); /* bytes overflow */
	/* overlapping arrays */
	assert_int_equal(shmar_float_to_bf16((uint16_t *)f + 1, f, 4), -EINVAL);
	assert_int_equal(shmar_bf16_to_float((float *)h, h + 2, 4), -EINVAL);
	assert_int_equal(shmar_float_to_fp16((uint16_t *)f, f, 2), -EINVAL);
	assert_memory_equal(h, before, sizeof(h));
	assert_int_equal(bits(f[0]), bits(1.0f));
	/* nothing to convert: fine, even with NULL */
	assert_int_equal(shmar_float_to_bf16(NULL, NULL, 0), 0);
	assert_int_equal(shmar_fp16_to_float(NULL, NULL, 0), 0);
	/* adjacent but apart is fine */
	assert_int_equal(shmar_float_to_bf16((uint16_t *)(f + 4), f, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(widen_every_16_bit_value),
		cmocka_unit_test(narrow_to_bf16),
		cmocka_unit_test(narrow_to_fp16),
		cmocka_unit_test(same_bits_with_ftz_daz),
		cmocka_unit_test(bad_arrays),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
