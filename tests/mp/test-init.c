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
#include <stdbool.h>
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

/*
 * Timeouts too large for nanoseconds (timeout_ms * 1000000 and now + timeout
 * overflow 64 bits) mean no deadline, through the environment and through
 * the config alike: init and a collective wait for a rank 300 ms late
 * instead of failing at once.  A small one still fails, naming the late rank.
 */
struct timed {
	char name[80];
	const char *env_value;   /* set as SHMAR_TIMEOUT_MS and SHMAR_INIT_TIMEOUT_MS */
	int64_t cfg_value;       /* else set in the config */
	bool collective_only;    /* cfg_value for the collective timeout only */
	int expect_init, expect_barrier;
};

static int rank_timed(int rank, int nranks, void *arg)
{
	const struct timed *t = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	double t0;
	int err;

	if (t->env_value) {
		setenv("SHMAR_TIMEOUT_MS", t->env_value, 1);
		setenv("SHMAR_INIT_TIMEOUT_MS", t->env_value, 1);
	}
	shmar_config_init(&cfg);
	cfg.dir = th_dir;
	if (!t->env_value)
		cfg.timeout_ms = cfg.init_timeout_ms = t->cfg_value;
	if (t->collective_only)
		cfg.init_timeout_ms = 20000;
	if (rank == 1)
		usleep(300000);
	t0 = th_now();
	err = shmar_comm_init(&comm, t->name, nranks, rank, &cfg);
	if (rank == 0)
		TH_CHECK_EQ(err, t->expect_init);
	if (err < 0)
		return 0;
	TH_CHECK(th_now() - t0 < 5);
	if (rank == 1)
		usleep(300000);
	err = shmar_barrier(comm);
	TH_CHECK_EQ(err, rank == 0 ? t->expect_barrier : t->expect_barrier ? err : 0);
	if (rank == 0 && err == -ETIMEDOUT)
		TH_CHECK(strstr(shmar_comm_last_error(comm), "rank 1") != NULL);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_huge_timeouts(void **state)
{
	static const char *const env_values[] = {
		"9223372036854775807", "18446744073709", "9223372036855", "9223372036854",
	};
	static const int64_t cfg_values[] = {
		INT64_MAX, INT64_MAX / 1000000 + 1, INT64_MAX / 1000000, 18446744073709,
	};
	struct timed t = { .expect_init = 0, .expect_barrier = 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(env_values) / sizeof(env_values[0]); i++) {
		th_job_name(t.name, sizeof(t.name), "hugeenv");
		t.env_value = env_values[i];
		assert_int_equal(th_run_ranks(2, rank_timed, &t, 30, NULL), 0);
	}
	t.env_value = NULL;
	for (size_t i = 0; i < sizeof(cfg_values) / sizeof(cfg_values[0]); i++) {
		th_job_name(t.name, sizeof(t.name), "hugecfg");
		t.cfg_value = cfg_values[i];
		assert_int_equal(th_run_ranks(2, rank_timed, &t, 30, NULL), 0);
	}
}

/* And the small end: 100 ms is too short for a rank 300 ms late. */
static void test_small_timeouts(void **state)
{
	struct timed t = { .cfg_value = 100, .expect_init = -ETIMEDOUT };

	(void)state;
	th_job_name(t.name, sizeof(t.name), "smallinit");
	assert_int_equal(th_run_ranks(2, rank_timed, &t, 30, NULL), 0);
	t = (struct timed){ .cfg_value = 100, .collective_only = true, .expect_barrier = -ETIMEDOUT };
	th_job_name(t.name, sizeof(t.name), "smallcall");
	assert_int_equal(th_run_ranks(2, rank_timed, &t, 30, NULL), 0);
}

/*
 * torchrun's workers: rank 0 joins under the name the environment must
 * derive (by shmar_comm_init with that name), the others through
 * shmar_comm_init_env: they meet only if the derived name is exactly it.
 */
struct torchjob {
	char expect[80];               /* the job name the environment must give */
	const char *vars[8][2];        /* set in every rank that uses the environment */
};

static int rank_torch(int rank, int nranks, void *arg)
{
	const struct torchjob *t = arg;
	struct shmar_comm *comm = NULL;
	struct shmar_config cfg;
	char num[16];

	setenv("SHMAR_DIR", th_dir, 1);
	unsetenv("SHMAR_JOB");
	unsetenv("SHMAR_NRANKS");
	unsetenv("SHMAR_RANK");
	if (rank == 0) {
		th_config(&cfg);
		TH_CHECK_EQ(shmar_comm_init(&comm, t->expect, nranks, rank, &cfg), 0);
	} else {
		snprintf(num, sizeof(num), "%d", rank);
		setenv("LOCAL_RANK", num, 1);
		snprintf(num, sizeof(num), "%d", nranks);
		setenv("LOCAL_WORLD_SIZE", num, 1);
		for (int i = 0; i < 8 && t->vars[i][0]; i++)
			setenv(t->vars[i][0], t->vars[i][1], 1);
		TH_CHECK_EQ(shmar_comm_init_env(&comm), 0);
	}
	TH_CHECK_EQ(shmar_comm_rank(comm), rank);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void torch_case(const char *expect, const char *const vars[][2], int nvars)
{
	struct torchjob t;

	memset(&t, 0, sizeof(t));
	snprintf(t.expect, sizeof(t.expect), "%s", expect);
	for (int i = 0; i < nvars; i++) {
		t.vars[i][0] = vars[i][0];
		t.vars[i][1] = vars[i][1];
	}
	assert_int_equal(th_run_ranks(3, rank_torch, &t, 30, NULL), 0);
}

static void test_init_env_torchrun(void **state)
{
	char id[40], port[16], job[80], longest[200];
	const char *run[][2] = { { "TORCHELASTIC_RUN_ID", id }, { "TORCHELASTIC_RESTART_COUNT", "2" },
				 { "MASTER_ADDR", "127.0.0.1" }, { "MASTER_PORT", port } };
	const char *none[][2] = { { "TORCHELASTIC_RUN_ID", "none" }, { "MASTER_ADDR", "127.0.0.1" },
				  { "MASTER_PORT", port } };
	const char *by_job[][2] = { { "SHMAR_JOB", job }, { "MASTER_PORT", port } };
	char expect[80];

	(void)state;
	unsetenv("TORCHELASTIC_RUN_ID");
	unsetenv("TORCHELASTIC_RESTART_COUNT");
	snprintf(id, sizeof(id), "r%05d-a1b2", (int)(getpid() % 100000));
	snprintf(port, sizeof(port), "%d", 20000 + (int)(getpid() % 20000));
	/* torchrun --standalone's run id, with the restart count */
	snprintf(expect, sizeof(expect), "torch-%s-2", id);
	torch_case(expect, run, 4);
	/* the default run id "none": the master's address and port */
	snprintf(expect, sizeof(expect), "torch-127.0.0.1-%s", port);
	torch_case(expect, none, 3);
	/* SHMAR_JOB wins even when only torchrun's rank variables are set */
	th_job_name(job, sizeof(job), "byjob");
	torch_case(job, by_job, 2);
	/* characters a job name cannot hold, and a name too long, stay unique */
	memset(longest, 'x', 150);
	snprintf(longest + 150, sizeof(longest) - 150, "/%05d", (int)(getpid() % 100000));
	unsetenv("MASTER_PORT");
	setenv("TORCHELASTIC_RUN_ID", longest, 1);
	setenv("LOCAL_RANK", "0", 1);
	setenv("LOCAL_WORLD_SIZE", "1", 1);
	setenv("SHMAR_DIR", th_dir, 1);
	{
		struct shmar_comm *comm = NULL;

		assert_int_equal(shmar_comm_init_env(&comm), 0); /* a valid name came out */
		shmar_comm_destroy(comm);
	}
	unsetenv("TORCHELASTIC_RUN_ID");
	unsetenv("LOCAL_RANK");
	unsetenv("LOCAL_WORLD_SIZE");
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
	/* torchrun's ranks but nothing that tells this job from another: refused */
	unsetenv("MASTER_PORT");
	unsetenv("TORCHELASTIC_RUN_ID");
	setenv("LOCAL_RANK", "0", 1);
	setenv("LOCAL_WORLD_SIZE", "2", 1);
	assert_int_equal(shmar_comm_init_env(&comm), -EINVAL);
	assert_non_null(strstr(shmar_comm_last_error(NULL), "set SHMAR_JOB"));
	unsetenv("LOCAL_RANK");
	unsetenv("LOCAL_WORLD_SIZE");
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
		cmocka_unit_test_setup_teardown(test_init_env_torchrun, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_huge_timeouts, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_small_timeouts, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
