/* SPDX-License-Identifier: MIT */
/*
 * test-collectives.c - reduce_scatter, allgather and broadcast against an
 * independent reference on every rank; random interleavings of every kind on
 * one comm; mismatches; a rank killed in the middle of each kind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "reference.h"

#define CANARY 0x5a
#define PAD 64

static const size_t counts[] = { 0, 1, 5, 16, 33, 1000, 70001, 600000 };
#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))

enum kind { K_REDUCE_SCATTER, K_ALLGATHER, K_BROADCAST, K_ALLREDUCE, K_BARRIER, K_KINDS };

struct job {
	char name[80];
	size_t max_count;
	size_t slot_bytes;
	volatile double kill_time;     /* set by the parent */
	volatile double error_time[8]; /* set by the ranks */
	int kind;
	int registered;                /* 0: none, 1: every rank's buffers, 2: even ranks' */
};

static bool canary_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != CANARY)
			return false;
	return true;
}

struct bufs {
	unsigned char *send, *recv, *want; /* each with PAD before and after */
};

static int check_bytes(const char *what, int rank, int dtype, size_t count, const void *got,
		       const void *want, size_t bytes)
{
	if (memcmp(got, want, bytes) == 0)
		return 0;
	for (size_t i = 0; i < bytes; i++) {
		if (((const unsigned char *)got)[i] != ((const unsigned char *)want)[i]) {
			fprintf(stderr, "rank %d: %s %s count %zu: byte %zu differs\n", rank, what,
				ref_dtype_name(dtype), count, i);
			break;
		}
	}
	return 1;
}

/* Where reduce_scatter's output goes: its own buffer, or one of the in-place forms. */
enum rs_place {
	RS_OUT_OF_PLACE = 0,
	RS_FIRST_BLOCK = 1, /* recvbuf == sendbuf (MPI's) */
	RS_OWN_BLOCK = 2,   /* recvbuf == sendbuf + rank * recvcount (NCCL's, torch's) */
	RS_PLACES
};

static int do_reduce_scatter(struct shmar_comm *comm, struct bufs *b, int rank, int n, int dtype,
			     int op, size_t count, int place, uint64_t seed)
{
	size_t es = ref_dtype_size(dtype), in_bytes = count * es * (size_t)n, out = count * es;
	unsigned char *send = b->send + PAD, *recv = b->recv + PAD;

	if (place == RS_FIRST_BLOCK)
		recv = send;
	else if (place == RS_OWN_BLOCK)
		recv = send + (size_t)rank * out;
	memset(b->send, CANARY, in_bytes + 2 * PAD);
	memset(b->recv, CANARY, in_bytes + 2 * PAD);
	ref_fill(send, dtype, seed, rank, count * (size_t)n);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, send, recv, count, dtype, op), 0);
	for (size_t i = 0; i < count; i++)
		ref_reduce_elem(b->want + i * es, dtype, op, seed, n, (size_t)rank * count + i);
	if (check_bytes("reduce_scatter", rank, dtype, count, recv, b->want, out))
		return 1;
	TH_CHECK(canary_ok(send + in_bytes, PAD));
	TH_CHECK(canary_ok(send - PAD, PAD));
	if (place == RS_OUT_OF_PLACE) {
		TH_CHECK(canary_ok(recv + out, PAD));
		TH_CHECK(canary_ok(recv - PAD, PAD));
		ref_fill(b->want, dtype, seed, rank, count * (size_t)n);
		TH_CHECK(memcmp(send, b->want, in_bytes) == 0);
	}
	return 0;
}

static int do_allgather(struct shmar_comm *comm, struct bufs *b, int rank, int n, int dtype,
			size_t count, bool in_place, uint64_t seed)
{
	size_t es = ref_dtype_size(dtype), block = count * es, total = block * (size_t)n;
	unsigned char *recv = b->recv + PAD;
	unsigned char *send = in_place ? recv + (size_t)rank * block : b->send + PAD;

	memset(b->recv, CANARY, total + 2 * PAD);
	memset(b->send, CANARY, block + 2 * PAD);
	ref_fill(send, dtype, seed, rank, count); /* NaN payloads included: bytes must survive */
	TH_CHECK_EQ(shmar_allgather(comm, send, recv, count, dtype), 0);
	for (int r = 0; r < n; r++)
		ref_fill(b->want + (size_t)r * block, dtype, seed, r, count);
	if (check_bytes("allgather", rank, dtype, count, recv, b->want, total))
		return 1;
	TH_CHECK(canary_ok(recv + total, PAD));
	TH_CHECK(canary_ok(recv - PAD, PAD));
	return 0;
}

static int do_broadcast(struct shmar_comm *comm, struct bufs *b, int rank, int dtype, size_t count,
			int root, uint64_t seed)
{
	size_t es = ref_dtype_size(dtype), bytes = count * es;
	unsigned char *buf = b->recv + PAD;

	memset(b->recv, CANARY, bytes + 2 * PAD);
	/* non-roots start from their own data, which must be overwritten */
	ref_fill(buf, dtype, seed ^ 0xdead, rank, count);
	if (rank == root)
		ref_fill(buf, dtype, seed, root, count);
	TH_CHECK_EQ(shmar_broadcast(comm, buf, count, dtype, root), 0);
	ref_fill(b->want, dtype, seed, root, count);
	if (check_bytes("broadcast", rank, dtype, count, buf, b->want, bytes))
		return 1;
	TH_CHECK(canary_ok(buf + bytes, PAD));
	TH_CHECK(canary_ok(buf - PAD, PAD));
	return 0;
}

static int do_allreduce(struct shmar_comm *comm, struct bufs *b, int rank, int n, int dtype,
			int op, size_t count, uint64_t seed)
{
	size_t es = ref_dtype_size(dtype);
	unsigned char *buf = b->recv + PAD;

	ref_fill(buf, dtype, seed, rank, count);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, count, dtype, op), 0);
	for (size_t i = 0; i < count; i++)
		ref_reduce_elem(b->want + i * es, dtype, op, seed, n, i);
	return check_bytes("allreduce", rank, dtype, count, buf, b->want, count * es);
}

static int alloc_bufs(struct bufs *b, size_t max_count, int n)
{
	size_t bytes = max_count * 8 * (size_t)n + 4 * PAD;

	b->send = malloc(bytes);
	b->recv = malloc(bytes);
	b->want = malloc(bytes);
	return b->send && b->recv && b->want ? 0 : -1;
}

static void free_bufs(struct bufs *b)
{
	free(b->send);
	free(b->recv);
	free(b->want);
}

static int open_comm(struct shmar_comm **comm, const struct job *job, int rank, int n)
{
	struct shmar_config cfg;

	th_config(&cfg);
	if (job->slot_bytes)
		cfg.slot_bytes = job->slot_bytes;
	return shmar_comm_init(comm, job->name, n, rank, &cfg);
}

/* Send and receive buffers from the rank's heap: the peers read them in place. */
static int register_bufs(struct shmar_comm *comm, struct bufs *b, size_t max_count, int n)
{
	size_t bytes = max_count * 8 * (size_t)n + 4 * PAD;

	free(b->send);
	free(b->recv);
	TH_CHECK_EQ(shmar_mem_alloc(comm, bytes, (void **)&b->send), 0);
	TH_CHECK_EQ(shmar_mem_alloc(comm, bytes, (void **)&b->recv), 0);
	return 0;
}

static int rank_matrix(int rank, int n, void *arg)
{
	const struct job *job = arg;
	struct shmar_comm *comm = NULL;
	struct bufs b;
	bool reg = job->registered == 1 || (job->registered == 2 && rank % 2 == 0);
	int combo = 0, fds = th_count_fds();

	TH_CHECK_EQ(alloc_bufs(&b, job->max_count, n), 0);
	TH_CHECK_EQ(open_comm(&comm, job, rank, n), 0);
	if (reg && register_bufs(comm, &b, job->max_count, n))
		return 1;
	for (int dtype = SHMAR_FLOAT32; dtype <= SHMAR_UINT8; dtype++) {
		for (size_t c = 0; c < NCOUNTS; c++) {
			size_t count = counts[c];

			if (count > job->max_count)
				continue;
			for (int op = SHMAR_SUM; op <= SHMAR_AVG; op++) {
				/* the largest count: sum and max only, to bound the run time */
				if (count > 70001 && op != SHMAR_SUM && op != SHMAR_MAX)
					continue;
				for (int place = 0; place < RS_PLACES; place++)
					if (do_reduce_scatter(comm, &b, rank, n, dtype, op, count,
							      place, (uint64_t)++combo))
						return 1;
			}
			for (int place = 0; place < 2; place++)
				if (do_allgather(comm, &b, rank, n, dtype, count, place,
						 (uint64_t)++combo))
					return 1;
			if (do_broadcast(comm, &b, rank, dtype, count, 0, (uint64_t)++combo) ||
			    do_broadcast(comm, &b, rank, dtype, count, n - 1, (uint64_t)++combo))
				return 1;
		}
	}
	if (reg) {
		TH_CHECK_EQ(shmar_mem_free(comm, b.send), 0);
		TH_CHECK_EQ(shmar_mem_free(comm, b.recv), 0);
		b.send = b.recv = NULL;
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	TH_CHECK_EQ(th_count_fds(), fds);
	free_bufs(&b);
	return 0;
}

static void run_matrix(int n, size_t max_count)
{
	struct job *job = th_shared(sizeof(*job));

	memset(job, 0, sizeof(*job));
	th_job_name(job->name, sizeof(job->name), "coll");
	job->max_count = max_count;
	job->slot_bytes = 256 * 1024; /* large counts go in many rounds */
	assert_int_equal(th_run_ranks(n, rank_matrix, job, 900, NULL), 0);
}

/* Registered buffers on every rank, and on even ranks only: the peers read
 * them in place (from 64 KiB up), and every result is the reference's. */
static void test_matrix_registered(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	for (int n = 2; n <= 3; n++) {
		for (int mode = 1; mode <= 2; mode++) {
			memset(job, 0, sizeof(*job));
			th_job_name(job->name, sizeof(job->name), "collreg");
			job->max_count = 600000;
			job->slot_bytes = 256 * 1024;
			job->registered = mode;
			assert_int_equal(th_run_ranks(n, rank_matrix, job, 900, NULL), 0);
		}
	}
}

static void test_matrix_1(void **state) { (void)state; run_matrix(1, 600000); }
static void test_matrix_2(void **state) { (void)state; run_matrix(2, 600000); }
static void test_matrix_3(void **state) { (void)state; run_matrix(3, 600000); }
static void test_matrix_4(void **state) { (void)state; run_matrix(4, 70001); }
static void test_matrix_5(void **state) { (void)state; run_matrix(5, 70001); }
static void test_matrix_8(void **state) { (void)state; run_matrix(8, 70001); }

/* 1,000 calls of every kind, in an order every rank draws from the same seed. */
static int rank_interleave(int rank, int n, void *arg)
{
	const struct job *job = arg;
	struct shmar_comm *comm = NULL;
	uint64_t rng = 0x1234567;
	struct bufs b;

	TH_CHECK_EQ(alloc_bufs(&b, 5000, n), 0);
	TH_CHECK_EQ(open_comm(&comm, job, rank, n), 0);
	for (int call = 0; call < 1000; call++) {
		uint64_t r;
		int dtype, op, err = 0;
		size_t count;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		r = rng >> 16;
		dtype = (int)(r % 7);
		op = (int)((r >> 8) % 5);
		count = (size_t)((r >> 16) % 5000);
		switch ((r >> 40) % K_KINDS) {
		case K_REDUCE_SCATTER:
			err = do_reduce_scatter(comm, &b, rank, n, dtype, op, count / (size_t)n,
						(int)((r >> 50) % RS_PLACES), r);
			break;
		case K_ALLGATHER:
			err = do_allgather(comm, &b, rank, n, dtype, count / (size_t)n, (r >> 50) & 1, r);
			break;
		case K_BROADCAST:
			err = do_broadcast(comm, &b, rank, dtype, count, (int)((r >> 52) % (uint64_t)n), r);
			break;
		case K_ALLREDUCE:
			err = do_allreduce(comm, &b, rank, n, dtype, op, count, r);
			break;
		default:
			TH_CHECK_EQ(shmar_barrier(comm), 0);
			break;
		}
		if (err) {
			fprintf(stderr, "rank %d: call %d failed\n", rank, call);
			return 1;
		}
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	free_bufs(&b);
	return 0;
}

static void test_interleaved(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	memset(job, 0, sizeof(*job));
	th_job_name(job->name, sizeof(job->name), "mix");
	job->slot_bytes = 8192; /* small slots: the larger calls take several rounds */
	assert_int_equal(th_run_ranks(3, rank_interleave, job, 300, NULL), 0);
}

/* Ranks disagreeing on kind, count, dtype, op or root: -EPROTO on every rank. */
static int rank_mismatch(int rank, int n, void *arg)
{
	const struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float in[64], out[64 * 8];
	bool odd = rank == n - 1;
	int err = 0;

	for (int i = 0; i < 64; i++)
		in[i] = (float)i;
	TH_CHECK_EQ(open_comm(&comm, job, rank, n), 0);
	switch (job->kind) {
	case 0: /* kind */
		err = odd ? shmar_allgather(comm, in, out, 8, SHMAR_FLOAT32)
			  : shmar_reduce_scatter(comm, in, out, 8, SHMAR_FLOAT32, SHMAR_SUM);
		break;
	case 1: /* count */
		err = shmar_allgather(comm, in, out, odd ? 7 : 8, SHMAR_FLOAT32);
		break;
	case 2: /* dtype */
		err = shmar_broadcast(comm, in, 8, odd ? SHMAR_INT32 : SHMAR_FLOAT32, 0);
		break;
	case 3: /* op */
		err = shmar_reduce_scatter(comm, in, out, 8, SHMAR_FLOAT32, odd ? SHMAR_MIN : SHMAR_SUM);
		break;
	case 4: /* root */
		err = shmar_broadcast(comm, in, 8, SHMAR_FLOAT32, odd ? 1 : 0);
		break;
	}
	TH_CHECK_EQ(err, -EPROTO);
	TH_CHECK_EQ(shmar_broadcast(comm, in, 8, SHMAR_FLOAT32, 0), -EPROTO);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_mismatch(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	for (int kind = 0; kind < 5; kind++) {
		memset(job, 0, sizeof(*job));
		job->kind = kind;
		th_job_name(job->name, sizeof(job->name), "mm");
		assert_int_equal(th_run_ranks(3, rank_mismatch, job, 60, NULL), 0);
	}
}

/* Bad arguments: -EINVAL, the comm stays usable. */
static int rank_bad(int rank, int n, void *arg)
{
	const struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float in[64], out[64];

	for (int i = 0; i < 64; i++)
		in[i] = (float)i;
	TH_CHECK_EQ(open_comm(&comm, job, rank, n), 0);
	TH_CHECK_EQ(shmar_broadcast(comm, in, 4, SHMAR_FLOAT32, -1), -EINVAL);
	TH_CHECK_EQ(shmar_broadcast(comm, in, 4, SHMAR_FLOAT32, n), -EINVAL);
	TH_CHECK_EQ(shmar_broadcast(comm, NULL, 4, SHMAR_FLOAT32, 0), -EINVAL);
	TH_CHECK_EQ(shmar_broadcast(comm, in, 4, (enum shmar_dtype)9, 0), -EINVAL);
	TH_CHECK_EQ(shmar_broadcast(NULL, in, 4, SHMAR_FLOAT32, 0), -EINVAL);
	TH_CHECK_EQ(shmar_allgather(comm, in, NULL, 4, SHMAR_FLOAT32), -EINVAL);
	TH_CHECK_EQ(shmar_allgather(comm, in, in + 1, 4, SHMAR_FLOAT32), -EINVAL);
	TH_CHECK_EQ(shmar_allgather(comm, in, out, SIZE_MAX / 4, SHMAR_FLOAT32), -EINVAL);
	TH_CHECK_EQ(shmar_allgather(NULL, in, out, 4, SHMAR_FLOAT32), -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, in, out, 4, SHMAR_FLOAT32, (enum shmar_op)7), -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, NULL, out, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, in, out, SIZE_MAX / 8, SHMAR_FLOAT64, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(NULL, in, out, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_broadcast(comm, in, 64, SHMAR_FLOAT32, 0), 0);
	for (int i = 0; i < 64; i++)
		TH_CHECK(in[i] == (float)i);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_bad_arguments(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	memset(job, 0, sizeof(*job));
	th_job_name(job->name, sizeof(job->name), "bad");
	assert_int_equal(th_run_ranks(2, rank_bad, job, 60, NULL), 0);
}

/* A rank SIGKILLed while the others loop on one kind: -EOWNERDEAD everywhere, fast. */
static int rank_victim_loop(int rank, int n, void *arg)
{
	struct job *job = arg;
	struct shmar_comm *comm = NULL;
	float *in = calloc(1 << 16, sizeof(float)), *out = calloc((1 << 16) * 4, sizeof(float));
	int err = 0;

	TH_CHECK(in && out);
	TH_CHECK_EQ(open_comm(&comm, job, rank, n), 0);
	for (long it = 0; err == 0; it++) {
		size_t count = (size_t)(it % 3 == 0 ? 1 << 14 : 16);

		switch (job->kind) {
		case K_REDUCE_SCATTER:
			err = shmar_reduce_scatter(comm, in, out, count, SHMAR_FLOAT32, SHMAR_SUM);
			break;
		case K_ALLGATHER:
			err = shmar_allgather(comm, in, out, count, SHMAR_BFLOAT16);
			break;
		default:
			err = shmar_broadcast(comm, in, count, SHMAR_FLOAT32, (int)(it % n));
			break;
		}
	}
	job->error_time[rank] = th_now();
	TH_CHECK_EQ(err, -EOWNERDEAD);
	TH_CHECK(strstr(shmar_comm_last_error(comm), "rank 1") != NULL);
	TH_CHECK_EQ(shmar_barrier(comm), -EOWNERDEAD);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_killed_rank(void **state)
{
	struct job *job = th_shared(sizeof(*job));

	(void)state;
	for (int kind = K_REDUCE_SCATTER; kind <= K_BROADCAST; kind++) {
		pid_t pids[3];
		int st;

		memset(job, 0, sizeof(*job));
		job->kind = kind;
		th_job_name(job->name, sizeof(job->name), "kill");
		for (int r = 0; r < 3; r++)
			pids[r] = th_spawn(rank_victim_loop, r, 3, job, 60);
		usleep(300000);
		job->kill_time = th_now();
		kill(pids[1], SIGKILL);
		assert_int_equal(waitpid(pids[1], &st, 0), pids[1]);
		assert_true(WIFSIGNALED(st));
		assert_int_equal(th_wait(pids[0]), 0);
		assert_int_equal(th_wait(pids[2]), 0);
		for (int r = 0; r < 3; r += 2) {
			double delay = job->error_time[r] - job->kill_time;

			print_message("kind %d: rank %d saw the death after %.1f ms\n", kind, r,
				      delay * 1e3);
			assert_true(delay < 0.5);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_arguments, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_mismatch, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_killed_rank, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_interleaved, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_1, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_2, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_3, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_4, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_5, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_8, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_registered, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
