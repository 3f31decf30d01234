/* SPDX-License-Identifier: MIT */
/*
 * mpi-private.h - the inside of libshmar-mpi: the communicator, its node
 * topology, the status header that travels with every MPI message, and the
 * helpers each collective is built from.  Never installed.
 *
 * Words used throughout:
 *   node      the ranks MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) puts
 *             together (or SHMAR_MPI_NODE_SIZE consecutive ones of them); one
 *             libshmar job each.  Nodes are numbered by their lowest rank.
 *   local     a rank's index inside its node (the order of its MPI rank).
 *   virtual   nodes differ in size, so every node pretends to have vmax
 *             (the largest node size) local ranks: virtual local rank v of
 *             node n is served by its local rank v mod nlocal.  vcomm[v]
 *             joins the servers of v, one per node, ranked by node.  When all
 *             nodes have the same size, vcomm[v] is simply the communicator
 *             of the ranks with local rank v.
 */
#ifndef SHMAR_MPI_PRIVATE_H
#define SHMAR_MPI_PRIVATE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmar-mpi.h"

#define SHMAR_MPI_EXPORT __attribute__((visibility("default")))

/* Bytes of the status header in front of every block that crosses nodes. */
#define SHMAR_MPI__HDR 64
/* MPI counts are int: data travels in units of 64 bytes, so one block may
 * hold up to INT_MAX units. */
#define SHMAR_MPI__UNIT 64
/* All-reduces up to this many bytes (in the accumulator type) skip the
 * reduce-scatter: a whole-buffer all-reduce in the node, then one MPI
 * exchange of the whole partials.  Fewer steps; more bytes on the network. */
#define SHMAR_MPI__SMALL_MAX 16384

enum shmar_mpi__kind {
	SHMAR_MPI__ALLREDUCE = 1,
	SHMAR_MPI__REDUCE_SCATTER,
	SHMAR_MPI__ALLGATHER,
	SHMAR_MPI__BROADCAST,
	SHMAR_MPI__BARRIER,
};

/* What every block sent over MPI starts with: the sender's state and the
 * call it believes it is in, so a failure or a mismatch reaches every node
 * instead of leaving it waiting. */
struct shmar_mpi__hdr {
	uint32_t magic;
	int32_t status; /* 0, or the sender's failure (negative errno) */
	uint64_t seq;   /* number of the collective on this communicator */
	uint64_t count;
	int32_t kind;
	int32_t dtype;
	int32_t op;     /* the operation, or the root of a broadcast */
	int32_t node;   /* the sender's node */
};
_Static_assert(sizeof(struct shmar_mpi__hdr) <= SHMAR_MPI__HDR, "header too large");

/* A header with the room it takes in a message. */
union shmar_mpi__hdrbuf {
	struct shmar_mpi__hdr h;
	unsigned char bytes[SHMAR_MPI__HDR];
};

/* One side of an MPI message: what to pass to MPI (exchange.c). */
struct shmar_mpi__msg {
	void *addr;
	int count;
	MPI_Datatype type;
	bool owned; /* type was made for this message */
};

/* A grow-only scratch buffer, 64-byte aligned. */
struct shmar_mpi__buf {
	void *p;
	size_t bytes;
};

enum { SHMAR_MPI__STAGE, SHMAR_MPI__PART, SHMAR_MPI__GATH, SHMAR_MPI__OUT, SHMAR_MPI__NBUF };

struct shmar_mpi_comm {
	MPI_Comm world;       /* private duplicate of the caller's communicator */
	int rank, size;       /* in world */
	int node, nnodes;     /* this rank's node, and how many there are */
	int local, nlocal;    /* this rank in its node, and the node's size */
	int host_size;        /* ranks on this machine (several nodes when pretending) */
	int vmax;             /* virtual local ranks per node: the largest node size */
	int *node_size;       /* [nnodes] */
	int *node_first;      /* [nnodes]: index in order[] of the node's local rank 0 */
	int *order;           /* [size]: world ranks, node by node, in local order */
	int *node_of;         /* [size]: node of a world rank */
	int *local_of;        /* [size]: local rank of a world rank */
	MPI_Comm *vcomm;      /* [vmax]: MPI_COMM_NULL where this rank does not serve v */
	const void **parts;   /* [nnodes]: the partials being combined, or blocks to send */
	void **blocks;        /* [nnodes]: blocks to receive */
	MPI_Request *reqs;    /* [2 * nnodes] */
	struct shmar_mpi__msg *msgs; /* [2 * nnodes] */
	MPI_Datatype unit;    /* SHMAR_MPI__UNIT contiguous bytes */
	struct shmar_comm *shm; /* this node's libshmar job */
	uint64_t seq;
	int failed;           /* 0, or the error that revoked the communicator */
	atomic_flag busy;
	struct shmar_mpi__buf buf[SHMAR_MPI__NBUF];
	char why[256];
};

/* ---------------------------------------------------------------- comm.c */

/* Remember the first failure with its reason and end the node's libshmar job,
 * so node-mates waiting for this rank get -ECANCELED instead of waiting. */
int shmar_mpi__fail(struct shmar_mpi_comm *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A libshmar call failed: record it with libshmar's own reason. */
int shmar_mpi__fail_shm(struct shmar_mpi_comm *c, int err, const char *what);
/* An argument error: the reason for shmar_mpi_comm_last_error(), the comm
 * stays usable. */
int shmar_mpi__invalid(struct shmar_mpi_comm *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* During init: every rank learns the worst error of all (collective). */
int shmar_mpi__agree(MPI_Comm comm, int err);
/* Start and end a call: -EBUSY when another thread is inside one. */
int shmar_mpi__enter(struct shmar_mpi_comm *c);
void shmar_mpi__leave(struct shmar_mpi_comm *c);
/* MPI returned an error (only with an error handler other than the
 * default, which aborts the job). */
int shmar_mpi__mpi_error(struct shmar_mpi_comm *c, int rc, const char *what);

/* ---------------------------------------------------------------- topology.c */

/* Split world into nodes (node_size consecutive ranks of a machine when
 * not 0), learn every rank's node and local rank.  Collective on world;
 * the ranks agree on failure. */
int shmar_mpi__topology(struct shmar_mpi_comm *c, int node_size, MPI_Comm *node_comm, char *why,
			size_t len);
/* The communicators across nodes, one per virtual local rank (collective). */
int shmar_mpi__vcomms(struct shmar_mpi_comm *c);
void shmar_mpi__topology_free(struct shmar_mpi_comm *c);
/* Virtual local ranks this rank serves: local + j * nlocal for j < nserved. */
int shmar_mpi__nserved(const struct shmar_mpi_comm *c);
/* Slots of every local rank of this node: ceil(vmax / nlocal). */
int shmar_mpi__slots(const struct shmar_mpi_comm *c);
/* World rank of local rank l of node n. */
static inline int shmar_mpi__world_of(const struct shmar_mpi_comm *c, int n, int l)
{
	return c->order[c->node_first[n] + l];
}

/* ---------------------------------------------------------------- scratch.c */

/* Scratch buffer i of at least bytes, or NULL (out of memory). */
void *shmar_mpi__scratch(struct shmar_mpi_comm *c, int i, size_t bytes);
/* The same inside a collective: out of memory, this rank cannot take its
 * part in the exchange the other nodes wait in, so the communicator's MPI
 * error handler is called (the default one ends the job), then the
 * communicator is revoked with -ENOMEM. */
void *shmar_mpi__need(struct shmar_mpi_comm *c, int i, size_t bytes);
void shmar_mpi__scratch_free(struct shmar_mpi_comm *c);

/* ---------------------------------------------------------------- args.c */

size_t shmar_mpi__dtype_size(int dtype);
bool shmar_mpi__valid_op(int op);
/* a * b, or SIZE_MAX when it overflows. */
size_t shmar_mpi__mul(size_t a, size_t b);
/* 0 when [p, p + bytes) is a usable buffer (NULL only when bytes is 0). */
int shmar_mpi__check_buf(struct shmar_mpi_comm *c, const void *p, size_t bytes, const char *name);
bool shmar_mpi__overlap(const void *a, size_t an, const void *b, size_t bn);
/* Bytes one block can carry over MPI. */
size_t shmar_mpi__max_block(void);

/* ---------------------------------------------------------------- numerics.c */

/* The type partials are accumulated in and travel between nodes. */
enum shmar_dtype shmar_mpi__acc_dtype(enum shmar_dtype dtype, enum shmar_op op);
/* The operation inside a node: AVG sums there and divides at the end. */
enum shmar_op shmar_mpi__node_op(enum shmar_op op);
/* Copy count elements of dtype to acc (bf16/fp16 widened to fp32, exactly). */
void shmar_mpi__to_acc(void *dst, const void *src, size_t count, enum shmar_dtype dtype,
		       enum shmar_dtype acc);
/* out[i] = parts[0][i] (+) parts[1][i] (+) ... in node order, in the
 * accumulator type; AVG divides by nranks; then one rounding to dtype. */
void shmar_mpi__combine(void *out, const void *const *parts, int nparts, size_t count,
			enum shmar_dtype dtype, enum shmar_op op, int nranks);

/* ---------------------------------------------------------------- exchange.c */

void shmar_mpi__hdr_fill(const struct shmar_mpi_comm *c, void *hdr, int kind, size_t count,
			 int dtype, int op);
/* Judge the headers of nnodes nodes (node n's at base + n * stride) against
 * this rank's own: the first failure in node order, else -EPROTO on a
 * mismatch, else 0.  A failure revokes the communicator. */
int shmar_mpi__hdr_check(struct shmar_mpi_comm *c, const void *mine, const void *base,
			 size_t stride, int nnodes);
/* The same for the one header of node n. */
int shmar_mpi__hdr_check_one(struct shmar_mpi_comm *c, const void *mine, const void *hdr, int n);
/* Bytes of a block in a receive buffer: the header, then bytes of data. */
size_t shmar_mpi__stride(size_t bytes);
/* On vc, every member sends its header and bytes of data (which need not
 * follow the header); recv gets one block of shmar_mpi__stride(bytes) per
 * member, in node order. */
int shmar_mpi__allgather_blocks(struct shmar_mpi_comm *c, MPI_Comm vc, const void *hdr,
				const void *data, size_t bytes, void *recv);
/* On vc, node root's header and data overwrite everyone else's. */
int shmar_mpi__bcast_block(struct shmar_mpi_comm *c, MPI_Comm vc, int root, void *hdr, void *data,
			   size_t bytes);
/* On vc, point to point: send the block send[n] (a header followed by bytes
 * of data) to every member n where it is not NULL, receive a block into
 * recv[n] from every member n where that is not NULL. */
int shmar_mpi__exchange(struct shmar_mpi_comm *c, MPI_Comm vc, const void *const *send,
			void *const *recv, size_t bytes);
/* Only the headers: recv gets one SHMAR_MPI__HDR block per member. */
int shmar_mpi__allgather_hdrs(struct shmar_mpi_comm *c, MPI_Comm vc, const void *hdr, void *recv);

#endif /* SHMAR_MPI_PRIVATE_H */
