/* SPDX-License-Identifier: MIT */
/*
 * futex.c - FUTEX_WAIT / FUTEX_WAKE on words in the shared segment.
 *
 * The segment is a MAP_SHARED memfd mapping in several processes, so these are
 * deliberately *not* FUTEX_PRIVATE_FLAG: the kernel keys them by inode and
 * offset, not by address space.  The one private word is the liveness
 * watcher's death count (watcher.c), which only this process's threads use.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"

int shmar__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0) == 0)
		return 0;
	return -errno;
}

int shmar__futex_wake(_Atomic uint32_t *word, int n)
{
	long woken = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);

	return woken < 0 ? -errno : (int)woken;
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* Linux 5.16 */
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
struct futex_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t __reserved;
};
#endif

int shmar__futex_wait2(_Atomic uint32_t *word, uint32_t expected, _Atomic uint32_t *gen,
		       uint32_t gen_seen, int64_t timeout_ns)
{
	struct futex_waitv w[2] = {
		{ .val = expected, .uaddr = (uintptr_t)word, .flags = FUTEX_32 },
		{ .val = gen_seen, .uaddr = (uintptr_t)gen, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
	};
	struct timespec ts;

	/* futex_waitv takes an absolute time */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ns / 1000000000;
	ts.tv_nsec += timeout_ns % 1000000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_MONOTONIC) >= 0)
		return 0;
	return -errno;
}

bool shmar__futex_waitv_supported(void)
{
	/* no waiters: EINVAL where the call exists, ENOSYS where it does not */
	return syscall(SYS_futex_waitv, NULL, 0, 0, NULL, CLOCK_MONOTONIC) < 0 && errno != ENOSYS;
}

int shmar__futex_wake_private(_Atomic uint32_t *word)
{
	long woken = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL,
			     0);

	return woken < 0 ? -errno : (int)woken;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif

int shmar__pidfd_open(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}
