/* SPDX-License-Identifier: MIT */
/*
 * allreduce.c - all-reduce across nodes.
 *
 * Large messages, in three steps:
 *   1. reduce-scatter inside the node (libshmar, shared memory): local rank
 *      p receives node partials of its slices, in the accumulator type;
 *   2. for each slice, the ranks that hold it on every node exchange their
 *      partials (MPI_Allgather on vcomm[v]) and each combines them in node
 *      order (numerics.c): every holder computes the same bits;
 *   3. all-gather of the finished slices inside the node (libshmar).
 * The buffer is cut into vmax slices, slice v held by virtual local rank v
 * (local rank v mod nlocal): with nodes of equal size every rank holds one.
 *
 * Small messages, in two: a whole-buffer all-reduce inside the node, then
 * every rank exchanges whole partials with its peers on the other nodes and
 * combines them itself.  One shared-memory step fewer; every rank sends the
 * whole buffer instead of a slice.
 *
 * bf16/fp16 SUM, PROD and AVG are widened to fp32 before step 1 (exact) so
 * the partials are not rounded; the only rounding is at the end.
 */
#include <errno.h>
#include <string.h>

#include "mpi-private.h"

struct ar {
	const void *sendbuf;
	void *recvbuf;
	size_t count;
	enum shmar_dtype dtype, acc;
	enum shmar_op op, node_op;
	size_t es, ea; /* bytes of an element: the type, the accumulator */
};

static int check_args(struct shmar_mpi_comm *c, const struct ar *a)
{
	size_t bytes;
	int err;

	if (!c)
		return -EINVAL;
	if (!a->es)
		return shmar_mpi__invalid(c, "unknown dtype %d", (int)a->dtype);
	if (!shmar_mpi__valid_op(a->op))
		return shmar_mpi__invalid(c, "unknown op %d", (int)a->op);
	bytes = shmar_mpi__mul(a->count, a->es);
	/* the accumulator may be twice as wide, and a block carries a header */
	if (shmar_mpi__mul(a->count, a->ea) > shmar_mpi__max_block())
		return shmar_mpi__invalid(c, "count %zu is too large", a->count);
	err = shmar_mpi__check_buf(c, a->sendbuf, bytes, "sendbuf");
	if (err == 0)
		err = shmar_mpi__check_buf(c, a->recvbuf, bytes, "recvbuf");
	if (err == 0 && a->sendbuf != a->recvbuf &&
	    shmar_mpi__overlap(a->sendbuf, bytes, a->recvbuf, bytes))
		err = shmar_mpi__invalid(c, "sendbuf and recvbuf overlap");
	return err;
}

static int one_node(struct shmar_mpi_comm *c, const struct ar *a)
{
	int err;

	if (c->failed)
		return c->failed;
	err = shmar_allreduce(c->shm, a->sendbuf, a->recvbuf, a->count, a->dtype, a->op);
	return err < 0 ? shmar_mpi__fail_shm(c, err, "allreduce") : 0;
}

/* The input in the accumulator type: the caller's buffer, or a widened copy. */
static const void *node_input(struct shmar_mpi_comm *c, const struct ar *a)
{
	void *stage;

	if (a->acc == a->dtype)
		return a->sendbuf;
	stage = shmar_mpi__need(c, SHMAR_MPI__STAGE, a->count * a->ea);
	if (stage)
		shmar_mpi__to_acc(stage, a->sendbuf, a->count, a->dtype, a->acc);
	return stage;
}

static void combine_blocks(struct shmar_mpi_comm *c, const struct ar *a, void *out,
			   const char *gath, size_t stride, size_t count)
{
	for (int n = 0; n < c->nnodes; n++)
		c->parts[n] = gath + (size_t)n * stride + SHMAR_MPI__HDR;
	shmar_mpi__combine(out, c->parts, c->nnodes, count, a->dtype, a->op, c->size);
}

static int small(struct shmar_mpi_comm *c, const struct ar *a)
{
	size_t bytes = a->count * a->ea, stride = shmar_mpi__stride(bytes);
	const void *in = NULL;
	char *part, *gath;
	int err;

	part = shmar_mpi__need(c, SHMAR_MPI__PART, stride);
	gath = part ? shmar_mpi__need(c, SHMAR_MPI__GATH, (size_t)c->nnodes * stride) : NULL;
	if (!gath)
		return c->failed;
	if (!c->failed)
		in = node_input(c, a);
	if (!c->failed) {
		err = shmar_allreduce(c->shm, in, part + SHMAR_MPI__HDR, a->count, a->acc, a->node_op);
		if (err < 0)
			shmar_mpi__fail_shm(c, err, "allreduce in the node");
	}
	/* Every rank exchanges on each communicator it serves, so that each
	 * has all its members; the partials are the same in each. */
	for (int j = 0; j < shmar_mpi__nserved(c); j++) {
		int v = c->local + j * c->nlocal;

		shmar_mpi__hdr_fill(c, part, SHMAR_MPI__ALLREDUCE, a->count, a->dtype, a->op);
		err = shmar_mpi__allgather_blocks(c, c->vcomm[v], part, part + SHMAR_MPI__HDR, bytes,
						  gath);
		if (err < 0)
			return err;
		shmar_mpi__hdr_check(c, part, gath, stride, c->nnodes);
	}
	if (c->failed)
		return c->failed;
	combine_blocks(c, a, a->recvbuf, gath, stride, a->count);
	return 0;
}

/* ---------------------------------------------------------------- large */

struct slices {
	int slots;      /* slices per local rank of this node */
	size_t b;       /* elements per slice */
	size_t room;    /* elements of header room before each slice */
	bool direct_in; /* step 1 reads the caller's buffer */
	bool direct_out; /* step 3 writes the caller's buffer */
};

static size_t slice_len(const struct ar *a, const struct slices *s, int v)
{
	size_t first = (size_t)v * s->b;

	return first >= a->count ? 0 : a->count - first < s->b ? a->count - first : s->b;
}

/* Step 1's input, slot by slot: local rank p's block holds slices
 * p, p + nlocal, ... each after a header's room (zeros: reduced too, then
 * overwritten by the header). */
static void *stage_input(struct shmar_mpi_comm *c, const struct ar *a, const struct slices *s)
{
	size_t sl = s->room + s->b;
	char *stage = shmar_mpi__need(c, SHMAR_MPI__STAGE,
				      (size_t)c->nlocal * (size_t)s->slots * sl * a->ea);

	if (!stage)
		return NULL;
	for (int p = 0; p < c->nlocal; p++)
		for (int j = 0; j < s->slots; j++) {
			char *dst = stage + ((size_t)p * (size_t)s->slots + (size_t)j) * sl * a->ea;
			int v = p + j * c->nlocal;
			size_t n = v < c->vmax ? slice_len(a, s, v) : 0;

			memset(dst, 0, s->room * a->ea);
			dst += s->room * a->ea;
			if (n)
				shmar_mpi__to_acc(dst, (const char *)a->sendbuf + (size_t)v * s->b * a->es,
						  n, a->dtype, a->acc);
			memset(dst + n * a->ea, 0, (s->b - n) * a->ea);
		}
	return stage;
}

static int step1(struct shmar_mpi_comm *c, const struct ar *a, const struct slices *s, char *part)
{
	const void *in;
	int err;

	if (c->failed)
		return c->failed;
	if (s->direct_in)
		err = shmar_reduce_scatter(c->shm, a->sendbuf, part + SHMAR_MPI__HDR, s->b, a->acc,
					   a->node_op);
	else if ((in = stage_input(c, a, s)) != NULL)
		err = shmar_reduce_scatter(c->shm, in, part, (size_t)s->slots * (s->room + s->b),
					   a->acc, a->node_op);
	else
		return c->failed;
	return err < 0 ? shmar_mpi__fail_shm(c, err, "reduce-scatter in the node") : 0;
}

static int step2(struct shmar_mpi_comm *c, const struct ar *a, const struct slices *s, char *part,
		 char *out)
{
	char *gath = shmar_mpi__need(c, SHMAR_MPI__GATH,
				     (size_t)c->nnodes * shmar_mpi__stride(s->b * a->ea));

	if (!gath)
		return c->failed;
	for (int j = 0; j < shmar_mpi__nserved(c); j++) {
		int v = c->local + j * c->nlocal;
		size_t n = slice_len(a, s, v), stride = shmar_mpi__stride(n * a->ea);
		char *slot = part + (size_t)j * (s->room + s->b) * a->ea;
		int err;

		if (n == 0) /* the same on every node: nobody sends */
			continue;
		shmar_mpi__hdr_fill(c, slot, SHMAR_MPI__ALLREDUCE, a->count, a->dtype, a->op);
		err = shmar_mpi__allgather_blocks(c, c->vcomm[v], slot, slot + SHMAR_MPI__HDR,
						  n * a->ea, gath);
		if (err < 0)
			return err;
		if (shmar_mpi__hdr_check(c, slot, gath, stride, c->nnodes) == 0)
			combine_blocks(c, a, out + (size_t)j * s->b * a->es, gath, stride, n);
	}
	return c->failed;
}

static int step3(struct shmar_mpi_comm *c, const struct ar *a, const struct slices *s, char *out)
{
	size_t block = (size_t)s->slots * s->b;
	char *all;
	int err;

	if (s->direct_out) {
		/* in place: this rank's slice already sits where it belongs */
		err = shmar_allgather(c->shm, out, a->recvbuf, block, a->dtype);
		return err < 0 ? shmar_mpi__fail_shm(c, err, "all-gather in the node") : 0;
	}
	all = shmar_mpi__need(c, SHMAR_MPI__STAGE, (size_t)c->nlocal * block * a->es);
	if (!all)
		return c->failed;
	err = shmar_allgather(c->shm, out, all, block, a->dtype);
	if (err < 0)
		return shmar_mpi__fail_shm(c, err, "all-gather in the node");
	for (int p = 0; p < c->nlocal; p++)
		for (int j = 0; j < s->slots; j++) {
			int v = p + j * c->nlocal;
			size_t n = v < c->vmax ? slice_len(a, s, v) : 0;

			if (n)
				memcpy((char *)a->recvbuf + (size_t)v * s->b * a->es,
				       all + ((size_t)p * (size_t)s->slots + (size_t)j) * s->b * a->es,
				       n * a->es);
		}
	return 0;
}

static int large(struct shmar_mpi_comm *c, const struct ar *a)
{
	struct slices s;
	char *part, *out;
	int err;

	s.slots = shmar_mpi__slots(c);
	s.b = (a->count + (size_t)c->vmax - 1) / (size_t)c->vmax;
	s.room = SHMAR_MPI__HDR / a->ea;
	s.direct_out = s.slots == 1 && a->count == (size_t)c->vmax * s.b;
	s.direct_in = s.direct_out && a->acc == a->dtype;

	part = shmar_mpi__need(c, SHMAR_MPI__PART, (size_t)s.slots * (s.room + s.b) * a->ea);
	if (!part)
		return c->failed;
	out = s.direct_out ? (char *)a->recvbuf + (size_t)c->local * s.b * a->es
			   : shmar_mpi__need(c, SHMAR_MPI__OUT, (size_t)s.slots * s.b * a->es);
	if (!out)
		return c->failed;
	step1(c, a, &s, part);
	err = step2(c, a, &s, part, out);
	if (err < 0)
		return err;
	return step3(c, a, &s, out);
}

SHMAR_MPI_EXPORT int shmar_mpi_allreduce(struct shmar_mpi_comm *c, const void *sendbuf,
					 void *recvbuf, size_t count, enum shmar_dtype dtype,
					 enum shmar_op op)
{
	struct ar a = {
		.sendbuf = sendbuf, .recvbuf = recvbuf, .count = count, .dtype = dtype, .op = op,
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
	if (count == 0)
		err = c->failed;
	else if (c->nnodes == 1)
		err = one_node(c, &a);
	else if (count * a.ea <= SHMAR_MPI__SMALL_MAX)
		err = small(c, &a);
	else
		err = large(c, &a);
	shmar_mpi__leave(c);
	return err;
}
