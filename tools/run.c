/* SPDX-License-Identifier: MIT */
/*
 * run.c - shmar-run's options and CPU sets: parsing the values, naming the
 * job, planning which CPUs each rank is pinned to (--bind).  The job itself
 * is in run-job.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define JOB_NAME_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* ------------------------------------------------------------ options */

void run_opts_default(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tag_output = true;
	o->grace_s = RUN_DEFAULT_GRACE_S;
	o->stop_delay_s = RUN_DEFAULT_STOP_DELAY_S;
}

int run_parse_nranks(const char *s, int *nranks)
{
	char *end;
	long value;

	/* strtol() alone would also take " 3", "+3" and "-0" */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	value = strtol(s, &end, 10);
	if (errno || *end || value < 1 || value > RUN_MAX_RANKS)
		return -EINVAL;
	*nranks = (int)value;
	return 0;
}

int run_parse_seconds(const char *s, double *seconds)
{
	char *end;
	double value;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	value = strtod(s, &end);
	/* written so that NaN fails too */
	if (errno || *end || !(value >= 0.0 && value <= RUN_MAX_SECONDS))
		return -EINVAL;
	*seconds = value;
	return 0;
}

bool run_job_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= RUN_JOB_NAME_MAX && strspn(name, JOB_NAME_CHARS) == len;
}

int run_default_job_name(char *buf, size_t size)
{
	uint32_t random_bits;
	int len;

	if (getrandom(&random_bits, sizeof(random_bits), GRND_NONBLOCK) != sizeof(random_bits)) {
		/* No entropy yet (early boot): next to the pid, the clock is unique enough. */
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		random_bits = (uint32_t)now.tv_nsec ^ (uint32_t)now.tv_sec;
	}
	len = snprintf(buf, size, "run-%ld-%08" PRIx32, (long)getpid(), random_bits);
	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

/* ------------------------------------------------------------ CPU sets */

static int cpu_bits(size_t setsize)
{
	return (int)(setsize * 8);
}

int run_format_cpus(const cpu_set_t *set, size_t setsize, char *buf, size_t size)
{
	size_t used = 0;
	int cpu = 0;

	buf[0] = '\0';
	while (cpu < cpu_bits(setsize)) {
		int last;
		int len;

		if (!CPU_ISSET_S(cpu, setsize, set)) {
			cpu++;
			continue;
		}
		for (last = cpu; last + 1 < cpu_bits(setsize) && CPU_ISSET_S(last + 1, setsize, set); last++)
			;
		if (last == cpu)
			len = snprintf(buf + used, size - used, "%s%d", used ? "," : "", cpu);
		else
			len = snprintf(buf + used, size - used, "%s%d-%d", used ? "," : "", cpu, last);
		if (len < 0 || (size_t)len >= size - used)
			return -ENOSPC;
		used += (size_t)len;
		cpu = last + 1;
	}
	return 0;
}

/* The CPUs this process may run on; the mask grows until the kernel's fits. */
static cpu_set_t *read_allowed_cpus(size_t *setsize)
{
	for (int nbits = 1024; nbits <= (1 << 22); nbits *= 2) {
		cpu_set_t *set = CPU_ALLOC(nbits);

		if (!set)
			return NULL;
		*setsize = CPU_ALLOC_SIZE(nbits);
		if (sched_getaffinity(0, *setsize, set) == 0)
			return set;
		CPU_FREE(set);
		if (errno != EINVAL)
			return NULL;
	}
	errno = EINVAL;
	return NULL;
}


/* Reads one CPU number at *p and moves *p past it. */
static int parse_cpu_number(const char **p, int *cpu)
{
	char *end;
	unsigned long value;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	value = strtoul(*p, &end, 10);
	*p = end;
	/* too large for any mask: reported as a CPU that may not be used */
	if (errno || value > (1UL << 24))
		return -ERANGE;
	*cpu = (int)value;
	return 0;
}

/*
 * Parses one set, "0-3,8,10-11", from s up to end ('|' or the final NUL).
 * -ERANGE: it names a CPU beyond the mask, which is not allowed either.
 */
static int parse_cpu_set(const char *s, const char *end, cpu_set_t *set, size_t setsize)
{
	CPU_ZERO_S(setsize, set);
	if (s == end)
		return -EINVAL;
	while (s < end) {
		int first, last;
		int ret;

		ret = parse_cpu_number(&s, &first);
		if (ret < 0)
			return ret;
		last = first;
		if (s < end && *s == '-') {
			s++;
			ret = parse_cpu_number(&s, &last);
			if (ret < 0)
				return ret;
			if (last < first)
				return -EINVAL;
		}
		if (s < end && (*s != ',' || ++s == end))
			return -EINVAL;
		if (last >= cpu_bits(setsize))
			return -ERANGE;
		for (int cpu = first; cpu <= last; cpu++)
			CPU_SET_S(cpu, setsize, set);
	}
	return 0;
}

static bool cpu_subset(const cpu_set_t *set, const cpu_set_t *of, size_t setsize)
{
	for (int cpu = 0; cpu < cpu_bits(setsize); cpu++)
		if (CPU_ISSET_S(cpu, setsize, set) && !CPU_ISSET_S(cpu, setsize, of))
			return false;
	return true;
}

static int count_cpu_sets(const char *list)
{
	int count = 1;

	for (const char *p = list; (p = strchr(p, '|')); p++)
		count++;
	return count;
}

static void print_allowed_cpus(const struct run_cpu_plan *plan)
{
	char cpus[256];

	if (run_format_cpus(plan->allowed, plan->setsize, cpus, sizeof(cpus)) < 0)
		strcpy(cpus, "(too many to list)");
	fprintf(stderr, "shmar-run: this process may run on CPUs %s\n", cpus);
}

/* Allowed, but two ranks on one CPU is rarely what was meant. */
static void warn_overlapping_sets(const struct run_cpu_plan *plan)
{
	cpu_set_t *seen = CPU_ALLOC(cpu_bits(plan->setsize));
	cpu_set_t *common = CPU_ALLOC(cpu_bits(plan->setsize));

	if (seen && common) {
		CPU_ZERO_S(plan->setsize, seen);
		for (int r = 0; r < plan->nranks; r++) {
			CPU_AND_S(plan->setsize, common, seen, plan->rank_cpus[r]);
			if (CPU_COUNT_S(plan->setsize, common)) {
				fprintf(stderr, "shmar-run: warning: --bind: the CPU set of rank %d "
					"overlaps the set of an earlier rank\n", r);
				break;
			}
			CPU_OR_S(plan->setsize, seen, seen, plan->rank_cpus[r]);
		}
	}
	CPU_FREE(seen);
	CPU_FREE(common);
}

/* --bind=LIST: one set per rank, each within the allowed CPUs. */
static int plan_from_list(struct run_cpu_plan *plan, const char *list)
{
	int nsets = count_cpu_sets(list);
	const char *set_text = list;

	if (nsets != plan->nranks) {
		fprintf(stderr, "shmar-run: --bind: %d CPU set%s for %d rank%s; give one per rank, "
			"separated by '|' (see shmar-run --help)\n",
			nsets, nsets == 1 ? "" : "s", plan->nranks, plan->nranks == 1 ? "" : "s");
		return -EINVAL;
	}
	for (int r = 0; r < plan->nranks; r++) {
		const char *end = strchr(set_text, '|');
		int len;
		int ret;

		if (!end)
			end = set_text + strlen(set_text);
		len = (int)(end - set_text);
		ret = parse_cpu_set(set_text, end, plan->rank_cpus[r], plan->setsize);
		if (ret == -EINVAL) {
			fprintf(stderr, "shmar-run: --bind: invalid CPU set '%.*s' for rank %d "
				"(see shmar-run --help)\n", len, set_text, r);
			return -EINVAL;
		}
		if (ret < 0 || !cpu_subset(plan->rank_cpus[r], plan->allowed, plan->setsize)) {
			fprintf(stderr, "shmar-run: --bind: the CPU set '%.*s' of rank %d holds CPUs "
				"this process may not use\n", len, set_text, r);
			print_allowed_cpus(plan);
			return -EINVAL;
		}
		set_text = end + 1;
	}
	warn_overlapping_sets(plan);
	return 0;
}

/*
 * --bind: the allowed CPUs, in order, cut into nranks contiguous groups of
 * the same size (what does not divide evenly stays unused, so that every
 * rank gets as many threads); with fewer CPUs than ranks, rank r runs on
 * the (r mod ncpus)-th CPU.
 */
static int plan_split_evenly(struct run_cpu_plan *plan)
{
	int ncpus = CPU_COUNT_S(plan->setsize, plan->allowed);
	int per_rank = ncpus / plan->nranks;
	int index = 0;

	if (ncpus == 0)
		return -EINVAL;
	plan->shared = ncpus < plan->nranks;
	if (plan->shared)
		fprintf(stderr, "shmar-run: warning: --bind: %d ranks but %d CPU%s to run on; "
			"ranks share CPUs round-robin\n", plan->nranks, ncpus, ncpus == 1 ? "" : "s");
	for (int cpu = 0; cpu < cpu_bits(plan->setsize); cpu++) {
		if (!CPU_ISSET_S(cpu, plan->setsize, plan->allowed))
			continue;
		if (plan->shared) {
			for (int r = index; r < plan->nranks; r += ncpus)
				CPU_SET_S(cpu, plan->setsize, plan->rank_cpus[r]);
		} else if (index / per_rank < plan->nranks) {
			CPU_SET_S(cpu, plan->setsize, plan->rank_cpus[index / per_rank]);
		}
		index++;
	}
	return 0;
}

void run_cpu_plan_free(struct run_cpu_plan *plan)
{
	if (plan->rank_cpus)
		for (int r = 0; r < plan->nranks; r++)
			CPU_FREE(plan->rank_cpus[r]);
	free(plan->rank_cpus);
	CPU_FREE(plan->allowed);
	memset(plan, 0, sizeof(*plan));
}

/* An empty plan of nranks masks of setsize bytes. */
static int plan_alloc(struct run_cpu_plan *plan, size_t setsize, int nranks)
{
	memset(plan, 0, sizeof(*plan));
	plan->nranks = nranks;
	plan->setsize = setsize;
	plan->allowed = CPU_ALLOC(cpu_bits(setsize));
	plan->rank_cpus = calloc((size_t)nranks, sizeof(*plan->rank_cpus));
	if (!plan->allowed || !plan->rank_cpus)
		return -ENOMEM;
	for (int r = 0; r < nranks; r++) {
		plan->rank_cpus[r] = CPU_ALLOC(cpu_bits(setsize));
		if (!plan->rank_cpus[r])
			return -ENOMEM;
		CPU_ZERO_S(setsize, plan->rank_cpus[r]);
	}
	return 0;
}

int run_cpu_plan_build(struct run_cpu_plan *plan, const cpu_set_t *allowed,
		       size_t setsize, int nranks, const char *list)
{
	int ret;

	if (nranks < 1 || setsize == 0 || setsize % sizeof(unsigned long))
		return -EINVAL;
	ret = plan_alloc(plan, setsize, nranks);
	if (ret == 0) {
		memcpy(plan->allowed, allowed, setsize);
		ret = list ? plan_from_list(plan, list) : plan_split_evenly(plan);
	}
	if (ret < 0)
		run_cpu_plan_free(plan);
	return ret;
}

int run_cpu_plan_init(struct run_cpu_plan *plan, int nranks, const char *list)
{
	size_t setsize;
	cpu_set_t *allowed = read_allowed_cpus(&setsize);
	int ret;

	if (!allowed) {
		ret = -errno;
		fprintf(stderr, "shmar-run: cannot read this process's CPU affinity: %s\n",
			strerror(-ret));
		return ret;
	}
	ret = run_cpu_plan_build(plan, allowed, setsize, nranks, list);
	if (ret == -ENOMEM)
		fprintf(stderr, "shmar-run: %s\n", strerror(ENOMEM));
	CPU_FREE(allowed);
	return ret;
}
