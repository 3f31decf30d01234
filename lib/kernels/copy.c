/* SPDX-License-Identifier: MIT */
/*
 * copy.c - the collectives' large copies.
 *
 * Once the source and the destination of a copy no longer fit in the
 * last-level cache together, keeping the destination there only pushes out
 * what the ranks still need, and it is pushed out itself before anyone
 * reads it.  From there on the destination is written with non-temporal
 * stores, which go to memory without first reading each line in (a regular
 * store reads the line it writes: a third of a copy's traffic).  Below,
 * memcpy.
 *
 * The threshold is half the last-level cache, read once from sysfs
 * (sysconf's answer can be the whole package's: 256 MiB on a Zen 2 guest
 * whose L3 is 16 MiB per core complex).  Measured there (tests/bench-kernels
 * -c, one thread, medians): from a warm cache memcpy is faster up to about
 * 5 MiB (4 MiB: 57 GB/s against 45), streaming from about 6 MiB on (8 MiB:
 * 43 GB/s against 24; 16-64 MiB: 21-28 against 16-17); from a cold cache
 * streaming is faster at every size (16-64 MiB: 23-28 GB/s against 17-18).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/kernels.h"

#define CACHE_DIR "/sys/devices/system/cpu/cpu0/cache"

/* The copy size from which to stream when the system says nothing. */
#define DEFAULT_NT_MIN (8u << 20)

/* One line of a sysfs file, 0 on success. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = -1;

	if (f) {
		if (fgets(buf, (int)len, f))
			err = 0;
		fclose(f);
	}
	return err;
}

/* "16384K" and the like, in bytes; 0 if unreadable. */
static size_t parse_cache_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'K': return (size_t)v << 10;
	case 'M': return (size_t)v << 20;
	case 'G': return (size_t)v << 30;
	case '\n': case '\0': return (size_t)v;
	default: return 0;
	}
}

/* The data or unified cache of the highest level cpu0 sees in sysfs. */
static size_t llc_from_sysfs(void)
{
	size_t bytes = 0;
	int best_level = 0;

	for (int index = 0; index < 16; index++) {
		char path[96], line[32];
		int level;

		snprintf(path, sizeof(path), CACHE_DIR "/index%d/level", index);
		if (read_line(path, line, sizeof(line)))
			break;
		level = atoi(line);
		snprintf(path, sizeof(path), CACHE_DIR "/index%d/type", index);
		if (level <= best_level || read_line(path, line, sizeof(line)) ||
		    !strncmp(line, "Instruction", 11))
			continue;
		snprintf(path, sizeof(path), CACHE_DIR "/index%d/size", index);
		if (!read_line(path, line, sizeof(line)) && parse_cache_size(line)) {
			bytes = parse_cache_size(line);
			best_level = level;
		}
	}
	return bytes;
}

static size_t llc_from_sysconf(void)
{
	long v = -1;

#ifdef _SC_LEVEL3_CACHE_SIZE
	v = sysconf(_SC_LEVEL3_CACHE_SIZE);
	if (v <= 0)
		v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
	return v > 0 ? (size_t)v : 0;
}

size_t shmar__llc_bytes(void)
{
	static size_t cached; /* racing threads all store the same value */
	size_t bytes = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (!bytes) {
		bytes = llc_from_sysfs();
		if (!bytes)
			bytes = llc_from_sysconf();
		if (!bytes)
			return 0;
		__atomic_store_n(&cached, bytes, __ATOMIC_RELAXED);
	}
	return bytes;
}

size_t shmar__copy_nt_min(void)
{
	size_t llc = shmar__llc_bytes();

	return llc ? llc / 2 : DEFAULT_NT_MIN;
}

void shmar__copy_stream(void *dst, const void *src, size_t bytes)
{
#if defined(__SSE2__)
	char *d = dst;
	const char *s = src;
	size_t head = (64 - ((uintptr_t)d & 63)) & 63;

	/* up to the first whole line of dst with regular stores */
	if (head > bytes)
		head = bytes;
	memcpy(d, s, head);
	d += head;
	s += head;
	bytes -= head;
	/* whole lines: each one fills a write-combining buffer and goes out */
	for (; bytes >= 64; bytes -= 64, d += 64, s += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));

		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	/* non-temporal stores are weakly ordered: fence them before anything
	 * the caller stores next (the flag that tells the peers to read) */
	_mm_sfence();
	memcpy(d, s, bytes);
#else
	memcpy(dst, src, bytes);
#endif
}

void shmar__copy_cached(void *dst, const void *src, size_t bytes)
{
	memcpy(dst, src, bytes);
}

void shmar__copy(void *dst, const void *src, size_t bytes)
{
	if (bytes >= shmar__copy_nt_min())
		shmar__copy_stream(dst, src, bytes);
	else
		memcpy(dst, src, bytes);
}
