/* SPDX-License-Identifier: MIT */
/*
 * pool.c - the helper threads (pool.h).
 *
 * The caller publishes a job by bumping gen (after fn, arg and pending); a
 * helper that saw the old gen runs its part, then decrements pending; the
 * one that brings it to zero wakes the caller if it sleeps.  Each side
 * spins briefly before it sleeps, so the phases of one large call hand work
 * over without system calls, and a pool between calls costs nothing.
 * Futexes here are private: only this process's threads use them.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "macro.h"
#include "pool.h"

/* How long a helper or the caller spins before sleeping. */
#define SPIN_NS (50ull * 1000)
#define HELPER_STACK (256 * 1024)

struct shmar__pool {
	unsigned nthreads;
	pid_t owner;
	pthread_t *threads;
	shmar__pool_fn fn;
	void *arg;
	_Atomic uint32_t gen;      /* jobs published; helpers wait on it */
	_Atomic uint32_t pending;  /* helpers still on the current job; the caller waits on it */
	_Atomic uint32_t sleepers; /* helpers asleep on gen */
	atomic_bool stop;
};

struct helper {
	struct shmar__pool *pool;
	unsigned part;
};

static void futex_wait_private(_Atomic uint32_t *word, uint32_t seen)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake_private(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Spin until *word != seen or the budget is gone; true if it changed. */
static bool spin_while(_Atomic uint32_t *word, uint32_t seen)
{
	uint64_t end = shmar__now_ns() + SPIN_NS;

	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(word, memory_order_acquire) != seen)
			return true;
		shmar__cpu_relax();
		if (i % 64 == 0 && shmar__now_ns() >= end)
			return false;
	}
}

static uint32_t next_job(struct shmar__pool *p, uint32_t seen)
{
	uint32_t gen;

	if (spin_while(&p->gen, seen))
		return atomic_load_explicit(&p->gen, memory_order_acquire);
	for (;;) {
		atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
		gen = atomic_load_explicit(&p->gen, memory_order_seq_cst);
		if (gen == seen)
			futex_wait_private(&p->gen, seen);
		atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_seq_cst);
		gen = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (gen != seen)
			return gen;
	}
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct shmar__pool *p = h->pool;
	uint32_t seen = 0;

	for (;;) {
		seen = next_job(p, seen);
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			break;
		p->fn(p->arg, h->part, p->nthreads + 1);
		/* the last one done tells the caller */
		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1)
			futex_wake_private(&p->pending, 1);
	}
	free(h);
	return NULL;
}

static int spawn(struct shmar__pool *p, unsigned part)
{
	struct helper *h = malloc(sizeof(*h));
	sigset_t all, old;
	pthread_attr_t attr;
	int err;

	if (!h)
		return -ENOMEM;
	*h = (struct helper){ p, part };
	if (pthread_attr_init(&attr) != 0) {
		free(h);
		return -ENOMEM;
	}
	pthread_attr_setstacksize(&attr, HELPER_STACK);
	/* the helpers take no signal meant for the application */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&p->threads[part - 1], &attr, helper_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		free(h);
		return -err;
	}
	pthread_setname_np(p->threads[part - 1], "shmar-helper");
	return 0;
}

int shmar__pool_start(struct shmar__pool **out, int threads)
{
	struct shmar__pool *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p)
		return -ENOMEM;
	p->owner = getpid();
	p->threads = calloc((size_t)threads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	for (unsigned i = 1; i <= (unsigned)threads && err == 0; i++) {
		err = spawn(p, i);
		if (err == 0)
			p->nthreads = i;
	}
	if (err < 0) {
		shmar__pool_stop(p);
		return err;
	}
	*out = p;
	return 0;
}

void shmar__pool_stop(struct shmar__pool *p)
{
	if (!p)
		return;
	if (getpid() == p->owner && p->nthreads) {
		atomic_store_explicit(&p->stop, true, memory_order_release);
		atomic_fetch_add_explicit(&p->gen, 1, memory_order_seq_cst);
		futex_wake_private(&p->gen, INT_MAX);
		for (unsigned i = 0; i < p->nthreads; i++)
			pthread_join(p->threads[i], NULL);
	}
	free(p->threads);
	free(p);
}

unsigned shmar__pool_parts(const struct shmar__pool *p)
{
	return p ? p->nthreads + 1 : 1;
}

void shmar__pool_run(struct shmar__pool *p, shmar__pool_fn fn, void *arg)
{
	uint32_t left;

	if (!p || p->nthreads == 0) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store_explicit(&p->pending, p->nthreads, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_seq_cst); /* publishes fn, arg */
	if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst))
		futex_wake_private(&p->gen, INT_MAX);
	fn(arg, 0, p->nthreads + 1);
	while ((left = atomic_load_explicit(&p->pending, memory_order_acquire)) != 0)
		if (!spin_while(&p->pending, left))
			futex_wait_private(&p->pending, left);
}

void shmar__pool_split(size_t n, size_t esize, unsigned part, unsigned nparts, size_t *lo,
		       size_t *hi)
{
	size_t unit = 64 / esize, units = (n + unit - 1) / unit;
	size_t each = units / nparts, extra = units % nparts;
	size_t first = part * each + (part < extra ? part : extra);
	size_t mine = each + (part < extra ? 1 : 0);

	*lo = first * unit < n ? first * unit : n;
	*hi = (first + mine) * unit < n ? (first + mine) * unit : n;
}
