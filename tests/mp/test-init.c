/* SPDX-License-Identifier: MIT */
/*
 * test-init.c - forming and leaving jobs of 1..8 ranks, started in any order.
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

struct job {
	char name[80];
	unsigned max_delay_ms;
	int barriers;
};

/* One rank: random delay, init, check identity, a few barriers, destroy, no fd leaked. */
static int rank_form(int rank, int nranks, void *arg)
{
	struct job *job = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	int fds = th_count_fds();

	th_config(&cfg);
	th_random_delay(job->max_delay_ms);
	TH_CHECK_EQ(shmar_comm_init(&comm, job->name, nranks, rank, &cfg), 0);
	TH_CHECK(comm != NULL);
	TH_CHECK_EQ(shmar_comm_rank(comm), rank);
	TH_CHECK_EQ(shmar_comm_size(comm), nranks);
	TH_CHECK(strcmp(shmar_comm_last_error(comm), "") == 0);
	for (int i = 0; i < job->barriers; i++)
		TH_CHECK_EQ(shmar_barrier(comm), 0);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	TH_CHECK_EQ(th_count_fds(), fds);
	return 0;
}

static void form(int nranks, unsigned max_delay_ms)
{
	struct job job = { .max_delay_ms = max_delay_ms, .barriers = 10 };

	th_job_name(job.name, sizeof(job.name), "form");
	assert_int_equal(th_run_ranks(nranks, rank_form, &job, 60, NULL), 0);
}

static void test_form_1(void **state) { (void)state; form(1, 0); }
static void test_form_2(void **state) { (void)state; form(2, 50); }
static void test_form_3(void **state) { (void)state; form(3, 50); }
static void test_form_4(void **state) { (void)state; form(4, 100); }
static void test_form_8(void **state) { (void)state; form(8, 200); }

/* The same job name, formed and left again and again: nothing stale gets in the way. */
static void test_reuse_name(void **state)
{
	struct job job = { .max_delay_ms = 20, .barriers = 3 };

	(void)state;
	th_job_name(job.name, sizeof(job.name), "reuse");
	for (int i = 0; i < 20; i++)
		assert_int_equal(th_run_ranks(2, rank_form, &job, 30, NULL), 0);
}

/* Two jobs of different names in one directory at once do not interfere. */
static int rank_two_jobs(int rank, int nranks, void *arg)
{
	struct job *jobs = arg;

	return rank_form(rank % 2, 2, &jobs[rank / 2]) + (nranks != 4);
}

static void test_two_jobs_at_once(void **state)
{
	struct job jobs[2] = { { .max_delay_ms = 50, .barriers = 100 },
			       { .max_delay_ms = 50, .barriers = 100 } };

	(void)state;
	th_job_name(jobs[0].name, sizeof(jobs[0].name), "a");
	th_job_name(jobs[1].name, sizeof(jobs[1].name), "b");
	assert_int_equal(th_run_ranks(4, rank_two_jobs, jobs, 60, NULL), 0);
}

/* shmar_comm_init_env: SHMAR_JOB/NRANKS/RANK, then torchrun's variables. */
static int rank_env(int rank, int nranks, void *arg)
{
	const struct job *job = arg;
	struct shmar_comm *comm = NULL;
	char num[16];

	setenv("SHMAR_DIR", th_dir, 1);
	if (strstr(job->name, "torch")) {
		snprintf(num, sizeof(num), "%d", rank);
		setenv("LOCAL_RANK", num, 1);
		snprintf(num, sizeof(num), "%d", nranks);
		setenv("LOCAL_WORLD_SIZE", num, 1);
		setenv("MASTER_PORT", job->name + strlen(job->name) - 5, 1);
		unsetenv("SHMAR_JOB");
	} else {
		setenv("SHMAR_JOB", job->name, 1);
		snprintf(num, sizeof(num), "%d", nranks);
		setenv("SHMAR_NRANKS", num, 1);
		snprintf(num, sizeof(num), "%d", rank);
		setenv("SHMAR_RANK", num, 1);
	}
	TH_CHECK_EQ(shmar_comm_init_env(&comm), 0);
	TH_CHECK_EQ(shmar_comm_rank(comm), rank);
	TH_CHECK_EQ(shmar_comm_size(comm), nranks);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_init_env(void **state)
{
	struct job job;

	(void)state;
	th_job_name(job.name, sizeof(job.name), "env");
	assert_int_equal(th_run_ranks(3, rank_env, &job, 30, NULL), 0);
	snprintf(job.name, sizeof(job.name), "torch-%05d", (int)(getpid() % 100000));
	assert_int_equal(th_run_ranks(2, rank_env, &job, 30, NULL), 0);
}

static void test_init_env_missing(void **state)
{
	struct shmar_comm *comm = (void *)1;

	(void)state;
	unsetenv("SHMAR_JOB");
	unsetenv("LOCAL_RANK");
	unsetenv("LOCAL_WORLD_SIZE");
	assert_int_equal(shmar_comm_init_env(&comm), -EINVAL);
	assert_null(comm);
	assert_non_null(strstr(shmar_comm_last_error(NULL), "SHMAR_JOB"));
	assert_int_equal(shmar_comm_init_env(NULL), -EINVAL);
	setenv("SHMAR_JOB", "x", 1);
	setenv("SHMAR_NRANKS", "two", 1);
	setenv("SHMAR_RANK", "0", 1);
	assert_int_equal(shmar_comm_init_env(&comm), -EINVAL);
	unsetenv("SHMAR_JOB");
	unsetenv("SHMAR_NRANKS");
	unsetenv("SHMAR_RANK");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_form_1, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_form_2, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_form_3, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_form_4, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_form_8, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_reuse_name, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_two_jobs_at_once, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_init_env, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_init_env_missing, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
