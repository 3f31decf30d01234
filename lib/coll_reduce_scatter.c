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

struct scatter {
	const char *in;
	char *out;
	size_t recvcount, esize;
	shmar__reduce_fn reduce;
	uint64_t reg;               /* this rank's input in its heap (offset + 1), 0: not */
	struct shmar__regs regs;
};

static int reduce_scatter_round(struct shmar_comm *comm, const struct shmar__desc *d,
				struct scatter *s, size_t off, size_t m)
{
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned parity = shmar__next_round(comm);
	char *mine = shmar__slot(comm, comm->rank, parity);
	size_t esize = s->esize, mine_at = ((size_t)comm->rank * s->recvcount + off) * esize;
	int err;

	/* slot layout of a round: block k's sub-range at k * m */
	for (int k = 0; k < comm->nranks && m && !s->reg; k++)
		memcpy(mine + (size_t)k * m * esize, s->in + ((size_t)k * s->recvcount + off) * esize,
		       m * esize);
	err = off == 0 ? shmar__chan_sync_reg(&comm->chan, d, s->reg, 0)
		       : shmar__chan_sync(&comm->chan, d);
	if (err < 0)
		return err;
	if (off == 0)
		shmar__reg_peers(comm, s->recvcount * esize * (size_t)comm->nranks, s->reg, false,
				 &s->regs);
	if (m == 0)
		return 0;
	for (int r = 0; r < comm->nranks; r++) {
		if (r == comm->rank && s->reg)
			srcs[r] = s->in + mine_at;
		else if (s->regs.buf[r])
			srcs[r] = s->regs.buf[r] + mine_at;
		else
			srcs[r] = (const char *)shmar__slot(comm, r, parity) + (size_t)comm->rank * m * esize;
	}
	s->reduce(s->out + off * esize, srcs, (unsigned)comm->nranks, m);
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
	struct scatter s = { .in = sendbuf, .out = recvbuf, .recvcount = recvcount, .esize = esize,
			     .reduce = reduce };

	/*
	 * A registered input is read in place by the peers.  Not with the
	 * result in the first block on a rank other than 0: rank 0 reads that
	 * block of this rank's input while this rank writes its result there.
	 */
	if (recvbuf != sendbuf || comm->rank == 0)
		s.reg = shmar__reg_mine(comm, sendbuf, sbytes, SHMAR_REG_MIN);
	do {
		m = recvcount - off < per_round ? recvcount - off : per_round;
		err = reduce_scatter_round(comm, &d, &s, off, m);
		off += m;
	} while (err == 0 && off < recvcount);
	if (err == 0)
		err = shmar__reg_done(comm, &d, &s.regs);
	shmar__leave(comm);
	return err;
}
