/* SPDX-License-Identifier: MIT */
/*
 * run-internal.h - the parts of shmar-run's job (run-job.c) that are topics
 * of their own: the job's process group (run-group.c).
 */
#ifndef SHMAR_TOOLS_RUN_INTERNAL_H
#define SHMAR_TOOLS_RUN_INTERNAL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "run.h"

/* ------------------------------------------------------------ process group */

#define RUN_GROUP_WATCH_MAX 64          /* members watched by pidfd at once */

struct run_group_member {
	pid_t pid;
	char comm[16];                  /* as in /proc/PID/comm */
};

/*
 * The live processes (not zombies) of process group pgid: up to max of
 * them into members (which may be NULL when max is 0).  Returns how many
 * there are, also beyond max; 0 when /proc cannot be read.
 */
int run_group_list(pid_t pgid, struct run_group_member *members, int max);

/*
 * Waits for the members of a group to end.  They are not our children, so
 * no SIGCHLD tells; a pidfd per member does (pidfd_open(2), Linux 5.3).
 * Where pidfds cannot be had, blind is set and the group is looked at
 * again every RUN_GROUP_RESCAN_MS.
 */
#define RUN_GROUP_RESCAN_MS 50

struct run_group_watch {
	int pidfds[RUN_GROUP_WATCH_MAX];
	int count;
	bool blind;
};

/* Looks at group pgid and watches its members; returns how many there are (0: empty). */
int run_group_watch_start(struct run_group_watch *w, pid_t pgid);
void run_group_watch_stop(struct run_group_watch *w);
/* The pollfds of the watched members, w->count of them. */
void run_group_watch_pollfds(const struct run_group_watch *w, struct pollfd *fds);

#endif /* SHMAR_TOOLS_RUN_INTERNAL_H */
