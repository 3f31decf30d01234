/* SPDX-License-Identifier: MIT */
/*
 * test-misuse.c - a second thread in a busy comm, a forked child using its
 * parent's comm, and a rank scribbling over the shared segment: each ends in
 * an error code, never a crash, a hang or a disturbed job.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "comm.h"

struct job {
	char name[80];
	volatile int step;
};

static int open_comm(struct shmar_comm **comm, const struct job *job, int rank, int n,
		     int64_t timeout_ms)
{
	struct shmar_config cfg;

	th_config(&cfg);
	if (timeout_ms)
		cfg.timeout_ms = timeout_ms;
	return shmar_comm_init(comm, job->name, n, rank, &cfg);
}

/* ---------------------------------------------------------------- threads */

struct busy {
	struct shmar_comm *comm;
	int ret;
};

static void *barrier_thread(void *arg)
{
	struct busy *b = arg;

	b->ret = shmar_barrier(b->comm);
	return NULL;
}

/*
 * Rank 0's first thread sits in a barrier that rank 1 holds back until rank 0's
 * main thread has been refused: no sleeps that a slow run (valgrind runs one
 * thread at a time) could outlast.
 */
static int rank_busy(int rank, int n, void *arg)
{
	struct job *job = arg; /* shared between the ranks */
	struct shmar_comm *comm = NULL;
	struct busy b;
	pthread_t t;
	double end;
	float x = 1;

	TH_CHECK_EQ(open_comm(&comm, job, rank, n, 20000), 0);
	end = th_now() + 20;
	if (rank == 1) {
		while (job->step == 0 && th_now() < end)
			usleep(1000);
		TH_CHECK_EQ(job->step, 1);
		TH_CHECK_EQ(shmar_barrier(comm), 0);
	} else {
		b.comm = comm;
		TH_CHECK_EQ(pthread_create(&t, NULL, barrier_thread, &b), 0);
		while (!atomic_load(&comm->busy) && th_now() < end)
			usleep(1000);
		/* the first thread is inside the barrier: a second caller is refused,
		 * even with bad arguments, and the error text stays what it was */
		TH_CHECK_EQ(shmar_allreduce(comm, &x, &x, 1, (enum shmar_dtype)99, SHMAR_SUM), -EBUSY);
		TH_CHECK_EQ(shmar_comm_last_error(comm)[0], '\0');
		TH_CHECK_EQ(shmar_reduce_scatter(comm, NULL, &x, 1, SHMAR_FLOAT32, (enum shmar_op)9),
			    -EBUSY);
		TH_CHECK_EQ(shmar_allgather(comm, &x, &x, SIZE_MAX, SHMAR_FLOAT32), -EBUSY);
		TH_CHECK_EQ(shmar_broadcast(comm, &x, 1, SHMAR_FLOAT32, 7), -EBUSY);
		TH_CHECK_EQ(shmar_comm_last_error(comm)[0], '\0');
		TH_CHECK_EQ(shmar_barrier(comm), -EBUSY);
		TH_CHECK_EQ(shmar_allreduce(comm, &x, &x, 1, SHMAR_FLOAT32, SHMAR_SUM), -EBUSY);
		job->step = 1;
		TH_CHECK_EQ(pthread_join(t, NULL), 0);
		TH_CHECK_EQ(b.ret, 0);
	}
	/* and the comm is fine afterwards */
	TH_CHECK_EQ(shmar_allreduce(comm, &x, &x, 1, SHMAR_FLOAT32, SHMAR_SUM), 0);
	TH_CHECK(x == 2.0f);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_second_thread_busy(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	job->step = 0;
	th_job_name(job->name, sizeof(job->name), "busy");
	assert_int_equal(th_run_ranks(2, rank_busy, job, 60, NULL), 0);
}

/* ---------------------------------------------------------------- fork */

static int rank_fork(int rank, int n, void *arg)
{
	struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float x = (float)(rank + 1);
	pid_t child;
	int st;

	TH_CHECK_EQ(open_comm(&comm, job, rank, n, 0), 0);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	if (rank == 0) {
		child = fork();
		if (child == 0) {
			/* the parent's comm is not the child's: refused, and harmless */
			int bad = shmar_barrier(comm) != -ECHILD ||
				  shmar_allreduce(comm, &x, &x, 1, SHMAR_FLOAT32, SHMAR_SUM) != -ECHILD ||
				  shmar_comm_abort(comm) != -ECHILD;
			shmar_comm_destroy(comm); /* frees only the child's copy */
			_exit(bad);
		}
		TH_CHECK(child > 0);
		TH_CHECK_EQ(waitpid(child, &st, 0), child);
		TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* the job goes on undisturbed */
	for (int i = 0; i < 100; i++)
		TH_CHECK_EQ(shmar_barrier(comm), 0);
	TH_CHECK_EQ(shmar_allreduce(comm, &x, &x, 1, SHMAR_FLOAT32, SHMAR_SUM), 0);
	TH_CHECK(x == 3.0f);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_fork_child(void **state)
{
	struct job job = { .step = 0 };

	(void)state;
	th_job_name(job.name, sizeof(job.name), "fork");
	assert_int_equal(th_run_ranks(2, rank_fork, &job, 30, NULL), 0);
}

/* ---------------------------------------------------------------- scribbling */

/* Rank 2 overwrites the whole header page and every control block. */
static int rank_scribble_all(int rank, int n, void *arg)
{
	struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float buf[256];
	int err = 0;

	for (int i = 0; i < 256; i++)
		buf[i] = (float)i;
	TH_CHECK_EQ(open_comm(&comm, job, rank, n, 2000), 0);
	TH_CHECK_EQ(shmar_barrier(comm), 0);
	/* everyone is out of the barrier before rank 2 scribbles */
	__atomic_add_fetch(&job->step, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&job->step, __ATOMIC_SEQ_CST) < n)
		usleep(1000);
	if (rank == 2) {
		memset(comm->chan.base, 0xa5, comm->chan.layout.data_off);
		__atomic_store_n(&job->step, n + 1, __ATOMIC_SEQ_CST);
	}
	while (__atomic_load_n(&job->step, __ATOMIC_SEQ_CST) <= n)
		usleep(1000);
	for (int i = 0; i < 10 && err == 0; i++)
		err = shmar_allreduce(comm, buf, buf, 256, SHMAR_FLOAT32, SHMAR_SUM);
	/* a corrupted abort word revokes everyone with a protocol error */
	TH_CHECK_EQ(err, -EPROTO);
	TH_CHECK(strstr(shmar_comm_last_error(comm), "corrupt") != NULL);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_scribble_everything(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	memset(job, 0, sizeof(*job));
	th_job_name(job->name, sizeof(job->name), "scribble");
	assert_int_equal(th_run_ranks(3, rank_scribble_all, job, 60, NULL), 0);
}

/*
 * Rank 2 keeps writing random bytes over the other ranks' control blocks
 * while everyone runs collectives: every call must end (0 or an error, and
 * once an error, always that error) within the deadline; nobody crashes.
 */
static int rank_scribble_random(int rank, int n, void *arg)
{
	struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float buf[4096];
	int err = 0, first = 0;

	for (int i = 0; i < 4096; i++)
		buf[i] = (float)(i % 100);
	TH_CHECK_EQ(open_comm(&comm, job, rank, n, 1000), 0);
	for (int call = 0; call < 300; call++) {
		if (rank == 2 && call % 3 == 0) {
			for (int r = 0; r < 2; r++) {
				unsigned char *ctl = (unsigned char *)shmar__seg_ctl(comm->chan.base,
									     &comm->chan.layout, (unsigned)r);
				for (size_t k = 0; k < comm->chan.layout.ctl_stride; k++)
					if (th_rand() % 8 == 0)
						ctl[k] = (unsigned char)th_rand();
			}
		}
		err = call % 2 ? shmar_barrier(comm)
			       : shmar_allreduce(comm, buf, buf, 1 + (size_t)call * 13 % 4096,
						 SHMAR_FLOAT32, SHMAR_MAX);
		if (first == 0 && err < 0)
			first = err;
		if (first)
			TH_CHECK_EQ(err, first); /* revoked: the same error every time */
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_scribble_random(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	for (int trial = 0; trial < 5; trial++) {
		memset(job, 0, sizeof(*job));
		th_job_name(job->name, sizeof(job->name), "noise");
		assert_int_equal(th_run_ranks(3, rank_scribble_random, job, 120, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_second_thread_busy, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_fork_child, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_scribble_everything, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_scribble_random, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
