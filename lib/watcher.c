/* SPDX-License-Identifier: MIT */
/*
 * watcher.c - the liveness thread of the fallback path (watcher.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "futex.h"
#include "watcher.h"

/* poll() and a few locals: a small stack is plenty */
#define WATCHER_STACK (64 * 1024)

struct shmar__watcher {
	pthread_t thread;
	pid_t owner;           /* the process the thread runs in */
	int stop_fd;           /* eventfd: destroy asks the thread to end */
	int npfds;
	struct pollfd *pfds;   /* [0] stop_fd, then the peers' pidfds and connections */
	int *pfd_rank;
	bool *exited;          /* the liveness's array, written atomically */
	_Atomic uint32_t gen;  /* deaths seen; waiters sleep on it too */
	atomic_bool alive;
};

static void mark_dead(struct shmar__watcher *w)
{
	bool died = false;

	for (int i = 1; i < w->npfds; i++) {
		if (w->pfds[i].fd < 0 || !w->pfds[i].revents)
			continue;
		__atomic_store_n(&w->exited[w->pfd_rank[i]], true, __ATOMIC_RELEASE);
		w->pfds[i].fd = -1; /* poll() skips it from now on */
		died = true;
	}
	if (died) {
		/* after exited[]: a waiter that read the old count sees the mark */
		atomic_fetch_add_explicit(&w->gen, 1, memory_order_seq_cst);
		shmar__futex_wake_private(&w->gen);
	}
}

static void *watch(void *arg)
{
	struct shmar__watcher *w = arg;

	for (;;) {
		if (poll(w->pfds, (nfds_t)w->npfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break; /* cannot happen with valid fds; the waiters poll again */
		}
		if (w->pfds[0].revents)
			return NULL; /* stopped */
		mark_dead(w);
	}
	atomic_store(&w->alive, false);
	atomic_fetch_add_explicit(&w->gen, 1, memory_order_seq_cst);
	shmar__futex_wake_private(&w->gen);
	return NULL;
}

static void watcher_free(struct shmar__watcher *w)
{
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w->pfds);
	free(w->pfd_rank);
	free(w);
}

/* The thread takes no signal meant for the application. */
static int spawn(struct shmar__watcher *w)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int err;

	if (pthread_attr_init(&attr) != 0)
		return -ENOMEM;
	pthread_attr_setstacksize(&attr, WATCHER_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, &attr, watch, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pthread_setname_np(w->thread, "shmar-watch");
	return 0;
}

static void add_fd(struct shmar__watcher *w, int fd, short events, int rank)
{
	w->pfds[w->npfds] = (struct pollfd){ .fd = fd, .events = events };
	w->pfd_rank[w->npfds++] = rank;
}

int shmar__watcher_start(struct shmar__watcher **out, const int *pidfds, const int *socks,
			 int nranks, int self, bool *exited)
{
	struct shmar__watcher *w = calloc(1, sizeof(*w));
	size_t slots = 2 * (size_t)nranks + 1;
	int err;

	if (!w)
		return -ENOMEM;
	w->exited = exited;
	w->owner = getpid();
	atomic_init(&w->gen, 0);
	atomic_init(&w->alive, true);
	w->pfds = calloc(slots, sizeof(*w->pfds));
	w->pfd_rank = calloc(slots, sizeof(*w->pfd_rank));
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = w->stop_fd < 0 ? -errno : !w->pfds || !w->pfd_rank ? -ENOMEM : 0;
	if (err < 0)
		goto fail;
	add_fd(w, w->stop_fd, POLLIN, -1);
	for (int r = 0; r < nranks; r++) {
		if (r == self)
			continue;
		if (pidfds[r] >= 0)
			add_fd(w, pidfds[r], POLLIN, r);
		if (socks[r] >= 0)
			add_fd(w, socks[r], POLLRDHUP, r); /* POLLHUP comes unasked */
	}
	err = spawn(w);
	if (err < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	watcher_free(w);
	return err;
}

void shmar__watcher_stop(struct shmar__watcher *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (getpid() == w->owner) {
		while (write(w->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(w->thread, NULL);
	}
	watcher_free(w);
}

_Atomic uint32_t *shmar__watcher_gen(struct shmar__watcher *w)
{
	return &w->gen;
}

bool shmar__watcher_alive(const struct shmar__watcher *w)
{
	return atomic_load((atomic_bool *)&w->alive);
}
