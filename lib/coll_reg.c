/* SPDX-License-Identifier: MIT */
/*
 * coll_reg.c - registered buffers in the collectives (coll.h).
 *
 * A rank whose buffer lies in its heap (shmar_mem_alloc) publishes its
 * offset with the first synchronisation of a call, and skips copying it
 * into its slot; the peers read it in place.  Each peer faults the part of
 * the heap it reads in once, the first time, so no call pays page faults
 * twice.  The decision is per rank, so ranks that registered and ranks that
 * did not mix freely; every rank reads exactly the same bytes either way.
 */
#include "coll.h"

uint64_t shmar__reg_mine(struct shmar_comm *comm, const void *buf, size_t bytes, size_t min_bytes)
{
	return bytes >= min_bytes && bytes ? shmar__heap_offset(&comm->heap, buf, bytes) : 0;
}

/* Fault in what this rank reads of peer k's heap, once: not inside a call's timing. */
static void fault_peer_heap(struct shmar_comm *comm, int k, uint64_t reg_off, size_t bytes)
{
	const struct shmar__layout *l = &comm->chan.layout;
	size_t from = (size_t)(reg_off - 1) & ~(size_t)(SHMAR_PAGE - 1);
	size_t to = (size_t)reg_off - 1 + bytes;

	if (to <= comm->heap_faulted[k])
		return;
	if (from < comm->heap_faulted[k])
		from = comm->heap_faulted[k];
	shmar__segment_prefault(shmar__seg_heap(comm->chan.base, l, (unsigned)k) + from, to - from);
	comm->heap_faulted[k] = to;
}

void shmar__reg_peers(struct shmar_comm *comm, size_t bytes, uint64_t mine, bool out,
		      struct shmar__regs *regs)
{
	const struct shmar__layout *l = &comm->chan.layout;

	regs->any = mine != 0;
	for (int k = 0; k < comm->nranks; k++) {
		uint64_t off = k == comm->rank ? 0 : shmar__chan_peer_reg(&comm->chan, k, out);

		/* the owner checked its offset; a peer checks the bounds again */
		regs->buf[k] = NULL;
		if (off == 0 || off - 1 > l->heap_bytes || bytes > l->heap_bytes - (off - 1))
			continue;
		fault_peer_heap(comm, k, off, bytes);
		regs->buf[k] = shmar__seg_heap(comm->chan.base, l, (unsigned)k) + off - 1;
		regs->any = true;
	}
}

int shmar__reg_done(struct shmar_comm *comm, const struct shmar__desc *d,
		    const struct shmar__regs *regs)
{
	/* every rank computed the same regs->any, so all take this barrier or none */
	return regs->any ? shmar__chan_sync(&comm->chan, d) : 0;
}
