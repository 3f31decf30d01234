/* SPDX-License-Identifier: MIT */
/*
 * comm.h - the communicator object, and what every public call does first
 * and last.  Included by comm.c (its lifecycle) and the collectives.
 */
#ifndef LIBSHMAR_COMM_H
#define LIBSHMAR_COMM_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "heap.h"
#include "pool.h"
#include "settings.h"
#include "kernels/kernels.h"
#include "liveness.h"
#include "macro.h"
#include "report.h"
#include "segment.h"
#include "shmar.h"
#include "stats.h"

struct shmar_comm {
	int rank;
	int nranks;
	unsigned fork_gen;            /* fork generation it was made in (fork check) */
	atomic_int busy;              /* one caller at a time: -EBUSY otherwise */
	char job[SHMAR_JOB_MAX + 1];
	struct shmar__settings set;
	struct shmar__report report;  /* shmar_comm_last_error(comm) */
	struct shmar__chan chan;      /* the segment, posts, waits, revocation */
	struct shmar__liveness live;  /* pids, pidfds and their watcher */
	int *socks;                   /* per rank: the rendezvous connection, or -1 (watched) */
	uint32_t rounds;              /* uses of the double-buffered slots (coll.h) */
	uint64_t stream_next;         /* the next sub-chunk of the stream ring (coll_allreduce.c) */
	unsigned stream_step;         /* sub-chunks a stream step takes (more when ranks share CPUs) */
	struct shmar__heap heap;      /* this rank's registered buffers (mem.c) */
	size_t *heap_faulted;         /* per peer: bytes of its heap this rank has faulted in */
	struct shmar__pool *pool;     /* helper threads, or NULL */
	const struct shmar__kernels *kern;
	size_t nt_min;                /* outputs from this size are written past the cache */
	struct shmar__stats stats;
};

/* Counters for tests (linked from the internal library only). */
const struct shmar__stats *shmar__comm_stats(const struct shmar_comm *comm);

/*
 * Bumped in every child after fork(): a comm remembers the generation it was
 * made in, so a child using its parent's comm is caught without a getpid()
 * system call on every collective.
 */
extern atomic_uint shmar__fork_generation;

static inline bool shmar__forked_away(const struct shmar_comm *comm)
{
	return atomic_load_explicit(&shmar__fork_generation, memory_order_relaxed) != comm->fork_gen;
}

/*
 * Take the comm for one call: -EINVAL for NULL, -ECHILD in a forked child,
 * -EBUSY while another thread is inside (nothing else is touched, the
 * report included).  Then release it with shmar__leave().
 */
static inline int shmar__take(struct shmar_comm *comm)
{
	if (!comm)
		return -EINVAL;
	if (shmar__unlikely(shmar__forked_away(comm)))
		return -ECHILD; /* never touch the parent's job from a child */
	if (atomic_exchange_explicit(&comm->busy, 1, memory_order_acquire))
		return -EBUSY;
	return 0;
}

static inline void shmar__leave(struct shmar_comm *comm)
{
	atomic_store_explicit(&comm->busy, 0, memory_order_release);
}

/* Release the comm and return err: the last line of a call that failed early. */
static inline int shmar__leave_with(struct shmar_comm *comm, int err)
{
	shmar__leave(comm);
	return err;
}

#endif /* LIBSHMAR_COMM_H */
