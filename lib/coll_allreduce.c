/* SPDX-License-Identifier: MIT */
/*
 * coll_allreduce.c - shmar_allreduce.
 *
 * Small messages (<= small_max): every rank copies its input into its slot,
 * one synchronisation, then every rank reduces all N slots into its output.
 *
 * Large messages, per slot-sized chunk: copy in the slices the peers need;
 * synchronise; rank r reduces slice r of its own input and of every peer's
 * slot into its output, and puts it in its slot (reduce-scatter);
 * synchronise; every rank copies the other slices out (all-gather).
 *
 * Both run the same kernel over all N inputs in rank order, so they give the
 * same bits (doc/design.md, "Numerics") whatever the threshold or chunk size.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static void gather_sources(struct shmar_comm *comm, unsigned parity, size_t offset,
			   const void **srcs)
{
	for (int r = 0; r < comm->nranks; r++)
		srcs[r] = (const char *)shmar__slot(comm, r, parity) + offset;
}

static int allreduce_small(struct shmar_comm *comm, const struct shmar__desc *d,
			   const void *sendbuf, void *recvbuf, size_t count, size_t bytes,
			   shmar__reduce_fn reduce)
{
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned parity = shmar__next_round(comm);
	int err;

	if (bytes)
		memcpy(shmar__slot(comm, comm->rank, parity), sendbuf, bytes);
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0 || count == 0)
		return err;
	gather_sources(comm, parity, 0, srcs);
	reduce(recvbuf, srcs, (unsigned)comm->nranks, count);
	return 0;
}

static int allreduce_chunk(struct shmar_comm *comm, const struct shmar__desc *d,
			   const char *in, char *out, size_t count, size_t esize,
			   shmar__reduce_fn reduce)
{
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned parity = shmar__next_round(comm);
	char *mine = shmar__slot(comm, comm->rank, parity);
	size_t lo, hi, mlo, mhi;
	int err;

	/*
	 * Copy in only the slices the peers reduce: this rank reduces its own
	 * slice straight from its input, which saves 1/N of the copy.
	 */
	shmar__slice(count, esize, comm->nranks, comm->rank, &mlo, &mhi);
	for (int r = 0; r < comm->nranks; r++) {
		shmar__slice(count, esize, comm->nranks, r, &lo, &hi);
		if (r != comm->rank && hi > lo)
			memcpy(mine + lo * esize, in + lo * esize, (hi - lo) * esize);
	}
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0)
		return err;
	/* reduce-scatter: our slice of every input, into our output (in place is
	 * the same address as our input) and then into our slot for the peers */
	if (mhi > mlo) {
		gather_sources(comm, parity, mlo * esize, srcs);
		srcs[comm->rank] = in + mlo * esize;
		reduce(out + mlo * esize, srcs, (unsigned)comm->nranks, mhi - mlo);
		memcpy(mine + mlo * esize, out + mlo * esize, (mhi - mlo) * esize);
	}
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0)
		return err;
	/* all-gather: the other reduced slices, from their owners' slots */
	for (int r = 0; r < comm->nranks; r++) {
		shmar__slice(count, esize, comm->nranks, r, &lo, &hi);
		if (r != comm->rank && hi > lo)
			memcpy(out + lo * esize,
			       (const char *)shmar__slot(comm, r, parity) + lo * esize,
			       (hi - lo) * esize);
	}
	return 0;
}

static int allreduce_large(struct shmar_comm *comm, const struct shmar__desc *d,
			   const char *in, char *out, size_t count, size_t esize,
			   shmar__reduce_fn reduce)
{
	size_t chunk = shmar__slot_bytes(comm) / esize, done = 0, n;
	int err;

	while (done < count) {
		n = count - done < chunk ? count - done : chunk;
		err = allreduce_chunk(comm, d, in + done * esize, out + done * esize, n, esize, reduce);
		if (err < 0)
			return err;
		done += n;
	}
	return 0;
}

SHMAR_EXPORT int shmar_allreduce(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				 size_t count, enum shmar_dtype dtype, enum shmar_op op)
{
	struct shmar__desc d;
	shmar__reduce_fn reduce;
	size_t esize, bytes;
	bool small;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__check_dtype(comm, dtype, count, &esize, &bytes)) < 0 ||
	    (err = shmar__check_op(comm, op)) < 0 ||
	    (err = shmar__check_buf(comm, sendbuf, bytes, "sendbuf")) < 0 ||
	    (err = shmar__check_buf(comm, recvbuf, bytes, "recvbuf")) < 0 ||
	    (err = shmar__check_overlap(comm, sendbuf, bytes, recvbuf, bytes, sendbuf == recvbuf)) < 0 ||
	    (err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	reduce = comm->kern->reduce[dtype][op];
	small = bytes <= comm->set.small_max || count == 0;
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_ALLREDUCE, dtype, op, count, 0);
	shmar__trace_call(comm, "call %u: allreduce(count=%zu, %s, %s) %zu bytes%s: %s", d.call, count,
			  shmar__dtype_name(dtype), shmar__op_name(op), bytes,
			  sendbuf == recvbuf ? " in place" : "",
			  small ? "one step" : "reduce-scatter + all-gather");
	if (small)
		err = allreduce_small(comm, &d, sendbuf, recvbuf, count, bytes, reduce);
	else
		err = allreduce_large(comm, &d, sendbuf, recvbuf, count, esize, reduce);
	shmar__leave(comm);
	return err;
}
