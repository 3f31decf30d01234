/* SPDX-License-Identifier: MIT */
/*
 * scratch.c - the communicator's grow-only scratch buffers.
 *
 * Each collective stages, gathers and combines in a few buffers that grow to
 * the largest message seen and live until shmar_mpi_comm_destroy(): no
 * allocation on the steady path.  New memory is zeroed, so padding and
 * dummy blocks never carry uninitialised bytes to another process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mpi-private.h"

void *shmar_mpi__scratch(struct shmar_mpi_comm *c, int i, size_t bytes)
{
	struct shmar_mpi__buf *b = &c->buf[i];
	size_t want;
	void *p;

	if (bytes <= b->bytes && b->p)
		return b->p;
	want = bytes < 4096 ? 4096 : bytes;
	want = (want + 63) & ~(size_t)63;
	if (want < bytes || posix_memalign(&p, 64, want) != 0)
		return NULL;
	memset(p, 0, want);
	free(b->p);
	b->p = p;
	b->bytes = want;
	return p;
}

void *shmar_mpi__need(struct shmar_mpi_comm *c, int i, size_t bytes)
{
	void *p = shmar_mpi__scratch(c, i, bytes);

	if (!p) {
		MPI_Comm_call_errhandler(c->world, MPI_ERR_NO_MEM);
		shmar_mpi__fail(c, -ENOMEM, "no memory for %zu bytes of scratch", bytes);
	}
	return p;
}

void shmar_mpi__scratch_free(struct shmar_mpi_comm *c)
{
	for (int i = 0; i < SHMAR_MPI__NBUF; i++) {
		free(c->buf[i].p);
		c->buf[i].p = NULL;
		c->buf[i].bytes = 0;
	}
}
