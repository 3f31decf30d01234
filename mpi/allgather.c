/* SPDX-License-Identifier: MIT */
/*
 * allgather.c - all-gather across nodes.
 *
 *   1. on vcomm[v], the ranks with local rank v (one per node) all-gather
 *      their blocks (MPI), so each holds the blocks of local rank v of every
 *      node (a rank that only stands in for a missing v sends a dummy);
 *   2. all-gather of those inside the node (libshmar);
 *   3. every rank puts each block where its rank says.
 * Every block crosses the network once per node, as in a flat all-gather.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mpi-private.h"

static int check_args(struct shmar_mpi_comm *c, const void *sendbuf, void *recvbuf, size_t count,
		      int dtype)
{
	size_t es = shmar_mpi__dtype_size(dtype), bytes, total, all;
	int err;

	if (!c)
		return -EINVAL;
	if (!es)
		return shmar_mpi__invalid(c, "unknown dtype %d", dtype);
	bytes = shmar_mpi__mul(count, es);
	total = shmar_mpi__mul(bytes, (size_t)c->size);
	/* step 2's output: fewer than 2 * vmax slots of one block per node */
	all = shmar_mpi__mul(shmar_mpi__mul(2 * (size_t)c->vmax, (size_t)c->nnodes),
			     shmar_mpi__stride(bytes == SIZE_MAX ? 0 : bytes));
	if (total == SIZE_MAX || all == SIZE_MAX || bytes > shmar_mpi__max_block())
		return shmar_mpi__invalid(c, "sendcount %zu is too large", count);
	err = shmar_mpi__check_buf(c, sendbuf, bytes, "sendbuf");
	if (err == 0)
		err = shmar_mpi__check_buf(c, recvbuf, total, "recvbuf");
	if (err == 0 && (const char *)sendbuf != (char *)recvbuf + (size_t)c->rank * bytes &&
	    shmar_mpi__overlap(sendbuf, bytes, recvbuf, total))
		err = shmar_mpi__invalid(c, "sendbuf and recvbuf overlap other than in place");
	return err;
}

static int one_node(struct shmar_mpi_comm *c, const void *sendbuf, void *recvbuf, size_t count,
		    enum shmar_dtype dtype)
{
	int err;

	if (c->failed)
		return c->failed;
	err = shmar_allgather(c->shm, sendbuf, recvbuf, count, dtype);
	return err < 0 ? shmar_mpi__fail_shm(c, err, "allgather") : 0;
}

static int multi_node(struct shmar_mpi_comm *c, const void *sendbuf, void *recvbuf, size_t count,
		      enum shmar_dtype dtype)
{
	size_t bytes = count * shmar_mpi__dtype_size(dtype), stride = shmar_mpi__stride(bytes);
	size_t slot = (size_t)c->nnodes * stride;
	int slots = shmar_mpi__slots(c);
	union shmar_mpi__hdrbuf hdr;
	char *gath, *all;
	int err;

	gath = shmar_mpi__need(c, SHMAR_MPI__GATH, (size_t)slots * slot);
	if (!gath)
		return c->failed;
	for (int j = 0; j < shmar_mpi__nserved(c); j++) {
		/* slots after the first stand in for a local rank this node lacks:
		 * their data is a dummy of the right size */
		shmar_mpi__hdr_fill(c, &hdr, SHMAR_MPI__ALLGATHER, count, dtype, 0);
		err = shmar_mpi__allgather_blocks(c, c->vcomm[c->local + j * c->nlocal], &hdr,
						  sendbuf, bytes, gath + (size_t)j * slot);
		if (err < 0)
			return err;
		shmar_mpi__hdr_check(c, &hdr, gath + (size_t)j * slot, stride, c->nnodes);
	}
	if (c->failed)
		return c->failed;
	all = shmar_mpi__need(c, SHMAR_MPI__OUT, (size_t)c->nlocal * (size_t)slots * slot);
	if (!all)
		return c->failed;
	err = shmar_allgather(c->shm, gath, all, (size_t)slots * slot, SHMAR_UINT8);
	if (err < 0)
		return shmar_mpi__fail_shm(c, err, "all-gather in the node");
	for (int p = 0; p < c->nlocal; p++)
		for (int j = 0; j < slots; j++) {
			int v = p + j * c->nlocal;
			const char *from = all + ((size_t)p * (size_t)slots + (size_t)j) * slot;

			for (int m = 0; v < c->vmax && m < c->nnodes; m++)
				if (v < c->node_size[m])
					memcpy((char *)recvbuf +
						       (size_t)shmar_mpi__world_of(c, m, v) * bytes,
					       from + (size_t)m * stride + SHMAR_MPI__HDR, bytes);
		}
	return 0;
}

SHMAR_MPI_EXPORT int shmar_mpi_allgather(struct shmar_mpi_comm *c, const void *sendbuf,
					 void *recvbuf, size_t sendcount, enum shmar_dtype dtype)
{
	int err = check_args(c, sendbuf, recvbuf, sendcount, dtype);

	if (err < 0)
		return err;
	err = shmar_mpi__enter(c);
	if (err < 0)
		return err;
	c->seq++;
	if (sendcount == 0)
		err = c->failed;
	else if (c->nnodes == 1)
		err = one_node(c, sendbuf, recvbuf, sendcount, dtype);
	else
		err = multi_node(c, sendbuf, recvbuf, sendcount, dtype);
	shmar_mpi__leave(c);
	return err;
}
