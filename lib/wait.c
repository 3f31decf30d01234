/* SPDX-License-Identifier: MIT */
/*
 * wait.c - the wait engine.
 *
 * A waiter spins on the peer's word for spin_ns (the common case: the peer is
 * a few microseconds behind), then sleeps on it through the liveness layer
 * (liveness.h), in bounded slices.  A peer's death ends the sleep at once
 * where the ring or the watcher thread runs; an abort or a rank leaving
 * wakes the word itself.  Between slices the waiter looks at the abort word,
 * the deadline and the peer it waits for, so nothing ends a wait unseen.
 *
 * A poster calls FUTEX_WAKE only when the sleeper count on its word is
 * non-zero, so the fast path makes no system call.  Lost wake-ups are
 * impossible: the waiter raises the count *before* its last look at the word
 * and FUTEX_WAIT re-checks the word in the kernel; the poster stores the word
 * *before* it reads the count; both with sequentially consistent ordering.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <unistd.h>

#include "clock.h"
#include "macro.h"
#include "futex.h"
#include "segment.h"
#include "shmar.h"
#include "wait.h"

/* Clock and abort word are looked at once per this many spins. */
#define SPINS_PER_CHECK 64

static bool aborted(const struct shmar__waitctx *w)
{
	return atomic_load_explicit(w->abort_word, memory_order_acquire) != 0;
}

static bool reached_now(_Atomic uint32_t *word, uint32_t target)
{
	return shmar__reached(atomic_load_explicit(word, memory_order_acquire), target);
}

/* Pauses between looks at the clock and the abort word, and, when the job
 * has more ranks than CPUs, between yields: a peer that shares our CPU runs
 * only when we give it up, so we give it up after a handful of pauses. */
#define SPINS_PER_YIELD 4

/* Busy phase: true once the word reached target. */
static bool spin_phase(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t target)
{
	unsigned every = w->yield ? SPINS_PER_YIELD : SPINS_PER_CHECK;
	uint64_t end;
	unsigned i;

	if (w->spin_ns == 0)
		return false;
	end = shmar__now_ns() + w->spin_ns;
	for (i = 1;; i++) {
		shmar__cpu_relax();
		if (reached_now(word, target))
			return true;
		if (i % every)
			continue;
		if (aborted(w) || shmar__now_ns() >= end)
			return false;
		if (w->yield) {
			sched_yield();
			w->stats->yields++;
		}
	}
}

/* One futex sleep of at most slice_ns, announced in the sleeper count. */
static void sleep_once(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t target,
		       _Atomic uint32_t *sleepers, uint64_t slice_ns)
{
	uint32_t seen;

	atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
	seen = atomic_load_explicit(word, memory_order_seq_cst);
	if (!shmar__reached(seen, target) && !aborted(w)) {
		w->stats->futex_waits++;
		shmar__liveness_sleep(w->live, word, seen, slice_ns);
	}
	atomic_fetch_sub_explicit(sleepers, 1, memory_order_seq_cst);
}

static int sleep_phase(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t target,
		       _Atomic uint32_t *sleepers, _Atomic uint32_t *peer_state, int peer)
{
	uint64_t now, slice;
	int err;

	for (;;) {
		if (reached_now(word, target))
			return 0;
		if (aborted(w))
			return SHMAR_WAIT_ABORTED;
		now = shmar__now_ns();
		if (now >= w->deadline_ns)
			return -ETIMEDOUT;
		/*
		 * Only the peer we wait for matters: a rank that exited after
		 * posting what we need did nothing wrong, and a peer blocked on
		 * a dead third rank finds out itself and raises the abort word.
		 */
		w->stats->liveness_polls++;
		err = shmar__liveness_check_rank(w->live, peer);
		if (err == 0 && peer_state &&
		    atomic_load_explicit(peer_state, memory_order_acquire) == SHMAR_RANK_LEFT)
			err = -EOWNERDEAD;
		if (err < 0) {
			/*
			 * It may have posted what we wait for since we looked,
			 * and then finished its last call and gone: not a failure.
			 * Its post came before its exit or its LEFT (release).
			 */
			if (reached_now(word, target))
				return 0;
			w->dead_rank = peer;
			return err;
		}
		slice = w->slice_ns;
		if (w->deadline_ns - now < slice)
			slice = w->deadline_ns - now;
		sleep_once(w, word, target, sleepers, slice);
	}
}

int shmar__wait_word(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t target,
		     _Atomic uint32_t *sleepers, _Atomic uint32_t *peer_state, int peer)
{
	int ret;

	w->stats->waits++;
	if (reached_now(word, target))
		return 0;
	/* The deadline runs from the first wait of a call that had to wait. */
	if (!w->deadline_ns)
		w->deadline_ns = shmar__deadline(shmar__now_ns(), w->timeout_ns);
	if (spin_phase(w, word, target)) {
		w->stats->spin_waits++;
		return 0;
	}
	shmar__log(w->rep, SHMAR_DEBUG_TRACE, "waiting for rank %d (post %u): sleeping", peer, target);
	ret = sleep_phase(w, word, target, sleepers, peer_state, peer);
	shmar__liveness_settle(w->live);
	shmar__log(w->rep, SHMAR_DEBUG_TRACE, "waiting for rank %d (post %u): %s", peer, target,
		   ret == 0 ? "posted" : ret == SHMAR_WAIT_ABORTED ? "aborted"
			     : ret == -ETIMEDOUT ? "deadline passed" : "gone");
	return ret;
}

void shmar__post_word(struct shmar__waitctx *w, _Atomic uint32_t *word, uint32_t value,
		      _Atomic uint32_t *sleepers)
{
	atomic_store_explicit(word, value, memory_order_seq_cst);
	if (atomic_load_explicit(sleepers, memory_order_seq_cst) != 0) {
		w->stats->futex_wakes++;
		shmar__futex_wake(word, INT_MAX);
	}
}

void shmar__wake_sleepers(_Atomic uint32_t *word, _Atomic uint32_t *sleepers)
{
	if (atomic_load_explicit(sleepers, memory_order_seq_cst) != 0)
		shmar__futex_wake(word, INT_MAX);
}
