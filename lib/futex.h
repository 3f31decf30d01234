/* SPDX-License-Identifier: MIT */
/*
 * futex.h - shared (cross-process) futex calls.  Kept in their own file so a
 * test can wrap them with -Wl,--wrap.
 */
#ifndef LIBSHMAR_FUTEX_H
#define LIBSHMAR_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleep while *word == expected, at most timeout_ns (< 0: forever).
 * 0 when woken, -EAGAIN if *word differed, -ETIMEDOUT, -EINTR. */
int shmar__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
/* Wake up to n sleepers on word; the number woken or -errno. */
int shmar__futex_wake(_Atomic uint32_t *word, int n);

#endif /* LIBSHMAR_FUTEX_H */
