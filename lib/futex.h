/* SPDX-License-Identifier: MIT */
/*
 * futex.h - the system calls the wait engine and liveness make directly:
 * shared futexes and pidfd_open.  Kept in their own file so a test can wrap
 * them with -Wl,--wrap (which misses calls from within the same file).
 */
#ifndef LIBSHMAR_FUTEX_H
#define LIBSHMAR_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* Sleep while *word == expected, at most timeout_ns (< 0: forever).
 * 0 when woken, -EAGAIN if *word differed, -ETIMEDOUT, -EINTR. */
int shmar__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
/* Wake up to n sleepers on word; the number woken or -errno. */
int shmar__futex_wake(_Atomic uint32_t *word, int n);

/* A pidfd of the process (close-on-exec by nature), or -errno. */
int shmar__pidfd_open(pid_t pid);

#endif /* LIBSHMAR_FUTEX_H */
