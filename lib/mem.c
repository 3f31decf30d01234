/* SPDX-License-Identifier: MIT */
/*
 * mem.c - registered buffers: shmar_mem_alloc() and shmar_mem_free().
 *
 * Each rank's heap is a part of its region of the segment (segment.h), so
 * every rank has every heap mapped from the start: a buffer allocated here
 * can be read by the peers in place, without any exchange when it is
 * allocated.  A collective publishes its send buffer's offset in the heap
 * (coll_allreduce.c).  Pages are touched by the owner when a block is
 * allocated (first touch: its NUMA node), and by each peer the first time a
 * call reads that far into the owner's heap.
 */
#include <errno.h>

#include "comm.h"
#include "heap.h"

SHMAR_EXPORT int shmar_mem_alloc(struct shmar_comm *comm, size_t bytes, void **ptr)
{
	int err;

	if (!comm || !ptr)
		return -EINVAL;
	*ptr = NULL;
	if (shmar__forked_away(comm))
		return -ECHILD;
	if (bytes == 0)
		return -EINVAL;
	err = shmar__heap_alloc(&comm->heap, bytes, ptr);
	if (err < 0) {
		*ptr = NULL;
		return err;
	}
	shmar__segment_touch(*ptr, bytes);
	shmar__log(&comm->report, SHMAR_DEBUG_TRACE, "mem_alloc(%zu) = heap offset %zu", bytes,
		   (size_t)((char *)*ptr - comm->heap.base));
	return 0;
}

SHMAR_EXPORT int shmar_mem_free(struct shmar_comm *comm, void *ptr)
{
	if (!comm)
		return -EINVAL;
	if (!ptr)
		return 0;
	if (shmar__forked_away(comm))
		return -ECHILD;
	return shmar__heap_free(&comm->heap, ptr);
}
