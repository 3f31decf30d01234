/* SPDX-License-Identifier: MIT */
/*
 * cpus.h - the CPU questions of a job: which CPUs a rank may run on, how
 * many the job has, and what that means for the algorithms and the waits.
 */
#ifndef LIBSHMAR_CPUS_H
#define LIBSHMAR_CPUS_H

#include <stddef.h>
#include <stdint.h>

/* CPU masks exchanged in the rendezvous cover CPUs 0..SHMAR_CPUS_MAX-1. */
#define SHMAR_CPUS_MAX 1024
#define SHMAR_CPU_WORDS (SHMAR_CPUS_MAX / 64)

/* This thread's CPU affinity as a mask (all zero when it cannot be read). */
void shmar__cpus_own(uint64_t mask[SHMAR_CPU_WORDS]);
/* CPUs in a mask. */
unsigned shmar__cpus_count(const uint64_t mask[SHMAR_CPU_WORDS]);
/* mask |= other: the union of the ranks' affinities. */
void shmar__cpus_merge(uint64_t mask[SHMAR_CPU_WORDS], const uint64_t other[SHMAR_CPU_WORDS]);

/* Online CPUs, affinity, cgroup quota (0: none), and the least of them. */
struct shmar__cpu_counts {
	int online;
	int affinity;
	int quota;
	int usable;
};
void shmar__cpus_counts(struct shmar__cpu_counts *out);

/*
 * CPUs a job can use: the union of its ranks' affinities (job_mask_cpus, 0
 * when unknown), capped by the online CPUs and the cgroup quota.  Ranks
 * pinned to disjoint CPUs are not oversubscribed even though each sees one.
 */
int shmar__cpus_of_job(unsigned job_mask_cpus);

/*
 * The largest all-reduce done in one synchronisation, chosen by rank 0 when
 * the setting is SHMAR_SMALL_MAX_AUTO, and never more than a slot.
 */
size_t shmar__cpus_small_max(size_t setting, int nranks, int job_cpus, size_t slot_bytes);

#endif /* LIBSHMAR_CPUS_H */
