/* SPDX-License-Identifier: MIT */
/*
 * wait.h - waiting for a peer's post: spin briefly, then sleep on a futex.
 */
#ifndef LIBSHMAR_WAIT_H
#define LIBSHMAR_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "liveness.h"
#include "report.h"
#include "stats.h"

struct shmar__waitctx {
	_Atomic uint32_t *abort_word;  /* in the segment header */
	uint64_t spin_ns;              /* busy-wait budget before the first sleep */
	bool yield;                    /* more ranks than CPUs: yield while spinning */
	uint64_t timeout_ns;           /* per call; 0: none */
	uint64_t deadline_ns;          /* CLOCK_MONOTONIC, armed by the first slow wait; 0 per call */
	uint64_t slice_ns;             /* longest single sleep */
	struct shmar__liveness *live;
	struct shmar__stats *stats;
	struct shmar__report *rep;     /* trace lines */
	int dead_rank;                 /* set with -EOWNERDEAD */
};

/* The wait ended because the abort word is set; the caller decodes it. */
#define SHMAR_WAIT_ABORTED 1

/* Sleep slices: without a ring or a watcher, a death is seen within one. */
#define SHMAR_SLICE_NS (100ull * 1000 * 1000)

static inline bool shmar__reached(uint32_t value, uint32_t target)
{
	return (int32_t)(value - target) >= 0; /* wraps after 2^31 posts, like TCP sequence numbers */
}

/*
 * Wait until *word reaches target.  peer_state, when not NULL, is the peer's
 * state word: a peer that left the job ends the wait.  Returns 0,
 * SHMAR_WAIT_ABORTED, -ETIMEDOUT (deadline) or -EOWNERDEAD (w->dead_rank).
 */
int shmar__wait_word(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t target,
		     _Atomic uint32_t *sleepers, _Atomic uint32_t *peer_state, int peer);

/* Publish value in *word and wake its sleepers, if the count says there are any. */
void shmar__post_word(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t value,
		      _Atomic uint32_t *sleepers);

/*
 * Wake every sleeper on word (after the abort word or a rank's state
 * changed).  Only atomics and futex(2): safe in a signal handler.
 */
void shmar__wake_sleepers(_Atomic uint32_t *word, _Atomic uint32_t *sleepers);

#endif /* LIBSHMAR_WAIT_H */
