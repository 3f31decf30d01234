/* SPDX-License-Identifier: MIT */
/*
 * test-check.c - shmar-check's helpers without main(): JSON strings and
 * numbers, the facts of --json (numbers as numbers, null for what is not
 * known), the self-test's data and its rounding to bf16/fp16, the kernel
 * release parser, and how row statuses add up to the exit status.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmar.h"
#include "check.h"

/* What print(f, arg) writes, as a string to free(). */
static char *capture(void (*print)(FILE *f, const void *arg), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	print(f, arg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void print_string(FILE *f, const void *arg)
{
	check_json_string(f, arg);
}

static void print_double(FILE *f, const void *arg)
{
	check_json_double(f, *(const double *)arg);
}

static void print_report(FILE *f, const void *arg)
{
	check_print_json(f, arg);
}

static void expect_json_string(const char *in, const char *want)
{
	char *got = capture(print_string, in);

	assert_string_equal(got, want);
	free(got);
}

static void test_json_string(void **state)
{
	(void)state;
	expect_json_string("plain", "\"plain\"");
	expect_json_string("q\"b\\s\tt\nr\r", "\"q\\\"b\\\\s\\tt\\nr\\r\"");
	expect_json_string("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	expect_json_string("\xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80", "\"\xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
	expect_json_string("a\x80z", "\"a\\ufffdz\"");
	expect_json_string("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	expect_json_string("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	expect_json_string("\xe2\x82", "\"\\ufffd\\ufffd\"");
	expect_json_string(NULL, "\"\"");
}

static void expect_json_double(double v, const char *want)
{
	char *got = capture(print_double, &v);

	assert_string_equal(got, want);
	free(got);
}

static void test_json_double(void **state)
{
	(void)state;
	expect_json_double(19.2, "19.2");
	expect_json_double(5.0, "5");
	expect_json_double(1234.56789, "1234.568");
	expect_json_double(0.0004, "0");
	expect_json_double(-0.0004, "0");
	expect_json_double(-2.5, "-2.5");
	expect_json_double(100.0, "100");
	expect_json_double(NAN, "null");
	expect_json_double(INFINITY, "null");
}

/* A report as the checks would leave it, without running any. */
static void fill_report(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct check_row *row;

	memset(rep, 0, sizeof(*rep));
	rep->library_version = "0.1.0";
	rep->selftest.status = CHECK_SKIPPED;
	rep->selftest.ranks = 3;
	snprintf(rep->selftest.isa, sizeof(rep->selftest.isa), "none");
	for (int k = 0; k < CHECK_TIME_COUNT; k++)
		rep->selftest.seconds[k] = -1;
	row = check_add(rep, CHECK_SECTION_KERNEL, "futex", CHECK_OK, "round trip 19.2 us");
	check_set_detail(row, "a \"quoted\" detail");
	check_add(rep, CHECK_SECTION_MACHINE, "ranks", CHECK_DEGRADED, "3 on 2 usable CPUs");

	f->cpu_features = CHECK_CPU_AVX2 | CHECK_CPU_FMA;
	f->isa_setting = "avx512";
	f->isa_err = -ENOTSUP;
	f->isa_needs = "avx512f and more";
	f->cpus = (struct shmar_probe_cpus){ .online = 4, .affinity = 2, .quota = 0, .usable = 2 };
	f->ranks = 3;
	f->oversubscribed = true;
	f->kernel_major = 6, f->kernel_minor = 1, f->kernel_patch = 0;
	f->vm_memfd_noexec = -1;
	f->futex_round_trip_s = 19.2e-6;
	f->io_uring_setting = INT_MIN; /* malformed */
	f->io_uring_err = -EPERM;
	f->liveness = CHECK_LIVENESS_WATCHER;
	f->memlock = -1;
	f->memlock_hard = -1;
	f->nofile = 1024;
	f->nofile_needed = 70;
	f->seccomp_mode = 2;
	f->dir_source = "SHMAR_DIR";
	f->init_err = -EINVAL;
	snprintf(f->init_msg, sizeof(f->init_msg), "bad\tsetting");
}

static void test_json_report(void **state)
{
	static struct check_report rep;
	char *doc;
	static const char *const want[] = {
		"\"status\": \"degraded\"",
		"\"value\": \"round trip 19.2 us\"",
		"\"detail\": \"a \\\"quoted\\\" detail\"",
		"\"cpu_features\": [\"avx2\", \"fma\"]",
		"\"kernels\": null",
		"\"kernels_requested\": \"avx512\"",
		"\"cpus_online\": 4",
		"\"cpus_usable\": 2",
		"\"oversubscribed\": true",
		"\"kernel_version\": [6, 1, 0]",
		"\"vm_memfd_noexec\": null",
		"\"futex_round_trip_us\": 19.2,",
		"\"io_uring\": false",
		"\"io_uring_error\": -1,",
		"\"io_uring_setting\": null",
		"\"liveness\": \"watcher\"",
		"\"memlock_bytes\": null",
		"\"nofile\": 1024",
		"\"nofile_needed\": 70",
		"\"seccomp_mode\": 2",
		"\"rendezvous_dir\": null",
		"\"rendezvous_dir_source\": \"SHMAR_DIR\"",
		"\"init_error\": -22",
		"\"init_message\": \"bad\\tsetting\"",
		"\"status\": \"skipped\"",
		"\"results\": []",
		"\"latency_us\": {\"barrier\": null, \"allreduce_4B\": null, \"allreduce_16KiB\": null}",
	};

	(void)state;
	fill_report(&rep);
	doc = capture(print_report, &rep);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(doc, want[i]))
			fail_msg("no %s in:\n%s", want[i], doc);
	}
	/* the machine rows come before the kernel's, as on the screen */
	assert_true(strstr(doc, "\"name\": \"ranks\"") < strstr(doc, "\"name\": \"futex\""));
	assert_null(strstr(doc, "19.200"));
	free(doc);
}

static uint16_t encode16(int dtype, int64_t v)
{
	uint16_t h;

	check_encode(dtype, v, &h);
	return h;
}

static void test_encode(void **state)
{
	uint8_t u8;
	int32_t i32;
	double d;

	(void)state;
	/* exact values, then ties: to even, never away from zero */
	assert_int_equal(encode16(SHMAR_BFLOAT16, 256), 0x4380);
	assert_int_equal(encode16(SHMAR_BFLOAT16, 257), 0x4380);  /* 256 | 258: to 256 */
	assert_int_equal(encode16(SHMAR_BFLOAT16, 259), 0x4382);  /* 258 | 260: to 260 */
	assert_int_equal(encode16(SHMAR_BFLOAT16, -257), 0xc380);
	assert_int_equal(encode16(SHMAR_FLOAT16, 1), 0x3c00);
	assert_int_equal(encode16(SHMAR_FLOAT16, 2049), 0x6800); /* 2048 | 2050: to 2048 */
	assert_int_equal(encode16(SHMAR_FLOAT16, 2051), 0x6802); /* 2050 | 2052: to 2052 */
	assert_int_equal(encode16(SHMAR_FLOAT16, 65520), 0x7c00); /* rounds up past the largest: Inf */
	check_encode(SHMAR_UINT8, 300, &u8);
	assert_int_equal(u8, 44);
	check_encode(SHMAR_INT32, -5, &i32);
	assert_int_equal(i32, -5);
	check_encode(SHMAR_FLOAT64, 917504, &d);
	assert_true(d == 917504.0);
}

/* The self-test's data: inputs exact in every dtype, sums exact in fp32, and
 * some sums that bf16 and fp16 must round. */
static void test_selftest_values(void **state)
{
	bool bf16_rounds = false, fp16_rounds = false;

	(void)state;
	for (int n = 1; n <= SHMAR_MAX_RANKS; n++) {
		for (size_t i = 0; i < CHECK_INPUT_PERIOD; i++) {
			int64_t sum = check_sum_value(n, i);
			float exact = (float)sum, back;
			uint16_t h;

			assert_true(check_input_value(n - 1, i) == check_input_value(n - 1, i + CHECK_INPUT_PERIOD));
			assert_true(sum > 0 && sum < (1 << 24));
			assert_true((int64_t)exact == sum);
			check_encode(SHMAR_BFLOAT16, check_input_value(n - 1, i), &h);
			assert_int_equal(shmar_bf16_to_float(&back, &h, 1), 0);
			assert_true((int64_t)back == check_input_value(n - 1, i));
			check_encode(SHMAR_BFLOAT16, sum, &h);
			shmar_bf16_to_float(&back, &h, 1);
			bf16_rounds |= (int64_t)back != sum;
			check_encode(SHMAR_FLOAT16, sum, &h);
			shmar_fp16_to_float(&back, &h, 1);
			fp16_rounds |= isfinite(back) && (int64_t)back != sum;
		}
	}
	assert_true(bf16_rounds);
	assert_true(fp16_rounds);
	assert_string_equal(check_dtype_name(SHMAR_BFLOAT16), "bfloat16");
	assert_string_equal(check_dtype_name(99), "?");
	assert_int_equal(check_dtype_size(SHMAR_INT64), 8);
	assert_int_equal(check_dtype_size(-1), 0);
}

static void test_kernel_release(void **state)
{
	int major, minor, patch;

	(void)state;
	assert_int_equal(check_parse_kernel_release("6.18.44-fc-v1147", &major, &minor, &patch), 0);
	assert_int_equal(major, 6);
	assert_int_equal(minor, 18);
	assert_int_equal(patch, 44);
	assert_int_equal(check_parse_kernel_release("5.10", &major, &minor, &patch), 0);
	assert_int_equal(major * 1000 + minor * 10 + patch, 5100);
	assert_int_equal(check_parse_kernel_release("x.y", &major, &minor, &patch), -1);
}

static void test_statuses(void **state)
{
	static struct check_report rep;

	(void)state;
	memset(&rep, 0, sizeof(rep));
	rep.selftest.status = CHECK_SKIPPED;
	check_add(&rep, CHECK_SECTION_MACHINE, "a", CHECK_OK, "x");
	assert_int_equal(check_overall(&rep), CHECK_OK);
	assert_int_equal(check_exit_code(check_overall(&rep)), 0);
	check_add(&rep, CHECK_SECTION_KERNEL, "b", CHECK_DEGRADED, "x");
	assert_int_equal(check_exit_code(check_overall(&rep)), 1);
	rep.selftest.status = CHECK_BROKEN;
	assert_int_equal(check_exit_code(check_overall(&rep)), 2);
	assert_non_null(check_find_row(&rep, "b"));
	assert_null(check_find_row(&rep, "c"));
	/* a full report keeps counting but never overflows */
	for (int i = 0; i < CHECK_ROWS_MAX + 5; i++)
		assert_non_null(check_add(&rep, CHECK_SECTION_LIMITS, "many", CHECK_OK, "%d", i));
	assert_int_equal(rep.nrows, CHECK_ROWS_MAX);
	assert_string_equal(check_liveness_name(CHECK_LIVENESS_SLICES), "slices");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_double),
		cmocka_unit_test(test_json_report),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_selftest_values),
		cmocka_unit_test(test_kernel_release),
		cmocka_unit_test(test_statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
