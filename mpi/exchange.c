/* SPDX-License-Identifier: MIT */
/*
 * exchange.c - the MPI messages between nodes, each a status header
 * followed by data.
 *
 * The header is why no rank waits forever for a node that failed: a rank
 * whose node failed still sends its blocks, marked with the error, and every
 * receiver learns of it in the same exchange (see comm.c, shmar_mpi__fail).
 *
 * MPI counts are int.  Data travels as MPI_BYTE when a message is contiguous
 * and fits, else as a struct datatype of 64-byte units plus a byte tail
 * (header and data may then sit at different addresses, with MPI_BOTTOM).
 * Every form is a plain sequence of bytes, so sender and receiver may
 * describe the same message differently.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mpi-private.h"

#define HDR_MAGIC 0x53484d50u /* "SHMP" */

#define msg shmar_mpi__msg

static int add_span(int *n, int *lens, MPI_Aint *disps, MPI_Datatype *types, MPI_Aint at,
		    size_t bytes, MPI_Datatype unit)
{
	size_t units = bytes / SHMAR_MPI__UNIT, tail = bytes % SHMAR_MPI__UNIT;

	if (units > INT_MAX)
		return -EINVAL;
	if (units) {
		lens[*n] = (int)units;
		disps[*n] = at;
		types[(*n)++] = unit;
	}
	if (tail) {
		lens[*n] = (int)tail;
		disps[*n] = at + (MPI_Aint)(units * SHMAR_MPI__UNIT);
		types[(*n)++] = MPI_BYTE;
	}
	return 0;
}

static int make_struct(struct shmar_mpi_comm *c, int n, int *lens, MPI_Aint *disps,
		       MPI_Datatype *types, struct msg *m)
{
	int rc = MPI_Type_create_struct(n, lens, disps, types, &m->type);

	if (rc == MPI_SUCCESS)
		rc = MPI_Type_commit(&m->type);
	if (rc != MPI_SUCCESS)
		return shmar_mpi__mpi_error(c, rc, "MPI_Type_create_struct");
	m->count = 1;
	m->owned = true;
	return 0;
}

/* bytes contiguous bytes at p. */
static int msg_bytes(struct shmar_mpi_comm *c, void *p, size_t bytes, struct msg *m)
{
	int lens[2], n = 0;
	MPI_Aint disps[2];
	MPI_Datatype types[2];

	m->addr = p;
	m->owned = false;
	if (bytes <= INT_MAX) {
		m->count = (int)bytes;
		m->type = MPI_BYTE;
		return 0;
	}
	if (add_span(&n, lens, disps, types, 0, bytes, c->unit) < 0)
		return shmar_mpi__fail(c, -EINVAL, "a block of %zu bytes is too large for MPI", bytes);
	return make_struct(c, n, lens, disps, types, m);
}

/* A header and bytes of data, wherever they are. */
static int msg_hdr_data(struct shmar_mpi_comm *c, const void *hdr, const void *data, size_t bytes,
			struct msg *m)
{
	int lens[3], n = 0;
	MPI_Aint disps[3], at;
	MPI_Datatype types[3];

	if ((const char *)hdr + SHMAR_MPI__HDR == (const char *)data || bytes == 0)
		return msg_bytes(c, (void *)hdr, SHMAR_MPI__HDR + bytes, m);
	m->addr = MPI_BOTTOM;
	MPI_Get_address(hdr, &at);
	add_span(&n, lens, disps, types, at, SHMAR_MPI__HDR, c->unit);
	MPI_Get_address(data, &at);
	if (add_span(&n, lens, disps, types, at, bytes, c->unit) < 0)
		return shmar_mpi__fail(c, -EINVAL, "a block of %zu bytes is too large for MPI", bytes);
	return make_struct(c, n, lens, disps, types, m);
}

static void msg_free(struct msg *m)
{
	if (m->owned)
		MPI_Type_free(&m->type);
	m->owned = false;
}

size_t shmar_mpi__stride(size_t bytes)
{
	return SHMAR_MPI__HDR + bytes;
}

/* ---------------------------------------------------------------- headers */

/* Headers sit wherever a block starts, often not 8-byte aligned: they are
 * only ever copied in and out. */
void shmar_mpi__hdr_fill(const struct shmar_mpi_comm *c, void *hdr, int kind, size_t count,
			 int dtype, int op)
{
	union shmar_mpi__hdrbuf b;

	memset(&b, 0, sizeof(b));
	b.h.magic = HDR_MAGIC;
	b.h.status = c->failed;
	b.h.seq = c->seq;
	b.h.count = count;
	b.h.kind = kind;
	b.h.dtype = dtype;
	b.h.op = op;
	b.h.node = c->node;
	memcpy(hdr, &b, SHMAR_MPI__HDR);
}

static const char *kind_name(int kind)
{
	static const char *const names[] = { "?", "allreduce", "reduce_scatter", "allgather",
					     "broadcast", "barrier" };

	return kind > 0 && kind <= SHMAR_MPI__BARRIER ? names[kind] : names[0];
}

static struct shmar_mpi__hdr hdr_at(const void *base, size_t stride, int n)
{
	struct shmar_mpi__hdr h;

	memcpy(&h, (const char *)base + (size_t)n * stride, sizeof(h));
	return h;
}

static int mismatch(struct shmar_mpi_comm *c, const struct shmar_mpi__hdr *mine,
		    const struct shmar_mpi__hdr *h, int n)
{
	if (h->seq == mine->seq && h->kind == mine->kind && h->count == mine->count &&
	    h->dtype == mine->dtype && h->op == mine->op)
		return 0;
	return shmar_mpi__fail(c, -EPROTO,
			       "ranks made different calls: node %d's collective %llu is %s "
			       "(count %llu, dtype %d, op/root %d), node %d's is %s "
			       "(count %llu, dtype %d, op/root %d)",
			       n, (unsigned long long)h->seq, kind_name(h->kind),
			       (unsigned long long)h->count, h->dtype, h->op, c->node,
			       kind_name(mine->kind), (unsigned long long)mine->count, mine->dtype,
			       mine->op);
}

int shmar_mpi__hdr_check(struct shmar_mpi_comm *c, const void *mine, const void *base,
			 size_t stride, int nnodes)
{
	int canceled_by = -1;

	/* A failure first: the first in node order that is not only the echo
	 * of another one (-ECANCELED). */
	for (int n = 0; n < nnodes; n++) {
		struct shmar_mpi__hdr h = hdr_at(base, stride, n);

		if (h.magic != HDR_MAGIC)
			return shmar_mpi__fail(c, -EPROTO,
					       "node %d sent a message that is not libshmar-mpi's", n);
		if (h.status == -ECANCELED && canceled_by < 0)
			canceled_by = n;
		else if (h.status < 0 && h.status != -ECANCELED)
			return shmar_mpi__fail(c, h.status, "node %d failed: %s", n,
					       shmar_strerror(h.status));
	}
	if (canceled_by >= 0)
		return shmar_mpi__fail(c, -ECANCELED, "node %d failed: %s", canceled_by,
				       shmar_strerror(-ECANCELED));
	for (int n = 0; n < nnodes; n++) {
		struct shmar_mpi__hdr h = hdr_at(base, stride, n), me = hdr_at(mine, 0, 0);
		int err = mismatch(c, &me, &h, n);

		if (err < 0)
			return err;
	}
	return 0;
}

int shmar_mpi__hdr_check_one(struct shmar_mpi_comm *c, const void *mine, const void *hdr, int n)
{
	struct shmar_mpi__hdr h = hdr_at(hdr, 0, 0), me = hdr_at(mine, 0, 0);

	if (h.magic != HDR_MAGIC)
		return shmar_mpi__fail(c, -EPROTO, "node %d sent a message that is not libshmar-mpi's",
				       n);
	if (h.status < 0)
		return shmar_mpi__fail(c, h.status, "node %d failed: %s", n,
				       shmar_strerror(h.status));
	return mismatch(c, &me, &h, n);
}

/* ---------------------------------------------------------------- messages */

int shmar_mpi__allgather_blocks(struct shmar_mpi_comm *c, MPI_Comm vc, const void *hdr,
				const void *data, size_t bytes, void *recv)
{
	struct msg s, r;
	int err, rc;

	err = msg_hdr_data(c, hdr, data, bytes, &s);
	if (err < 0)
		return err;
	err = msg_bytes(c, recv, shmar_mpi__stride(bytes), &r);
	if (err < 0) {
		msg_free(&s);
		return err;
	}
	rc = MPI_Allgather(s.addr, s.count, s.type, r.addr, r.count, r.type, vc);
	msg_free(&s);
	msg_free(&r);
	return rc == MPI_SUCCESS ? 0 : shmar_mpi__mpi_error(c, rc, "MPI_Allgather");
}

int shmar_mpi__bcast_block(struct shmar_mpi_comm *c, MPI_Comm vc, int root, void *hdr, void *data,
			   size_t bytes)
{
	struct msg m;
	int err, rc;

	err = msg_hdr_data(c, hdr, data, bytes, &m);
	if (err < 0)
		return err;
	rc = MPI_Bcast(m.addr, m.count, m.type, root, vc);
	msg_free(&m);
	return rc == MPI_SUCCESS ? 0 : shmar_mpi__mpi_error(c, rc, "MPI_Bcast");
}

int shmar_mpi__exchange(struct shmar_mpi_comm *c, MPI_Comm vc, const void *const *send,
			void *const *recv, size_t bytes)
{
	size_t block = shmar_mpi__stride(bytes);
	int nreq = 0, rc = MPI_SUCCESS, err = 0;
	struct msg *m = c->msgs;

	for (int n = 0; n < c->nnodes && err == 0; n++)
		if (recv[n]) {
			err = msg_bytes(c, recv[n], block, &m[nreq]);
			if (err == 0)
				rc = MPI_Irecv(m[nreq].addr, m[nreq].count, m[nreq].type, n, 0, vc,
					       &c->reqs[nreq]);
			nreq += err == 0;
			if (rc != MPI_SUCCESS)
				err = shmar_mpi__mpi_error(c, rc, "MPI_Irecv");
		}
	for (int n = 0; n < c->nnodes && err == 0; n++)
		if (send[n]) {
			err = msg_bytes(c, (void *)send[n], block, &m[nreq]);
			if (err == 0)
				rc = MPI_Isend(m[nreq].addr, m[nreq].count, m[nreq].type, n, 0, vc,
					       &c->reqs[nreq]);
			nreq += err == 0;
			if (rc != MPI_SUCCESS)
				err = shmar_mpi__mpi_error(c, rc, "MPI_Isend");
		}
	rc = MPI_Waitall(nreq, c->reqs, MPI_STATUSES_IGNORE);
	if (rc != MPI_SUCCESS && err == 0)
		err = shmar_mpi__mpi_error(c, rc, "MPI_Waitall");
	for (int i = 0; i < nreq; i++)
		msg_free(&m[i]);
	return err;
}

int shmar_mpi__allgather_hdrs(struct shmar_mpi_comm *c, MPI_Comm vc, const void *hdr, void *recv)
{
	int rc = MPI_Allgather(hdr, SHMAR_MPI__HDR, MPI_BYTE, recv, SHMAR_MPI__HDR, MPI_BYTE, vc);

	return rc == MPI_SUCCESS ? 0 : shmar_mpi__mpi_error(c, rc, "MPI_Allgather");
}
