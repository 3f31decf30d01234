/* SPDX-License-Identifier: MIT */
/*
 * coll_reduce_scatter.c - shmar_reduce_scatter.
 *
 * Rank r receives the reduction of block r (recvcount elements) of every
 * rank's input.  Per round, each rank copies the same sub-range of all N of
 * its blocks into its slot, one synchronisation, then rank r reduces its
 * sub-range from all N slots straight into its output: one copy in, one
 * pass of the kernel, with all-reduce's numerics.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static int reduce_scatter_round(struct shmar_comm *comm, const struct shmar__desc *d,
				const char *in, char *out, size_t recvcount, size_t off, size_t m,
				size_t esize, shmar__reduce_fn reduce)
{
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned parity = shmar__next_round(comm);
	char *mine = shmar__slot(comm, comm->rank, parity);
	int err;

	/* slot layout of a round: block k's sub-range at k * m */
	for (int k = 0; k < comm->nranks && m; k++)
		memcpy(mine + (size_t)k * m * esize, in + ((size_t)k * recvcount + off) * esize,
		       m * esize);
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0 || m == 0)
		return err;
	for (int r = 0; r < comm->nranks; r++)
		srcs[r] = (const char *)shmar__slot(comm, r, parity) + (size_t)comm->rank * m * esize;
	reduce(out + off * esize, srcs, (unsigned)comm->nranks, m);
	return 0;
}

/*
 * The two in-place forms: recvbuf == sendbuf (the result lands in the first
 * block, MPI's), and recvbuf == sendbuf + rank * recvcount (the own block,
 * what NCCL and torch's reduce_scatter_tensor pass).  Both are safe: a round
 * copies its sub-range of every block into the slot before it writes the
 * same sub-range of the output.
 */
static bool reduce_scatter_in_place(const struct shmar_comm *comm, const void *sendbuf,
				    const void *recvbuf, size_t rbytes)
{
	return recvbuf == sendbuf ||
	       (const char *)recvbuf == (const char *)sendbuf + (size_t)comm->rank * rbytes;
}

SHMAR_EXPORT int shmar_reduce_scatter(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				      size_t recvcount, enum shmar_dtype dtype, enum shmar_op op)
{
	size_t esize, rbytes, sbytes, per_round, off = 0, m;
	struct shmar__desc d;
	shmar__reduce_fn reduce;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__check_dtype(comm, dtype, recvcount, &esize, &rbytes)) < 0 ||
	    (err = shmar__check_op(comm, op)) < 0)
		return shmar__leave_with(comm, err);
	if (__builtin_mul_overflow(rbytes, (size_t)comm->nranks, &sbytes))
		return shmar__leave_with(comm, shmar__fail(&comm->report, -EINVAL,
				"recvcount %zu x %d ranks overflows", recvcount, comm->nranks));
	if ((err = shmar__check_buf(comm, sendbuf, sbytes, "sendbuf")) < 0 ||
	    (err = shmar__check_buf(comm, recvbuf, rbytes, "recvbuf")) < 0 ||
	    (err = shmar__check_overlap(comm, sendbuf, sbytes, recvbuf, rbytes,
					reduce_scatter_in_place(comm, sendbuf, recvbuf, rbytes))) < 0 ||
	    (err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	reduce = comm->kern->reduce[dtype][op];
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_REDUCE_SCATTER, dtype, op, recvcount, 0);
	per_round = shmar__slot_bytes(comm) / esize / (size_t)comm->nranks;
	shmar__trace_call(comm, "call %u: reduce_scatter(recvcount=%zu, %s, %s) %zu bytes in, %zu per round",
			  d.call, recvcount, shmar__dtype_name(dtype), shmar__op_name(op), sbytes,
			  per_round * esize);
	do {
		m = recvcount - off < per_round ? recvcount - off : per_round;
		err = reduce_scatter_round(comm, &d, sendbuf, recvbuf, recvcount, off, m, esize,
					   reduce);
		off += m;
	} while (err == 0 && off < recvcount);
	shmar__leave(comm);
	return err;
}
