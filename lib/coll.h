/* SPDX-License-Identifier: MIT */
/*
 * coll.h - what the collectives share: argument checks, rounds over the
 * double-buffered slots, and slicing on 64-byte boundaries.
 */
#ifndef LIBSHMAR_COLL_H
#define LIBSHMAR_COLL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "comm.h"

/*
 * A round is one use of the slots: copy in, synchronise, read.  Round j uses
 * slot j & 1.  Writing slot j & 1 again in round j + 2 is safe: that needs
 * every peer's first post of round j + 1, which a peer makes only after it
 * finished reading round j.
 */
static inline unsigned shmar__next_round(struct shmar_comm *comm)
{
	return comm->rounds++ & 1;
}

static inline void *shmar__slot(struct shmar_comm *comm, int rank, unsigned parity)
{
	return shmar__seg_slot(comm->chan.base, &comm->chan.layout, (unsigned)rank, parity);
}

static inline size_t shmar__slot_bytes(const struct shmar_comm *comm)
{
	return comm->chan.layout.slot_bytes;
}

/* Element range [lo, hi) of rank r when n elements are split over nranks in
 * whole 64-byte units (esize divides 64). */
static inline void shmar__slice(size_t n, size_t esize, int nranks, int r, size_t *lo, size_t *hi)
{
	size_t unit = 64 / esize;
	size_t units = (n + unit - 1) / unit;
	size_t each = units / (size_t)nranks, extra = units % (size_t)nranks;
	size_t first = (size_t)r * each + ((size_t)r < extra ? (size_t)r : extra);
	size_t mine = each + ((size_t)r < extra ? 1 : 0);

	*lo = first * unit < n ? first * unit : n;
	*hi = (first + mine) * unit < n ? (first + mine) * unit : n;
}

/*
 * Argument checks, made by the thread that took the comm and before anything
 * shared is touched: -EINVAL with the reason in the report, and the comm
 * stays usable.
 */
static inline int shmar__check_dtype(struct shmar_comm *comm, int dtype, size_t count,
				     size_t *esize, size_t *bytes)
{
	*bytes = 0;
	*esize = shmar__dtype_size(dtype);
	if (*esize == 0)
		return shmar__fail(&comm->report, -EINVAL, "unknown dtype %d", dtype);
	if (__builtin_mul_overflow(count, *esize, bytes))
		return shmar__fail(&comm->report, -EINVAL, "count %zu x %zu bytes overflows", count, *esize);
	return 0;
}

static inline int shmar__check_op(struct shmar_comm *comm, int op)
{
	if (op < SHMAR_SUM || op > SHMAR_AVG)
		return shmar__fail(&comm->report, -EINVAL, "unknown op %d", op);
	return 0;
}

static inline int shmar__check_buf(struct shmar_comm *comm, const void *buf, size_t bytes,
				   const char *what)
{
	if (bytes && !buf)
		return shmar__fail(&comm->report, -EINVAL, "%s is NULL", what);
	if (bytes && (uintptr_t)buf > UINTPTR_MAX - bytes)
		return shmar__fail(&comm->report, -EINVAL, "%s wraps around the address space", what);
	return 0;
}

static inline bool shmar__overlap(const void *a, size_t abytes, const void *b, size_t bbytes)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return abytes && bbytes && x < y + bbytes && y < x + abytes;
}

/*
 * Distinct buffers must not overlap: the result would depend on copy order.
 * in_place is the one overlap the call allows (each call says which).
 */
static inline int shmar__check_overlap(struct shmar_comm *comm, const void *a, size_t abytes,
				       const void *b, size_t bbytes, bool in_place)
{
	if (in_place || !shmar__overlap(a, abytes, b, bbytes))
		return 0;
	return shmar__fail(&comm->report, -EINVAL,
			   "sendbuf and recvbuf overlap without being one of the in-place forms");
}

/* ---------------------------------------------------------------- registered buffers (coll_reg.c) */

/* Below this many bytes a copy costs less than the trailing synchronisation
 * that reading a peer's buffer in place needs (all but the all-reduce). */
#define SHMAR_REG_MIN (64 * 1024)

struct shmar__regs {
	const char *buf[SHMAR_MAX_RANKS]; /* a peer's registered buffer, NULL: in its slot */
	bool any;                          /* some rank reads another's buffer in place */
};

/* The offset + 1 of [buf, buf + bytes) in this rank's heap, or 0 when it is
 * not registered or smaller than min_bytes. */
uint64_t shmar__reg_mine(struct shmar_comm *comm, const void *buf, size_t bytes, size_t min_bytes);
/* After a synchronisation published every rank's offsets (chan_sync_reg): where the
 * peers' registered buffers of bytes are (their receive buffers when out), faulted in. */
void shmar__reg_peers(struct shmar_comm *comm, size_t bytes, uint64_t mine, bool out,
		      struct shmar__regs *regs);
/*
 * The last synchronisation of a call that read buffers in place: after it no
 * peer reads this rank's buffer, and the caller may change it.  Nothing when
 * no rank registered.
 */
int shmar__reg_done(struct shmar_comm *comm, const struct shmar__desc *d,
		    const struct shmar__regs *regs);

/* What a call does, at SHMAR_DEBUG=trace. */
#define shmar__trace_call(comm, ...) shmar__log(&(comm)->report, SHMAR_DEBUG_TRACE, __VA_ARGS__)

#endif /* LIBSHMAR_COLL_H */
