/* SPDX-License-Identifier: MIT */
/*
 * bench-data.c - what shmar-bench feeds the collectives and what it expects.
 *
 * Inputs are small integers, exact in every dtype, so the expected result of
 * every op can be computed here in the library's accumulator type, in rank
 * order, and compared bit for bit before a size is timed.  The same values
 * fill the buffers the timed calls read: no zeros, no subnormals.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"

/* size_B is the caller's buffer: the whole vector for allreduce, reduce_scatter's
 * input and allgather's output (as NCCL's tests count), the buffer for broadcast. */
struct bench_sizing bench_sizing_for(enum bench_coll c, size_t bytes, size_t esize, int nranks)
{
	size_t elems = bytes / esize;
	struct bench_sizing s = { elems, elems * esize, elems * esize };

	switch (c) {
	case BENCH_REDUCE_SCATTER:
		s.count = elems / (size_t)nranks;
		s.out_bytes = s.count * esize;
		break;
	case BENCH_ALLGATHER:
		s.count = elems / (size_t)nranks;
		s.in_bytes = s.count * esize;
		break;
	case BENCH_BARRIER:
		s.count = s.in_bytes = s.out_bytes = 0;
		break;
	default:
		break;
	}
	return s;
}

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

void bench_fill(void *buf, size_t bytes, int dtype, int rank)
{
	/* a multiple of every element size and of the 7-element period */
	char pattern[7 * 1024];
	size_t esize = bench_dtype_size(dtype);

	for (size_t i = 0; i < sizeof(pattern) / esize; i++)
		put(pattern, i, dtype, input(rank, i));
	for (size_t off = 0; off < bytes; off += sizeof(pattern))
		memcpy((char *)buf + off, pattern,
		       bytes - off < sizeof(pattern) ? bytes - off : sizeof(pattern));
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

int bench_call(struct shmar_comm *comm, const struct bench_opts *o, const void *in, void *out,
	       const struct bench_sizing *s, int dtype)
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

/* Element i of the output, as it must be. */
static double want_at(const struct bench_opts *o, const struct bench_sizing *s, int nranks,
		      int rank, size_t i, int dtype)
{
	switch (o->coll) {
	case BENCH_ALLREDUCE:
		return expected(nranks, i, dtype, o->op);
	case BENCH_REDUCE_SCATTER:
		return expected(nranks, (size_t)rank * s->count + i, dtype, o->op);
	case BENCH_ALLGATHER:
		return input((int)(i / s->count), i % s->count) + (double)(i / s->count);
	default:
		return input(0, i);
	}
}

/* Element i of this rank's input. */
static double give_at(const struct bench_opts *o, int rank, size_t i)
{
	switch (o->coll) {
	case BENCH_ALLGATHER:
		return input(rank, i) + rank; /* tells the blocks apart */
	case BENCH_BROADCAST:
		return rank == 0 ? input(0, i) : 0;
	default:
		return input(rank, i);
	}
}

int bench_validate(struct shmar_comm *comm, const struct bench_opts *o, char *in, char *out,
		   const struct bench_sizing *s, int dtype, bool in_place)
{
	int rank = shmar_comm_rank(comm), n = shmar_comm_size(comm), err;
	size_t esize = bench_dtype_size(dtype), bad = 0;
	char *src = in_place ? out : in;
	char want[8];

	if (o->coll == BENCH_BARRIER)
		return bench_call(comm, o, in, out, s, dtype);
	if (o->coll == BENCH_ALLGATHER && in_place)
		src = out + (size_t)rank * s->in_bytes; /* the in-place form */
	if (o->coll == BENCH_BROADCAST)
		src = out; /* one buffer */
	for (size_t i = 0; i < s->in_bytes / esize; i++)
		put(src, i, dtype, give_at(o, rank, i));
	err = bench_call(comm, o, src, out, s, dtype);
	if (err < 0)
		return err;
	for (size_t i = 0; i < s->out_bytes / esize; i++) {
		put(want, 0, dtype, want_at(o, s, n, rank, i, dtype));
		bad += memcmp(want, out + i * esize, esize) != 0;
	}
	if (bad)
		fprintf(stderr, "shmar-bench: rank %d: %zu wrong elements (%s %s %s, %zu bytes)\n",
			rank, bad, bench_coll_name(o->coll), bench_dtype_name(dtype),
			bench_op_name(o->op), s->in_bytes);
	return bad ? -EPROTO : 0;
}
