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
#include <sys/types.h>

struct shmar__liveness {
	int nranks;
	int self;
	pid_t *pids;          /* per rank */
	int *pidfds;          /* per rank, -1 for self */
	struct pollfd *pfds;  /* the peers' pidfds, for one poll() */
	int *pfd_rank;        /* rank of pfds[i] */
	int npfds;
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
/* pidfd of a process, or -errno. */
int shmar__pidfd_open(pid_t pid);

#endif /* LIBSHMAR_LIVENESS_H */
