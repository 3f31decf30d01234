/* SPDX-License-Identifier: MIT */
/*
 * test-mpi.c - libshmar-mpi under mpirun (started by tests/mpi/run.sh).
 *
 * Every rank runs the same cmocka group.  Checks inside a test never assert
 * on one rank alone (the others would wait in the next collective): each
 * rank counts its failures and prints them, and at the end of the test the
 * ranks add their counts (MPI_Allreduce) and all assert on the sum together.
 *
 * The expected results come from a model written here, apart from the
 * library: the pretend nodes are SHMAR_MPI_NODE_SIZE consecutive ranks
 * (every rank is on this machine), the partial of a node is the rank-order
 * reduction of its ranks in the accumulator type, the result is the
 * node-order combination of the partials, AVG divides by the number of
 * ranks, and bf16/fp16 are rounded once (tests/reference.c's independent
 * conversions and inputs: seeded values, NaN payloads, infinities, signed
 * zeros, subnormals, values near rounding ties).
 *
 * Modes: no argument runs the group; "death" kills one rank in the middle of
 * a loop of all-reduces (run.sh expects mpirun to end the job).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmar-mpi.h"
#include "reference.h"

#define PAD 64          /* canary bytes around every output buffer */
#define CANARY 0xa5

static int rank, nranks;
static int node_size;   /* pretend node size; nranks when not pretending */
static int failures;    /* this rank's, in the current test */

#define NDTYPES 7
#define NOPS 5

/* ---------------------------------------------------------------- checks */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	if (failures++ >= 8)
		return;
	fprintf(stderr, "rank %d: ", rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond))                                                     \
			report("%s:%d: %s", __FILE__, __LINE__, #cond);            \
	} while (0)

#define CHECK_EQ(a, b)                                                           \
	do {                                                                     \
		long long a_ = (long long)(a), b_ = (long long)(b);              \
		if (a_ != b_)                                                    \
			report("%s:%d: %s == %s (%lld != %lld)", __FILE__, __LINE__, \
			     #a, #b, a_, b_);                                    \
	} while (0)

/* End of a test: every rank asserts on the failures of all. */
static void assert_all_passed(void)
{
	int mine = failures, all = 0;

	failures = 0;
	MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	assert_int_equal(all, 0);
}

/* The worst (lowest) of every rank's err. */
static int agree(int err)
{
	int worst = err;

	MPI_Allreduce(&err, &worst, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	return worst;
}

/* Every rank holds the same bytes. */
static void check_same_everywhere(const void *p, size_t bytes, const char *what)
{
	uint64_t h = ref_hash(p, bytes), lo = h, hi = h;

	MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
	MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
	if (lo != hi)
		report("%s: ranks hold different results", what);
}

static unsigned char *canaried(size_t bytes)
{
	unsigned char *p = malloc(bytes + 2 * PAD);

	if (!p)
		abort();
	memset(p, CANARY, bytes + 2 * PAD);
	return p + PAD;
}

static void canary_check(unsigned char *p, size_t bytes, const char *what)
{
	for (size_t i = 0; i < PAD; i++)
		if (p[-1 - (ptrdiff_t)i] != CANARY || p[bytes + i] != CANARY) {
			report("%s: written outside the buffer", what);
			return;
		}
}

static void canaried_free(unsigned char *p)
{
	free(p ? p - PAD : NULL);
}

/* ---------------------------------------------------------------- the model */

static bool is_int(int dtype)
{
	return dtype == SHMAR_INT32 || dtype == SHMAR_INT64 || dtype == SHMAR_UINT8;
}

static double value_of(const void *p, int dtype)
{
	uint16_t h;
	float f;
	double d;

	switch (dtype) {
	case SHMAR_FLOAT32: memcpy(&f, p, 4); return f;
	case SHMAR_BFLOAT16: memcpy(&h, p, 2); return ref_bf16_value(h);
	case SHMAR_FLOAT16: memcpy(&h, p, 2); return ref_fp16_value(h);
	default: memcpy(&d, p, 8); return d;
	}
}

static int64_t int_of(const void *p, int dtype)
{
	int32_t i32;
	int64_t i64;

	if (dtype == SHMAR_INT32)
		return memcpy(&i32, p, 4), i32;
	if (dtype == SHMAR_INT64)
		return memcpy(&i64, p, 8), i64;
	return *(const uint8_t *)p;
}

static int64_t wrap_to(int dtype, uint64_t v)
{
	if (dtype == SHMAR_INT32)
		return (int32_t)(uint32_t)v;
	if (dtype == SHMAR_UINT8)
		return (uint8_t)v;
	return (int64_t)v;
}

/* One step of a float reduction; narrow: in fp32 (else fp64). */
static double fold(double acc, double x, int op, bool narrow)
{
	if (op == SHMAR_MAX || op == SHMAR_MIN) {
		if (isnan(acc) || isnan(x))
			return NAN;
		if (acc == x) /* -0 below +0 */
			return (op == SHMAR_MAX) == (signbit(acc) != 0) ? x : acc;
		return (op == SHMAR_MAX) == (x > acc) ? x : acc;
	}
	if (narrow) {
		volatile float a = (float)acc, b = (float)x;
		volatile float r = op == SHMAR_PROD ? a * b : a + b;

		return r;
	}
	return op == SHMAR_PROD ? acc * x : acc + x;
}

static int64_t fold_int(int64_t acc, int64_t x, int op, int dtype)
{
	switch (op) {
	case SHMAR_PROD: return wrap_to(dtype, (uint64_t)acc * (uint64_t)x);
	case SHMAR_MAX: return x > acc ? x : acc;
	case SHMAR_MIN: return x < acc ? x : acc;
	default: return wrap_to(dtype, (uint64_t)acc + (uint64_t)x);
	}
}

static void put(void *out, int dtype, double v)
{
	uint64_t q = 0x7ff8000000000000ull;
	uint32_t u = 0x7fc00000u;
	uint16_t h;
	float f;

	switch (dtype) {
	case SHMAR_FLOAT32:
		f = (float)v;
		memcpy(out, isnan(v) ? (void *)&u : (void *)&f, 4);
		break;
	case SHMAR_BFLOAT16:
		h = ref_bf16_round((float)v);
		memcpy(out, &h, 2);
		break;
	case SHMAR_FLOAT16:
		h = ref_fp16_round((float)v);
		memcpy(out, &h, 2);
		break;
	default:
		memcpy(out, isnan(v) ? (void *)&q : (void *)&v, 8);
		break;
	}
}

static void put_int(void *out, int dtype, int64_t v)
{
	int32_t i32 = (int32_t)v;

	if (dtype == SHMAR_INT32)
		memcpy(out, &i32, 4);
	else if (dtype == SHMAR_INT64)
		memcpy(out, &v, 8);
	else
		*(uint8_t *)out = (uint8_t)v;
}

/*
 * Element e of the documented answer: node by node (node_size consecutive
 * ranks each, the last one possibly smaller), each node's partial in rank
 * order, the partials in node order, one rounding at the end.
 */
static void model(void *out, int dtype, int op, uint64_t seed, size_t e, int nodesz)
{
	unsigned char x[8];
	bool narrow = dtype != SHMAR_FLOAT64;
	int sum_op = op == SHMAR_AVG ? SHMAR_SUM : op;

	if (is_int(dtype)) {
		int64_t total = 0, part = 0;

		for (int first = 0; first < nranks; first += nodesz) {
			for (int r = first; r < nranks && r < first + nodesz; r++) {
				ref_input(x, dtype, seed, r, e);
				part = r == first ? int_of(x, dtype) : fold_int(part, int_of(x, dtype), sum_op, dtype);
			}
			total = first == 0 ? part : fold_int(total, part, sum_op, dtype);
		}
		put_int(out, dtype, op == SHMAR_AVG ? total / nranks : total);
		return;
	}
	double total = 0, part = 0;

	for (int first = 0; first < nranks; first += nodesz) {
		for (int r = first; r < nranks && r < first + nodesz; r++) {
			ref_input(x, dtype, seed, r, e);
			part = r == first ? value_of(x, dtype) : fold(part, value_of(x, dtype), sum_op, narrow);
		}
		total = first == 0 ? part : fold(total, part, sum_op, narrow);
	}
	if (op == SHMAR_AVG) {
		if (narrow) {
			volatile float q = (float)total / (float)nranks;

			total = q;
		} else {
			total = total / (double)nranks;
		}
	}
	put(out, dtype, total);
}

/* Compare count elements of got with the model, elements first..first+count. */
static void check_reduction(const unsigned char *got, int dtype, int op, uint64_t seed,
			    size_t first, size_t count, const char *what)
{
	size_t es = ref_dtype_size(dtype);
	unsigned char want[8];
	int shown = 0;

	for (size_t i = 0; i < count; i++) {
		model(want, dtype, op, seed, first + i, node_size);
		if (memcmp(want, got + i * es, es) != 0 && shown++ < 3) {
			uint64_t w = 0, g = 0;

			memcpy(&w, want, es);
			memcpy(&g, got + i * es, es);
			report("%s %s %s: element %zu is 0x%llx, the model says 0x%llx", what,
			     ref_dtype_name(dtype), ref_op_name(op), first + i,
			     (unsigned long long)g, (unsigned long long)w);
		}
	}
}

/* ---------------------------------------------------------------- fixtures */

static int group_setup(void **state)
{
	struct shmar_mpi_comm *c = NULL;
	int err = shmar_mpi_comm_init(&c, MPI_COMM_WORLD);

	if (err < 0) {
		fprintf(stderr, "rank %d: shmar_mpi_comm_init: %s: %s\n", rank, strerror(-err),
			shmar_mpi_comm_last_error(NULL));
		return -1;
	}
	*state = c;
	return 0;
}

static int group_teardown(void **state)
{
	return shmar_mpi_comm_destroy(*state);
}

static struct shmar_mpi_comm *fresh_comm(void)
{
	struct shmar_mpi_comm *c = NULL;
	int err = shmar_mpi_comm_init(&c, MPI_COMM_WORLD);

	CHECK_EQ(err, 0);
	return c;
}

/* ---------------------------------------------------------------- collectives */

static const size_t ar_counts[] = { 1, 3, 17, 1000, 4096, 4097, 40000, 65537 };

static void allreduce_case(struct shmar_mpi_comm *c, int dtype, int op, size_t count, bool in_place,
			   uint64_t seed)
{
	size_t bytes = count * ref_dtype_size(dtype);
	unsigned char *send = canaried(bytes), *recv = in_place ? send : canaried(bytes);
	char what[64];
	int err;

	snprintf(what, sizeof(what), "allreduce%s count %zu", in_place ? " in place" : "", count);
	ref_fill(send, dtype, seed, rank, count);
	err = shmar_mpi_allreduce(c, send, recv, count, dtype, op);
	if (err < 0)
		report("%s %s %s: %s (%s)", what, ref_dtype_name(dtype), ref_op_name(op),
		     strerror(-err), shmar_mpi_comm_last_error(c));
	else
		check_reduction(recv, dtype, op, seed, 0, count, what);
	canary_check(recv, bytes, what);
	check_same_everywhere(recv, bytes, what);
	if (!in_place)
		canaried_free(recv);
	canaried_free(send);
}

static void test_allreduce(void **state)
{
	for (int dtype = 0; dtype < NDTYPES; dtype++)
		for (int op = 0; op < NOPS; op++)
			for (size_t k = 0; k < sizeof(ar_counts) / sizeof(ar_counts[0]); k++)
				allreduce_case(*state, dtype, op, ar_counts[k], k % 2 == 1,
					       0x5eed0000u + (uint64_t)(dtype * 64 + op * 8) + k);
	assert_all_passed();
}

static void test_reduce_scatter(void **state)
{
	static const size_t counts[] = { 1, 5, 1000, 9000 };

	for (int dtype = 0; dtype < NDTYPES; dtype++)
		for (int op = 0; op < NOPS; op++)
			for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
				size_t n = counts[k], es = ref_dtype_size(dtype);
				uint64_t seed = 0x7e570000u + (uint64_t)(dtype * 64 + op * 8) + k;
				unsigned char *send = canaried(n * es * (size_t)nranks);
				unsigned char *recv = k % 2 ? send : canaried(n * es);
				int err;

				ref_fill(send, dtype, seed, rank, n * (size_t)nranks);
				err = shmar_mpi_reduce_scatter(*state, send, recv, n, dtype, op);
				if (err < 0)
					report("reduce_scatter %s %s count %zu: %s (%s)",
					     ref_dtype_name(dtype), ref_op_name(op), n, strerror(-err),
					     shmar_mpi_comm_last_error(*state));
				else
					check_reduction(recv, dtype, op, seed, (size_t)rank * n, n,
							"reduce_scatter");
				canary_check(recv, recv == send ? n * es * (size_t)nranks : n * es,
					     "reduce_scatter");
				if (recv != send)
					canaried_free(recv);
				canaried_free(send);
			}
	assert_all_passed();
}

static void test_allgather(void **state)
{
	static const size_t counts[] = { 1, 7, 5000, 70001 };

	for (int dtype = 0; dtype < NDTYPES; dtype++)
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			size_t n = counts[k], es = ref_dtype_size(dtype), total = n * es * (size_t)nranks;
			uint64_t seed = 0xa11a0000u + (uint64_t)dtype * 8 + k;
			unsigned char *recv = canaried(total), *send, *want = malloc(n * es);
			int err;

			/* odd cases in place: this rank's block already in recvbuf */
			send = k % 2 ? recv + (size_t)rank * n * es : malloc(n * es);
			ref_fill(send, dtype, seed, rank, n);
			err = shmar_mpi_allgather(*state, send, recv, n, dtype);
			if (err < 0)
				report("allgather %s count %zu: %s (%s)", ref_dtype_name(dtype), n,
				     strerror(-err), shmar_mpi_comm_last_error(*state));
			for (int r = 0; err == 0 && r < nranks; r++) {
				ref_fill(want, dtype, seed, r, n);
				if (memcmp(recv + (size_t)r * n * es, want, n * es) != 0)
					report("allgather %s count %zu: block of rank %d differs",
					     ref_dtype_name(dtype), n, r);
			}
			canary_check(recv, total, "allgather");
			if (!(k % 2))
				free(send);
			free(want);
			canaried_free(recv);
		}
	assert_all_passed();
}

static void test_broadcast(void **state)
{
	static const size_t counts[] = { 1, 3000, 70000 };

	for (int root = 0; root < nranks; root++)
		for (int dtype = 0; dtype < NDTYPES; dtype += 2)
			for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
				size_t n = counts[k], es = ref_dtype_size(dtype);
				uint64_t seed = 0xb0a0000u + (uint64_t)root * 64 + (uint64_t)dtype * 8 + k;
				unsigned char *buf = canaried(n * es), *want = malloc(n * es);
				int err;

				ref_fill(buf, dtype, seed, rank, n); /* every rank's own data... */
				ref_fill(want, dtype, seed, root, n); /* ...replaced by the root's */
				err = shmar_mpi_broadcast(*state, buf, n, dtype, root);
				if (err < 0)
					report("broadcast from %d: %s (%s)", root, strerror(-err),
					     shmar_mpi_comm_last_error(*state));
				else if (memcmp(buf, want, n * es) != 0)
					report("broadcast from %d %s count %zu: not the root's data", root,
					     ref_dtype_name(dtype), n);
				canary_check(buf, n * es, "broadcast");
				free(want);
				canaried_free(buf);
			}
	assert_all_passed();
}

/* CLOCK_MONOTONIC, the same clock in every process of this machine (Open
 * MPI's MPI_Wtime() counts from a per-process origin). */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Nobody leaves the barrier before the last rank entered it. */
static void test_barrier(void **state)
{
	for (int late = 0; late < nranks; late++) {
		double entered, left, last_in, first_out;

		if (rank == late)
			usleep(30000);
		entered = now();
		CHECK_EQ(shmar_mpi_barrier(*state), 0);
		left = now();
		MPI_Allreduce(&entered, &last_in, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
		MPI_Allreduce(&left, &first_out, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
		if (first_out < last_in)
			report("a rank left the barrier %.6f s before rank %d entered it",
			     last_in - first_out, late);
	}
	assert_all_passed();
}

/* The same call again, after rank-dependent delays: the same bits. */
static void test_repeatable(void **state)
{
	static const int dtypes[] = { SHMAR_FLOAT32, SHMAR_BFLOAT16, SHMAR_FLOAT16, SHMAR_FLOAT64 };
	static const size_t counts[] = { 33, 50000 };

	for (size_t d = 0; d < 4; d++)
		for (size_t k = 0; k < 2; k++) {
			size_t n = counts[k], bytes = n * ref_dtype_size(dtypes[d]);
			unsigned char *send = malloc(bytes), *first = malloc(bytes), *again = malloc(bytes);

			ref_fill(send, dtypes[d], 0x4e9ea7, rank, n);
			CHECK_EQ(shmar_mpi_allreduce(*state, send, first, n, dtypes[d], SHMAR_SUM), 0);
			for (int round = 1; round <= 3; round++) {
				usleep((useconds_t)(((rank * 7 + round * 3) % 5) * 2000));
				CHECK_EQ(shmar_mpi_allreduce(*state, send, again, n, dtypes[d], SHMAR_SUM), 0);
				if (memcmp(first, again, bytes) != 0)
					report("%s count %zu: round %d differs from the first",
					     ref_dtype_name(dtypes[d]), n, round);
			}
			free(send);
			free(first);
			free(again);
		}
	assert_all_passed();
}

/*
 * Against libshmar itself, run flat over all ranks (all on this machine):
 * one node gives exactly libshmar's bits for every operation; over several
 * nodes MAX, MIN and the integer operations still do (they do not depend on
 * grouping), and so does the model for them.
 */
static void test_like_libshmar(void **state)
{
	struct shmar_comm *flat = NULL;
	char job[SHMAR_JOB_MAX + 1];
	size_t n = 5003;
	int err;

	if (rank == 0)
		snprintf(job, sizeof(job), "test-mpi-flat-%ld", (long)getpid());
	MPI_Bcast(job, sizeof(job), MPI_CHAR, 0, MPI_COMM_WORLD);
	err = shmar_comm_init(&flat, job, nranks, rank, NULL);
	CHECK_EQ(err, 0);
	err = agree(err);
	if (err == 0)
		for (int dtype = 0; dtype < NDTYPES; dtype++)
			for (int op = 0; op < NOPS; op++) {
				bool grouping_free = op == SHMAR_MAX || op == SHMAR_MIN || is_int(dtype);
				size_t bytes = n * ref_dtype_size(dtype);
				unsigned char *send = malloc(bytes), *a = malloc(bytes), *b = malloc(bytes);
				unsigned char want[8];

				ref_fill(send, dtype, 0xf1a7 + (uint64_t)dtype * 8 + (uint64_t)op, rank, n);
				CHECK_EQ(shmar_allreduce(flat, send, a, n, dtype, op), 0);
				CHECK_EQ(shmar_mpi_allreduce(*state, send, b, n, dtype, op), 0);
				if ((grouping_free || node_size >= nranks) && memcmp(a, b, bytes) != 0)
					report("%s %s: not libshmar's bits", ref_dtype_name(dtype),
					     ref_op_name(op));
				for (size_t i = 0; grouping_free && i < n; i++) {
					ref_reduce_elem(want, dtype, op, 0xf1a7 + (uint64_t)dtype * 8 + (uint64_t)op,
							nranks, i);
					model(a, dtype, op, 0xf1a7 + (uint64_t)dtype * 8 + (uint64_t)op, i,
					      node_size);
					if (memcmp(want, a, ref_dtype_size(dtype)) != 0) {
						report("%s %s: the model depends on the grouping",
						     ref_dtype_name(dtype), ref_op_name(op));
						break;
					}
				}
				free(send);
				free(a);
				free(b);
			}
	shmar_comm_destroy(flat);
	assert_all_passed();
}

/* ---------------------------------------------------------------- bad arguments */

/* Every rank makes the same bad call: -EINVAL everywhere, nothing sent, the
 * communicator still works afterwards. */
static void test_bad_arguments(void **state)
{
	struct shmar_mpi_comm *c = *state;
	float x[4] = { 1, 2, 3, 4 }, y[8];

	CHECK_EQ(shmar_mpi_allreduce(NULL, x, y, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, x, y, 4, (enum shmar_dtype)7, SHMAR_SUM), -EINVAL);
	CHECK(strstr(shmar_mpi_comm_last_error(c), "dtype") != NULL);
	CHECK_EQ(shmar_mpi_allreduce(c, x, y, 4, SHMAR_FLOAT32, (enum shmar_op)5), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, x, y, 4, (enum shmar_dtype)-1, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, NULL, y, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, x, NULL, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, y, y + 1, 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, x, y, SIZE_MAX / 2, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, (void *)(UINTPTR_MAX - 8), y, 4, SHMAR_FLOAT32, SHMAR_SUM),
		 -EINVAL);
	CHECK_EQ(shmar_mpi_allreduce(c, NULL, NULL, 0, SHMAR_FLOAT32, SHMAR_SUM), 0);

	CHECK_EQ(shmar_mpi_reduce_scatter(NULL, x, y, 1, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, x, y, 1, (enum shmar_dtype)9, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, x, y, 1, SHMAR_FLOAT32, (enum shmar_op)9), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, NULL, y, 1, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, x, NULL, 1, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, y, y + 1, 1, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	CHECK_EQ(shmar_mpi_reduce_scatter(c, x, y, SIZE_MAX / 4, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);

	CHECK_EQ(shmar_mpi_allgather(NULL, x, y, 1, SHMAR_FLOAT32), -EINVAL);
	CHECK_EQ(shmar_mpi_allgather(c, x, y, 1, (enum shmar_dtype)7), -EINVAL);
	CHECK_EQ(shmar_mpi_allgather(c, NULL, y, 1, SHMAR_FLOAT32), -EINVAL);
	CHECK_EQ(shmar_mpi_allgather(c, x, NULL, 1, SHMAR_FLOAT32), -EINVAL);
	CHECK_EQ(shmar_mpi_allgather(c, x, y, SIZE_MAX / 4, SHMAR_FLOAT32), -EINVAL);
	/* overlapping, but not this rank's own block in place */
	CHECK_EQ(shmar_mpi_allgather(c, y + (rank + 1) % nranks, y, 1, SHMAR_FLOAT32),
		 nranks == 1 ? 0 : -EINVAL);

	CHECK_EQ(shmar_mpi_broadcast(NULL, x, 4, SHMAR_FLOAT32, 0), -EINVAL);
	CHECK_EQ(shmar_mpi_broadcast(c, x, 4, (enum shmar_dtype)7, 0), -EINVAL);
	CHECK_EQ(shmar_mpi_broadcast(c, x, 4, SHMAR_FLOAT32, -1), -EINVAL);
	CHECK_EQ(shmar_mpi_broadcast(c, x, 4, SHMAR_FLOAT32, nranks), -EINVAL);
	CHECK(strstr(shmar_mpi_comm_last_error(c), "root") != NULL);
	CHECK_EQ(shmar_mpi_broadcast(c, NULL, 4, SHMAR_FLOAT32, 0), -EINVAL);
	CHECK_EQ(shmar_mpi_broadcast(c, x, SIZE_MAX / 2, SHMAR_FLOAT32, 0), -EINVAL);

	CHECK_EQ(shmar_mpi_barrier(NULL), -EINVAL);
	CHECK_EQ(shmar_mpi_comm_destroy(NULL), 0);

	/* still usable */
	CHECK_EQ(shmar_mpi_allreduce(c, x, y, 4, SHMAR_FLOAT32, SHMAR_SUM), 0);
	CHECK(y[3] == 4.0f * (float)nranks);
	assert_all_passed();
}

/* Init: bad arguments and a bad or disagreeing SHMAR_MPI_NODE_SIZE fail on
 * every rank alike (init is all or nothing). */
static void test_init_errors(void **state)
{
	static const char *const bad[] = { "0", "-2", "abc", "3x", "257", "99999999999999999999" };
	struct shmar_mpi_comm *c = (void *)1;
	char saved[32] = "";
	const char *env = getenv("SHMAR_MPI_NODE_SIZE");

	(void)state;
	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	CHECK_EQ(shmar_mpi_comm_init(NULL, MPI_COMM_WORLD), -EINVAL);
	CHECK_EQ(shmar_mpi_comm_init(&c, MPI_COMM_NULL), -EINVAL);
	CHECK(c == NULL);
	CHECK(strstr(shmar_mpi_comm_last_error(NULL), "MPI_COMM_NULL") != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("SHMAR_MPI_NODE_SIZE", bad[i], 1);
		c = (void *)1;
		CHECK_EQ(shmar_mpi_comm_init(&c, MPI_COMM_WORLD), -EINVAL);
		CHECK(c == NULL);
		CHECK(strstr(shmar_mpi_comm_last_error(NULL), "SHMAR_MPI_NODE_SIZE") != NULL);
	}
	/* only rank 0 gets it wrong: every rank fails */
	setenv("SHMAR_MPI_NODE_SIZE", rank == 0 ? "x" : "1", 1);
	CHECK_EQ(shmar_mpi_comm_init(&c, MPI_COMM_WORLD), -EINVAL);
	/* different values */
	if (nranks > 1) {
		setenv("SHMAR_MPI_NODE_SIZE", rank == 0 ? "1" : "2", 1);
		CHECK_EQ(shmar_mpi_comm_init(&c, MPI_COMM_WORLD), -EINVAL);
		CHECK(strstr(shmar_mpi_comm_last_error(NULL), "differs") != NULL);
	}
	/* libshmar refuses its configuration on one rank: every rank fails */
	if (saved[0])
		setenv("SHMAR_MPI_NODE_SIZE", saved, 1);
	else
		unsetenv("SHMAR_MPI_NODE_SIZE");
	if (rank == nranks - 1)
		setenv("SHMAR_SPIN_US", "not-a-number", 1);
	setenv("SHMAR_INIT_TIMEOUT_MS", "500", 1); /* for its node-mates, waiting for it */
	c = (void *)1;
	CHECK(shmar_mpi_comm_init(&c, MPI_COMM_WORLD) < 0);
	CHECK(c == NULL);
	unsetenv("SHMAR_SPIN_US");
	unsetenv("SHMAR_INIT_TIMEOUT_MS");
	/* and then it works */
	c = fresh_comm();
	CHECK_EQ(shmar_mpi_barrier(c), 0);
	shmar_mpi_comm_destroy(c);
	assert_all_passed();
}

/* A second thread calling while the first is inside a collective gets
 * -EBUSY, and nothing happens to the first. */
static void *try_meanwhile(void *arg)
{
	float x = 1, y;

	usleep(50000);
	return (void *)(intptr_t)shmar_mpi_allreduce(arg, &x, &y, 1, SHMAR_FLOAT32, SHMAR_SUM);
}

static void test_busy(void **state)
{
	pthread_t t;
	void *ret = NULL;

	/* rank 0 comes late, so the others wait inside the barrier */
	if (rank != 0)
		CHECK_EQ(pthread_create(&t, NULL, try_meanwhile, *state), 0);
	else
		usleep(300000);
	CHECK_EQ(shmar_mpi_barrier(*state), 0);
	if (rank != 0) {
		pthread_join(t, &ret);
		CHECK_EQ((intptr_t)ret, -EBUSY);
	}
	CHECK_EQ(shmar_mpi_barrier(*state), 0);
	assert_all_passed();
}

/* Out of memory for the scratch buffers: with an MPI error handler that
 * returns (the default one would end the job), -ENOMEM on every rank, and
 * the communicator revoked. */
static void test_no_memory(void **state)
{
	struct shmar_mpi_comm *c;
	float x[8] = { 0 };
	char mode = '?';
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");

	(void)state;
	if (f) {
		mode = (char)fgetc(f);
		fclose(f);
	}
	MPI_Bcast(&mode, 1, MPI_CHAR, 0, MPI_COMM_WORLD);
	if (nranks < 2 || node_size >= nranks || (mode != '0' && mode != '2')) {
		/* one node is libshmar's own path; without a refusing overcommit
		 * policy the allocation would succeed and be touched */
		assert_all_passed();
		return;
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	c = fresh_comm(); /* inherits the handler */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
	if (c) {
		/* ~120 GiB of fp32 partials: more than memory and swap; the
		 * input is never read, the scratch buffer fails first */
		size_t n = ((size_t)120 << 30) / 4;

		CHECK_EQ(shmar_mpi_allreduce(c, x, x, n, SHMAR_FLOAT32, SHMAR_SUM), -ENOMEM);
		CHECK(strstr(shmar_mpi_comm_last_error(c), "memory") != NULL);
		CHECK_EQ(shmar_mpi_allreduce(c, x, x, 8, SHMAR_FLOAT32, SHMAR_SUM), -ENOMEM);
		shmar_mpi_comm_destroy(c);
	}
	assert_all_passed();
}

/* ---------------------------------------------------------------- failures */

static int nodes(void)
{
	return (nranks + node_size - 1) / node_size;
}

/* Node 0 sums, the other nodes take the maximum: -EPROTO on every rank,
 * and every later call returns it too. */
static void test_mismatch(void **state)
{
	static const size_t counts[] = { 10, 40000 };

	(void)state;
	if (nodes() < 2) {
		assert_all_passed(); /* a mismatch inside one node is libshmar's (tested there) */
		return;
	}
	for (size_t k = 0; k < 2; k++) {
		struct shmar_mpi_comm *c = fresh_comm();
		size_t n = counts[k];
		float *x = calloc(n, 4), *y = calloc(n, 4);
		int op = rank < node_size ? SHMAR_SUM : SHMAR_MAX;

		CHECK_EQ(shmar_mpi_allreduce(c, x, y, n, SHMAR_FLOAT32, op), -EPROTO);
		/* told by the mismatching headers, or by a node that saw them first */
		if (!strstr(shmar_mpi_comm_last_error(c), "different calls") &&
		    !strstr(shmar_mpi_comm_last_error(c), "disagree"))
			report("count %zu: the reason is not a mismatch: %s", n,
			       shmar_mpi_comm_last_error(c));
		CHECK_EQ(shmar_mpi_allreduce(c, x, y, n, SHMAR_FLOAT32, SHMAR_SUM), -EPROTO);
		CHECK_EQ(shmar_mpi_barrier(c), -EPROTO);
		CHECK_EQ(shmar_mpi_broadcast(c, x, n, SHMAR_FLOAT32, nranks - 1), -EPROTO);
		CHECK_EQ(shmar_mpi_allgather(c, x, y, 1, SHMAR_FLOAT32), -EPROTO);
		CHECK_EQ(shmar_mpi_reduce_scatter(c, y, x, 1, SHMAR_FLOAT32, SHMAR_SUM), -EPROTO);
		shmar_mpi_comm_destroy(c);
		free(x);
		free(y);
	}
	assert_all_passed();
}

/*
 * One rank of the last node that has two ranks arrives long after its
 * libshmar deadline: its node-mates time out, it finds the job revoked, and
 * the other nodes learn it from the headers: -ETIMEDOUT on every rank, in
 * that call, for every collective kind.
 */
static void timeout_case(int kind)
{
	struct shmar_mpi_comm *c;
	int late = -1;
	float x[64] = { 0 }, y[64 * 16], *big = calloc(40000, sizeof(float));
	int err = 0, after;

	for (int r = 0; r < nranks; r++) /* the last rank whose node has a second rank */
		if (r % node_size > 0)
			late = r;
	setenv("SHMAR_TIMEOUT_MS", "200", 1);
	c = fresh_comm();
	unsetenv("SHMAR_TIMEOUT_MS");
	if (!c || !big) {
		free(big);
		return;
	}
	if (rank == late)
		usleep(700000);
	switch (kind) {
	case 0: err = shmar_mpi_allreduce(c, x, y, 64, SHMAR_FLOAT32, SHMAR_SUM); break;
	case 1: err = shmar_mpi_allreduce(c, x, y, 64, SHMAR_BFLOAT16, SHMAR_SUM); break;
	case 2: err = shmar_mpi_reduce_scatter(c, x, y, 2, SHMAR_FLOAT32, SHMAR_SUM); break;
	case 3: err = shmar_mpi_allgather(c, x, y, 4, SHMAR_FLOAT32); break;
	case 4: err = shmar_mpi_broadcast(c, x, 64, SHMAR_FLOAT32, 0); break;
	case 5: err = shmar_mpi_barrier(c); break;
	default: err = shmar_mpi_allreduce(c, big, big, 40000, SHMAR_FLOAT32, SHMAR_SUM); break;
	}
	/* Every rank knows after the next call (a broadcast tells only the
	 * nodes downstream of the root: the root's node may succeed and learn
	 * at its next call).  The first error sticks.  Ranks told by a
	 * node-mate rather than by a message get -ECANCELED. */
	after = shmar_mpi_barrier(c);
	if (after != -ETIMEDOUT && after != -ECANCELED)
		report("collective kind %d, then a barrier: %d (%s)", kind, after,
		       shmar_mpi_comm_last_error(c));
	if (err != 0 && err != after)
		report("collective kind %d: %d, then a barrier: %d", kind, err, after);
	/* All-gather and broadcast end inside the node, after the exchange:
	 * the other nodes may have finished. */
	if (err == 0 && kind != 3 && kind != 4)
		report("collective kind %d succeeded while a node failed", kind);
	if (rank / node_size == late / node_size && err != -ETIMEDOUT)
		report("collective kind %d on the late rank's node: %d (%s)", kind, err,
		       shmar_mpi_comm_last_error(c));
	shmar_mpi_comm_destroy(c);
	free(big);
}

static void test_timeout_everywhere(void **state)
{
	(void)state;
	if (node_size < 2) {
		assert_all_passed(); /* nodes of one rank have no libshmar peer to wait for */
		return;
	}
	for (int kind = 0; kind < 7; kind++)
		timeout_case(kind);
	assert_all_passed();
}

/* ---------------------------------------------------------------- death */

/* A loop of all-reduces; one rank dies in the middle.  mpirun must end the
 * job (run.sh checks); ranks that see the failure first say so. */
static int death(void)
{
	struct shmar_mpi_comm *c = NULL;
	float x[1024], y[1024];
	int victim = nranks - 1;

	if (shmar_mpi_comm_init(&c, MPI_COMM_WORLD) < 0)
		return 1;
	for (int i = 0; i < 1024; i++)
		x[i] = (float)rank;
	for (int it = 0; it < 1000000; it++) {
		int err;

		if (it == 50 && rank == victim) {
			fprintf(stderr, "rank %d: dying now\n", rank);
			raise(SIGKILL);
		}
		err = shmar_mpi_allreduce(c, x, y, 1024, SHMAR_FLOAT32, SHMAR_SUM);
		if (err < 0) {
			fprintf(stderr, "rank %d: allreduce %d: %s (%s)\n", rank, it, strerror(-err),
				shmar_mpi_comm_last_error(c));
			break;
		}
	}
	/* only a failure brings a survivor here: wait for mpirun to end the job */
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allreduce),
		cmocka_unit_test(test_reduce_scatter),
		cmocka_unit_test(test_allgather),
		cmocka_unit_test(test_broadcast),
		cmocka_unit_test(test_barrier),
		cmocka_unit_test(test_repeatable),
		cmocka_unit_test(test_like_libshmar),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_no_memory),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_timeout_everywhere),
	};
	const char *k = getenv("SHMAR_MPI_NODE_SIZE");
	int failed;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	node_size = k && *k ? atoi(k) : nranks;
	if (node_size > nranks)
		node_size = nranks;
	if (argc > 1 && strcmp(argv[1], "death") == 0)
		return death();
	if (rank != 0 && !freopen("/dev/null", "w", stdout)) /* one report; failures go to stderr */
		return 1;
	failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
	MPI_Finalize();
	return failed ? 1 : 0;
}
