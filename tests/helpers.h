/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - what the tests share: forking ranks, private rendezvous
 * directories, unique job names, leak checks.
 *
 * Children never call cmocka asserts (a failing assert would longjmp into
 * the child's copy of the runner): they use TH_CHECK, which prints where it
 * failed and makes the rank function return 1; the parent checks every
 * child's exit status.
 */
#ifndef SHMAR_TEST_HELPERS_H
#define SHMAR_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmar.h"

#define TH_SKIP 77

#define TH_CHECK(cond)                                                                  \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "%s:%d: rank check failed: %s\n", __FILE__,     \
				__LINE__, #cond);                                       \
			return 1;                                                       \
		}                                                                       \
	} while (0)

#define TH_CHECK_EQ(a, b)                                                               \
	do {                                                                            \
		long long th_a_ = (long long)(a), th_b_ = (long long)(b);               \
		if (th_a_ != th_b_) {                                                   \
			fprintf(stderr, "%s:%d: rank check failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, th_a_, th_b_);              \
			return 1;                                                       \
		}                                                                       \
	} while (0)

/* Body of one rank, run in a forked child; 0 = success. */
typedef int (*th_rank_fn)(int rank, int nranks, void *arg);

/*
 * Fork nranks children running fn (each with alarm(timeout_s)), wait for all,
 * and return how many failed.  status[r] (if not NULL) receives each wait
 * status.  Children start in a shuffled order.
 */
int th_run_ranks(int nranks, th_rank_fn fn, void *arg, unsigned timeout_s, int *status);

/* Fork one child running fn(rank, nranks, arg); returns its pid. */
pid_t th_spawn(th_rank_fn fn, int rank, int nranks, void *arg, unsigned timeout_s);
/* Wait for pid; 0 if it exited 0, else 1 (and prints why). */
int th_wait(pid_t pid);

/* A job name no other test or concurrent run uses. */
void th_job_name(char *buf, size_t len, const char *what);

/* A fresh private rendezvous directory (0700) in th_dir; removed by th_dir_remove. */
extern char th_dir[256];
int th_dir_create(void);
/* Number of entries in th_dir (must be 0 after every test). */
int th_dir_entries(void);
int th_dir_remove(void);

/*
 * cmocka fixtures of every multi-process test: a fresh th_dir before; after,
 * the directory must be empty and no /dev/shm entry may have appeared (a
 * failure of the test), then th_dir is removed.
 */
int th_setup(void **state);
int th_teardown(void **state);

/* Default config pointing at th_dir with short timeouts. */
void th_config(struct shmar_config *cfg);

/* Open file descriptors of this process. */
int th_count_fds(void);
/* Entries of /dev/shm whose name mentions shmar. */
int th_devshm_shmar(void);

/* Anonymous memory shared with forked children. */
void *th_shared(size_t bytes);

/* Milliseconds of random delay, from a per-process seeded generator. */
void th_random_delay(unsigned max_ms);
uint64_t th_rand(void);
void th_seed(uint64_t seed);

/* Seconds of CPU (user + system) this process used. */
double th_cpu_seconds(void);
double th_now(void);

#endif /* SHMAR_TEST_HELPERS_H */
