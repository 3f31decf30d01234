/* SPDX-License-Identifier: MIT */
/*
 * futex.c - FUTEX_WAIT / FUTEX_WAKE on words in the shared segment.
 *
 * The segment is a MAP_SHARED memfd mapping in several processes, so these are
 * deliberately *not* FUTEX_PRIVATE_FLAG: the kernel keys them by inode and
 * offset, not by address space.
 */
#include <errno.h>
#include <linux/futex.h>
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

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif

int shmar__pidfd_open(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}
