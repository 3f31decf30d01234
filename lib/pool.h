/* SPDX-License-Identifier: MIT */
/*
 * pool.h - a rank's helper threads, for the copies and reduces of large
 * calls (SHMAR_THREADS).
 *
 * A job is a function run on nparts = threads + 1 parts of one range, the
 * calling thread doing part 0; the call returns when every part is done.
 * The caller splits on 64-byte boundaries and every element goes to exactly
 * one part, so the bits never depend on the thread count.  Between jobs a
 * helper spins a little, then sleeps on a futex: no CPU burns between calls.
 * Not OpenMP, whose pool would compete with the application's own.
 */
#ifndef LIBSHMAR_POOL_H
#define LIBSHMAR_POOL_H

#include <stddef.h>

struct shmar__pool;

/* part of nparts: what one thread does of a job. */
typedef void (*shmar__pool_fn)(void *arg, unsigned part, unsigned nparts);

/* threads >= 1 helpers, started now: 0 and *out, or -errno (-EAGAIN: no thread to be had). */
int shmar__pool_start(struct shmar__pool **out, int threads);
/* Stop and free it; in a forked child (where the threads do not exist) only free. */
void shmar__pool_stop(struct shmar__pool *p);
/* Run fn on every part and return when all are done.  One caller at a time. */
void shmar__pool_run(struct shmar__pool *p, shmar__pool_fn fn, void *arg);
unsigned shmar__pool_parts(const struct shmar__pool *p);

/* [lo, hi) of n items of size esize, split in whole 64-byte units into nparts. */
void shmar__pool_split(size_t n, size_t esize, unsigned part, unsigned nparts, size_t *lo,
		       size_t *hi);

#endif /* LIBSHMAR_POOL_H */
