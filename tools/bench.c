/* SPDX-License-Identifier: MIT */
/*
 * bench.c - OSU-style latency and bandwidth of libshmar's collectives.
 *
 * Per size: validate once against values computed here; warm up; pick the
 * iteration count from the warm-up so a size takes about budget_s; time
 * "barrier; t0; call; t1" per call; then the same count back to back.  Each
 * rank takes the percentiles, mean and extremes of its own samples; a row
 * holds the maximum over ranks (the mean over ranks for avgavg, the minimum
 * for min), as the OSU micro-benchmarks report.  Statistics travel between
 * ranks through libshmar itself (fp64 all-reduce), so the tool also runs
 * under shmar-run.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "shmar-probe.h"

/* A pool larger than any last-level cache, for data-varying runs. */
#define VARY_POOL_MIN ((size_t)256 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q quantile of n sorted samples, nearest rank. */
static double quant(const double *sorted, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int reduce_doubles(struct shmar_comm *comm, double *v, size_t n, enum shmar_op op)
{
	return shmar_allreduce(comm, v, v, n, SHMAR_FLOAT64, op);
}

/* ---------------------------------------------------------------- buffers */

struct buffers {
	char *in, *out;      /* in: the pool when varying */
	size_t pool, stride; /* bytes of in; distance between regions of the pool */
	size_t out_bytes;
	bool registered;     /* from shmar_mem_alloc() */
};

static const void *input_at(const struct buffers *b, int it, const struct bench_opts *o)
{
	if (!o->vary)
		return b->in;
	return b->in + ((size_t)it * b->stride) % (b->pool - b->stride + 1) / 4096 * 4096;
}

static int alloc_one(struct shmar_comm *comm, const struct bench_opts *o, size_t bytes,
		     char **out)
{
	void *p = NULL;
	int err;

	if (o->mem == BENCH_MEM_REGISTERED)
		err = shmar_mem_alloc(comm, bytes, &p);
	else
		err = posix_memalign(&p, 4096, bytes) ? -ENOMEM : 0;
	*out = err < 0 ? NULL : p;
	return err;
}

static void free_one(struct shmar_comm *comm, const struct buffers *b, char *p)
{
	if (!p)
		return;
	if (b->registered)
		(void)shmar_mem_free(comm, p);
	else
		free(p);
}

static void free_buffers(struct shmar_comm *comm, struct buffers *b)
{
	free_one(comm, b, b->in);
	free_one(comm, b, b->out);
	b->in = b->out = NULL;
}

/* Why alloc_one() failed, for the message. */
static void alloc_failure(const struct bench_opts *o, int rank, int err, size_t bytes, char *msg,
			  size_t len)
{
	if (o->mem == BENCH_MEM_REGISTERED)
		snprintf(msg, len, "rank %d: --mem registered: shmar_mem_alloc of %zu bytes: %s",
			 rank, bytes, shmar_strerror(err));
	else
		snprintf(msg, len, "rank %d: cannot allocate %zu bytes: %s", rank, bytes,
			 strerror(-err));
}

/*
 * Every rank's buffers, or none: 0 or the error.  err is one this rank had
 * before.  The ranks agree through libshmar, so one rank's failure never
 * leaves the others waiting in a collective, and only the lowest rank that
 * failed reports it on stderr (the others return -ECANCELED); msg says what
 * failed, for the JSON document.
 */
static int alloc_buffers(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
			 int err, char *msg, size_t msg_len)
{
	int rank = shmar_comm_rank(comm), n = shmar_comm_size(comm), agreed;
	int32_t first_failed;
	size_t max = 4096;

	for (int i = 0; i < o->nsizes; i++)
		max = o->sizes[i] > max ? o->sizes[i] : max;
	max = (max + 4095) / 4096 * 4096;
	b->stride = max;
	b->out_bytes = max;
	b->pool = o->vary ? (4 * max > VARY_POOL_MIN ? 4 * max : VARY_POOL_MIN) : max;
	b->registered = o->mem == BENCH_MEM_REGISTERED;
	if (err < 0)
		snprintf(msg, msg_len, "rank %d: %s", rank, strerror(-err));
	if (err == 0 && (err = alloc_one(comm, o, b->pool, &b->in)) < 0)
		alloc_failure(o, rank, err, b->pool, msg, msg_len);
	if (err == 0 && (err = alloc_one(comm, o, b->out_bytes, &b->out)) < 0)
		alloc_failure(o, rank, err, b->out_bytes, msg, msg_len);
	first_failed = err < 0 ? rank : n;
	agreed = shmar_allreduce(comm, &first_failed, &first_failed, 1, SHMAR_INT32, SHMAR_MIN);
	if (agreed < 0) {
		snprintf(msg, msg_len, "rank %d: %s: %s", rank, shmar_strerror(agreed),
			 shmar_comm_last_error(comm));
		fprintf(stderr, "shmar-bench: %s\n", msg);
		err = agreed;
	} else if (first_failed == rank) {
		fprintf(stderr, "shmar-bench: %s\n", msg);
	} else if (first_failed < n) {
		snprintf(msg, msg_len, "rank %d could not allocate its buffers", (int)first_failed);
		err = -ECANCELED;
	}
	if (err < 0)
		free_buffers(comm, b);
	return err;
}

/* Fault everything in before any timing, with real values of dtype. */
static void fill_buffers(const struct buffers *b, int dtype, int rank)
{
	bench_fill(b->in, b->pool, dtype, rank);
	bench_fill(b->out, b->out_bytes, dtype, rank);
}

/* ---------------------------------------------------------------- the job */

/*
 * What the library decided for this job (its CPUs: the union of the ranks'
 * affinities within the online CPUs and the cgroup quota; oversubscription;
 * kernels; the all-reduce threshold), and the most CPUs any one rank may use.
 */
static int job_facts(struct shmar_comm *comm, const struct shmar_config *cfg,
		     struct bench_job *job)
{
	struct shmar_probe_comm pc;
	int32_t mine = 0;
	cpu_set_t set;
	int err;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		mine = CPU_COUNT(&set);
	if ((err = shmar_probe_comm(comm, &pc)) < 0 ||
	    (err = shmar_allreduce(comm, &mine, &mine, 1, SHMAR_INT32, SHMAR_MAX)) < 0) {
		fprintf(stderr, "shmar-bench: rank %d: %s: %s\n", shmar_comm_rank(comm),
			shmar_strerror(err), shmar_comm_last_error(comm));
		return err;
	}
	memset(job, 0, sizeof(*job));
	job->nranks = shmar_comm_size(comm);
	job->cpus = pc.job_cpus;
	job->cpus_per_rank = mine > 0 && mine < pc.job_cpus ? mine : pc.job_cpus;
	job->oversubscribed = pc.oversubscribed;
	job->isa = pc.kernels;
	job->liveness = pc.liveness;
	job->small_max = pc.small_max;
	job->slot_bytes = pc.slot_bytes;
	job->threads = cfg->threads;
	return 0;
}

/* ---------------------------------------------------------------- one size */

/* The send buffer of an in-place call whose receive buffer is out. */
static const void *in_place_send(const struct bench_opts *o, void *out,
				 const struct bench_sizing *s, int rank)
{
	if (o->coll == BENCH_ALLGATHER)
		return (char *)out + (size_t)rank * s->in_bytes;
	return out;
}

struct call_bufs {
	const void *in;
	void *out;
};

/* The buffers of iteration it. */
static struct call_bufs bufs_at(const struct bench_opts *o, const struct buffers *b,
				const struct bench_sizing *s, bool in_place, int it, int rank)
{
	struct call_bufs c;

	if (in_place) {
		c.out = o->vary ? (void *)input_at(b, it, o) : b->out;
		c.in = in_place_send(o, c.out, s, rank);
	} else {
		c.in = input_at(b, it, o);
		c.out = b->out;
	}
	return c;
}

static int timed_calls(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
		       const struct bench_sizing *s, int dtype, bool in_place, int iters,
		       double *lat)
{
	int rank = shmar_comm_rank(comm), err;

	for (int it = 0; it < iters; it++) {
		struct call_bufs c = bufs_at(o, b, s, in_place, it, rank);
		double t0;

		if ((err = shmar_barrier(comm)) < 0)
			return err;
		t0 = now_s();
		err = bench_call(comm, o, c.in, c.out, s, dtype);
		lat[it] = (now_s() - t0) * 1e6;
		if (err < 0)
			return err;
	}
	return 0;
}

/* The same calls back to back; microseconds per call. */
static int back_to_back(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
			const struct bench_sizing *s, int dtype, bool in_place, int iters,
			double *us)
{
	int rank = shmar_comm_rank(comm), err;
	double t0;

	if ((err = shmar_barrier(comm)) < 0)
		return err;
	t0 = now_s();
	for (int it = 0; it < iters; it++) {
		struct call_bufs c = bufs_at(o, b, s, in_place, it, rank);

		if ((err = bench_call(comm, o, c.in, c.out, s, dtype)) < 0)
			return err;
	}
	*us = (now_s() - t0) * 1e6 / iters;
	return 0;
}

/* Iterations that take about the budget, from a warm-up (agreed by all ranks). */
static int choose_iters(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
			const struct bench_sizing *s, int dtype, bool in_place, size_t bytes,
			double *lat, int *iters)
{
	int warm = bytes >= (1u << 20) ? 3 : bytes >= (64u << 10) ? 20 : 200, err;
	double per;
	long want;

	if ((err = timed_calls(comm, o, b, s, dtype, in_place, warm, lat)) < 0)
		return err;
	qsort(lat, (size_t)warm, sizeof(double), cmp_double);
	per = quant(lat, warm, 0.5);
	if ((err = reduce_doubles(comm, &per, 1, SHMAR_MAX)) < 0)
		return err;
	want = (long)(o->budget_s / (per * 3e-6 + 1e-6));
	*iters = (int)(want < o->min_iters ? o->min_iters : want > o->max_iters ? o->max_iters : want);
	return 0;
}

/* Each rank's statistics of its samples, then combined over ranks. */
static int row_stats(struct shmar_comm *comm, double *lat, int iters, double b2b,
		     struct bench_row *r)
{
	double worst[8], best, mean = 0;
	int err;

	for (int it = 0; it < iters; it++)
		mean += lat[it];
	mean /= iters;
	qsort(lat, (size_t)iters, sizeof(double), cmp_double);
	worst[0] = quant(lat, iters, 0.1);
	worst[1] = quant(lat, iters, 0.5);
	worst[2] = quant(lat, iters, 0.9);
	worst[3] = quant(lat, iters, 0.99);
	worst[4] = lat[iters - 1];
	worst[5] = mean;
	worst[6] = b2b;
	worst[7] = mean; /* averaged over ranks below */
	best = lat[0];
	if ((err = reduce_doubles(comm, worst, 7, SHMAR_MAX)) < 0 ||
	    (err = reduce_doubles(comm, worst + 7, 1, SHMAR_AVG)) < 0 ||
	    (err = reduce_doubles(comm, &best, 1, SHMAR_MIN)) < 0)
		return err;
	r->p10 = worst[0];
	r->p50 = worst[1];
	r->p90 = worst[2];
	r->p99 = worst[3];
	r->max = worst[4];
	r->avg = worst[5];
	r->b2b = worst[6];
	r->avgavg = worst[7];
	r->min = best;
	r->iters = iters;
	return 0;
}

/* Validate on every rank; all fail with -EPROTO when one saw wrong results. */
static int validate(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
		    const struct bench_sizing *s, int dtype, bool in_place)
{
	int err = bench_validate(comm, o, b->in, b->out, s, dtype, in_place);
	int32_t worst = err;

	if (err < 0 && err != -EPROTO)
		return err; /* the call failed: the job is no longer in step */
	err = shmar_allreduce(comm, &worst, &worst, 1, SHMAR_INT32, SHMAR_MIN);
	return err < 0 ? err : worst;
}

static int one_size(struct shmar_comm *comm, const struct bench_opts *o,
		    const struct bench_job *job, struct buffers *b, size_t bytes, int dtype,
		    bool in_place, double *lat, FILE *f)
{
	int rank = shmar_comm_rank(comm), n = shmar_comm_size(comm), err, iters;
	struct bench_sizing s = bench_sizing_for(o->coll, bytes, bench_dtype_size(dtype), n);
	struct bench_row r = { .dtype = dtype, .bytes = bytes, .count = s.count,
			       .in_place = in_place };
	double b2b;

	if ((err = validate(comm, o, b, &s, dtype, in_place)) < 0 ||
	    (err = choose_iters(comm, o, b, &s, dtype, in_place, bytes, lat, &iters)) < 0 ||
	    (err = timed_calls(comm, o, b, &s, dtype, in_place, iters, lat)) < 0 ||
	    (err = back_to_back(comm, o, b, &s, dtype, in_place, iters, &b2b)) < 0 ||
	    (err = row_stats(comm, lat, iters, b2b, &r)) < 0)
		return err;
	if (rank == 0)
		bench_print_row(f, o, job, &r);
	return 0;
}

static int run_dtype(struct shmar_comm *comm, const struct bench_opts *o,
		     const struct bench_job *job, struct buffers *b, int dtype, double *lat,
		     FILE *f)
{
	int rank = shmar_comm_rank(comm), err = 0;

	fill_buffers(b, dtype, rank);
	if (rank == 0)
		bench_print_dtype(f, o, job, dtype);
	for (int m = 0; m < 2 && err == 0; m++) {
		bool in_place = m == 0;

		if ((in_place && !o->in_place) || (!in_place && !o->out_of_place))
			continue;
		for (int i = 0; i < o->nsizes && err == 0; i++)
			err = one_size(comm, o, job, b, o->sizes[i], dtype, in_place, lat, f);
	}
	return err;
}

static void warn_oversubscribed(const struct bench_job *job)
{
	fprintf(stderr,
		"shmar-bench: warning: %d ranks share %d CPU%s: every wait is a hand-off through the "
		"scheduler, so the times measure it more than libshmar\n",
		job->nranks, job->cpus, job->cpus == 1 ? "" : "s");
}

int bench_run_rank(struct shmar_comm *comm, const struct bench_opts *o,
		   const struct shmar_config *cfg, FILE *f)
{
	int rank = shmar_comm_rank(comm), err;
	int lat_n = o->max_iters > 200 ? o->max_iters : 200;
	double *lat = malloc(sizeof(double) * (size_t)lat_n);
	struct buffers b = { 0 };
	struct bench_job job;
	char why[512];

	/* each reports its own failure */
	err = job_facts(comm, cfg, &job);
	if (err < 0)
		goto out;
	err = alloc_buffers(comm, o, &b, lat ? 0 : -ENOMEM, why, sizeof(why));
	if (err < 0) {
		/* a JSON reader gets a document that says why */
		if (rank == 0 && o->format == BENCH_FORMAT_JSON) {
			bench_print_begin(f, o, &job);
			bench_print_end(f, o, why);
		}
		goto out;
	}
	if (rank == 0) {
		if (job.oversubscribed)
			warn_oversubscribed(&job);
		bench_print_begin(f, o, &job);
	}
	for (int d = 0; d < o->ndtypes && err == 0; d++)
		err = run_dtype(comm, o, &job, &b, o->dtypes[d], lat, f);
	if (err < 0 && err != -EPROTO)
		fprintf(stderr, "shmar-bench: rank %d: %s: %s\n", rank, shmar_strerror(err),
			shmar_comm_last_error(comm));
	if (rank == 0) {
		snprintf(why, sizeof(why), "%s: %s", shmar_strerror(err),
			 err == -EPROTO ? "wrong results" : shmar_comm_last_error(comm));
		bench_print_end(f, o, err < 0 ? why : NULL);
	}
out:
	free_buffers(comm, &b);
	free(lat);
	fflush(f);
	return err;
}

/* ---------------------------------------------------------------- forked ranks */

void bench_apply_config(const struct bench_opts *o, struct shmar_config *cfg)
{
	if (o->algo == BENCH_ALGO_SMALL)
		cfg->small_max = cfg->slot_bytes; /* one step for all that fits a slot */
	else if (o->algo == BENCH_ALGO_LARGE)
		cfg->small_max = 0;
	if (o->threads >= 0)
		cfg->threads = o->threads;
}

static void bind_to_cpu(int rank)
{
	cpu_set_t allowed, one;
	int seen = 0, want;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return;
	want = rank % CPU_COUNT(&allowed);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		if (seen++ == want) {
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			sched_setaffinity(0, sizeof(one), &one);
			return;
		}
	}
}

static int child(const struct bench_opts *o, const char *job, int rank, FILE *out)
{
	struct shmar_config cfg;
	struct shmar_comm *comm;
	int err;

	if (o->bind)
		bind_to_cpu(rank);
	shmar_config_init(&cfg);
	bench_apply_config(o, &cfg);
	err = shmar_comm_init(&comm, job, o->nranks, rank, &cfg);
	if (err < 0) {
		fprintf(stderr, "shmar-bench: rank %d: %s: %s\n", rank, shmar_strerror(err),
			shmar_comm_last_error(NULL));
		return 1;
	}
	err = bench_run_rank(comm, o, &cfg, out);
	shmar_comm_destroy(comm);
	return err < 0;
}

int bench_fork_ranks(const struct bench_opts *o, FILE *out)
{
	pid_t pids[SHMAR_MAX_RANKS];
	char job[64];
	int failed = 0, st;

	snprintf(job, sizeof(job), "bench-%d-%lx", (int)getpid(), (unsigned long)time(NULL));
	fflush(NULL);
	for (int r = 0; r < o->nranks; r++) {
		pids[r] = fork();
		if (pids[r] == 0)
			_exit(child(o, job, r, out));
		if (pids[r] < 0) {
			/* the job cannot start: stop the ranks waiting for this one */
			fprintf(stderr, "shmar-bench: fork: %s\n", strerror(errno));
			for (int k = 0; k < r; k++)
				kill(pids[k], SIGTERM);
			for (int k = r; k < o->nranks; k++)
				pids[k] = -1;
			failed++;
			break;
		}
	}
	for (int r = 0; r < o->nranks; r++) {
		if (pids[r] <= 0)
			continue;
		if (waitpid(pids[r], &st, 0) != pids[r] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	return failed ? -1 : 0;
}
