/* SPDX-License-Identifier: MIT */
/*
 * ring.h - one io_uring per comm that sleeps on a futex word *and* watches
 * every peer's pidfd, so a death wakes a sleeping waiter at once.
 *
 * Needs liburing at build time and IORING_OP_FUTEX_WAIT (Linux 6.7) at run
 * time; without either, or when io_uring is blocked (seccomp,
 * kernel.io_uring_disabled), the liveness falls back to its watcher thread.
 * No liburing type leaks out of this file.
 */
#ifndef LIBSHMAR_RING_H
#define LIBSHMAR_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct shmar__ring;

/*
 * A ring watching, for every rank r != self, pidfds[r] and socks[r] where
 * >= 0 (exited[r] is set when either fires: the process exited, or the
 * connection hung up).  0 and *out, or -ENOTSUP (no liburing, no futex
 * opcode) or what io_uring_setup said (-EPERM, -ENOSYS, -ENOMEM).
 */
int shmar__ring_open(struct shmar__ring **out, const int *pidfds, const int *socks, int nranks,
		     int self, bool *exited);
void shmar__ring_close(struct shmar__ring *ring);

/* Whether a ring can be set up here (0, -ENOPKG without liburing, or
 * io_uring_setup's error) and has the futex wait opcode. */
int shmar__ring_probe(bool *futex_wait);

/*
 * Sleep while *word == seen, at most timeout_ns, or until a watched process
 * exits.  A futex wait already queued on the same word is reused.
 */
void shmar__ring_sleep(struct shmar__ring *ring, _Atomic uint32_t *word, uint32_t seen,
		       uint64_t timeout_ns);
/* Take back a futex wait still queued: called when a wait ends. */
void shmar__ring_settle(struct shmar__ring *ring);
/* Collect completions without sleeping (pidfds that fired). */
void shmar__ring_reap(struct shmar__ring *ring);

#endif /* LIBSHMAR_RING_H */
