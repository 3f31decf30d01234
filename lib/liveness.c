/* SPDX-License-Identifier: MIT */
/*
 * liveness.c - pidfds of the peers, and the poll that tells who died.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "futex.h"
#include "liveness.h"
#include "ring.h"
#include "watcher.h"

static int liveness_alloc(struct shmar__liveness *lv, int nranks)
{
	lv->pids = calloc((size_t)nranks, sizeof(*lv->pids));
	lv->pidfds = malloc((size_t)nranks * sizeof(*lv->pidfds));
	lv->pfds = calloc((size_t)nranks, sizeof(*lv->pfds));
	lv->pfd_rank = calloc((size_t)nranks, sizeof(*lv->pfd_rank));
	lv->exited = calloc((size_t)nranks, sizeof(*lv->exited));
	if (!lv->pids || !lv->pidfds || !lv->pfds || !lv->pfd_rank || !lv->exited)
		return -ENOMEM;
	for (int r = 0; r < nranks; r++)
		lv->pidfds[r] = -1;
	return 0;
}

int shmar__liveness_init(struct shmar__liveness *lv, int nranks, int self, const pid_t *pids,
			 int *pidfds, int *bad_rank)
{
	int r, err;

	memset(lv, 0, sizeof(*lv));
	lv->nranks = nranks;
	lv->self = self;
	err = liveness_alloc(lv, nranks);
	if (err < 0)
		goto fail;
	memcpy(lv->pids, pids, (size_t)nranks * sizeof(*pids));
	for (r = 0; r < nranks; r++) {
		if (r == self)
			continue;
		if (pidfds && pidfds[r] >= 0) {
			lv->pidfds[r] = pidfds[r]; /* adopted */
			pidfds[r] = -1;
		} else {
			lv->pidfds[r] = shmar__pidfd_open(pids[r]);
			if (lv->pidfds[r] == -ESRCH) {
				/*
				 * It exited after the job formed (it may have
				 * finished its part): a collective that needs it
				 * reports the death, not init.
				 */
				lv->pidfds[r] = -1;
				lv->exited[r] = true;
				continue;
			}
			if (lv->pidfds[r] == -ENOSYS || lv->pidfds[r] == -EPERM) {
				/* no pidfds here (seccomp, valgrind, Linux < 5.3):
				 * pid_gone() looks at the pid itself */
				lv->pidfds[r] = -1;
				continue;
			}
			if (lv->pidfds[r] < 0) {
				err = lv->pidfds[r];
				lv->pidfds[r] = -1;
				*bad_rank = r;
				goto fail;
			}
		}
		lv->pfds[lv->npfds].fd = lv->pidfds[r];
		lv->pfds[lv->npfds].events = POLLIN;
		lv->pfd_rank[lv->npfds] = r;
		lv->npfds++;
	}
	return 0;
fail:
	shmar__liveness_fini(lv);
	return err;
}

void shmar__liveness_fini(struct shmar__liveness *lv)
{
	shmar__watcher_stop(lv->watcher); /* before its pidfds close */
	shmar__ring_close(lv->ring);
	if (lv->pidfds)
		for (int r = 0; r < lv->nranks; r++)
			if (lv->pidfds[r] >= 0)
				close(lv->pidfds[r]);
	free(lv->pids);
	free(lv->pidfds);
	free(lv->pfds);
	free(lv->pfd_rank);
	free(lv->exited);
	memset(lv, 0, sizeof(*lv));
}

int shmar__liveness_check(struct shmar__liveness *lv, int *dead_rank)
{
	int n = poll(lv->pfds, (nfds_t)lv->npfds, 0);

	if (n <= 0)
		return 0; /* nobody exited (or EINTR: look again next time) */
	for (int i = 0; i < lv->npfds; i++) {
		if (lv->pfds[i].revents) {
			*dead_rank = lv->pfd_rank[i];
			return -EOWNERDEAD;
		}
	}
	return 0;
}

/* Without a pidfd: gone if the pid no longer exists or is a zombie. */
static bool pid_gone(pid_t pid)
{
	char path[64], buf[256], *close_paren;
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* no /proc: kill() said it exists */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	close_paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

int shmar__liveness_check_rank(struct shmar__liveness *lv, int rank)
{
	struct pollfd pfd = { .fd = lv->pidfds[rank], .events = POLLIN };

	if (rank == lv->self)
		return 0;
	if (lv->ring) /* the ring has been watching: no system call */
		shmar__ring_reap(lv->ring);
	if (lv->watcher) /* before exited[]: a death after this ends the next sleep */
		lv->gen_seen = atomic_load_explicit(shmar__watcher_gen(lv->watcher),
						    memory_order_seq_cst);
	if (__atomic_load_n(&lv->exited[rank], __ATOMIC_ACQUIRE))
		return -EOWNERDEAD;
	if (lv->ring)
		return 0;
	if (pfd.fd < 0)
		return pid_gone(lv->pids[rank]) ? -EOWNERDEAD : 0;
	if (lv->watcher && shmar__watcher_alive(lv->watcher))
		return 0; /* the thread is watching that pidfd */
	return poll(&pfd, 1, 0) > 0 ? -EOWNERDEAD : 0;
}

int shmar__liveness_ring_open(struct shmar__liveness *lv, int mode, char *why, size_t why_len)
{
	int err = 0;

	if (mode == 0 || lv->nranks < 2)
		return 0;
	lv->ring = shmar__ring_open(lv->pidfds, lv->nranks, lv->self, lv->exited, &err);
	if (lv->ring || mode < 0)
		return 0; /* the fallback serves */
	snprintf(why, why_len, "SHMAR_IO_URING=1 but io_uring cannot be used here: %s",
		 err == -ENOTSUP ? "no futex wait opcode (Linux 6.7) or built without liburing"
				 : strerror(-err));
	return err;
}

void shmar__liveness_watch(struct shmar__liveness *lv)
{
	if (!lv->ring && lv->nranks > 1)
		lv->watcher = shmar__watcher_start(lv->pidfds, lv->nranks, lv->self, lv->exited);
}

void shmar__liveness_sleep(struct shmar__liveness *lv, _Atomic uint32_t *word, uint32_t seen,
			   uint64_t timeout_ns)
{
	if (lv->ring) {
		shmar__ring_sleep(lv->ring, word, seen, timeout_ns);
		return;
	}
	if (lv->watcher && !lv->no_waitv) {
		if (shmar__futex_wait2(word, seen, shmar__watcher_gen(lv->watcher), lv->gen_seen,
				       (int64_t)timeout_ns) != -ENOSYS)
			return;
		lv->no_waitv = true; /* Linux < 5.16, or valgrind: sleep in slices */
	}
	shmar__futex_wait(word, seen, (int64_t)timeout_ns);
}

void shmar__liveness_settle(struct shmar__liveness *lv)
{
	if (lv->ring)
		shmar__ring_settle(lv->ring);
}
