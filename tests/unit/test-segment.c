/* SPDX-License-Identifier: MIT */
/*
 * test-segment.c - layout arithmetic, sealing, verification of a received
 * memfd, and the header check that guards every rank against a corrupted or
 * hostile segment.  memfd_create is wrapped (-Wl,--wrap) to play an old kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdbool.h>

#include "macro.h"
#include "segment.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* Pass-through unless a test asks to refuse MFD_NOEXEC_SEAL like Linux < 6.3. */
int __real_memfd_create(const char *name, unsigned int flags);
int __wrap_memfd_create(const char *name, unsigned int flags);
static bool mock_old_kernel;
static int memfd_calls;

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	memfd_calls++;
	if (mock_old_kernel && (flags & MFD_NOEXEC_SEAL)) {
		errno = EINVAL;
		return -1;
	}
	return __real_memfd_create(name, flags);
}

static int layout(unsigned n, size_t slot, size_t chunk, size_t heap, struct shmar__layout *l)
{
	return shmar__layout_compute(&(struct shmar__geometry){ n, slot, chunk, heap }, l);
}

static void test_layout(void **state)
{
	struct shmar__layout l;

	(void)state;
	assert_int_equal(layout(0, 1 << 20, 65536, 0, &l), -EINVAL);
	assert_int_equal(layout(257, 1 << 20, 65536, 0, &l), -EINVAL);
	assert_int_equal(layout(2, 100, 65536, 0, &l), -EINVAL);
	assert_int_equal(layout(2, SHMAR_SLOT_MAX + 1, 65536, 0, &l), -EINVAL);
	assert_int_equal(layout(2, 8192, 100, 0, &l), -EINVAL);
	assert_int_equal(layout(2, 8192, SHMAR_CHUNK_MAX + 1, 0, &l), -EINVAL);
	assert_int_equal(layout(2, 8192, 8192, SHMAR_HEAP_MAX + 1, &l), -EINVAL);
	for (unsigned n = 1; n <= 256; n = n * 2 + 1) {
		assert_int_equal(layout(n, 5000, 5000, 10000, &l), 0);
		assert_int_equal(l.slot_bytes, 8192); /* whole pages */
		assert_int_equal(l.chunk_bytes, 8192);
		assert_int_equal(l.heap_bytes, 12288);
		assert_int_equal(l.ctl_off, 4096);
		assert_int_equal(l.ctl_stride % 128, 0);
		assert_int_equal(l.data_off % 4096, 0);
		assert_true(l.data_off >= l.ctl_off + n * l.ctl_stride);
		assert_int_equal(l.stream_off, 2 * l.slot_bytes);
		assert_int_equal(l.heap_off, l.stream_off + SHMAR_STREAM_REGIONS * l.chunk_bytes);
		assert_int_equal(l.region_stride, l.heap_off + l.heap_bytes);
		assert_int_equal(l.total_bytes, l.data_off + n * l.region_stride);
	}
	/* the largest job still fits a size_t and an off_t */
	assert_int_equal(layout(256, SHMAR_SLOT_MAX, SHMAR_CHUNK_MAX, SHMAR_HEAP_MAX, &l), 0);
	assert_true(l.total_bytes > (size_t)256 * 2 * SHMAR_SLOT_MAX);
}

static void test_hot_words_on_own_lines(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct shmar__ctl, post) % 128, 0);
	assert_int_equal(offsetof(struct shmar__ctl, sleepers) % 128, 0);
	assert_int_equal(offsetof(struct shmar__ctl, state) % 64, 0);
	assert_int_equal(offsetof(struct shmar__ctl, stream) % 128, 0);
	assert_int_equal(offsetof(struct shmar__ctl, stream_sleepers) % 128, 0);
	assert_int_equal(offsetof(struct shmar__ctl, stream_sleepers) - offsetof(struct shmar__ctl, stream),
			 128);
	assert_int_equal(offsetof(struct shmar__seg_header, abort_word) % 128, 0);
	assert_true(offsetof(struct shmar__ctl, desc) + sizeof(struct shmar__desc) * 2 <= 64);
}

static int make(struct shmar__layout *l, unsigned n)
{
	assert_int_equal(layout(n, 8192, 8192, 3 * 4096, l), 0);
	return shmar__segment_create("unit", l);
}

static void test_create_sealed(void **state)
{
	struct shmar__layout l;
	int fd, seals;

	(void)state;
	fd = make(&l, 3);
	assert_true(fd >= 0);
	seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(shmar__segment_verify(fd, l.total_bytes), 0);
	/* sealed: nobody can shrink it under the other ranks */
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	close(fd);
}

static void test_old_kernel_fallback(void **state)
{
	struct shmar__layout l;
	int fd;

	(void)state;
	mock_old_kernel = true;
	memfd_calls = 0;
	fd = make(&l, 2);
	mock_old_kernel = false;
	assert_true(fd >= 0);
	assert_int_equal(memfd_calls, 2); /* tried NOEXEC_SEAL, then without */
	assert_int_equal(shmar__segment_verify(fd, l.total_bytes), 0);
	close(fd);
}

static void test_verify_refuses(void **state)
{
	struct shmar__layout l;
	char path[] = "/tmp/shmar-unit-XXXXXX";
	int fd, plain;

	(void)state;
	fd = make(&l, 2);
	assert_int_equal(shmar__segment_verify(fd, l.total_bytes + 4096), -EPROTO);
	assert_int_equal(shmar__segment_verify(fd, l.total_bytes - 4096), -EPROTO);
	close(fd);

	/* a memfd without seals: a peer could shrink it and SIGBUS us */
	plain = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(plain >= 0);
	assert_int_equal(ftruncate(plain, (off_t)l.total_bytes), 0);
	assert_int_equal(shmar__segment_verify(plain, l.total_bytes), -EPROTO);
	/* sealed but also write-sealed: our writable mapping would fail */
	assert_int_equal(fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
	assert_int_equal(shmar__segment_verify(plain, l.total_bytes), -EPROTO);
	close(plain);

	/* a regular file */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)l.total_bytes), 0);
	assert_int_equal(shmar__segment_verify(fd, l.total_bytes), -EPROTO);
	close(fd);
	/* a pipe */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_true(shmar__segment_verify(p[0], l.total_bytes) < 0);
	close(p[0]);
	close(p[1]);
}

/* Every header field a hostile or broken rank 0 could get wrong is caught. */
static void test_header_check(void **state)
{
	struct shmar__layout l, got;
	struct shmar__seg_header *h, saved;
	size_t small_max;
	void *base;
	int fd;

	(void)state;
	fd = make(&l, 4);
	assert_int_equal(shmar__segment_map(fd, l.total_bytes, &base), 0);
	close(fd);
	shmar__segment_header_init(base, &l, 4096);
	assert_int_equal(shmar__segment_header_check(base, l.total_bytes, 4, &got, &small_max), 0);
	assert_memory_equal(&got, &l, sizeof(l));
	assert_int_equal(small_max, 4096);
	assert_int_equal(shmar__segment_header_check(base, l.total_bytes, 3, &got, &small_max),
			 -EPROTO);
	assert_int_equal(shmar__segment_header_check(base, l.total_bytes - 4096, 4, &got, &small_max),
			 -EPROTO);

	h = shmar__seg_hdr(base);
	memcpy(&saved, h, sizeof(saved));
#define CORRUPT(field, value)                                                                \
	do {                                                                                 \
		h->field = value;                                                            \
		assert_int_equal(shmar__segment_header_check(base, l.total_bytes, 4, &got,   \
							     &small_max), -EPROTO);          \
		memcpy(h, &saved, sizeof(saved));                                            \
	} while (0)
	CORRUPT(magic, 0);
	CORRUPT(version, 99);
	CORRUPT(nranks, 5);
	CORRUPT(ctl_stride, 64);
	CORRUPT(total_bytes, UINT64_MAX);
	CORRUPT(ctl_off, 0);
	CORRUPT(data_off, 8);
	CORRUPT(slot_bytes, 1ull << 40);
	CORRUPT(slot_bytes, 4096);
	CORRUPT(region_stride, 1);
	CORRUPT(small_max, 1ull << 40);
	CORRUPT(chunk_bytes, 4096 * 3);
	CORRUPT(chunk_bytes, 1ull << 50);
	CORRUPT(stream_off, 0);
	CORRUPT(heap_off, 4096);
	CORRUPT(heap_bytes, 4096);
	CORRUPT(heap_bytes, 1ull << 60);
#undef CORRUPT
	assert_int_equal(shmar__segment_header_check(base, l.total_bytes, 4, &got, &small_max), 0);
	shmar__segment_unmap(base, l.total_bytes);
}

/* Touching the own region, then the peers', leaves every page of the slots
 * and the stream present, and no page of the heaps (touched per allocation). */
static void test_touch(void **state)
{
	struct shmar__layout l;
	unsigned char vec[64];
	void *base;
	int fd;

	(void)state;
	fd = make(&l, 2);
	assert_int_equal(shmar__segment_map(fd, l.total_bytes, &base), 0);
	close(fd);
	assert_true(l.region_stride / 4096 <= sizeof(vec));
	assert_int_equal(shmar__segment_touch_own(base, &l, 1), 0);
	assert_int_equal(mincore(shmar__seg_region(base, &l, 1), l.region_stride, vec), 0);
	for (size_t i = 0; i < l.region_stride / 4096; i++)
		assert_int_equal(vec[i] & 1, i < l.heap_off / 4096);
	shmar__segment_prefault_peers(base, &l, 1);
	assert_int_equal(mincore(shmar__seg_region(base, &l, 0), l.region_stride, vec), 0);
	for (size_t i = 0; i < l.region_stride / 4096; i++)
		assert_int_equal(vec[i] & 1, i < l.heap_off / 4096);
	shmar__segment_touch(shmar__seg_heap(base, &l, 0) + 4096, 4096);
	assert_int_equal(mincore(shmar__seg_heap(base, &l, 0), l.heap_bytes, vec), 0);
	assert_int_equal(vec[0] & 1, 0);
	assert_int_equal(vec[1] & 1, 1);
	assert_int_equal(vec[2] & 1, 0);
	shmar__segment_unmap(base, l.total_bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_hot_words_on_own_lines),
		cmocka_unit_test(test_create_sealed),
		cmocka_unit_test(test_old_kernel_fallback),
		cmocka_unit_test(test_verify_refuses),
		cmocka_unit_test(test_header_check),
		cmocka_unit_test(test_touch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
