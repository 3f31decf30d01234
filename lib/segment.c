/* SPDX-License-Identifier: MIT */
/*
 * segment.c - create, seal, verify, map and pre-fault the shared segment.
 *
 * The segment is a memfd: it has no name in any file system, so nothing can
 * leak into /dev/shm, and the kernel frees it when the last rank unmaps it,
 * SIGKILL included.  Seals stop any rank from shrinking it under the others,
 * which is what would turn an access into SIGBUS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <unistd.h>

#include "shmar.h"
#include "macro.h"
#include "segment.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3 */
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SHMAR_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

_Static_assert(sizeof(struct shmar__seg_header) <= SHMAR_PAGE, "header fits its page");
_Static_assert(sizeof(struct shmar__ctl) == 512, "control block is eight lines");
_Static_assert(offsetof(struct shmar__ctl, sleepers) == 128, "sleepers 128 bytes from post");
_Static_assert(offsetof(struct shmar__ctl, stream) == 256, "stream counters on their own line");
_Static_assert(offsetof(struct shmar__ctl, stream_sleepers) == 384,
	       "their sleepers 128 bytes away");
_Static_assert(sizeof(struct shmar__desc) * 2 + 8 <= SHMAR_CACHELINE, "post and descs share a line");

static bool in_range(size_t v, size_t lo, size_t hi)
{
	return v >= lo && v <= hi;
}

int shmar__layout_compute(const struct shmar__geometry *g, struct shmar__layout *l)
{
	size_t ctl_end, regions, stream;

	if (g->nranks < 1 || g->nranks > SHMAR_MAX_RANKS ||
	    !in_range(g->slot_bytes, SHMAR_SLOT_MIN, SHMAR_SLOT_MAX) ||
	    !in_range(g->chunk_bytes, SHMAR_CHUNK_MIN, SHMAR_CHUNK_MAX) || g->heap_bytes > SHMAR_HEAP_MAX)
		return -EINVAL;

	memset(l, 0, sizeof(*l));
	l->nranks = g->nranks;
	/* Whole pages everywhere: each rank's pages are its own, for first touch. */
	l->slot_bytes = SHMAR_ALIGN_UP(g->slot_bytes, SHMAR_PAGE);
	l->chunk_bytes = SHMAR_ALIGN_UP(g->chunk_bytes, SHMAR_PAGE);
	l->heap_bytes = SHMAR_ALIGN_UP(g->heap_bytes, SHMAR_PAGE);
	l->ctl_off = SHMAR_PAGE;
	l->ctl_stride = sizeof(struct shmar__ctl);
	ctl_end = l->ctl_off + (size_t)g->nranks * l->ctl_stride;
	l->data_off = SHMAR_ALIGN_UP(ctl_end, SHMAR_PAGE);
	stream = (size_t)SHMAR_STREAM_REGIONS * l->chunk_bytes;
	l->stream_off = 2 * l->slot_bytes;
	l->heap_off = l->stream_off + stream;
	l->region_stride = l->heap_off + l->heap_bytes;
	if (__builtin_mul_overflow(l->region_stride, (size_t)g->nranks, &regions) ||
	    __builtin_add_overflow(l->data_off, regions, &l->total_bytes) ||
	    l->total_bytes > (size_t)INT64_MAX)
		return -EOVERFLOW;
	return 0;
}

static int memfd_create_sealable(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);

	/* Kernels before 6.3 refuse the unknown flag with EINVAL. */
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return fd < 0 ? -errno : fd;
}

int shmar__segment_create(const char *job, const struct shmar__layout *l)
{
	char name[16 + SHMAR_JOB_MAX];
	int fd, err;

	snprintf(name, sizeof(name), "shmar:%s", job);
	fd = memfd_create_sealable(name);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)l->total_bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, SHMAR_SEALS) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int shmar__segment_verify(int fd, size_t size)
{
	struct stat st;
	int seals;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return errno == EINVAL ? -EPROTO : -errno; /* not a sealable memfd */
	if ((seals & SHMAR_SEALS) != SHMAR_SEALS)
		return -EPROTO;
	/* A write seal would make our shared writable mapping fail. */
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		return -EPROTO;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)size)
		return -EPROTO;
	return 0;
}

int shmar__segment_map(int fd, size_t size, void **base)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*base = p;
	return 0;
}

void shmar__segment_unmap(void *base, size_t size)
{
	if (base)
		munmap(base, size);
}

void shmar__segment_header_init(void *base, const struct shmar__layout *l, size_t small_max)
{
	struct shmar__seg_header *h = shmar__seg_hdr(base);

	h->version = SHMAR_SEG_VERSION;
	h->nranks = l->nranks;
	h->ctl_stride = (uint32_t)l->ctl_stride;
	h->total_bytes = l->total_bytes;
	h->ctl_off = l->ctl_off;
	h->data_off = l->data_off;
	h->slot_bytes = l->slot_bytes;
	h->region_stride = l->region_stride;
	h->chunk_bytes = l->chunk_bytes;
	h->stream_off = l->stream_off;
	h->heap_off = l->heap_off;
	h->heap_bytes = l->heap_bytes;
	h->small_max = small_max;
	atomic_store_explicit(&h->abort_word, 0, memory_order_relaxed);
	/* The magic last: a header with the magic is complete. */
	atomic_thread_fence(memory_order_release);
	h->magic = SHMAR_SEG_MAGIC;
}

int shmar__segment_header_check(const void *base, size_t mapped, unsigned nranks,
				struct shmar__layout *l, size_t *small_max)
{
	const struct shmar__seg_header *h = base;
	struct shmar__geometry g;
	struct shmar__layout want;

	if (mapped < SHMAR_PAGE || h->magic != SHMAR_SEG_MAGIC || h->version != SHMAR_SEG_VERSION)
		return -EPROTO;
	if (h->nranks != nranks || h->slot_bytes > SIZE_MAX || h->chunk_bytes > SIZE_MAX ||
	    h->heap_bytes > SIZE_MAX)
		return -EPROTO;
	/* Never trust the stored offsets: recompute them and require equality. */
	g = (struct shmar__geometry){ nranks, (size_t)h->slot_bytes, (size_t)h->chunk_bytes,
				      (size_t)h->heap_bytes };
	if (shmar__layout_compute(&g, &want) < 0)
		return -EPROTO;
	if (want.slot_bytes != h->slot_bytes || want.ctl_off != h->ctl_off ||
	    want.ctl_stride != h->ctl_stride || want.data_off != h->data_off ||
	    want.region_stride != h->region_stride || want.total_bytes != h->total_bytes ||
	    want.chunk_bytes != h->chunk_bytes || want.stream_off != h->stream_off ||
	    want.heap_off != h->heap_off || want.heap_bytes != h->heap_bytes ||
	    want.total_bytes != mapped)
		return -EPROTO;
	if (h->small_max > want.slot_bytes)
		return -EPROTO;
	*l = want;
	*small_max = (size_t)h->small_max;
	return 0;
}

static void touch_pages(void *p, size_t bytes, int write)
{
	volatile char *c = p;
	size_t off;

	if (madvise(p, bytes, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
		return;
	/* Kernels before 5.14: fault each page by hand. */
	for (off = 0; off < bytes; off += SHMAR_PAGE) {
		if (write)
			c[off] = 0;
		else
			(void)c[off];
	}
}

int shmar__segment_touch_own(void *base, const struct shmar__layout *l, unsigned rank)
{
	struct shmar__ctl *ctl = shmar__seg_ctl(base, l, rank);

	memset(ctl, 0, sizeof(*ctl));
	touch_pages(shmar__seg_region(base, l, rank), l->heap_off, 1);
	return 0;
}

void shmar__segment_prefault_peers(void *base, const struct shmar__layout *l, unsigned rank)
{
	unsigned r;

	touch_pages((char *)base + l->ctl_off, l->data_off - l->ctl_off, 0);
	for (r = 0; r < l->nranks; r++)
		if (r != rank)
			touch_pages(shmar__seg_region(base, l, r), l->heap_off, 0);
}

/* The whole pages around [p, p + bytes). */
static void page_span(void *p, size_t bytes, char **start, size_t *len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(SHMAR_PAGE - 1);
	uintptr_t b = SHMAR_ALIGN_UP((uintptr_t)p + bytes, SHMAR_PAGE);

	*start = (char *)a;
	*len = b - a;
}

void shmar__segment_touch(void *p, size_t bytes)
{
	char *start;
	size_t len;

	/* MADV_POPULATE_WRITE changes no byte; the fallback writes only p's own */
	page_span(p, bytes, &start, &len);
	if (madvise(start, len, MADV_POPULATE_WRITE) < 0)
		touch_pages(p, bytes, 1);
}

void shmar__segment_prefault(void *p, size_t bytes)
{
	char *start;
	size_t len;

	page_span(p, bytes, &start, &len);
	touch_pages(start, len, 0);
}
