/* SPDX-License-Identifier: MIT */
/*
 * coll_allgather.c - shmar_allgather.
 *
 * recvbuf receives every rank's sendcount elements in rank order, bytes
 * unchanged.  Per round each rank copies a slot-sized piece of its input
 * into its slot, one synchronisation, then copies the same piece of every
 * rank out.  In place (MPI style): sendbuf == recvbuf + rank * sendcount.
 * A rank whose block is registered (and large) skips the copy in; the peers
 * copy it out of its heap, and a last synchronisation tells it they have.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

struct gather {
	const char *in;
	char *out;
	size_t block_bytes;
	bool in_place;
	uint64_t reg;               /* this rank's block in its heap (offset + 1), 0: not */
	struct shmar__regs regs;
};

static int allgather_round(struct shmar_comm *comm, const struct shmar__desc *d, struct gather *g,
			   size_t off, size_t n, bool first)
{
	unsigned parity = shmar__next_round(comm);
	int err;

	if (n && !g->reg)
		memcpy(shmar__slot(comm, comm->rank, parity), g->in + off, n);
	err = first ? shmar__chan_sync_reg(&comm->chan, d, g->reg, 0) : shmar__chan_sync(&comm->chan, d);
	if (err < 0)
		return err;
	if (first)
		shmar__reg_peers(comm, g->block_bytes, g->reg, false, &g->regs);
	for (int r = 0; r < comm->nranks && n; r++) {
		const char *from = g->regs.buf[r] ? g->regs.buf[r] + off
						  : (const char *)shmar__slot(comm, r, parity);

		if (r == comm->rank && (g->in_place || g->reg)) {
			if (!g->in_place)
				memcpy(g->out + (size_t)r * g->block_bytes + off, g->in + off, n);
			continue;
		}
		memcpy(g->out + (size_t)r * g->block_bytes + off, from, n);
	}
	return 0;
}

SHMAR_EXPORT int shmar_allgather(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				 size_t sendcount, enum shmar_dtype dtype)
{
	size_t esize, sbytes, rbytes, slot, off = 0, n;
	struct shmar__desc d;
	bool in_place;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__check_dtype(comm, dtype, sendcount, &esize, &sbytes)) < 0)
		return shmar__leave_with(comm, err);
	if (__builtin_mul_overflow(sbytes, (size_t)comm->nranks, &rbytes))
		return shmar__leave_with(comm, shmar__fail(&comm->report, -EINVAL,
				"sendcount %zu x %d ranks overflows", sendcount, comm->nranks));
	/* in place, MPI's and NCCL's way: sendbuf is the own block of recvbuf */
	in_place = sbytes && (const char *)sendbuf == (char *)recvbuf + (size_t)comm->rank * sbytes;
	if ((err = shmar__check_buf(comm, sendbuf, sbytes, "sendbuf")) < 0 ||
	    (err = shmar__check_buf(comm, recvbuf, rbytes, "recvbuf")) < 0 ||
	    (err = shmar__check_overlap(comm, sendbuf, sbytes, recvbuf, rbytes, in_place)) < 0 ||
	    (err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_ALLGATHER, dtype, 0, sendcount, 0);
	shmar__trace_call(comm, "call %u: allgather(sendcount=%zu, %s) %zu bytes out%s", d.call,
			  sendcount, shmar__dtype_name(dtype), rbytes, in_place ? " in place" : "");
	struct gather g = { .in = sendbuf, .out = recvbuf, .block_bytes = sbytes, .in_place = in_place,
			    .reg = shmar__reg_mine(comm, sendbuf, sbytes, SHMAR_REG_MIN) };

	slot = shmar__slot_bytes(comm);
	do {
		n = sbytes - off < slot ? sbytes - off : slot;
		err = allgather_round(comm, &d, &g, off, n, off == 0);
		off += n;
	} while (err == 0 && off < sbytes);
	if (err == 0)
		err = shmar__reg_done(comm, &d, &g.regs);
	shmar__leave(comm);
	return err;
}
