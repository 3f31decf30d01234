/* SPDX-License-Identifier: MIT */
/*
 * shmar-mpi.h - libshmar's collectives across machines: shared memory inside
 * each node, MPI only for what crosses nodes.
 *
 * Same element types, operations and error convention as <shmar.h>: every
 * function that can fail returns 0 on success and a negative errno value on
 * failure; errno is never set.  See shmar_mpi_comm_init(3).
 */
#ifndef LIBSHMAR_MPI_H
#define LIBSHMAR_MPI_H

#include <mpi.h>
#include <shmar.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmar_mpi_comm;

SHMAR_WUR int shmar_mpi_comm_init(struct shmar_mpi_comm **comm, MPI_Comm mpi);
int shmar_mpi_comm_destroy(struct shmar_mpi_comm *comm);
const char *shmar_mpi_comm_last_error(const struct shmar_mpi_comm *comm);

SHMAR_WUR int shmar_mpi_allreduce(struct shmar_mpi_comm *comm, const void *sendbuf, void *recvbuf,
				  size_t count, enum shmar_dtype dtype, enum shmar_op op);
SHMAR_WUR int shmar_mpi_reduce_scatter(struct shmar_mpi_comm *comm, const void *sendbuf,
				       void *recvbuf, size_t recvcount, enum shmar_dtype dtype,
				       enum shmar_op op);
SHMAR_WUR int shmar_mpi_allgather(struct shmar_mpi_comm *comm, const void *sendbuf, void *recvbuf,
				  size_t sendcount, enum shmar_dtype dtype);
SHMAR_WUR int shmar_mpi_broadcast(struct shmar_mpi_comm *comm, void *buf, size_t count,
				  enum shmar_dtype dtype, int root);
SHMAR_WUR int shmar_mpi_barrier(struct shmar_mpi_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHMAR_MPI_H */
