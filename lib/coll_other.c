/* SPDX-License-Identifier: MIT */
/*
 * coll_other.c - reduce_scatter, allgather, broadcast (not yet implemented).
 */
#include <errno.h>

#include "shmar-private.h"

SHMAR_EXPORT int shmar_reduce_scatter(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				      size_t recvcount, enum shmar_dtype dtype, enum shmar_op op)
{
	(void)comm, (void)sendbuf, (void)recvbuf, (void)recvcount, (void)dtype, (void)op;
	return -ENOSYS;
}

SHMAR_EXPORT int shmar_allgather(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				 size_t sendcount, enum shmar_dtype dtype)
{
	(void)comm, (void)sendbuf, (void)recvbuf, (void)sendcount, (void)dtype;
	return -ENOSYS;
}

SHMAR_EXPORT int shmar_broadcast(struct shmar_comm *comm, void *buf, size_t count,
				 enum shmar_dtype dtype, int root)
{
	(void)comm, (void)buf, (void)count, (void)dtype, (void)root;
	return -ENOSYS;
}
