/* SPDX-License-Identifier: MIT */
/*
 * heap.c - first fit over a sorted array of blocks, neighbours merged on
 * free (heap.h).  Registered buffers are few and long-lived (a model's
 * activation buffers), so this is simple rather than fast.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "macro.h"

int shmar__heap_init(struct shmar__heap *h, char *base, size_t bytes)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->base = base;
	h->bytes = bytes - bytes % SHMAR_HEAP_ALIGN;
	if (h->bytes == 0)
		return 0;
	h->cap = 16;
	h->blocks = calloc(h->cap, sizeof(*h->blocks));
	if (!h->blocks)
		return -ENOMEM;
	h->blocks[0] = (struct shmar__heap_block){ 0, h->bytes, false };
	h->nblocks = 1;
	return 0;
}

void shmar__heap_fini(struct shmar__heap *h)
{
	free(h->blocks);
	pthread_mutex_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}

/* Room for one more block record; false when out of memory. */
static bool grow(struct shmar__heap *h)
{
	struct shmar__heap_block *b;

	if (h->nblocks < h->cap)
		return true;
	b = realloc(h->blocks, 2 * h->cap * sizeof(*b));
	if (!b)
		return false;
	h->blocks = b;
	h->cap *= 2;
	return true;
}

int shmar__heap_alloc(struct shmar__heap *h, size_t bytes, void **ptr)
{
	size_t len, i;
	int err = -ENOMEM;

	if (bytes == 0 || bytes > h->bytes)
		return -ENOMEM;
	len = SHMAR_ALIGN_UP(bytes, SHMAR_HEAP_ALIGN);
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nblocks; i++) {
		struct shmar__heap_block *b = &h->blocks[i];

		if (b->used || b->len < len)
			continue;
		if (b->len > len) { /* split: the rest stays free after it */
			if (!grow(h))
				break;
			b = &h->blocks[i];
			memmove(b + 2, b + 1, (h->nblocks - i - 1) * sizeof(*b));
			b[1] = (struct shmar__heap_block){ b->off + len, b->len - len, false };
			b->len = len;
			h->nblocks++;
		}
		b->used = true;
		h->used += len;
		*ptr = h->base + b->off;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

/* Merge block i with block i + 1 when both are free. */
static void merge_next(struct shmar__heap *h, size_t i)
{
	struct shmar__heap_block *b = &h->blocks[i];

	if (i + 1 >= h->nblocks || b->used || b[1].used)
		return;
	b->len += b[1].len;
	memmove(b + 1, b + 2, (h->nblocks - i - 2) * sizeof(*b));
	h->nblocks--;
}

int shmar__heap_free(struct shmar__heap *h, void *ptr)
{
	size_t lo = 0, hi, off;
	int err = -EINVAL;

	if ((char *)ptr < h->base || (char *)ptr >= h->base + h->bytes)
		return -EINVAL;
	off = (size_t)((char *)ptr - h->base);
	pthread_mutex_lock(&h->lock);
	hi = h->nblocks;
	while (lo < hi) { /* the block that starts at off */
		size_t mid = lo + (hi - lo) / 2;

		if (h->blocks[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < h->nblocks && h->blocks[lo].off == off && h->blocks[lo].used) {
		h->blocks[lo].used = false;
		h->used -= h->blocks[lo].len;
		merge_next(h, lo);
		if (lo > 0)
			merge_next(h, lo - 1);
		err = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}
