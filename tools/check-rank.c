/* SPDX-License-Identifier: MIT */
/*
 * check-rank.c - one rank of the self-test, in a forked child: it forms the
 * job through the library, all-reduces every dtype and compares the result
 * bit for bit, times a few calls, and writes everything into its slot of the
 * shared page: the report itself belongs to the parent alone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-selftest.h"
#include "check-util.h"

#define WARMUP_ITERS 3
#define MAX_ITERS 64
#define INIT_TIMEOUT_MS 20000
#define COLL_TIMEOUT_MS 30000

static int record(struct selftest_slot *s, enum selftest_stage stage, int err, const char *call,
		  const char *msg)
{
	if (s->err == 0) {
		s->err = err;
		s->stage = stage;
		snprintf(s->call, sizeof(s->call), "%s", call);
		snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "");
	}
	return err;
}

static void fill_input(int dtype, int rank, size_t count, unsigned char *buf)
{
	size_t es = check_dtype_size(dtype);

	for (size_t i = 0; i < count; i++)
		check_encode(dtype, check_input_value(rank, i), buf + i * es);
}

static void hex_element(char *out, size_t len, const unsigned char *p, size_t es)
{
	uint64_t v = 0;

	memcpy(&v, p, es); /* little-endian x86/arm64: the element's value */
	snprintf(out, len, "0x%0*llx", (int)(2 * es), (unsigned long long)v);
}

/* Elements of recv that differ from the exact answer, bit for bit. */
static uint32_t verify_output(struct selftest_slot *s, int dtype, int nranks, size_t count,
			      const unsigned char *recv)
{
	unsigned char answers[CHECK_INPUT_PERIOD][8];
	size_t es = check_dtype_size(dtype);
	uint32_t bad = 0;

	for (size_t k = 0; k < CHECK_INPUT_PERIOD; k++)
		check_encode(dtype, check_sum_value(nranks, k), answers[k]);
	for (size_t i = 0; i < count; i++) {
		const unsigned char *want = answers[i % CHECK_INPUT_PERIOD];

		if (memcmp(want, recv + i * es, es) == 0)
			continue;
		if (bad++ == 0 && !s->mismatch[0]) {
			char got_hex[24], want_hex[24];

			hex_element(got_hex, sizeof(got_hex), recv + i * es, es);
			hex_element(want_hex, sizeof(want_hex), want, es);
			snprintf(s->mismatch, sizeof(s->mismatch), "%s x %zu: element %zu is %s, expected %s",
				 check_dtype_name(dtype), count, i, got_hex, want_hex);
		}
	}
	return bad;
}

static int run_dtypes(struct shmar_comm *comm, const struct selftest_plan *p, int rank, struct selftest_slot *s,
		      unsigned char *send, unsigned char *recv)
{
	char call[64];

	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			size_t count = check_selftest_counts[z];
			int err;

			if (!p->size_on[z])
				continue;
			fill_input(d, rank, count, send);
			memset(recv, 0xa5, count * check_dtype_size(d)); /* an unwritten output shows */
			err = shmar_allreduce(comm, send, recv, count, (enum shmar_dtype)d, SHMAR_SUM);
			if (err == -ENOSYS) {
				s->enosys = true;
				return 0; /* nothing to check yet; the barrier still is */
			}
			snprintf(call, sizeof(call), "shmar_allreduce(%s, %zu, SUM)", check_dtype_name(d), count);
			if (err < 0)
				return record(s, STAGE_ALLREDUCE, err, call, shmar_comm_last_error(comm));
			s->ran[d][z] = true;
			s->bad[d][z] = verify_output(s, d, p->ranks, count, recv);
		}
	}
	return 0;
}

static int timed_call(struct shmar_comm *comm, size_t count, void *send, void *recv)
{
	if (count == 0)
		return shmar_barrier(comm);
	return shmar_allreduce(comm, send, recv, count, SHMAR_FLOAT32, SHMAR_SUM);
}

/*
 * OSU style, as shmar-bench: "barrier; t0; call; t1", so every call starts
 * with the ranks together and back-to-back calls cannot hide each other's cost.
 */
static int measure(struct shmar_comm *comm, size_t count, int iters, void *send, void *recv,
		   double *median_s)
{
	double samples[MAX_ITERS], t0;
	int err;

	for (int i = -WARMUP_ITERS; i < iters; i++) {
		err = shmar_barrier(comm);
		if (err < 0)
			return err;
		t0 = check_now_s();
		err = timed_call(comm, count, send, recv);
		if (err < 0)
			return err;
		if (i >= 0)
			samples[i] = check_now_s() - t0;
	}
	*median_s = check_median(samples, iters);
	return 0;
}

static int run_timings(struct shmar_comm *comm, const struct selftest_plan *p, struct selftest_slot *s,
		       unsigned char *send, unsigned char *recv)
{
	float one = 1.0f;
	int err;

	/* Ones, not leftovers of the dtype loop: denormals or NaNs would skew the times. */
	for (size_t i = 0; i < p->buf_bytes / sizeof(float); i++)
		memcpy(send + i * sizeof(float), &one, sizeof(one));
	for (int t = 0; t < CHECK_TIME_COUNT; t++) {
		bool barrier = p->timing_count[t] == 0;

		s->local[t] = -1;
		if (!p->timing_on[t] || (!barrier && s->enosys))
			continue;
		err = shmar_barrier(comm);
		if (err < 0)
			return record(s, STAGE_BARRIER, err, "shmar_barrier", shmar_comm_last_error(comm));
		err = measure(comm, p->timing_count[t], p->iters[t], send, recv, &s->local[t]);
		if (err < 0)
			return record(s, barrier ? STAGE_BARRIER : STAGE_ALLREDUCE, err,
				      barrier ? "shmar_barrier (timing)" : "shmar_allreduce (timing)",
				      shmar_comm_last_error(comm));
	}
	if (s->enosys)
		return 0;
	/* Max over ranks with the library itself: FLOAT64 MAX, checked by the parent. */
	memcpy(s->reduced, s->local, sizeof(s->local));
	err = shmar_allreduce(comm, s->reduced, s->reduced, CHECK_TIME_COUNT, SHMAR_FLOAT64, SHMAR_MAX);
	if (err < 0)
		return record(s, STAGE_ALLREDUCE, err, "shmar_allreduce(float64, 5, MAX)",
			      shmar_comm_last_error(comm));
	s->exchanged = true;
	return 0;
}

static void rank_config(struct shmar_config *cfg)
{
	shmar_config_init(cfg); /* the directory too: the library resolves it, as for any program */
	/* Bounded waits unless the user chose others: a broken job must end, not hang. */
	if (!check_env("SHMAR_INIT_TIMEOUT_MS"))
		cfg->init_timeout_ms = INIT_TIMEOUT_MS;
	if (!check_env("SHMAR_TIMEOUT_MS"))
		cfg->timeout_ms = COLL_TIMEOUT_MS;
}

int check_rank_main(const struct selftest_plan *p, int rank, struct selftest_slot *s)
{
	struct shmar_comm *comm = NULL;
	unsigned char *send, *recv;
	struct shmar_config cfg;
	int err;

	signal(SIGALRM, SIG_DFL);
	alarm(p->alarm_s);
	rank_config(&cfg);
	err = shmar_comm_init(&comm, p->job, p->ranks, rank, &cfg);
	if (err < 0)
		return record(s, STAGE_JOIN, err, "shmar_comm_init", shmar_comm_last_error(NULL));
	send = malloc(p->buf_bytes);
	recv = malloc(p->buf_bytes);
	if (!send || !recv) {
		err = record(s, STAGE_JOIN, -ENOMEM, "malloc", "no memory for the test buffers");
		shmar_comm_abort(comm); /* the peers would wait for this rank */
		goto out;
	}
	err = shmar_barrier(comm);
	if (err < 0) {
		record(s, STAGE_BARRIER, err, "shmar_barrier", shmar_comm_last_error(comm));
		goto out;
	}
	err = run_dtypes(comm, p, rank, s, send, recv);
	if (err == 0)
		err = run_timings(comm, p, s, send, recv);
out:
	free(send);
	free(recv);
	shmar_comm_destroy(comm);
	return err;
}

