/* SPDX-License-Identifier: MIT */
/*
 * heap.h - a rank's registered buffers: blocks of its heap in the segment.
 *
 * Only the owner allocates in its heap, so the bookkeeping is process-local
 * (a sorted array of blocks under a mutex); peers need nothing but the
 * heap's place in the segment and an offset, which a call publishes.
 */
#ifndef LIBSHMAR_HEAP_H
#define LIBSHMAR_HEAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Blocks start on this boundary and their sizes are multiples of it. */
#define SHMAR_HEAP_ALIGN 64

struct shmar__heap_block {
	size_t off;
	size_t len;
	bool used;
};

struct shmar__heap {
	pthread_mutex_t lock;
	char *base;
	size_t bytes;
	struct shmar__heap_block *blocks; /* sorted by offset, covering [0, bytes) */
	size_t nblocks, cap;
	size_t used;                      /* bytes allocated */
};

/* A heap of bytes at base (64-byte aligned); 0 or -ENOMEM. */
int shmar__heap_init(struct shmar__heap *h, char *base, size_t bytes);
void shmar__heap_fini(struct shmar__heap *h);

/* A block of at least bytes: 0 and *ptr, -ENOMEM when none is free that large. */
int shmar__heap_alloc(struct shmar__heap *h, size_t bytes, void **ptr);
/* Give back the block that starts at ptr: 0, or -EINVAL when there is none in use. */
int shmar__heap_free(struct shmar__heap *h, void *ptr);

/*
 * Where [p, p + bytes) lies in the heap, as offset + 1, or 0 when it is not
 * wholly inside it.  Without locking: the heap's bounds never change.
 */
static inline size_t shmar__heap_offset(const struct shmar__heap *h, const void *p, size_t bytes)
{
	const char *c = p;

	if (!h->base || c < h->base || bytes > h->bytes || (size_t)(c - h->base) > h->bytes - bytes)
		return 0;
	return (size_t)(c - h->base) + 1;
}

#endif /* LIBSHMAR_HEAP_H */
