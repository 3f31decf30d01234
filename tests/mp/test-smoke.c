/* SPDX-License-Identifier: MIT */
/*
 * test-smoke.c - every call of the API once or twice at SHMAR_TEST_NRANKS
 * ranks (default 2), small enough to run under valgrind in CI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "reference.h"

static int nranks_wanted(void)
{
	const char *s = getenv("SHMAR_TEST_NRANKS");
	int n = s ? atoi(s) : 2;

	return n >= 1 && n <= 16 ? n : 2;
}

static int rank_smoke(int rank, int n, void *arg)
{
	const char *name = arg;
	static const size_t counts[] = { 1, 33, 5000, 70001 };
	size_t max = 70001 * 8 * (size_t)n;
	unsigned char *a = malloc(max), *b = malloc(max), *want = malloc(max);
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	int fds = th_count_fds();

	TH_CHECK(a && b && want);
	th_config(&cfg);
	cfg.slot_bytes = 64 * 1024; /* the largest counts take several chunks */
	TH_CHECK_EQ(shmar_comm_init(&comm, name, n, rank, &cfg), 0);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	for (int dtype = 0; dtype < 7; dtype++) {
		size_t es = ref_dtype_size(dtype);

		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			size_t count = counts[c];
			uint64_t seed = (uint64_t)(dtype * 16 + (int)c);

			ref_fill(a, dtype, seed, rank, count);
			TH_CHECK_EQ(shmar_allreduce(comm, a, b, count, dtype, SHMAR_SUM), 0);
			for (size_t i = 0; i < count; i += 97) {
				ref_reduce_elem(want, dtype, SHMAR_SUM, seed, n, i);
				TH_CHECK(memcmp(want, b + i * es, es) == 0);
			}
			ref_fill(a, dtype, seed, rank, count * (size_t)n);
			TH_CHECK_EQ(shmar_reduce_scatter(comm, a, b, count, dtype, SHMAR_MAX), 0);
			for (size_t i = 0; i < count; i += 97) {
				ref_reduce_elem(want, dtype, SHMAR_MAX, seed, n, (size_t)rank * count + i);
				TH_CHECK(memcmp(want, b + i * es, es) == 0);
			}
			ref_fill(a, dtype, seed, rank, count);
			TH_CHECK_EQ(shmar_allgather(comm, a, b, count, dtype), 0);
			for (int r = 0; r < n; r++) {
				ref_fill(want, dtype, seed, r, count);
				TH_CHECK(memcmp(want, b + (size_t)r * count * es, count * es) == 0);
			}
			ref_fill(a, dtype, seed, rank, count);
			TH_CHECK_EQ(shmar_broadcast(comm, a, count, dtype, n - 1), 0);
			ref_fill(want, dtype, seed, n - 1, count);
			TH_CHECK(memcmp(want, a, count * es) == 0);
		}
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	TH_CHECK_EQ(th_count_fds(), fds);
	free(a);
	free(b);
	free(want);
	return 0;
}

static void test_smoke(void **state)
{
	char name[80];

	(void)state;
	assert_int_equal(th_dir_create(), 0);
	th_job_name(name, sizeof(name), "smoke");
	assert_int_equal(th_run_ranks(nranks_wanted(), rank_smoke, name, 600, NULL), 0);
	assert_int_equal(th_dir_entries(), 0);
	assert_int_equal(th_dir_remove(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smoke),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
