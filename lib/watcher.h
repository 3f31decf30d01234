/* SPDX-License-Identifier: MIT */
/*
 * watcher.h - a thread that sleeps on the peers' pidfds, for kernels whose
 * io_uring cannot sleep on a futex (before Linux 6.7, Debian 12's 6.1
 * among them) or where io_uring is off.
 *
 * When a peer exits (its pidfd fires) or hangs up (its connection, which an
 * exec closes too) the thread marks it in exited[] and bumps a private
 * death count; a waiter sleeps on its peer's post word and on that count at
 * once (FUTEX_WAITV, Linux 5.16), so a death ends the sleep at once instead
 * of at the end of a slice.
 */
#ifndef LIBSHMAR_WATCHER_H
#define LIBSHMAR_WATCHER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct shmar__watcher;

/*
 * Watch pidfds[r] and socks[r] where >= 0 (r != self) and set exited[r]
 * (atomically) when one fires.  0 and *out, or -errno when the thread or its
 * eventfd cannot be made.
 */
int shmar__watcher_start(struct shmar__watcher **out, const int *pidfds, const int *socks,
			 int nranks, int self, bool *exited);
/* Stop and free it; in a forked child (where the thread does not exist) only free. */
void shmar__watcher_stop(struct shmar__watcher *w);
/* The death count: read it before looking at exited[], then sleep on it. */
_Atomic uint32_t *shmar__watcher_gen(struct shmar__watcher *w);
/* False once the thread has ended on an error: poll again. */
bool shmar__watcher_alive(const struct shmar__watcher *w);

#endif /* LIBSHMAR_WATCHER_H */
