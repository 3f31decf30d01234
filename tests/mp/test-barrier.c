/* SPDX-License-Identifier: MIT */
/*
 * test-barrier.c - barriers: ordering, volume, sleeping waits, no syscall on
 * the fast path, no CPU burnt while a peer is late.
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
#include "comm.h"

struct barrier_job {
	char name[80];
	long iterations;
	int64_t spin_us;        /* -1: default */
	volatile long *progress; /* shared: per rank, the last barrier entered */
	long min_futex_waits;   /* per rank, at least (summed check in the parent) */
	volatile long *futex_waits; /* shared: per rank */
	volatile long *futex_wakes;
};

/*
 * Every rank records "entered barrier i" before barrier i; after it, every
 * rank must have entered barrier i.  A barrier that lets anyone through early
 * shows up here.
 */
static int rank_barriers(int rank, int nranks, void *arg)
{
	struct barrier_job *job = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	const struct shmar__stats *st;
	int fds = th_count_fds();

	th_config(&cfg);
	if (job->spin_us >= 0)
		cfg.spin_us = job->spin_us;
	TH_CHECK_EQ(shmar_comm_init(&comm, job->name, nranks, rank, &cfg), 0);
	for (long i = 1; i <= job->iterations; i++) {
		__atomic_store_n(&job->progress[rank], i, __ATOMIC_RELEASE);
		TH_CHECK_EQ(shmar_barrier(comm), 0);
		for (int r = 0; r < nranks; r++)
			TH_CHECK(__atomic_load_n(&job->progress[r], __ATOMIC_ACQUIRE) >= i);
	}
	st = shmar__comm_stats(comm);
	TH_CHECK_EQ(st->posts, job->iterations);
	job->futex_waits[rank] = (long)st->futex_waits;
	job->futex_wakes[rank] = (long)st->futex_wakes;
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	TH_CHECK_EQ(th_count_fds(), fds);
	return 0;
}

static struct barrier_job *new_job(const char *what, long iterations, int64_t spin_us)
{
	struct barrier_job *job = th_shared(sizeof(*job) + 3 * 256 * sizeof(long));

	memset(job, 0, sizeof(*job));
	th_job_name(job->name, sizeof(job->name), what);
	job->iterations = iterations;
	job->spin_us = spin_us;
	job->progress = (volatile long *)(job + 1);
	job->futex_waits = job->progress + 256;
	job->futex_wakes = job->futex_waits + 256;
	return job;
}

static long sum(volatile long *v, int n)
{
	long s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* 100,000 barriers at 4 ranks on whatever CPUs there are. */
static void test_100k_barriers_4_ranks(void **state)
{
	struct barrier_job *job = new_job("100k", 100000, -1);

	(void)state;
	assert_int_equal(th_run_ranks(4, rank_barriers, job, 240, NULL), 0);
}

/* SHMAR_SPIN_US=0: every wait sleeps on the futex, and no wake-up is lost. */
static void test_sleeping_barriers(void **state)
{
	struct barrier_job *job = new_job("sleep", 10000, 0);

	(void)state;
	setenv("SHMAR_SPIN_US", "0", 1);
	job->spin_us = -1; /* through the environment, as a user would */
	assert_int_equal(th_run_ranks(4, rank_barriers, job, 240, NULL), 0);
	unsetenv("SHMAR_SPIN_US");
	/* Somebody is always last to arrive, so the others slept and were woken. */
	assert_true(sum(job->futex_waits, 4) >= 10000);
	assert_true(sum(job->futex_wakes, 4) >= 10000);
}

/* With a generous spin and a CPU per rank, no barrier makes a system call. */
static void test_fast_path_no_syscall(void **state)
{
	struct barrier_job *job = new_job("fast", 20000, 1000000);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	if (cpus < 2) {
		print_message("skipped: needs 2 CPUs, has %ld\n", cpus);
		return;
	}
	assert_int_equal(th_run_ranks(2, rank_barriers, job, 120, NULL), 0);
	assert_int_equal(sum(job->futex_waits, 2), 0);
	assert_int_equal(sum(job->futex_wakes, 2), 0);
}

/* A rank waiting one second for a late peer sleeps: it burns a few ms of CPU at most. */
static int rank_late(int rank, int nranks, void *arg)
{
	struct barrier_job *job = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	double cpu0, t0;

	th_config(&cfg);
	TH_CHECK_EQ(shmar_comm_init(&comm, job->name, nranks, rank, &cfg), 0);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	if (rank == 1)
		usleep(1000000);
	cpu0 = th_cpu_seconds();
	t0 = th_now();
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	if (rank == 0) {
		double cpu = th_cpu_seconds() - cpu0, wall = th_now() - t0;

		fprintf(stderr, "rank 0 waited %.3f s for a late peer using %.2f ms of CPU\n", wall,
			cpu * 1e3);
		TH_CHECK(wall > 0.9);
		TH_CHECK(cpu < 0.030);
		job->futex_waits[0] = (long)shmar__comm_stats(comm)->futex_waits;
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_late_peer_costs_no_cpu(void **state)
{
	struct barrier_job *job = new_job("late", 0, -1);

	(void)state;
	assert_int_equal(th_run_ranks(2, rank_late, job, 60, NULL), 0);
	/* one second in 100 ms slices: about ten sleeps, not thousands */
	assert_in_range(job->futex_waits[0], 1, 30);
}

/* A comm of one rank: barriers return at once. */
static void test_single_rank(void **state)
{
	struct barrier_job *job = new_job("one", 1000, -1);

	(void)state;
	assert_int_equal(th_run_ranks(1, rank_barriers, job, 30, NULL), 0);
}

/* Barrier on a NULL comm. */
static void test_null(void **state)
{
	(void)state;
	assert_int_equal(shmar_barrier(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test_setup_teardown(test_single_rank, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_fast_path_no_syscall, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_late_peer_costs_no_cpu, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_sleeping_barriers, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_100k_barriers_4_ranks, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
