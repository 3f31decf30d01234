/* SPDX-License-Identifier: MIT */
/*
 * run.h - shmar-run's launcher logic, testable without main().
 *
 * shmar-run prepares the environment that shmar_comm_init_env(3) reads, so
 * it also launches programs that use another copy or version of the
 * library.  It links libshmar only to ask where the library meets
 * (shmar_probe_dir()), to clean up what a failed start left there.
 */
#ifndef SHMAR_TOOLS_RUN_H
#define SHMAR_TOOLS_RUN_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#define RUN_MAX_RANKS 256
#define RUN_JOB_NAME_MAX 64             /* as lib/comm.c accepts */
#define RUN_DEFAULT_GRACE_S 2.0
#define RUN_DEFAULT_STOP_DELAY_S 1.0
#define RUN_MAX_SECONDS 86400.0         /* for --grace and --stop-delay */

/* Exit statuses of shmar-run itself; a failing rank's status passes through. */
#define RUN_EXIT_USAGE 2
#define RUN_EXIT_INTERNAL 125           /* shmar-run failed (as env(1), timeout(1)) */
#define RUN_EXIT_CANNOT_EXEC 126        /* the command exists but cannot be run */
#define RUN_EXIT_NOT_FOUND 127

struct run_opts {
	int nranks;
	char job[RUN_JOB_NAME_MAX + 1];
	bool bind;
	const char *bind_list;          /* --bind=LIST; NULL: split the allowed CPUs */
	bool torch_env;                 /* also set torchrun's RANK, WORLD_SIZE, ... */
	bool tag_output;                /* prefix every line of a rank with "[rank R] " */
	double grace_s;                 /* between SIGTERM and SIGKILL */
	double stop_delay_s;            /* after a failure, before stopping the others */
	char **argv;                    /* the command, NULL-terminated */
};

/* Which CPUs each rank is pinned to (--bind). */
struct run_cpu_plan {
	int nranks;
	size_t setsize;                 /* bytes of every mask, for the CPU_*_S macros */
	cpu_set_t *allowed;             /* where shmar-run itself may run */
	cpu_set_t **rank_cpus;          /* nranks masks */
	bool shared;                    /* more ranks than CPUs: ranks share CPUs */
};

/*
 * No ranks yet, no job name, no binding, output tagged, the default grace
 * period and stop delay.
 */
void run_opts_default(struct run_opts *o);

/* Option values: 0, or -EINVAL when s is not a valid value. */
int run_parse_nranks(const char *s, int *nranks);
int run_parse_seconds(const char *s, double *seconds);  /* 0 to RUN_MAX_SECONDS */
bool run_job_name_valid(const char *name);

/* "run-<pid>-<8 random hex digits>": unique between concurrent jobs. */
int run_default_job_name(char *buf, size_t size);

/*
 * Plans the CPU sets of nranks ranks within the CPUs this process may use:
 * list is NULL (split them evenly into contiguous groups) or the --bind=LIST
 * text, sets separated by '|' ("0-3|4-7", "0,2|1,3").  Prints what is wrong
 * to stderr and returns -EINVAL for a list that does not fit, another
 * -errno when the system fails, 0 on success.
 */
int run_cpu_plan_init(struct run_cpu_plan *plan, int nranks, const char *list);

/* The same for a given set of allowed CPUs (which the plan copies). */
int run_cpu_plan_build(struct run_cpu_plan *plan, const cpu_set_t *allowed,
		       size_t setsize, int nranks, const char *list);
void run_cpu_plan_free(struct run_cpu_plan *plan);

/* "0-3,8,10-11" into buf; returns -ENOSPC when it does not fit. */
int run_format_cpus(const cpu_set_t *set, size_t setsize, char *buf, size_t size);

/*
 * Runs the job: starts o->nranks ranks of o->argv (pinned as plan says when
 * plan is not NULL), passes their output on, forwards signals, stops every
 * rank once one fails, reaps everything and removes what the job left in
 * the rendezvous directory.  Returns the exit status for shmar-run: 0 when
 * every rank exited 0, else the first failing rank's (128 + signal number
 * for a rank killed by a signal), RUN_EXIT_INTERNAL when the launcher
 * itself failed.
 * When shmar-run was interrupted by SIGINT and that killed the job, it ends
 * itself by SIGINT instead of returning, so that a calling shell sees the
 * interruption.
 */
int run_job(const struct run_opts *o, const struct run_cpu_plan *plan);

#endif /* SHMAR_TOOLS_RUN_H */
