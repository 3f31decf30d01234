/* SPDX-License-Identifier: MIT */
/*
 * shmar-private.h - what the library's files share; never installed.
 *
 * Internal non-static functions are named shmar__*.  Only functions marked
 * SHMAR_EXPORT *and* listed in libshmar.map leave the shared object.
 */
#ifndef LIBSHMAR_PRIVATE_H
#define LIBSHMAR_PRIVATE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmar.h"
#include "segment.h"
#include "wait.h"
#include "liveness.h"
#include "kernels/kernels.h"

#define SHMAR_EXPORT __attribute__((visibility("default")))

#define SHMAR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SHMAR_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((size_t)(a) - 1))

#define SHMAR_ERRMSG_MAX 256

/* Settings after defaults, environment and validation (config.c). */
struct shmar__settings {
	char dir[4096];                  /* "" until rendezvous.c resolves the default */
	char token[SHMAR_TOKEN_MAX + 1]; /* zero-padded; "" means none */
	int64_t timeout_ms;
	int64_t init_timeout_ms;
	int64_t spin_us;
	size_t small_max;
	size_t slot_bytes;
	int isa;
	int threads;
	int io_uring;
	int debug;
};

/* Kinds of calls, as posted in a descriptor. */
enum shmar__kind {
	SHMAR_KIND_BARRIER = 1,
	SHMAR_KIND_ALLREDUCE = 2,
	SHMAR_KIND_REDUCE_SCATTER = 3,
	SHMAR_KIND_ALLGATHER = 4,
	SHMAR_KIND_BROADCAST = 5,
};

/* Counters a test or shmar-bench may read; process-local, never shared. */
struct shmar__stats {
	uint64_t posts;        /* sequence posts made */
	uint64_t waits;        /* waits for a peer's post */
	uint64_t spin_waits;   /* waits that ended while spinning */
	uint64_t yields;       /* sched_yield calls while waiting */
	uint64_t futex_waits;  /* FUTEX_WAIT system calls */
	uint64_t futex_wakes;  /* FUTEX_WAKE system calls */
	uint64_t liveness_polls; /* checks of the peers' pidfds */
};

struct shmar_comm {
	int rank;
	int nranks;
	unsigned fork_gen;            /* fork generation it was made in (fork check) */
	atomic_int busy;              /* one caller at a time: -EBUSY otherwise */
	int revoked;                  /* 0, or the error every later call returns */
	char job[SHMAR_JOB_MAX + 1];
	struct shmar__settings set;

	/* the shared segment */
	void *base;
	struct shmar__layout layout;

	/* rendezvous connections kept as a liveness channel */
	int *socks;                   /* rank 0: one per peer rank (own slot -1); others: [0] */
	int nsocks;
	struct shmar__liveness live;
	struct shmar__waitctx wait;

	/* sequencing: identical on every rank while ranks make the same calls */
	uint32_t posts;               /* posts made by this rank */
	uint32_t calls;               /* collective calls started */
	uint32_t rounds;              /* uses of the double-buffered slots (coll.h) */

	const struct shmar__kernels *kern;
	struct shmar__stats stats;
	char last_error[SHMAR_ERRMSG_MAX];
};

/* config.c */
int shmar__settings_resolve(const struct shmar_config *cfg, struct shmar__settings *set,
			    char *why, size_t why_len);

/* error.c: failure text, per comm or (before a comm exists) per thread */
int shmar__fail(struct shmar_comm *comm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int shmar__fail_init(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void shmar__clear_init_error(void);
void shmar__log(int level, int debug, int rank, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int shmar__debug_level_from_env(void);

/* comm.c: entry and exit of every collective */
int shmar__enter(struct shmar_comm *comm);
void shmar__leave(struct shmar_comm *comm);
int shmar__revoke(struct shmar_comm *comm, int err, int rank);
int shmar__abort_status(struct shmar_comm *comm);

/* channel.c */
struct shmar__desc;
int shmar__chan_sync(struct shmar_comm *comm, const struct shmar__desc *mine);
void shmar__chan_desc(struct shmar_comm *comm, struct shmar__desc *d, enum shmar__kind kind,
		      int dtype, int op, uint64_t count, int root);

/* test access (linked from the internal library only) */
const struct shmar__stats *shmar__comm_stats(const struct shmar_comm *comm);

#endif /* LIBSHMAR_PRIVATE_H */
