/* SPDX-License-Identifier: MIT */
/*
 * clock.h - monotonic time and deadlines.
 *
 * A deadline is an absolute CLOCK_MONOTONIC time in nanoseconds.
 * SHMAR_NO_DEADLINE is "never": a timeout too large to represent saturates
 * to it instead of wrapping to a time in the past (which would make every
 * wait time out at once).
 */
#ifndef LIBSHMAR_CLOCK_H
#define LIBSHMAR_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SHMAR_NO_DEADLINE UINT64_MAX
#define SHMAR_NS_PER_MS 1000000ull

static inline uint64_t shmar__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ms as nanoseconds; 0 stays 0 (none), too many saturates to SHMAR_NO_DEADLINE. */
static inline uint64_t shmar__ms_to_ns(int64_t ms)
{
	uint64_t ns;

	if (ms <= 0)
		return 0;
	if (__builtin_mul_overflow((uint64_t)ms, SHMAR_NS_PER_MS, &ns))
		return SHMAR_NO_DEADLINE;
	return ns;
}

/* The deadline timeout_ns after now; a timeout of 0 means none. */
static inline uint64_t shmar__deadline(uint64_t now, uint64_t timeout_ns)
{
	uint64_t at;

	if (timeout_ns == 0 || __builtin_add_overflow(now, timeout_ns, &at))
		return SHMAR_NO_DEADLINE;
	return at;
}

#endif /* LIBSHMAR_CLOCK_H */
