/* SPDX-License-Identifier: MIT */
/*
 * stats.h - counters of what the waits and posts did, for tests and
 * shmar-bench.  Process-local, never shared, written by the thread inside
 * the call (the comm is one caller at a time).
 */
#ifndef LIBSHMAR_STATS_H
#define LIBSHMAR_STATS_H

#include <stdint.h>

struct shmar__stats {
	uint64_t posts;          /* sequence posts made */
	uint64_t waits;          /* waits for a peer's post */
	uint64_t spin_waits;     /* waits that ended while spinning */
	uint64_t yields;         /* sched_yield calls while waiting */
	uint64_t futex_waits;    /* sleeps (FUTEX_WAIT, FUTEX_WAITV or the ring) */
	uint64_t futex_wakes;    /* FUTEX_WAKE system calls */
	uint64_t liveness_polls; /* checks of the peers' liveness */
};

#endif /* LIBSHMAR_STATS_H */
