/* SPDX-License-Identifier: MIT */
/*
 * run-internal.h - the parts of shmar-run's job (run-job.c) that are topics
 * of their own: the ranks' output (run-output.c), the job's process group
 * (run-group.c), the ranks' environment (run-env.c) and what a job leaves
 * in the rendezvous directory (run-rendezvous.c).
 */
#ifndef SHMAR_TOOLS_RUN_INTERNAL_H
#define SHMAR_TOOLS_RUN_INTERNAL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "run.h"

/* ------------------------------------------------------------ output */

/* The longest line passed on whole; a longer one is cut into pieces this long. */
#define RUN_LINE_MAX 65536

/*
 * Called while shmar-run waits to write a line (its reader is slow): when
 * *signal_fd is readable, so that signals are still acted on.  Returns
 * false to give up waiting, and the output with it.
 */
typedef bool run_output_waiting_fn(void *ctx);

struct run_output_stream;

struct run_output {
	bool tag;                       /* off: the ranks write to our stdout/stderr themselves */
	int nranks;
	struct run_output_stream *streams;      /* 2 per rank: stdout, stderr */
	bool dest_gone[3];              /* our stdout (1) or stderr (2) gave EPIPE */
	bool dest_may_block[3];         /* not a regular file: wait for room first */
	struct rlimit saved_nofile;     /* what the ranks get back */
	bool nofile_raised;
	int signal_fd;                  /* watched while waiting to write */
	run_output_waiting_fn *waiting;
	void *ctx;
};

/*
 * Prepares passing on the output of nranks ranks, tagged when tag is set.
 * When the descriptors this needs (two per rank) exceed RLIMIT_NOFILE and
 * the limit cannot be raised, says so and falls back to untagged output.
 * 0, or -ENOMEM.
 */
int run_output_init(struct run_output *out, int nranks, bool tag, int signal_fd,
		    run_output_waiting_fn *waiting, void *ctx);

/*
 * Before fork(): the pipes of one rank; child_fds gets their write ends
 * (-1 when the output is not tagged), for run_output_in_child() in the
 * rank and run_output_started() in shmar-run.
 */
int run_output_open(struct run_output *out, int rank, int child_fds[2]);
/* In the rank: its stdout and stderr become the pipes; the ranks' own fd limit comes back. */
int run_output_in_child(const struct run_output *out, const int child_fds[2]);
/* In shmar-run, after fork() (or when it failed): closes the write ends. */
void run_output_started(int child_fds[2]);

/* The pollfds of every stream, 2 * nranks of them (fd -1 for the closed ones). */
int run_output_pollfds(const struct run_output *out, struct pollfd *fds);
/* Reads the streams that fds (as filled above) say are ready; writes whole lines. */
void run_output_ready(struct run_output *out, const struct pollfd *fds);
/* Takes what rank has written so far (it ended: its last words come before our report). */
void run_output_drain_rank(struct run_output *out, int rank);
/* The end: takes what is left, writes unfinished lines, closes everything. */
void run_output_finish(struct run_output *out);

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

/* ------------------------------------------------------------ environment */

struct run_env {
	int master_port;                /* --torch-env: a TCP port free on 127.0.0.1 */
};

/* What all ranks share, found once before they start: 0 or -errno (said on stderr). */
int run_env_prepare(struct run_env *env, const struct run_opts *o);

/*
 * In the rank: SHMAR_JOB, SHMAR_NRANKS, SHMAR_RANK, torchrun's variables
 * with --torch-env, and OMP_NUM_THREADS when omp_threads > 0.  0 or -errno.
 */
int run_env_set(const struct run_env *env, const struct run_opts *o, int rank, int omp_threads);

/* ------------------------------------------------------------ rendezvous */

/*
 * Once every process of the job has ended: removes <dir>/<job>.sock, which
 * a rank 0 stopped during the rendezvous leaves, when no process listens
 * on it.  dir is where the library meets, as shmar_probe_dir() says.
 */
void run_rendezvous_cleanup(const char *job);

#endif /* SHMAR_TOOLS_RUN_INTERNAL_H */
