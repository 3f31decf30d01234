/* SPDX-License-Identifier: MIT */
/*
 * coll_allgather.c - shmar_allgather.
 *
 * recvbuf receives every rank's sendcount elements in rank order, bytes
 * unchanged.  Per round each rank copies a slot-sized piece of its input
 * into its slot, one synchronisation, then copies the same piece of every
 * rank out.  In place (MPI style): sendbuf == recvbuf + rank * sendcount.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static int allgather_round(struct shmar_comm *comm, const struct shmar__desc *d, const char *in,
			   char *out, size_t block_bytes, size_t off, size_t n, bool in_place)
{
	unsigned parity = shmar__next_round(comm);
	int err;

	if (n)
		memcpy(shmar__slot(comm, comm->rank, parity), in + off, n);
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0 || n == 0)
		return err;
	for (int r = 0; r < comm->nranks; r++) {
		if (in_place && r == comm->rank)
			continue;
		memcpy(out + (size_t)r * block_bytes + off, shmar__slot(comm, r, parity), n);
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
	slot = shmar__slot_bytes(comm);
	do {
		n = sbytes - off < slot ? sbytes - off : slot;
		err = allgather_round(comm, &d, sendbuf, recvbuf, sbytes, off, n, in_place);
		off += n;
	} while (err == 0 && off < sbytes);
	shmar__leave(comm);
	return err;
}
