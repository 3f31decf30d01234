/* SPDX-License-Identifier: MIT */
/*
 * coll_broadcast.c - shmar_broadcast.
 *
 * Per round the root copies a slot-sized piece of its buffer into its slot,
 * one synchronisation, every other rank copies it out.  Bytes are moved
 * unchanged, whatever the dtype.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static int broadcast_round(struct shmar_comm *comm, const struct shmar__desc *d, char *buf,
			   size_t off, size_t n, int root)
{
	unsigned parity = shmar__next_round(comm);
	int err;

	if (comm->rank == root && n)
		memcpy(shmar__slot(comm, root, parity), buf + off, n);
	err = shmar__chan_sync(comm, d);
	if (err < 0)
		return err;
	if (comm->rank != root && n)
		memcpy(buf + off, shmar__slot(comm, root, parity), n);
	return 0;
}

SHMAR_EXPORT int shmar_broadcast(struct shmar_comm *comm, void *buf, size_t count,
				 enum shmar_dtype dtype, int root)
{
	size_t esize, bytes, off = 0, n;
	struct shmar__desc d;
	int err;

	if (!comm)
		return -EINVAL;
	if ((err = shmar__check_dtype(comm, dtype, count, &esize, &bytes)) < 0 ||
	    (err = shmar__check_buf(comm, buf, bytes, "buf")) < 0)
		return err;
	if (root < 0 || root >= comm->nranks)
		return shmar__fail(comm, -EINVAL, "root %d outside 0..%d", root, comm->nranks - 1);
	err = shmar__enter(comm);
	if (err < 0)
		return err;
	shmar__chan_desc(comm, &d, SHMAR_KIND_BROADCAST, dtype, 0, count, root);
	do {
		n = bytes - off < comm->layout.slot_bytes ? bytes - off : comm->layout.slot_bytes;
		err = broadcast_round(comm, &d, buf, off, n, root);
		off += n;
	} while (err == 0 && off < bytes);
	shmar__leave(comm);
	return err;
}
