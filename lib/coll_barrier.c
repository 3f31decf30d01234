/* SPDX-License-Identifier: MIT */
/*
 * coll_barrier.c - shmar_barrier: one synchronisation point.
 */
#include "coll.h"

SHMAR_EXPORT int shmar_barrier(struct shmar_comm *comm)
{
	struct shmar__desc d;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_BARRIER, 0, 0, 0, 0);
	shmar__trace_call(comm, "call %u: barrier()", d.call);
	err = shmar__chan_sync(&comm->chan, &d);
	shmar__leave(comm);
	return err;
}
