/* SPDX-License-Identifier: MIT */
/*
 * run-group.c - the job's process group: which processes are still in it
 * (from /proc), and waiting for them to end.
 *
 * What the ranks start is not shmar-run's child, so no SIGCHLD says when it
 * ends.  A pidfd does (pidfd_open(2) works on any process we may signal):
 * shmar-run watches the members it finds and looks at the group again each
 * time one ends, until the group is empty, rather than sit out the grace
 * period for processes that died at once.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run-internal.h"

/*
 * Whether the process of /proc's entry pid is in group pgid and not a
 * zombie; its command name into comm (when not NULL).
 */
static bool process_in_group(int procfd, const char *pid, pid_t pgid, char comm[16])
{
	char path[NAME_MAX + sizeof("/stat")];
	char line[512];
	const char *open_paren, *close_paren;
	char state;
	int ppid, pgrp;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/stat", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (len <= 0)
		return false;
	line[len] = '\0';
	/* "pid (comm) state ppid pgrp ...", and comm may hold anything, ')' too */
	open_paren = strchr(line, '(');
	close_paren = strrchr(line, ')');
	if (!open_paren || !close_paren || close_paren < open_paren ||
	    sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
		return false;
	if (pgrp != pgid || state == 'Z' || state == 'X')
		return false;
	if (comm) {
		size_t n = (size_t)(close_paren - open_paren - 1);

		if (n > 15)
			n = 15;
		memcpy(comm, open_paren + 1, n);
		comm[n] = '\0';
	}
	return true;
}

int run_group_list(pid_t pgid, struct run_group_member *members, int max)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	int count = 0;

	/* without /proc, the final SIGKILL to the group still ends what is left */
	if (!proc)
		return 0;
	while ((entry = readdir(proc))) {
		char comm[16];

		if (!isdigit((unsigned char)entry->d_name[0]) ||
		    !process_in_group(dirfd(proc), entry->d_name, pgid, comm))
			continue;
		if (count < max) {
			members[count].pid = (pid_t)strtol(entry->d_name, NULL, 10);
			memcpy(members[count].comm, comm, sizeof(comm));
		}
		count++;
	}
	closedir(proc);
	return count;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether pid, whose pidfd we hold, is still a live member (its pid cannot be reused now). */
static bool still_member(pid_t pid, pid_t pgid)
{
	char name[16];
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool member;

	if (procfd < 0)
		return true;
	snprintf(name, sizeof(name), "%ld", (long)pid);
	member = process_in_group(procfd, name, pgid, NULL);
	close(procfd);
	return member;
}

int run_group_watch_start(struct run_group_watch *w, pid_t pgid)
{
	struct run_group_member members[RUN_GROUP_WATCH_MAX];
	int count = run_group_list(pgid, members, RUN_GROUP_WATCH_MAX);
	int listed = count < RUN_GROUP_WATCH_MAX ? count : RUN_GROUP_WATCH_MAX;

	w->count = 0;
	w->blind = false;
	for (int i = 0; i < listed; i++) {
		int fd = pidfd_open(members[i].pid);

		if (fd < 0) {
			/* ESRCH: it ended in between; anything else: look again later */
			if (errno != ESRCH)
				w->blind = true;
			continue;
		}
		/* the pid may have been reused between the scan and the pidfd */
		if (!still_member(members[i].pid, pgid)) {
			close(fd);
			continue;
		}
		w->pidfds[w->count++] = fd;
	}
	/* all we found ended in between: the group may be empty now, or have new members */
	if (count > 0 && w->count == 0 && !w->blind)
		w->blind = true;
	return count;
}

void run_group_watch_stop(struct run_group_watch *w)
{
	for (int i = 0; i < w->count; i++)
		close(w->pidfds[i]);
	w->count = 0;
	w->blind = false;
}

void run_group_watch_pollfds(const struct run_group_watch *w, struct pollfd *fds)
{
	for (int i = 0; i < w->count; i++)
		fds[i] = (struct pollfd){ .fd = w->pidfds[i], .events = POLLIN };
}
