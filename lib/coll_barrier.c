/* SPDX-License-Identifier: MIT */
/*
 * coll_barrier.c - shmar_barrier: one synchronisation point.
 */
#include "shmar-private.h"

SHMAR_EXPORT int shmar_barrier(struct shmar_comm *comm)
{
	struct shmar__desc d;
	int err = shmar__enter(comm);

	if (err < 0)
		return err;
	shmar__chan_desc(comm, &d, SHMAR_KIND_BARRIER, 0, 0, 0, 0);
	err = shmar__chan_sync(comm, &d);
	shmar__leave(comm);
	return err;
}
