/* SPDX-License-Identifier: MIT */
/*
 * channel.h - synchronisation points between the ranks of a job, and the
 * job's abort word: what ends every wait when a call cannot complete.
 */
#ifndef LIBSHMAR_CHANNEL_H
#define LIBSHMAR_CHANNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "liveness.h"
#include "report.h"
#include "segment.h"
#include "stats.h"
#include "wait.h"

/* Kinds of calls, as posted in a descriptor. */
enum shmar__kind {
	SHMAR_KIND_BARRIER = 1,
	SHMAR_KIND_ALLREDUCE = 2,
	SHMAR_KIND_REDUCE_SCATTER = 3,
	SHMAR_KIND_ALLGATHER = 4,
	SHMAR_KIND_BROADCAST = 5,
};

struct shmar__chan {
	void *base;                   /* the mapped segment */
	struct shmar__layout layout;
	int rank;
	int nranks;
	uint32_t posts;               /* posts made by this rank */
	uint32_t calls;               /* collective calls started */
	/*
	 * 0, or the error every later call returns.  Written by the thread in
	 * a call and by shmar_comm_abort() (any thread, or a signal handler).
	 */
	_Atomic int revoked;
	bool described;               /* the report says why (written by the calling thread) */
	struct shmar__waitctx wait;
	struct shmar__liveness *live; /* pids, for the texts */
	struct shmar__report *rep;
	struct shmar__stats *stats;
};

/* Waits: spin budget, collective timeout (0: none), yield when oversubscribed. */
struct shmar__chan_waits {
	int64_t spin_us;
	int64_t timeout_ms;
	bool yield;
};

void shmar__chan_init(struct shmar__chan *c, void *base, const struct shmar__layout *l,
		      int rank, int nranks, const struct shmar__chan_waits *waits,
		      struct shmar__liveness *live, struct shmar__report *rep,
		      struct shmar__stats *stats);

/* The state of this rank's control block (enum shmar__rank_state). */
void shmar__chan_set_state(struct shmar__chan *c, enum shmar__rank_state state);

/*
 * Start a call: 0, or the error the comm was revoked with (text in rep).
 * Arms a fresh deadline for the call.
 */
int shmar__chan_begin(struct shmar__chan *c);

/* What this call is, numbered; every rank must describe the same. */
void shmar__chan_desc(struct shmar__chan *c, struct shmar__desc *d, enum shmar__kind kind,
		      int dtype, int op, uint64_t count, int root);

/*
 * Post, wait until every peer posted the same number, and check each peer
 * described the same call.  0, or the error that revoked the comm
 * (-EOWNERDEAD, -ETIMEDOUT, -EPROTO, -ECANCELED) with its text in rep.
 */
int shmar__chan_sync(struct shmar__chan *c, const struct shmar__desc *mine);

/*
 * shmar__chan_sync(), publishing with the post where this rank's buffers
 * are: reg_in and reg_out, offsets + 1 in its heap (0: not registered).
 * Afterwards shmar__chan_peer_reg() reads a peer's, until this rank's next
 * post.
 */
int shmar__chan_sync_reg(struct shmar__chan *c, const struct shmar__desc *mine, uint64_t reg_in,
			 uint64_t reg_out);
uint64_t shmar__chan_peer_reg(const struct shmar__chan *c, int peer, bool out);

/*
 * The stream counters of the pipelined all-reduce (segment.h): publish this
 * rank's, wait for a peer's to reach target.  The wait ends like a post's:
 * 0, or the error that revoked the comm.
 */
void shmar__chan_stream_post(struct shmar__chan *c, enum shmar__stream_counter which,
			     uint32_t value);
int shmar__chan_stream_wait(struct shmar__chan *c, int peer, enum shmar__stream_counter which,
			    uint32_t target);

/*
 * Raise the job's abort word with err naming rank (the first reason wins),
 * wake every sleeper, revoke this comm with whatever the word now says, and
 * describe it in rep.
 */
int shmar__chan_revoke(struct shmar__chan *c, int err, int rank);

/*
 * shmar_comm_abort(): raise the word with -ECANCELED naming this rank, wake
 * every sleeper and revoke, with atomics and futex(2) only, so a signal
 * handler or another thread may call it while a call is in progress.  The
 * text is written by the next call that sees the revocation.
 */
void shmar__chan_abort(struct shmar__chan *c);

/* Leaving the job: LEFT in the control block, and wake who waits for us. */
void shmar__chan_leave(struct shmar__chan *c);

/* Name of a kind, for messages. */
const char *shmar__kind_name(unsigned kind);

#endif /* LIBSHMAR_CHANNEL_H */
