/* SPDX-License-Identifier: MIT */
/*
 * bench.c - OSU-style latency and bandwidth of libshmar's collectives.
 *
 * Per size: validate once against values computed here; warm up; pick the
 * iteration count from the warm-up so a size takes about budget_s; time
 * "barrier; t0; call; t1" per call; then the same count back to back.  Each
 * rank takes median, mean, p10, p90 and min of its samples; the row holds the
 * maximum over ranks (the mean over ranks for avgavg, the minimum for min),
 * exactly like ../shared/peers/osu_allreduce.c, so the rows sit in the same
 * table as Open MPI's and MPICH's.  Statistics travel between ranks through
 * libshmar itself (fp64 all-reduce), so the tool also runs under shmar-run.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const size_t osu_sizes[] = { 4, 64, 1024, 16384, 262144, 1048576, 4194304, 16777216,
				    67108864 };

/* A pool larger than any last-level cache, for data-varying runs. */
#define VARY_POOL_MIN ((size_t)256 << 20)

static const struct {
	const char *name;
	int dtype;
	size_t size;
} dtypes[] = {
	{ "fp32", SHMAR_FLOAT32, 4 }, { "bf16", SHMAR_BFLOAT16, 2 }, { "fp16", SHMAR_FLOAT16, 2 },
	{ "fp64", SHMAR_FLOAT64, 8 }, { "int32", SHMAR_INT32, 4 },  { "int64", SHMAR_INT64, 8 },
	{ "uint8", SHMAR_UINT8, 1 },
};

static const char *const coll_names[] = { "allreduce", "reduce_scatter", "allgather", "broadcast",
					  "barrier" };
static const char *const op_names[] = { "sum", "prod", "max", "min", "avg" };

void bench_opts_default(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nranks = 2;
	o->bind = true;
	o->coll = BENCH_ALLREDUCE;
	o->op = SHMAR_SUM;
	o->dtypes[0] = SHMAR_FLOAT32;
	o->ndtypes = 1;
	memcpy(o->sizes, osu_sizes, sizeof(osu_sizes));
	o->nsizes = (int)(sizeof(osu_sizes) / sizeof(osu_sizes[0]));
	o->in_place = o->out_of_place = true;
	o->budget_s = 0.5;
	o->min_iters = 10;
	o->max_iters = 10000;
	o->label = "libshmar";
}

static size_t dtype_size(int dtype)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].size;
	return 0;
}

static const char *dtype_name(int dtype)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].name;
	return "?";
}

int bench_parse_dtypes(struct bench_opts *o, const char *s)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	o->ndtypes = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
			if (strcasecmp(tok, dtypes[i].name) == 0)
				break;
		if (i == sizeof(dtypes) / sizeof(dtypes[0]) || o->ndtypes == BENCH_MAX_DTYPES)
			return -EINVAL;
		o->dtypes[o->ndtypes++] = dtypes[i].dtype;
	}
	return o->ndtypes ? 0 : -EINVAL;
}

int bench_parse_sizes(struct bench_opts *o, const char *s)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	o->nsizes = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v, mul = 1;
		char *end;

		errno = 0;
		v = strtoull(tok, &end, 0);
		if (errno || end == tok || *tok == '-')
			return -EINVAL;
		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; end++; break;
		case 'm': case 'M': mul = 1ull << 20; end++; break;
		case 'g': case 'G': mul = 1ull << 30; end++; break;
		default: break;
		}
		if (*end || v == 0 || v > (1ull << 34) / mul || o->nsizes == BENCH_MAX_SIZES)
			return -EINVAL;
		o->sizes[o->nsizes++] = (size_t)(v * mul);
	}
	return o->nsizes ? 0 : -EINVAL;
}

int bench_parse_coll(const char *s, enum bench_coll *out)
{
	for (int i = 0; i < 5; i++) {
		if (strcmp(s, coll_names[i]) == 0) {
			*out = (enum bench_coll)i;
			return 0;
		}
	}
	return -EINVAL;
}

int bench_parse_op(const char *s, enum shmar_op *out)
{
	for (int i = 0; i < 5; i++) {
		if (strcasecmp(s, op_names[i]) == 0) {
			*out = (enum shmar_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------- values */

static uint16_t bf16_from_float(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return 0x7fc0;
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* Store v (a small integer, or the result of the same fp32 arithmetic the
 * library does) as element i of dtype. */
static void put(void *buf, size_t i, int dtype, double v)
{
	switch (dtype) {
	case SHMAR_FLOAT32: ((float *)buf)[i] = (float)v; break;
	case SHMAR_BFLOAT16: ((uint16_t *)buf)[i] = bf16_from_float((float)v); break;
	case SHMAR_FLOAT16: ((_Float16 *)buf)[i] = (_Float16)(float)v; break;
	case SHMAR_FLOAT64: ((double *)buf)[i] = v; break;
	case SHMAR_INT32: ((int32_t *)buf)[i] = (int32_t)(int64_t)v; break;
	case SHMAR_INT64: ((int64_t *)buf)[i] = (int64_t)v; break;
	case SHMAR_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(uint64_t)(int64_t)v; break;
	}
}

/* Input of rank r at element i: small integers, exact in every dtype. */
static double input(int r, size_t i)
{
	return (double)((r % 3) + 1) * (double)(i % 7 + 1);
}

static bool is_int(int dtype)
{
	return dtype == SHMAR_INT32 || dtype == SHMAR_INT64 || dtype == SHMAR_UINT8;
}

/* Wrap v to the width of an integer dtype, as two's complement does. */
static int64_t wrap(int dtype, uint64_t v)
{
	switch (dtype) {
	case SHMAR_INT32: return (int32_t)(uint32_t)v;
	case SHMAR_UINT8: return (uint8_t)v;
	default: return (int64_t)v;
	}
}

static double expected_int(int nranks, size_t i, int dtype, enum shmar_op op)
{
	int64_t acc = (int64_t)input(0, i);

	for (int r = 1; r < nranks; r++) {
		int64_t x = (int64_t)input(r, i);

		switch (op) {
		case SHMAR_SUM: case SHMAR_AVG: acc = wrap(dtype, (uint64_t)acc + (uint64_t)x); break;
		case SHMAR_PROD: acc = wrap(dtype, (uint64_t)acc * (uint64_t)x); break;
		case SHMAR_MAX: acc = x > acc ? x : acc; break;
		case SHMAR_MIN: acc = x < acc ? x : acc; break;
		}
	}
	if (op == SHMAR_AVG)
		acc /= nranks;
	return (double)acc;
}

/*
 * The expected all-reduce of element i: accumulated in rank order in the
 * library's accumulator type (fp32 for the 16-bit floats), with the same
 * rounding at every step, so the bits match for every op.
 */
static double expected(int nranks, size_t i, int dtype, enum shmar_op op)
{
	bool f32 = dtype == SHMAR_FLOAT32 || dtype == SHMAR_BFLOAT16 || dtype == SHMAR_FLOAT16;
	double acc = input(0, i);

	if (is_int(dtype))
		return expected_int(nranks, i, dtype, op);
	for (int r = 1; r < nranks; r++) {
		double x = input(r, i);

		switch (op) {
		case SHMAR_SUM: case SHMAR_AVG: acc += x; break;
		case SHMAR_PROD: acc *= x; break;
		case SHMAR_MAX: acc = x > acc ? x : acc; break;
		case SHMAR_MIN: acc = x < acc ? x : acc; break;
		}
		if (f32)
			acc = (float)acc;
	}
	if (op == SHMAR_AVG)
		acc = f32 ? (double)((float)acc / (float)nranks) : acc / nranks;
	return acc;
}

/* ---------------------------------------------------------------- one size */

struct sizing {
	size_t count;      /* elements in the call's count argument */
	size_t in_bytes;   /* per-rank input */
	size_t out_bytes;  /* per-rank output */
};

/* size_B is the caller's buffer: the whole vector for allreduce, reduce_scatter's
 * input and allgather's output (NCCL-tests style), the buffer for broadcast. */
static struct sizing sizing_for(const struct bench_opts *o, size_t bytes, size_t esize, int n)
{
	size_t elems = bytes / esize ? bytes / esize : 1;
	struct sizing s = { elems, elems * esize, elems * esize };

	switch (o->coll) {
	case BENCH_REDUCE_SCATTER:
		s.count = elems / (size_t)n ? elems / (size_t)n : 1;
		s.in_bytes = s.count * esize * (size_t)n;
		s.out_bytes = s.count * esize;
		break;
	case BENCH_ALLGATHER:
		s.count = elems / (size_t)n ? elems / (size_t)n : 1;
		s.in_bytes = s.count * esize;
		s.out_bytes = s.count * esize * (size_t)n;
		break;
	default:
		break;
	}
	return s;
}

static int call(struct shmar_comm *comm, const struct bench_opts *o, const void *in, void *out,
		const struct sizing *s, int dtype)
{
	switch (o->coll) {
	case BENCH_ALLREDUCE:
		return shmar_allreduce(comm, in, out, s->count, dtype, o->op);
	case BENCH_REDUCE_SCATTER:
		return shmar_reduce_scatter(comm, in, out, s->count, dtype, o->op);
	case BENCH_ALLGATHER:
		return shmar_allgather(comm, in, out, s->count, dtype);
	case BENCH_BROADCAST:
		return shmar_broadcast(comm, out, s->count, dtype, 0);
	case BENCH_BARRIER:
		return shmar_barrier(comm);
	}
	return -EINVAL;
}

static int validate(struct shmar_comm *comm, const struct bench_opts *o, char *in, char *out,
		    const struct sizing *s, int dtype, bool in_place)
{
	int rank = shmar_comm_rank(comm), n = shmar_comm_size(comm), err;
	size_t esize = dtype_size(dtype), total = s->in_bytes / esize, bad = 0;
	char *src = in_place ? out : in;
	char want[8];

	if (o->coll == BENCH_ALLGATHER && in_place)
		src = out + (size_t)rank * s->in_bytes;
	if (o->coll == BENCH_BROADCAST)
		src = out; /* broadcast has one buffer */
	if (o->coll == BENCH_BARRIER)
		return call(comm, o, src, out, s, dtype);
	for (size_t i = 0; i < total; i++)
		put(src, i, dtype, o->coll == BENCH_ALLGATHER ? input(rank, i) + rank
				   : o->coll == BENCH_BROADCAST ? (rank == 0 ? input(0, i) : 0)
								: input(rank, i));
	err = call(comm, o, src, out, s, dtype);
	if (err < 0)
		return err;
	for (size_t i = 0; i < s->out_bytes / esize; i++) {
		double v;

		switch (o->coll) {
		case BENCH_ALLREDUCE: v = expected(n, i, dtype, o->op); break;
		case BENCH_REDUCE_SCATTER:
			v = expected(n, (size_t)rank * s->count + i, dtype, o->op);
			break;
		case BENCH_ALLGATHER:
			v = input((int)(i / s->count), i % s->count) + (double)(i / s->count);
			break;
		default: v = input(0, i); break;
		}
		put(want, 0, dtype, v);
		bad += memcmp(want, out + i * esize, esize) != 0;
	}
	if (bad)
		fprintf(stderr, "shmar-bench: rank %d: %zu wrong elements (%s %s %s, %zu bytes)\n",
			rank, bad, coll_names[o->coll], dtype_name(dtype), op_names[o->op],
			s->in_bytes);
	return bad ? -EPROTO : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double quant(const double *sorted, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int reduce_doubles(struct shmar_comm *comm, double *v, size_t n, enum shmar_op op)
{
	return shmar_allreduce(comm, v, v, n, SHMAR_FLOAT64, op);
}

struct buffers {
	char *in, *out;       /* in: the pool when varying */
	size_t pool, stride;  /* varying: bytes of the pool, distance between regions */
};

static const void *input_at(const struct buffers *b, int it, const struct bench_opts *o)
{
	if (!o->vary)
		return b->in;
	return b->in + ((size_t)it * b->stride) % (b->pool - b->stride + 1) / 4096 * 4096;
}

static int timed_calls(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
		       const struct sizing *s, int dtype, bool in_place, int iters, double *lat)
{
	int err;

	for (int it = 0; it < iters; it++) {
		const void *in = in_place ? b->out : input_at(b, it, o);
		void *out = in_place && o->vary ? (void *)input_at(b, it, o) : b->out;
		double t0;

		if ((err = shmar_barrier(comm)) < 0)
			return err;
		t0 = now_s();
		err = call(comm, o, in_place ? out : in, out, s, dtype);
		lat[it] = (now_s() - t0) * 1e6;
		if (err < 0)
			return err;
	}
	return 0;
}

static void print_header(FILE *f, const struct bench_opts *o, int n, int dtype)
{
	if (o->format == BENCH_FORMAT_CSV)
		return;
	fprintf(f, "# peer=%s np=%d coll=%s dtype=%s op=%s budget_s=%.2f min_iters=%d max_iters=%d algo=%s%s\n",
		o->label, n, coll_names[o->coll], dtype_name(dtype), op_names[o->op], o->budget_s,
		o->min_iters, o->max_iters,
		o->algo == BENCH_ALGO_AUTO ? "auto" : o->algo == BENCH_ALGO_SMALL ? "small" : "large",
		o->vary ? " data=varying" : "");
	fprintf(f, "# library: libshmar %s\n", shmar_version());
	fprintf(f, "# size_B mode iters med_us avg_us avgavg_us p10_us p90_us min_us algbw_GBps b2b_us\n");
}

static int one_size(struct shmar_comm *comm, const struct bench_opts *o, struct buffers *b,
		    size_t bytes, int dtype, bool in_place, double *lat, FILE *f)
{
	int rank = shmar_comm_rank(comm), n = shmar_comm_size(comm), err, warm, iters;
	struct sizing s = sizing_for(o, bytes, dtype_size(dtype), n);
	double per, stats[6], mins[1], b2b, tb, sum = 0;
	long want;

	if ((err = validate(comm, o, b->in, b->out, &s, dtype, in_place)) < 0)
		return err;
	/* warm-up, timed only to choose the iteration count */
	warm = bytes >= (1u << 20) ? 3 : bytes >= (64u << 10) ? 20 : 200;
	if ((err = timed_calls(comm, o, b, &s, dtype, in_place, warm, lat)) < 0)
		return err;
	qsort(lat, (size_t)warm, sizeof(double), cmp_double);
	per = quant(lat, warm, 0.5);
	if ((err = reduce_doubles(comm, &per, 1, SHMAR_MAX)) < 0)
		return err;
	want = (long)(o->budget_s / (per * 3e-6 + 1e-6));
	iters = (int)(want < o->min_iters ? o->min_iters : want > o->max_iters ? o->max_iters : want);

	if ((err = timed_calls(comm, o, b, &s, dtype, in_place, iters, lat)) < 0)
		return err;
	if ((err = shmar_barrier(comm)) < 0)
		return err;
	tb = now_s();
	for (int it = 0; it < iters && err == 0; it++) {
		void *out = in_place && o->vary ? (void *)input_at(b, it, o) : b->out;

		err = call(comm, o, in_place ? out : input_at(b, it, o), out, &s, dtype);
	}
	if (err < 0)
		return err;
	b2b = (now_s() - tb) * 1e6 / iters;

	for (int it = 0; it < iters; it++)
		sum += lat[it];
	qsort(lat, (size_t)iters, sizeof(double), cmp_double);
	stats[0] = quant(lat, iters, 0.5);
	stats[1] = sum / iters;
	stats[2] = quant(lat, iters, 0.1);
	stats[3] = quant(lat, iters, 0.9);
	stats[4] = b2b;
	stats[5] = sum / iters; /* summed over ranks below: the mean of means */
	mins[0] = lat[0];
	if ((err = reduce_doubles(comm, stats, 5, SHMAR_MAX)) < 0 ||
	    (err = reduce_doubles(comm, stats + 5, 1, SHMAR_AVG)) < 0 ||
	    (err = reduce_doubles(comm, mins, 1, SHMAR_MIN)) < 0)
		return err;
	if (rank != 0)
		return 0;
	if (o->format == BENCH_FORMAT_CSV)
		fprintf(f, "%s,%s,%s,%s,%d,%zu,%s,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%.3f\n",
			o->label, coll_names[o->coll], dtype_name(dtype), op_names[o->op], n, bytes,
			in_place ? "in" : "out", iters, stats[0], stats[1], stats[5], stats[2],
			stats[3], mins[0], (double)bytes / stats[0] / 1e3, stats[4]);
	else
		fprintf(f, "%zu %s %d %.3f %.3f %.3f %.3f %.3f %.3f %.4f %.3f\n", bytes,
			in_place ? "in" : "out", iters, stats[0], stats[1], stats[5], stats[2],
			stats[3], mins[0], (double)bytes / stats[0] / 1e3, stats[4]);
	fflush(f);
	return 0;
}

static int alloc_buffers(const struct bench_opts *o, int n, struct buffers *b)
{
	size_t max = 4096;

	for (int i = 0; i < o->nsizes; i++) {
		/* reduce_scatter's input and allgather's output are the whole vector */
		size_t need = o->sizes[i] + 64 * (size_t)n;

		max = need > max ? need : max;
	}
	max = (max + 4095) / 4096 * 4096;
	b->stride = max;
	b->pool = o->vary ? (4 * max > VARY_POOL_MIN ? 4 * max : VARY_POOL_MIN) : max;
	if (posix_memalign((void **)&b->in, 4096, b->pool) ||
	    posix_memalign((void **)&b->out, 4096, max))
		return -ENOMEM;
	/* fault everything in before any timing */
	memset(b->in, 1, b->pool);
	memset(b->out, 1, max);
	return 0;
}

int bench_run_rank(struct shmar_comm *comm, const struct bench_opts *o, FILE *f)
{
	int n = shmar_comm_size(comm), rank = shmar_comm_rank(comm), err = 0;
	int lat_n = o->max_iters > 200 ? o->max_iters : 200;
	struct buffers b = { 0 };
	double *lat = malloc(sizeof(double) * (size_t)lat_n);

	if (!lat || alloc_buffers(o, n, &b) < 0) {
		err = -ENOMEM;
		goto out;
	}
	for (int d = 0; d < o->ndtypes && err == 0; d++) {
		if (rank == 0)
			print_header(f, o, n, o->dtypes[d]);
		for (int m = 0; m < 2 && err == 0; m++) {
			bool in_place = m == 0;

			if ((in_place && !o->in_place) || (!in_place && !o->out_of_place))
				continue;
			for (int i = 0; i < o->nsizes && err == 0; i++)
				err = one_size(comm, o, &b, o->sizes[i], o->dtypes[d], in_place, lat, f);
		}
	}
	if (err < 0)
		fprintf(stderr, "shmar-bench: rank %d: %s: %s\n", rank, shmar_strerror(err),
			shmar_comm_last_error(comm));
out:
	free(lat);
	free(b.in);
	free(b.out);
	return err;
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
	if (o->algo == BENCH_ALGO_SMALL)
		cfg.small_max = SIZE_MAX / 2; /* capped at the slot size */
	else if (o->algo == BENCH_ALGO_LARGE)
		cfg.small_max = 0;
	err = shmar_comm_init(&comm, job, o->nranks, rank, &cfg);
	if (err < 0) {
		fprintf(stderr, "shmar-bench: rank %d: %s: %s\n", rank, shmar_strerror(err),
			shmar_comm_last_error(NULL));
		return 1;
	}
	err = bench_run_rank(comm, o, out);
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
		if (pids[r] < 0)
			failed++;
	}
	for (int r = 0; r < o->nranks; r++) {
		if (pids[r] <= 0)
			continue;
		if (waitpid(pids[r], &st, 0) != pids[r] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	return failed ? -1 : 0;
}
