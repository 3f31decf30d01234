/* SPDX-License-Identifier: MIT */
/*
 * liveness.c - the peers' pidfds and connections, and who watches them
 * (liveness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "futex.h"
#include "liveness.h"
#include "ring.h"
#include "watcher.h"

static int liveness_alloc(struct shmar__liveness *lv, int nranks)
{
	lv->pids = calloc((size_t)nranks, sizeof(*lv->pids));
	lv->pidfds = malloc((size_t)nranks * sizeof(*lv->pidfds));
	lv->socks = malloc((size_t)nranks * sizeof(*lv->socks));
	lv->exited = calloc((size_t)nranks, sizeof(*lv->exited));
	if (!lv->pids || !lv->pidfds || !lv->socks || !lv->exited)
		return -ENOMEM;
	for (int r = 0; r < nranks; r++)
		lv->pidfds[r] = lv->socks[r] = -1;
	return 0;
}

static void adopt(int *dst, int *src)
{
	*dst = *src;
	*src = -1;
}

/* A pidfd of rank r's process, or -1 where the kernel gives none. */
static int open_pidfd(struct shmar__liveness *lv, int r, struct shmar__report *rep)
{
	int fd = shmar__pidfd_open(lv->pids[r]);

	if (fd >= 0) {
		lv->pidfds[r] = fd;
		return 0;
	}
	if (fd == -ESRCH) {
		/* It exited after the job formed (it may have finished its
		 * part): a collective that needs it reports the death. */
		lv->exited[r] = true;
		return 0;
	}
	if (fd == -ENOSYS || fd == -EPERM)
		return 0; /* no pidfds (seccomp, valgrind, Linux < 5.3): pid_gone() */
	if (fd == -EMFILE || fd == -ENFILE)
		return shmar__fail_fds(rep, fd, "cannot watch the peers (pidfd_open)", lv->nranks);
	return shmar__fail(rep, fd, "cannot watch rank %d (pid %d): pidfd_open: %s", r,
			   (int)lv->pids[r], strerror(-fd));
}

int shmar__liveness_init(struct shmar__liveness *lv, int nranks, int self, const pid_t *pids,
			 int *pidfds, int *socks, struct shmar__report *rep)
{
	int err;

	memset(lv, 0, sizeof(*lv));
	lv->nranks = nranks;
	lv->self = self;
	err = liveness_alloc(lv, nranks);
	if (err < 0) {
		err = shmar__fail(rep, err, "out of memory");
		goto fail;
	}
	memcpy(lv->pids, pids, (size_t)nranks * sizeof(*pids));
	for (int r = 0; r < nranks; r++) {
		if (r == self)
			continue;
		lv->socks[r] = socks[r]; /* borrowed: the comm owns the connections */
		if (pidfds && pidfds[r] >= 0)
			adopt(&lv->pidfds[r], &pidfds[r]);
		else if ((err = open_pidfd(lv, r, rep)) < 0)
			goto fail;
	}
	return 0;
fail:
	shmar__liveness_fini(lv);
	return err;
}

void shmar__liveness_fini(struct shmar__liveness *lv)
{
	shmar__watcher_stop(lv->watcher); /* before its fds close */
	shmar__ring_close(lv->ring);
	for (int r = 0; r < lv->nranks && lv->pidfds; r++) {
		if (lv->pidfds[r] >= 0)
			close(lv->pidfds[r]);
	}
	free(lv->pids);
	free(lv->pidfds);
	free(lv->socks);
	free(lv->exited);
	memset(lv, 0, sizeof(*lv));
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

/* Look at rank's fds now (nobody watches them for us). */
static bool fds_say_gone(struct shmar__liveness *lv, int rank)
{
	struct pollfd pfd[2] = {
		{ .fd = lv->pidfds[rank], .events = POLLIN },
		{ .fd = lv->socks[rank], .events = POLLRDHUP },
	};

	return poll(pfd, 2, 0) > 0; /* negative fds are skipped */
}

int shmar__liveness_check_rank(struct shmar__liveness *lv, int rank)
{
	if (rank == lv->self)
		return 0;
	if (lv->ring) /* the ring has been watching: no system call */
		shmar__ring_reap(lv->ring);
	if (lv->watcher) /* before exited[]: a death after this ends the next sleep */
		lv->gen_seen = atomic_load_explicit(shmar__watcher_gen(lv->watcher),
						    memory_order_seq_cst);
	if (__atomic_load_n(&lv->exited[rank], __ATOMIC_ACQUIRE))
		return -EOWNERDEAD;
	/* nothing can watch a process without a pidfd: ask about its pid */
	if (lv->pidfds[rank] < 0 && pid_gone(lv->pids[rank]))
		goto gone;
	if (lv->ring || (lv->watcher && shmar__watcher_alive(lv->watcher)))
		return 0; /* it is watching that rank's fds */
	if (fds_say_gone(lv, rank))
		goto gone;
	return 0;
gone:
	__atomic_store_n(&lv->exited[rank], true, __ATOMIC_RELEASE);
	return -EOWNERDEAD;
}

static int start_watcher(struct shmar__liveness *lv, struct shmar__report *rep)
{
	int err = shmar__watcher_start(&lv->watcher, lv->pidfds, lv->socks, lv->nranks, lv->self,
				       lv->exited);

	if (err == -EAGAIN)
		return 0; /* no thread to be had: the waits look between slices */
	if (err == -EMFILE || err == -ENFILE)
		return shmar__fail_fds(rep, err, "cannot start the liveness thread", lv->nranks);
	if (err < 0)
		return shmar__fail(rep, err, "cannot start the liveness thread: %s", strerror(-err));
	return 0;
}

int shmar__liveness_start(struct shmar__liveness *lv, int mode, struct shmar__report *rep)
{
	int err = -ENOTSUP;

	if (lv->nranks < 2)
		return 0;
	if (mode != 0)
		err = shmar__ring_open(&lv->ring, lv->pidfds, lv->socks, lv->nranks, lv->self,
				       lv->exited);
	if (err < 0 && mode > 0)
		return shmar__fail(rep, err, "SHMAR_IO_URING=1 but io_uring cannot be used here: %s",
				   err == -ENOTSUP ? "no futex wait opcode (Linux 6.7) or built without liburing"
						   : strerror(-err));
	if (err < 0)
		return start_watcher(lv, rep);
	return 0;
}

enum shmar__sleep_path shmar__liveness_path(const struct shmar__liveness *lv)
{
	if (lv->ring)
		return SHMAR_SLEEP_RING;
	if (lv->watcher && !lv->no_waitv)
		return SHMAR_SLEEP_WATCHER;
	return SHMAR_SLEEP_SLICES;
}

const char *shmar__sleep_path_name(enum shmar__sleep_path path)
{
	switch (path) {
	case SHMAR_SLEEP_RING: return "io_uring ring";
	case SHMAR_SLEEP_WATCHER: return "watcher thread + FUTEX_WAITV";
	default: return "futex slices";
	}
}

int shmar__liveness_predict(int mode)
{
	bool futex_wait = false;
	int fd;

	if (mode != 0 && shmar__ring_probe(&futex_wait) == 0 && futex_wait)
		return SHMAR_SLEEP_RING;
	if (mode > 0)
		return -ENOTSUP;
	/* the watcher wakes sleepers only where it has pidfds to poll */
	fd = shmar__pidfd_open(getpid());
	if (fd < 0)
		return SHMAR_SLEEP_SLICES;
	close(fd);
	return shmar__futex_waitv_supported() ? SHMAR_SLEEP_WATCHER : SHMAR_SLEEP_SLICES;
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
