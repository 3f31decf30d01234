/* SPDX-License-Identifier: MIT */
/*
 * coll_broadcast.c - shmar_broadcast.
 *
 * Per round the root copies a slot-sized piece of its buffer into its slot,
 * one synchronisation, every other rank copies it out.  Bytes are moved
 * unchanged, whatever the dtype.  A root whose buffer is registered (and
 * large) skips the copy in; the others copy straight out of its heap, and a
 * last synchronisation tells the root they have.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static int broadcast_round(struct shmar_comm *comm, const struct shmar__desc *d, char *buf,
			   size_t off, size_t n, int root, uint64_t reg, struct shmar__regs *regs,
			   size_t bytes)
{
	unsigned parity = shmar__next_round(comm);
	const char *from;
	int err;

	if (comm->rank == root && n && !reg)
		memcpy(shmar__slot(comm, root, parity), buf + off, n);
	err = off == 0 ? shmar__chan_sync_reg(&comm->chan, d, reg, 0) : shmar__chan_sync(&comm->chan, d);
	if (err < 0)
		return err;
	if (off == 0)
		shmar__reg_peers(comm, bytes, reg, false, regs);
	from = regs->buf[root] ? regs->buf[root] + off : (const char *)shmar__slot(comm, root, parity);
	if (comm->rank != root && n)
		memcpy(buf + off, from, n);
	return 0;
}

SHMAR_EXPORT int shmar_broadcast(struct shmar_comm *comm, void *buf, size_t count,
				 enum shmar_dtype dtype, int root)
{
	size_t esize, bytes, slot, off = 0, n;
	struct shmar__desc d;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__check_dtype(comm, dtype, count, &esize, &bytes)) < 0 ||
	    (err = shmar__check_buf(comm, buf, bytes, "buf")) < 0)
		return shmar__leave_with(comm, err);
	if (root < 0 || root >= comm->nranks)
		return shmar__leave_with(comm, shmar__fail(&comm->report, -EINVAL,
				"root %d outside 0..%d", root, comm->nranks - 1));
	if ((err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_BROADCAST, dtype, 0, count, root);
	shmar__trace_call(comm, "call %u: broadcast(count=%zu, %s, root=%d) %zu bytes", d.call, count,
			  shmar__dtype_name(dtype), root, bytes);
	struct shmar__regs regs;
	/* only the root's buffer is read by others */
	uint64_t reg = comm->rank == root ? shmar__reg_mine(comm, buf, bytes, SHMAR_REG_MIN) : 0;

	slot = shmar__slot_bytes(comm);
	do {
		n = bytes - off < slot ? bytes - off : slot;
		err = broadcast_round(comm, &d, buf, off, n, root, reg, &regs, bytes);
		off += n;
	} while (err == 0 && off < bytes);
	if (err == 0)
		err = shmar__reg_done(comm, &d, &regs);
	shmar__leave(comm);
	return err;
}
