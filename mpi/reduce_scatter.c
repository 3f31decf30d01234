/* SPDX-License-Identifier: MIT */
/*
 * reduce_scatter.c - reduce-scatter across nodes.
 *
 * Rank r of the communicator receives block r of the reduction.  The blocks
 * of all ranks with local rank v (one per node) form slice v:
 *   1. reduce-scatter inside the node (libshmar): the holder of slice v
 *      receives the node's partials of those blocks, in the accumulator type;
 *   2. on vcomm[v], each holder sends every other node's holder the partial
 *      of that node's block (point to point), receives the partials of its
 *      own block and combines them in node order.
 * No third step: each rank's block is finished where it is combined.  Every
 * block crosses the network once per node, as in a flat reduce-scatter.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mpi-private.h"

struct rs {
	const void *sendbuf;
	void *recvbuf;
	size_t count; /* elements per rank */
	enum shmar_dtype dtype, acc;
	enum shmar_op op, node_op;
	size_t es, ea;
	size_t pos;   /* elements per node position in a slot: header room + count */
	size_t slot;  /* elements per slot: one position per node */
};

static int check_args(struct shmar_mpi_comm *c, const struct rs *a)
{
	size_t bytes, total, stage;
	int err;

	if (!c)
		return -EINVAL;
	if (!a->es)
		return shmar_mpi__invalid(c, "unknown dtype %d", (int)a->dtype);
	if (!shmar_mpi__valid_op(a->op))
		return shmar_mpi__invalid(c, "unknown op %d", (int)a->op);
	bytes = shmar_mpi__mul(a->count, a->es);
	total = shmar_mpi__mul(bytes, (size_t)c->size);
	/* step 1's input: fewer than 2 * vmax slots per node, each one block
	 * per node with its header, in the accumulator type */
	stage = shmar_mpi__mul(shmar_mpi__mul(2 * (size_t)c->vmax, (size_t)c->nnodes),
			       shmar_mpi__mul(a->count + SHMAR_MPI__HDR, a->ea));
	if (total == SIZE_MAX || stage == SIZE_MAX ||
	    shmar_mpi__mul(a->count, a->ea) > shmar_mpi__max_block())
		return shmar_mpi__invalid(c, "recvcount %zu is too large", a->count);
	err = shmar_mpi__check_buf(c, a->sendbuf, total, "sendbuf");
	if (err == 0)
		err = shmar_mpi__check_buf(c, a->recvbuf, bytes, "recvbuf");
	if (err == 0 && a->sendbuf != a->recvbuf &&
	    shmar_mpi__overlap(a->sendbuf, total, a->recvbuf, bytes))
		err = shmar_mpi__invalid(c, "sendbuf and recvbuf overlap");
	return err;
}

static int one_node(struct shmar_mpi_comm *c, const struct rs *a)
{
	int err;

	if (c->failed)
		return c->failed;
	err = shmar_reduce_scatter(c->shm, a->sendbuf, a->recvbuf, a->count, a->dtype, a->op);
	return err < 0 ? shmar_mpi__fail_shm(c, err, "reduce-scatter") : 0;
}

/* Local rank p's block of step 1: for each of its slots j (slice
 * v = p + j * nlocal), one position per node m holding block (m, v). */
static void *stage_input(struct shmar_mpi_comm *c, const struct rs *a, int slots)
{
	size_t room = a->pos - a->count;
	char *stage = shmar_mpi__need(c, SHMAR_MPI__STAGE,
				      (size_t)c->nlocal * (size_t)slots * a->slot * a->ea);

	if (!stage)
		return NULL;
	for (int p = 0; p < c->nlocal; p++)
		for (int j = 0; j < slots; j++)
			for (int m = 0; m < c->nnodes; m++) {
				int v = p + j * c->nlocal;
				char *dst = stage + (((size_t)p * (size_t)slots + (size_t)j) * a->slot +
						     (size_t)m * a->pos) * a->ea;

				memset(dst, 0, room * a->ea);
				dst += room * a->ea;
				if (v < c->vmax && v < c->node_size[m])
					shmar_mpi__to_acc(dst,
							  (const char *)a->sendbuf +
								  (size_t)shmar_mpi__world_of(c, m, v) *
									  a->count * a->es,
							  a->count, a->dtype, a->acc);
				else
					memset(dst, 0, a->count * a->ea);
			}
	return stage;
}

static void step1(struct shmar_mpi_comm *c, const struct rs *a, int slots, char *part)
{
	const void *in;
	int err;

	if (c->failed || !(in = stage_input(c, a, slots)))
		return;
	err = shmar_reduce_scatter(c->shm, in, part, (size_t)slots * a->slot, a->acc, a->node_op);
	if (err < 0)
		shmar_mpi__fail_shm(c, err, "reduce-scatter in the node");
}

/* Slot j of this rank: send each node's block to its owner; for slot 0
 * (slice v = local, which holds this rank's own block) also receive. */
static int step2_slot(struct shmar_mpi_comm *c, const struct rs *a, int j, char *part, char *gath)
{
	size_t stride = shmar_mpi__stride(a->count * a->ea);
	int v = c->local + j * c->nlocal;
	char *slot = part + (size_t)j * a->slot * a->ea;
	char *mine = gath + (size_t)c->node * stride;
	int err;

	for (int m = 0; m < c->nnodes; m++) {
		char *block = slot + (size_t)m * a->pos * a->ea;

		shmar_mpi__hdr_fill(c, block, SHMAR_MPI__REDUCE_SCATTER, a->count, a->dtype, a->op);
		c->parts[m] = m != c->node && v < c->node_size[m] ? block : NULL;
		c->blocks[m] = j == 0 && m != c->node ? gath + (size_t)m * stride : NULL;
	}
	err = shmar_mpi__exchange(c, c->vcomm[v], c->parts, c->blocks, a->count * a->ea);
	if (err < 0 || j != 0)
		return err;
	/* this rank's own header and partial, where the check and combine expect them */
	memcpy(mine, slot + (size_t)c->node * a->pos * a->ea, stride);
	if (shmar_mpi__hdr_check(c, mine, gath, stride, c->nnodes) < 0)
		return 0;
	for (int m = 0; m < c->nnodes; m++)
		c->parts[m] = gath + (size_t)m * stride + SHMAR_MPI__HDR;
	shmar_mpi__combine(a->recvbuf, c->parts, c->nnodes, a->count, a->dtype, a->op, c->size);
	return 0;
}

static int multi_node(struct shmar_mpi_comm *c, struct rs *a)
{
	int slots = shmar_mpi__slots(c);
	char *part, *gath;
	int err;

	a->pos = SHMAR_MPI__HDR / a->ea + a->count;
	a->slot = (size_t)c->nnodes * a->pos;
	part = shmar_mpi__need(c, SHMAR_MPI__PART, (size_t)slots * a->slot * a->ea);
	gath = part ? shmar_mpi__need(c, SHMAR_MPI__GATH,
				      (size_t)c->nnodes * shmar_mpi__stride(a->count * a->ea))
		    : NULL;
	if (!gath)
		return c->failed;
	step1(c, a, slots, part);
	for (int j = 0; j < shmar_mpi__nserved(c); j++) {
		err = step2_slot(c, a, j, part, gath);
		if (err < 0)
			return err;
	}
	return c->failed;
}

SHMAR_MPI_EXPORT int shmar_mpi_reduce_scatter(struct shmar_mpi_comm *c, const void *sendbuf,
					      void *recvbuf, size_t recvcount,
					      enum shmar_dtype dtype, enum shmar_op op)
{
	struct rs a = {
		.sendbuf = sendbuf, .recvbuf = recvbuf, .count = recvcount, .dtype = dtype, .op = op,
	};
	int err;

	a.es = shmar_mpi__dtype_size(dtype);
	a.acc = shmar_mpi__acc_dtype(dtype, op);
	a.ea = shmar_mpi__dtype_size(a.acc);
	a.node_op = shmar_mpi__node_op(op);
	err = check_args(c, &a);
	if (err < 0)
		return err;
	err = shmar_mpi__enter(c);
	if (err < 0)
		return err;
	c->seq++;
	if (recvcount == 0)
		err = c->failed;
	else if (c->nnodes == 1)
		err = one_node(c, &a);
	else
		err = multi_node(c, &a);
	shmar_mpi__leave(c);
	return err;
}
