/* SPDX-License-Identifier: MIT */
/*
 * futex.h - the system calls the wait engine and liveness make directly:
 * shared futexes and pidfd_open.  Kept in their own file so a test can wrap
 * them with -Wl,--wrap (which misses calls from within the same file).
 */
#ifndef LIBSHMAR_FUTEX_H
#define LIBSHMAR_FUTEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Sleep while *word == expected, at most timeout_ns (< 0: forever).
 * 0 when woken, -EAGAIN if *word differed, -ETIMEDOUT, -EINTR. */
int shmar__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
/* Wake up to n sleepers on word; the number woken or -errno. */
int shmar__futex_wake(_Atomic uint32_t *word, int n);

/*
 * Sleep while *word == expected (shared) and *gen == gen_seen (a private word
 * of this process), at most timeout_ns: FUTEX_WAITV, Linux 5.16.  0 when
 * woken, -EAGAIN if either differed, -ETIMEDOUT, -EINTR, -ENOSYS where the
 * kernel (or valgrind) lacks it.
 */
int shmar__futex_wait2(_Atomic uint32_t *word, uint32_t expected, _Atomic uint32_t *gen,
		       uint32_t gen_seen, int64_t timeout_ns);
/* Whether the kernel (and valgrind) has FUTEX_WAITV. */
bool shmar__futex_waitv_supported(void);
/* Wake every sleeper on a private word of this process. */
int shmar__futex_wake_private(_Atomic uint32_t *word);

/* A pidfd of the process (close-on-exec by nature), or -errno. */
int shmar__pidfd_open(pid_t pid);

#endif /* LIBSHMAR_FUTEX_H */
