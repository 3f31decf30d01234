/* SPDX-License-Identifier: MIT */
/*
 * liveness.h - knowing, without polling in a loop, that a peer is gone.
 *
 * Every rank holds a pidfd per peer: it becomes readable when that process
 * exits, however it exits (SIGKILL included).  The rendezvous connections
 * are kept too (rank 0 has one to every peer, every peer one to rank 0):
 * they close when the peer exits *or execs* (they are close-on-exec), and an
 * exec keeps the pid, so only the connection tells that the process can no
 * longer take part.
 *
 * Who watches: one io_uring that also sleeps on the futex (Linux 6.7), else a
 * thread that polls the fds and wakes sleepers through FUTEX_WAITV (Linux
 * 5.16), else the waits look at the fds between bounded futex sleeps.
 */
#ifndef LIBSHMAR_LIVENESS_H
#define LIBSHMAR_LIVENESS_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "report.h"

struct shmar__ring;
struct shmar__watcher;

/* How a waiter sleeps, for messages and tests. */
enum shmar__sleep_path {
	SHMAR_SLEEP_RING = 1,    /* the ring sleeps on the futex and watches the fds */
	SHMAR_SLEEP_WATCHER = 2, /* a thread watches the fds; FUTEX_WAITV sleeps */
	SHMAR_SLEEP_SLICES = 3,  /* futex sleeps of a slice, fds looked at in between */
};

struct shmar__liveness {
	int nranks;
	int self;
	pid_t *pids;          /* per rank */
	int *pidfds;          /* per rank, -1 for self or where none */
	int *socks;           /* per rank: the rendezvous connection to it, or -1 (borrowed) */
	bool *exited;         /* per rank: gone (written atomically by the ring or watcher) */
	struct shmar__ring *ring;
	struct shmar__watcher *watcher;
	uint32_t gen_seen;    /* the watcher's death count at the last check */
	bool no_waitv;        /* FUTEX_WAITV failed with ENOSYS: sleep in slices */
};

/*
 * Take the pids of all ranks and adopt pidfds[r] >= 0 (rank 0 gets them
 * with SO_PEERPIDFD; set to -1 in the array); open the missing pidfds with
 * pidfd_open().  socks[r] >= 0 are watched, not owned: they must stay open
 * until shmar__liveness_fini().  0, or -errno with the reason in rep.
 */
int shmar__liveness_init(struct shmar__liveness *lv, int nranks, int self, const pid_t *pids,
			 int *pidfds, int *socks, struct shmar__report *rep);
void shmar__liveness_fini(struct shmar__liveness *lv);

/*
 * Start watching: the ring when mode allows (-1 auto, 0 never, 1 required)
 * and the kernel has IORING_OP_FUTEX_WAIT, else the watcher thread, else
 * nothing (slices).  -errno (reason in rep) only when the ring is required
 * and unavailable, or when no thread can be made for lack of resources.
 */
int shmar__liveness_start(struct shmar__liveness *lv, int mode, struct shmar__report *rep);
enum shmar__sleep_path shmar__liveness_path(const struct shmar__liveness *lv);
const char *shmar__sleep_path_name(enum shmar__sleep_path path);
/* The path shmar__liveness_start() would take with mode on this machine, or
 * -ENOTSUP when mode requires the ring and there is none. */
int shmar__liveness_predict(int mode);

/* 0 while rank can take part, -EOWNERDEAD once it exited, exec'd or hung up. */
int shmar__liveness_check_rank(struct shmar__liveness *lv, int rank);

/* Sleep while *word == seen, at most timeout_ns; with the ring or the
 * watcher a peer's death ends the sleep at once. */
void shmar__liveness_sleep(struct shmar__liveness *lv, _Atomic uint32_t *word, uint32_t seen,
			   uint64_t timeout_ns);
/* A wait ended: take back whatever the ring still has queued for it. */
void shmar__liveness_settle(struct shmar__liveness *lv);

#endif /* LIBSHMAR_LIVENESS_H */
