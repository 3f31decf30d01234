/* SPDX-License-Identifier: MIT */
/*
 * barrier.c - barrier across nodes.
 *
 * A barrier inside the node (everyone of the node has arrived), then local
 * rank 0 of every node exchanges headers over MPI (every node has arrived),
 * then a barrier inside the node again (nobody leaves before that).
 */
#include <errno.h>

#include "mpi-private.h"

static int node_barrier(struct shmar_mpi_comm *c)
{
	int err;

	if (c->failed)
		return c->failed;
	err = shmar_barrier(c->shm);
	return err < 0 ? shmar_mpi__fail_shm(c, err, "barrier in the node") : 0;
}

static int multi_node(struct shmar_mpi_comm *c)
{
	union shmar_mpi__hdrbuf hdr;
	char *gath;
	int err;

	node_barrier(c);
	if (c->local == 0) {
		gath = shmar_mpi__need(c, SHMAR_MPI__GATH, (size_t)c->nnodes * SHMAR_MPI__HDR);
		if (!gath)
			return c->failed;
		shmar_mpi__hdr_fill(c, &hdr, SHMAR_MPI__BARRIER, 0, 0, 0);
		err = shmar_mpi__allgather_hdrs(c, c->vcomm[0], &hdr, gath);
		if (err < 0)
			return err;
		shmar_mpi__hdr_check(c, &hdr, gath, SHMAR_MPI__HDR, c->nnodes);
	}
	return node_barrier(c);
}

SHMAR_MPI_EXPORT int shmar_mpi_barrier(struct shmar_mpi_comm *c)
{
	int err;

	if (!c)
		return -EINVAL;
	err = shmar_mpi__enter(c);
	if (err < 0)
		return err;
	c->seq++;
	err = c->nnodes == 1 ? node_barrier(c) : multi_node(c);
	shmar_mpi__leave(c);
	return err;
}
