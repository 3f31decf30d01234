/* SPDX-License-Identifier: MIT */
/*
 * segment.h - the shared segment: one sealed memfd, mapped by every rank.
 *
 * Layout (offsets only; no pointer is ever stored in shared memory):
 *
 *   [0, 4096)                 struct shmar__seg_header
 *   [ctl_off, +n*ctl_stride)  one struct shmar__ctl per rank
 *   [data_off, +n*region)     per rank: slot 0 | slot 1 (the double buffer of
 *                             the rounds) | stream (SHMAR_STREAM_REGIONS
 *                             regions of chunk_bytes: the pipelined
 *                             all-reduce) | heap (registered buffers)
 *
 * Every part is whole pages.  The heap is reserved, not touched: a memfd's
 * pages exist only once written, so a large heap costs address space, not
 * memory, until buffers are allocated in it.
 */
#ifndef LIBSHMAR_SEGMENT_H
#define LIBSHMAR_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHMAR_SEG_MAGIC 0x53484d52u /* "SHMR" */
#define SHMAR_SEG_VERSION 3u
#define SHMAR_CACHELINE 64
#define SHMAR_PAGE 4096

/* Smallest and largest slot, and the default. */
#define SHMAR_SLOT_MIN (4096u)
#define SHMAR_SLOT_MAX ((size_t)1 << 30)
#define SHMAR_SLOT_DEFAULT ((size_t)1 << 20)

/* Sub-chunks of the pipelined all-reduce: smallest, largest, default. */
#define SHMAR_CHUNK_MIN (4096u)
#define SHMAR_CHUNK_MAX ((size_t)64 << 20)
#define SHMAR_CHUNK_DEFAULT ((size_t)256 << 10)
/* Regions of the stream ring: sub-chunks a rank can be ahead of its slowest peer, and more. */
#define SHMAR_STREAM_REGIONS 8u
/* Sub-chunks a stream step takes when ranks share CPUs; at most a third of the ring. */
#define SHMAR_STREAM_OVERSUBSCRIBED_STEP 2u
_Static_assert(3 * SHMAR_STREAM_OVERSUBSCRIBED_STEP <= SHMAR_STREAM_REGIONS,
	       "three steps in flight fit the ring");

/* Registered buffers per rank: largest heap, and the default reservation. */
#define SHMAR_HEAP_MAX ((size_t)1 << 40)
#define SHMAR_HEAP_DEFAULT ((size_t)64 << 20)

/*
 * What one post of a rank described.  A peer reads it after seeing the post,
 * so the descriptor of post k lives at desc[k & 1]: a rank can be at most one
 * post ahead of any peer, so it never overwrites a descriptor still being read.
 */
struct shmar__desc {
	uint32_t post;  /* the post number this describes */
	uint32_t call;  /* the collective call number */
	uint8_t kind;   /* enum shmar__kind */
	uint8_t dtype;
	uint8_t op;
	uint8_t pad;
	int32_t root;
	uint64_t count;
};

/*
 * Per-rank control block.  The post word and its descriptors are written only
 * by the owner and share one line, so a peer gets both in one transfer; the
 * sleeper count is written by peers and sits 128 bytes away, outside the pair
 * of lines the adjacent-line prefetcher fetches together.
 */
struct shmar__ctl {
	_Alignas(128) _Atomic uint32_t post;   /* futex word: posts made by the owner */
	uint32_t pad0;
	struct shmar__desc desc[2];
	_Alignas(128) _Atomic uint32_t sleepers; /* peers asleep on post */
	uint32_t pad1;
	_Alignas(64) _Atomic uint32_t state;    /* enum shmar__rank_state */
	uint32_t pid;
	/*
	 * The pipelined all-reduce's counters of sub-chunks (coll_allreduce.c),
	 * written by the owner, and where its buffers are when registered:
	 * reg_off[post & 1] (send) and reg_out[post & 1] (receive) are offsets
	 * + 1 in the owner's heap (0: not registered), written before that post.
	 */
	_Alignas(128) _Atomic uint32_t stream[3]; /* enum shmar__stream_counter */
	uint32_t pad2;
	uint64_t reg_off[2];                       /* the send buffer's, by post parity */
	uint64_t reg_out[2];                       /* the receive buffer's, likewise */
	_Alignas(128) _Atomic uint32_t stream_sleepers[3]; /* peers asleep on each counter */
};

enum shmar__stream_counter {
	SHMAR_STREAM_IN = 0,   /* sub-chunks copied into the owner's stream region */
	SHMAR_STREAM_RED = 1,  /* sub-chunks whose owner's slice is reduced and published */
	SHMAR_STREAM_DONE = 2, /* sub-chunks the owner has finished reading from its peers */
};

enum shmar__rank_state {
	SHMAR_RANK_JOINING = 0,
	SHMAR_RANK_ACTIVE = 1,
	SHMAR_RANK_LEFT = 2,     /* destroyed its comm */
};

/*
 * Abort word: 0 while the job is healthy; else (errno << 16) | (rank + 1) of
 * the first failure: EOWNERDEAD with the dead rank, ECANCELED with the rank
 * that aborted, EPROTO or ETIMEDOUT with the rank that saw it.
 */
#define SHMAR_ABORT_ENCODE(err, rank) (((uint32_t)(err) << 16) | (uint32_t)((rank) + 1))
#define SHMAR_ABORT_ERR(w) ((int)((w) >> 16))
#define SHMAR_ABORT_RANK(w) ((int)((w) & 0xffffu) - 1)

struct shmar__seg_header {
	uint32_t magic;
	uint32_t version;
	uint32_t nranks;
	uint32_t ctl_stride;
	uint64_t total_bytes;
	uint64_t ctl_off;
	uint64_t data_off;
	uint64_t slot_bytes;
	uint64_t region_stride;
	uint64_t small_max;          /* rank 0's choice, so every rank picks the same algorithm */
	uint32_t job_cpus;           /* CPUs any rank may run on (union of affinities), 0: unknown */
	uint32_t pad;
	uint64_t chunk_bytes;        /* sub-chunk of the pipelined all-reduce */
	uint64_t stream_off;         /* in a region: the stream ring */
	uint64_t heap_off;           /* in a region: the heap */
	uint64_t heap_bytes;
	_Alignas(128) _Atomic uint32_t abort_word; /* its own line: read on every slow wait */
};

/* What the geometry is derived from: rank 0's settings, copied into the header. */
struct shmar__geometry {
	unsigned nranks;
	size_t slot_bytes;
	size_t chunk_bytes;
	size_t heap_bytes;
};

/* Geometry every rank derives from a struct shmar__geometry. */
struct shmar__layout {
	unsigned nranks;
	size_t ctl_off;
	size_t ctl_stride;
	size_t data_off;
	size_t slot_bytes;
	size_t chunk_bytes;
	size_t stream_off;       /* within a region */
	size_t heap_off;         /* within a region */
	size_t heap_bytes;
	size_t region_stride;
	size_t total_bytes;
};

/* 0, -EINVAL for a setting out of range, -EOVERFLOW for a segment too large. */
int shmar__layout_compute(const struct shmar__geometry *g, struct shmar__layout *l);

/* Rank 0: a sealed memfd of l->total_bytes.  Returns the fd or -errno. */
int shmar__segment_create(const char *job, const struct shmar__layout *l);
/* Receiver: the fd is sealed against shrink/grow/further seals and has size bytes. */
int shmar__segment_verify(int fd, size_t size);
/* Map size bytes shared; 0 and *base, or -errno. */
int shmar__segment_map(int fd, size_t size, void **base);
void shmar__segment_unmap(void *base, size_t size);

void shmar__segment_header_init(void *base, const struct shmar__layout *l, size_t small_max);
/* Check a mapped header against what this rank expects; -EPROTO on any disagreement. */
int shmar__segment_header_check(const void *base, size_t mapped, unsigned nranks,
				struct shmar__layout *l, size_t *small_max);

/* Fault in this rank's own control block, slots and stream (first touch:
 * the owner's NUMA node); the heap is touched as buffers are allocated. */
int shmar__segment_touch_own(void *base, const struct shmar__layout *l, unsigned rank);
/* Map the peers' slots and streams into this process's page tables ahead of the first call. */
void shmar__segment_prefault_peers(void *base, const struct shmar__layout *l, unsigned rank);
/* Fault in bytes at p for writing (an allocated heap block: first touch by its owner). */
void shmar__segment_touch(void *p, size_t bytes);
/* Map bytes at p (page-aligned) for reading: a peer's heap block before a call reads it. */
void shmar__segment_prefault(void *p, size_t bytes);

static inline struct shmar__seg_header *shmar__seg_hdr(void *base)
{
	return (struct shmar__seg_header *)base;
}

static inline struct shmar__ctl *shmar__seg_ctl(void *base, const struct shmar__layout *l,
						unsigned rank)
{
	return (struct shmar__ctl *)((char *)base + l->ctl_off + (size_t)rank * l->ctl_stride);
}

static inline char *shmar__seg_region(void *base, const struct shmar__layout *l, unsigned rank)
{
	return (char *)base + l->data_off + (size_t)rank * l->region_stride;
}

static inline void *shmar__seg_slot(void *base, const struct shmar__layout *l, unsigned rank,
				    unsigned slot)
{
	return shmar__seg_region(base, l, rank) + (size_t)slot * l->slot_bytes;
}

/* Region q of rank's stream ring. */
static inline char *shmar__seg_stream(void *base, const struct shmar__layout *l, unsigned rank,
				      unsigned q)
{
	return shmar__seg_region(base, l, rank) + l->stream_off + (size_t)q * l->chunk_bytes;
}

static inline char *shmar__seg_heap(void *base, const struct shmar__layout *l, unsigned rank)
{
	return shmar__seg_region(base, l, rank) + l->heap_off;
}

#endif /* LIBSHMAR_SEGMENT_H */
