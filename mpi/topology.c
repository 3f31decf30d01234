/* SPDX-License-Identifier: MIT */
/*
 * topology.c - which ranks share a node, in which order, and the
 * communicators that join one rank of every node.
 *
 * Orders (they define the numerics, see shmar_mpi_allreduce(3)): inside a
 * node, local ranks follow the ranks of the caller's communicator; nodes
 * follow their lowest rank.  Every rank computes both from one all-gather,
 * so they are the same everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpi-private.h"

static int split_nodes(struct shmar_mpi_comm *c, int node_size, MPI_Comm *node_comm)
{
	MPI_Comm host;
	int host_rank;

	/* key = rank: local ranks in the order of the caller's ranks */
	if (MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &host) !=
	    MPI_SUCCESS)
		return -EIO;
	MPI_Comm_size(host, &c->host_size);
	if (node_size == 0) {
		*node_comm = host;
		return 0;
	}
	/* Tests only: pretend nodes of node_size consecutive ranks of the machine. */
	MPI_Comm_rank(host, &host_rank);
	if (MPI_Comm_split(host, host_rank / node_size, host_rank, node_comm) != MPI_SUCCESS) {
		MPI_Comm_free(&host);
		return -EIO;
	}
	MPI_Comm_free(&host);
	return 0;
}

static int alloc_arrays(struct shmar_mpi_comm *c, int **pairs)
{
	size_t n = (size_t)c->size;

	*pairs = malloc(2 * n * sizeof(int));
	c->node_size = calloc(n, sizeof(int));
	c->node_first = calloc(n, sizeof(int));
	c->order = malloc(n * sizeof(int));
	c->node_of = malloc(n * sizeof(int));
	c->local_of = malloc(n * sizeof(int));
	if (!*pairs || !c->node_size || !c->node_first || !c->order || !c->node_of || !c->local_of)
		return -ENOMEM;
	return 0;
}

/* From every rank's (lowest rank of its node, local rank): node numbers by
 * lowest rank, node sizes, and the world ranks node by node. */
static void derive(struct shmar_mpi_comm *c, const int *pairs)
{
	int *index_of_leader = c->order; /* borrowed until order is filled */

	c->nnodes = 0;
	for (int r = 0; r < c->size; r++)
		if (pairs[2 * r] == r)
			index_of_leader[r] = c->nnodes++;
	for (int r = 0; r < c->size; r++) {
		c->node_of[r] = index_of_leader[pairs[2 * r]];
		c->local_of[r] = pairs[2 * r + 1];
	}
	for (int r = 0; r < c->size; r++)
		c->node_size[c->node_of[r]]++;
	c->vmax = 0;
	for (int n = 0, first = 0; n < c->nnodes; n++) {
		c->node_first[n] = first;
		first += c->node_size[n];
		if (c->node_size[n] > c->vmax)
			c->vmax = c->node_size[n];
	}
	for (int r = 0; r < c->size; r++)
		c->order[c->node_first[c->node_of[r]] + c->local_of[r]] = r;
	c->node = c->node_of[c->rank];
}

int shmar_mpi__topology(struct shmar_mpi_comm *c, int node_size, MPI_Comm *node_comm, char *why,
			size_t len)
{
	int *pairs = NULL;
	int mine[2], err;

	err = split_nodes(c, node_size, node_comm);
	if (err < 0) /* MPI failed on this rank: the others fail there too */
		return snprintf(why, len, "cannot split the communicator into nodes"), err;
	MPI_Comm_rank(*node_comm, &c->local);
	MPI_Comm_size(*node_comm, &c->nlocal);
	mine[0] = c->rank;
	MPI_Allreduce(MPI_IN_PLACE, &mine[0], 1, MPI_INT, MPI_MIN, *node_comm);
	mine[1] = c->local;

	err = shmar_mpi__agree(c->world, alloc_arrays(c, &pairs));
	if (err == 0 && MPI_Allgather(mine, 2, MPI_INT, pairs, 2, MPI_INT, c->world) != MPI_SUCCESS)
		err = -EIO;
	if (err == 0)
		derive(c, pairs);
	else
		snprintf(why, len, "cannot learn the nodes: %s", shmar_strerror(err));
	free(pairs);
	return err;
}

int shmar_mpi__nserved(const struct shmar_mpi_comm *c)
{
	return (c->vmax - c->local + c->nlocal - 1) / c->nlocal;
}

int shmar_mpi__slots(const struct shmar_mpi_comm *c)
{
	return (c->vmax + c->nlocal - 1) / c->nlocal;
}

static bool nodes_even(const struct shmar_mpi_comm *c)
{
	for (int n = 0; n < c->nnodes; n++)
		if (c->node_size[n] != c->vmax)
			return false;
	return true;
}

int shmar_mpi__vcomms(struct shmar_mpi_comm *c)
{
	int err;

	if (c->nnodes == 1) /* one node: everything is libshmar */
		return 0;
	c->vcomm = malloc((size_t)c->vmax * sizeof(MPI_Comm));
	for (int v = 0; c->vcomm && v < c->vmax; v++)
		c->vcomm[v] = MPI_COMM_NULL;
	c->parts = malloc((size_t)c->nnodes * sizeof(void *));
	c->blocks = malloc((size_t)c->nnodes * sizeof(void *));
	c->reqs = malloc(2 * (size_t)c->nnodes * sizeof(MPI_Request));
	c->msgs = malloc(2 * (size_t)c->nnodes * sizeof(struct shmar_mpi__msg));
	err = shmar_mpi__agree(c->world,
			       c->vcomm && c->parts && c->blocks && c->reqs && c->msgs ? 0 : -ENOMEM);
	if (err < 0)
		return err;
	/* key = node: the rank in vcomm[v] is the node number */
	if (nodes_even(c))
		return MPI_Comm_split(c->world, c->local, c->node, &c->vcomm[c->local]) == MPI_SUCCESS
			       ? 0
			       : -EIO;
	for (int v = 0; v < c->vmax; v++) {
		int color = v % c->nlocal == c->local ? 0 : MPI_UNDEFINED;

		if (MPI_Comm_split(c->world, color, c->node, &c->vcomm[v]) != MPI_SUCCESS)
			return -EIO;
	}
	return 0;
}

void shmar_mpi__topology_free(struct shmar_mpi_comm *c)
{
	free(c->node_size);
	free(c->node_first);
	free(c->order);
	free(c->node_of);
	free(c->local_of);
	free(c->vcomm);
	free(c->parts);
	free(c->blocks);
	free(c->reqs);
	free(c->msgs);
}
