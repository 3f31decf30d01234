/* SPDX-License-Identifier: MIT */
/*
 * liveness.h - knowing, without polling in a loop, that a peer process died.
 *
 * Every rank holds a pidfd per peer: it becomes readable when that process
 * exits, however it exits (SIGKILL included).
 */
#ifndef LIBSHMAR_LIVENESS_H
#define LIBSHMAR_LIVENESS_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct shmar__ring;
struct shmar__watcher;

struct shmar__liveness {
	int nranks;
	int self;
	pid_t *pids;          /* per rank */
	int *pidfds;          /* per rank, -1 for self */
	struct pollfd *pfds;  /* the peers' pidfds, for one poll() */
	int *pfd_rank;        /* rank of pfds[i] */
	int npfds;
	bool *exited;         /* per rank: its pidfd fired (ring or watcher; atomic) */
	struct shmar__ring *ring; /* NULL: the watcher, or futex slices and poll() */
	struct shmar__watcher *watcher; /* without the ring: a thread on the pidfds */
	uint32_t gen_seen;    /* the watcher's death count at the last check */
	bool no_waitv;        /* FUTEX_WAITV is missing: sleep in slices */
};

/*
 * Take the pids of all ranks; pidfds[r] >= 0 are adopted (rank 0 gets them
 * with SO_PEERPIDFD), the others opened with pidfd_open().  On failure
 * *bad_rank names the rank whose process is already gone (-EOWNERDEAD).
 */
int shmar__liveness_init(struct shmar__liveness *lv, int nranks, int self, const pid_t *pids,
			 int *pidfds, int *bad_rank);
void shmar__liveness_fini(struct shmar__liveness *lv);
/* 0 when every peer lives, else -EOWNERDEAD and the lowest dead rank. */
int shmar__liveness_check(struct shmar__liveness *lv, int *dead_rank);
/* 0 while the process of rank lives, -EOWNERDEAD once it exited. */
int shmar__liveness_check_rank(struct shmar__liveness *lv, int rank);
/*
 * Watch the pidfds and sleep through one io_uring (ring.h).  mode: -1 use it
 * when the kernel allows, 0 never, 1 required (its absence is an error).
 * 0, or -errno when required and unavailable (the reason in why).
 */
int shmar__liveness_ring_open(struct shmar__liveness *lv, int mode, char *why, size_t why_len);

/*
 * Without the ring, start the watcher thread (watcher.h); where it cannot
 * start the waits keep polling the pidfds between slices.
 */
void shmar__liveness_watch(struct shmar__liveness *lv);

/* Sleep while *word == seen, at most timeout_ns; with the ring or the
 * watcher a peer's exit ends the sleep at once. */
void shmar__liveness_sleep(struct shmar__liveness *lv, _Atomic uint32_t *word, uint32_t seen,
			   uint64_t timeout_ns);
/* A wait ended: take back whatever the ring still has queued for it. */
void shmar__liveness_settle(struct shmar__liveness *lv);

#endif /* LIBSHMAR_LIVENESS_H */
