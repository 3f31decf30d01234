/* SPDX-License-Identifier: MIT */
/*
 * cpus.c - affinity masks, cgroup quota, and the policies that follow from
 * how many CPUs a job has (cpus.h).
 */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpus.h"
#include "shmar.h"

/*
 * Crossovers of the all-reduce algorithms.  With a CPU per rank and two
 * ranks, the one-step algorithm (every rank reads the whole of its peer's
 * input: S bytes) against the stream (each rank reads half of it twice, the
 * same S, but in two synchronisations) was measured with shmar-bench: one
 * step wins up to 4 KiB, ties at 16 KiB, loses from 64 KiB.  With more
 * ranks one step reads (N - 1) S against the stream's 2 S (N - 1) / N, so
 * its lead shrinks: modelled, not measured (this project's machines have 2
 * CPUs), 4 KiB.  When ranks share CPUs every synchronisation is a scheduler
 * hand-off and one step wins up to about 64 KiB (measured, 3 and 4 ranks).
 */
#define SMALL_MAX_PAIR (16 * 1024)
#define SMALL_MAX_DEDICATED (4 * 1024)
#define SMALL_MAX_SHARED (64 * 1024)

void shmar__cpus_own(uint64_t mask[SHMAR_CPU_WORDS])
{
	cpu_set_t set;

	memset(mask, 0, SHMAR_CPU_WORDS * sizeof(uint64_t));
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int c = 0; c < SHMAR_CPUS_MAX && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			mask[c / 64] |= 1ull << (c % 64);
}

unsigned shmar__cpus_count(const uint64_t mask[SHMAR_CPU_WORDS])
{
	unsigned n = 0;

	for (int i = 0; i < SHMAR_CPU_WORDS; i++)
		n += (unsigned)__builtin_popcountll(mask[i]);
	return n;
}

void shmar__cpus_merge(uint64_t mask[SHMAR_CPU_WORDS], const uint64_t other[SHMAR_CPU_WORDS])
{
	for (int i = 0; i < SHMAR_CPU_WORDS; i++)
		mask[i] |= other[i];
}

/* One cpu.max: "quota period", or "max period": the CPUs the quota buys, 0 for none. */
static int cpu_max_at(const char *dir)
{
	char path[4224], buf[64];
	long long quota, period;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/cpu.max", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fgets(buf, sizeof(buf), f) ? sscanf(buf, "%lld %lld", &quota, &period) : 0;
	fclose(f);
	if (n != 2 || quota <= 0 || period <= 0)
		return 0; /* "max": no quota */
	if (quota / period >= INT_MAX)
		return INT_MAX;
	return (int)((quota + period - 1) / period);
}

/*
 * The tightest cgroup v2 CPU quota over this process's cgroup and its
 * ancestors (a quota on a systemd slice binds every service in it), 0 when
 * none.  In a container with its own cgroup namespace the walk starts and
 * ends at the container's root.
 */
static int cgroup_cpu_quota(void)
{
	char line[4096], dir[4200], *slash;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int best = 0, q;
	size_t n;

	snprintf(dir, sizeof(dir), "/sys/fs/cgroup");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "0::/", 4) != 0)
				continue; /* cgroup v1 controllers: not counted */
			n = strcspn(line + 3, "\n");
			line[3 + n] = '\0';
			if (strstr(line + 3, "/..") == NULL)
				snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", line + 3);
			break;
		}
		fclose(f);
	}
	for (;;) {
		q = cpu_max_at(dir);
		if (q > 0 && (best == 0 || q < best))
			best = q;
		if (strcmp(dir, "/sys/fs/cgroup") == 0 || !(slash = strrchr(dir, '/')))
			break;
		*slash = '\0';
	}
	return best;
}

static int least(int a, int b)
{
	return a < b ? a : b;
}

void shmar__cpus_counts(struct shmar__cpu_counts *out)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	out->online = online > 0 && online < INT_MAX ? (int)online : 1;
	out->affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : out->online;
	out->quota = cgroup_cpu_quota();
	out->usable = least(out->online, out->affinity > 0 ? out->affinity : out->online);
	if (out->quota > 0)
		out->usable = least(out->usable, out->quota);
}

int shmar__cpus_of_job(unsigned job_mask_cpus)
{
	struct shmar__cpu_counts c;
	int cap;

	shmar__cpus_counts(&c);
	/* the job spans the ranks' affinities, not this rank's alone */
	cap = c.quota > 0 ? least(c.online, c.quota) : c.online;
	if (job_mask_cpus == 0 || job_mask_cpus > SHMAR_CPUS_MAX) /* unknown, or not believable */
		return cap;
	return least((int)job_mask_cpus, cap);
}

size_t shmar__cpus_small_max(size_t setting, int nranks, int job_cpus, size_t slot_bytes)
{
	size_t small_max = setting;

	if (small_max == SHMAR_SMALL_MAX_AUTO)
		small_max = nranks > job_cpus ? SMALL_MAX_SHARED
			    : nranks == 2 ? SMALL_MAX_PAIR : SMALL_MAX_DEDICATED;
	return small_max < slot_bytes ? small_max : slot_bytes;
}
