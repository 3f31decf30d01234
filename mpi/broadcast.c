/* SPDX-License-Identifier: MIT */
/*
 * broadcast.c - broadcast across nodes.
 *
 *   1. on vcomm[q], q being the root's local rank, the root sends the buffer
 *      to one rank of every other node (MPI_Bcast);
 *   2. that rank broadcasts it inside its node (libshmar), as the root does
 *      in its own.
 * The buffer crosses the network once per node.
 */
#include <errno.h>
#include <stdint.h>

#include "mpi-private.h"

static int check_args(struct shmar_mpi_comm *c, void *buf, size_t count, int dtype, int root)
{
	size_t es = shmar_mpi__dtype_size(dtype), bytes;

	if (!c)
		return -EINVAL;
	if (!es)
		return shmar_mpi__invalid(c, "unknown dtype %d", dtype);
	if (root < 0 || root >= c->size)
		return shmar_mpi__invalid(c, "root %d outside 0..%d", root, c->size - 1);
	bytes = shmar_mpi__mul(count, es);
	if (bytes > shmar_mpi__max_block())
		return shmar_mpi__invalid(c, "count %zu is too large", count);
	return shmar_mpi__check_buf(c, buf, bytes, "buf");
}

static int multi_node(struct shmar_mpi_comm *c, void *buf, size_t count, enum shmar_dtype dtype,
		      int root)
{
	int root_node = c->node_of[root], q = c->local_of[root];
	union shmar_mpi__hdrbuf mine, got;
	int err;

	if (c->vcomm[q] != MPI_COMM_NULL) {
		shmar_mpi__hdr_fill(c, &mine, SHMAR_MPI__BROADCAST, count, dtype, root);
		got = mine;
		err = shmar_mpi__bcast_block(c, c->vcomm[q], root_node, &got, buf,
					     count * shmar_mpi__dtype_size(dtype));
		if (err < 0)
			return err;
		if (c->node != root_node)
			shmar_mpi__hdr_check_one(c, &mine, &got, root_node);
	}
	/* A rank that learned of a failure has ended the node's job: its
	 * node-mates get -ECANCELED here. */
	if (c->failed)
		return c->failed;
	err = shmar_broadcast(c->shm, buf, count, dtype, q % c->nlocal);
	return err < 0 ? shmar_mpi__fail_shm(c, err, "broadcast in the node") : 0;
}

SHMAR_MPI_EXPORT int shmar_mpi_broadcast(struct shmar_mpi_comm *c, void *buf, size_t count,
					 enum shmar_dtype dtype, int root)
{
	int err = check_args(c, buf, count, dtype, root);

	if (err < 0)
		return err;
	err = shmar_mpi__enter(c);
	if (err < 0)
		return err;
	c->seq++;
	if (count == 0 || (c->nnodes == 1 && c->failed))
		err = c->failed;
	else if (c->nnodes == 1) {
		err = shmar_broadcast(c->shm, buf, count, dtype, root);
		if (err < 0)
			err = shmar_mpi__fail_shm(c, err, "broadcast");
	} else
		err = multi_node(c, buf, count, dtype, root);
	shmar_mpi__leave(c);
	return err;
}
