/* SPDX-License-Identifier: MIT */
/*
 * mem.c - registered buffers inside the segment (not yet implemented).
 */
#include <errno.h>

#include "comm.h"

SHMAR_EXPORT int shmar_mem_alloc(struct shmar_comm *comm, size_t bytes, void **ptr)
{
	(void)comm, (void)bytes;
	if (ptr)
		*ptr = NULL;
	return -ENOSYS;
}

SHMAR_EXPORT int shmar_mem_free(struct shmar_comm *comm, void *ptr)
{
	(void)comm, (void)ptr;
	return -ENOSYS;
}
