/* SPDX-License-Identifier: MIT */
/*
 * run-job.c - shmar-run: start N ranks of a command, pin them to CPUs, pass
 * their output on, forward signals, and stop the whole job as soon as one
 * rank fails.
 *
 * How the job is held together:
 *
 *  - All ranks live in one process group of their own, the group of rank 0,
 *    so that a signal sent to the group also reaches what the ranks started.
 *    Rank 0 is reaped last: as long as its zombie exists the kernel cannot
 *    give its pid, which is the group id, to a new process, so kill(-pgid)
 *    never hits an unrelated group.
 *  - Every rank asks for SIGKILL when shmar-run dies (PR_SET_PDEATHSIG), so
 *    no rank outlives the launcher, not even a SIGKILLed one.
 *  - The launcher blocks the signals it handles and reads them from a
 *    signalfd; the stop delay and the grace period are a timerfd; the ranks'
 *    output comes through pipes (run-output.c); what the ranks left in the
 *    group is watched by pidfd (run-group.c); poll() sleeps on all of them.
 *    Nothing is busy-waited, and no wait is without bound once a signal
 *    asks shmar-run to end.
 *  - Once a rank fails, the others have the stop delay to end on their own:
 *    libshmar tells them of the failure within milliseconds, and what they
 *    say about it is what the user needs.  Then the stop signal (SIGTERM,
 *    or the signal shmar-run was sent) with SIGCONT, so that a stopped
 *    process acts on it; the grace period; SIGKILL.  A second signal to
 *    shmar-run sends SIGKILL at once.  When all ranks have ended, what they
 *    started and left in the group is stopped the same way, and the job ends
 *    as soon as the group is empty.
 *  - At the end, what the job left in the rendezvous directory is removed
 *    (run-rendezvous.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run-internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The signals shmar-run passes on to the ranks. */
static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* How many processes a report of what is still running names. */
#define REPORT_MAX_NAMED 8

struct rank {
	pid_t pid;              /* 0: not started */
	bool ended;             /* its end was seen; rank 0 stays unreaped till the job is over */
	int code;               /* how it ended: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
	int status;             /* its exit status or the signal that killed it */
};

enum job_phase {
	JOB_RUNNING,            /* no rank has failed, no signal came */
	JOB_FAILING,            /* a rank failed; the others have the stop delay to end */
	JOB_STOPPING,           /* the stop signal sent, the grace timer runs */
	JOB_KILLED,             /* SIGKILL sent */
};

struct job {
	const struct run_opts *opts;
	const struct run_cpu_plan *plan;        /* NULL without --bind */
	bool set_omp_threads;   /* --bind, and the user did not set OMP_NUM_THREADS */
	struct run_env env;
	struct rank *ranks;
	int nstarted;
	int nlive;              /* started ranks whose end was not seen yet */
	pid_t launcher;         /* our pid, for the ranks' PR_SET_PDEATHSIG race check */
	pid_t pgid;             /* the job's process group (rank 0's pid), 0 before it exists */
	sigset_t handled;       /* the signals we read from sigfd */
	sigset_t saved_mask;    /* our signal mask before, which the ranks get back */
	int sigfd;
	int timerfd;            /* the stop delay, then the grace period */
	struct run_output output;
	struct run_group_watch watch;
	bool watching;          /* all ranks ended; waiting for the rest of the group */
	struct pollfd *pollfds;
	enum job_phase phase;
	int stop_signal;        /* what JOB_STOPPING sent: SIGTERM or a forwarded signal */
	int failed_rank;        /* the first rank that failed, -1: none */
	int exit_status;
	int forwarded;          /* the last signal passed on to the ranks, 0: none */
	bool children_changed;  /* a SIGCHLD was read and not acted on yet */
	bool insisted;          /* a signal came while stopping: stop waiting for anything */
	bool tty_hint_given;
	bool done;
};

/* ---- in the rank, between fork() and exec() */

/*
 * shmar-run is single-threaded, so the rank may still use stdio and
 * setenv() after fork(); it leaves only by exec() or _exit().
 */
static _Noreturn void rank_fail(int rank, const char *what)
{
	fprintf(stderr, "shmar-run: rank %d: %s: %s\n", rank, what, strerror(errno));
	_exit(RUN_EXIT_INTERNAL);
}

static int rank_omp_threads(const struct job *job, int rank)
{
	if (!job->set_omp_threads)
		return 0;
	return CPU_COUNT_S(job->plan->setsize, job->plan->rank_cpus[rank]);
}

static _Noreturn void rank_exec(const struct job *job, int rank, const int output_fds[2])
{
	char *const *argv = job->opts->argv;
	int err;

	/* job->pgid is 0 for rank 0: a new group, named after the rank */
	if (setpgid(0, job->pgid) < 0)
		rank_fail(rank, "cannot join the job's process group");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		rank_fail(rank, "cannot ask to die with shmar-run");
	/* shmar-run may have died before the request above: then no signal will come */
	if (getppid() != job->launcher)
		_exit(RUN_EXIT_INTERNAL);
	if (run_output_in_child(&job->output, output_fds) < 0)
		rank_fail(rank, "cannot set up its output");
	if (job->plan &&
	    sched_setaffinity(0, job->plan->setsize, job->plan->rank_cpus[rank]) < 0)
		rank_fail(rank, "cannot set the CPU affinity");
	if (run_env_set(&job->env, job->opts, rank, rank_omp_threads(job, rank)) < 0)
		rank_fail(rank, "cannot set the environment");
	sigprocmask(SIG_SETMASK, &job->saved_mask, NULL);
	execvp(argv[0], argv);
	err = errno;
	fprintf(stderr, "shmar-run: cannot run '%s': %s\n", argv[0], strerror(err));
	_exit(err == ENOENT || err == ENOTDIR ? RUN_EXIT_NOT_FOUND : RUN_EXIT_CANNOT_EXEC);
}

/* ---- in shmar-run */

/*
 * A signal to the whole job.  A rank that left the group (setsid(), a
 * shell's job control) gets it on its own; its pid stays ours until we reap
 * it, so that is safe.
 */
static void signal_job(const struct job *job, int sig)
{
	if (job->pgid > 0)
		kill(-job->pgid, sig);
	for (int r = 0; r < job->nstarted; r++) {
		const struct rank *rank = &job->ranks[r];

		if (!rank->ended && getpgid(rank->pid) != job->pgid)
			kill(rank->pid, sig);
	}
}

static int arm_timer(const struct job *job, double seconds)
{
	struct itimerspec when;

	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = (time_t)seconds;
	when.it_value.tv_nsec = (long)((seconds - (double)when.it_value.tv_sec) * 1e9);
	/* an all-zero time would disarm the timer: 0 s expires at once instead */
	if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0)
		when.it_value.tv_nsec = 1;
	return timerfd_settime(job->timerfd, 0, &when, NULL) < 0 ? -errno : 0;
}

static const char *signal_name(int sig)
{
	static char name[16];
	const char *abbrev = sigabbrev_np(sig);

	snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "?");
	return name;
}

static void job_kill(struct job *job)
{
	signal_job(job, SIGKILL);
	job->phase = JOB_KILLED;
	if (job->nlive == 0)
		job->done = true;
}

/*
 * sig to the job, then SIGCONT: a stopped process (SIGSTOP, or SIGTTIN for
 * reading the terminal) acts on sig only once it runs again; systemd does
 * the same.  SIGKILL after the grace period.
 */
static void job_stop(struct job *job, int sig)
{
	signal_job(job, sig);
	signal_job(job, SIGCONT);
	job->phase = JOB_STOPPING;
	job->stop_signal = sig;
	if (arm_timer(job, job->opts->grace_s) < 0)
		job_kill(job);
}

/* A rank failed: the others get the stop delay to end on their own and say why. */
static void job_failed(struct job *job)
{
	if (job->opts->stop_delay_s > 0 && job->nlive > 0 &&
	    arm_timer(job, job->opts->stop_delay_s) == 0)
		job->phase = JOB_FAILING;
	else
		job_stop(job, SIGTERM);
}

static bool is_rank(const struct job *job, pid_t pid)
{
	for (int r = 0; r < job->nstarted; r++)
		if (job->ranks[r].pid == pid)
			return true;
	return false;
}

/* "rank 0 (pid 41), pid 57 (python3)": what of the job still runs, into buf. */
static void describe_still_running(const struct job *job, char *buf, size_t size)
{
	/* room for every rank and as many others as are named */
	struct run_group_member members[RUN_MAX_RANKS + REPORT_MAX_NAMED];
	int nmembers = job->pgid > 0 ? run_group_list(job->pgid, members, ARRAY_SIZE(members)) : 0;
	int listed = nmembers < (int)ARRAY_SIZE(members) ? nmembers : (int)ARRAY_SIZE(members);
	int named = 0, unnamed = nmembers - listed;
	size_t used = 0;

	buf[0] = '\0';
	for (int r = 0; r < job->nstarted; r++) {
		if (job->ranks[r].ended)
			continue;
		if (named++ < REPORT_MAX_NAMED)
			used += (size_t)snprintf(buf + used, size - used, "%srank %d (pid %ld)",
						 used ? ", " : "", r, (long)job->ranks[r].pid);
		else
			unnamed++;
		if (used >= size)
			return;
	}
	for (int i = 0; i < listed; i++) {
		if (is_rank(job, members[i].pid))
			continue;
		if (named++ < REPORT_MAX_NAMED)
			used += (size_t)snprintf(buf + used, size - used, "%spid %ld (%s)",
						 used ? ", " : "", (long)members[i].pid, members[i].comm);
		else
			unnamed++;
		if (used >= size)
			return;
	}
	if (unnamed)
		snprintf(buf + used, size - used, " and %d more", unnamed);
}

static void job_grace_over(struct job *job)
{
	char still[512];

	describe_still_running(job, still, sizeof(still));
	/* all ended in the meantime: nothing to report, and the SIGKILL finds nobody */
	if (!still[0]) {
		job_kill(job);
		return;
	}
	fprintf(stderr, "shmar-run: still running %g s after %s: %s; sending SIGKILL\n",
		job->opts->grace_s, signal_name(job->stop_signal), still);
	job_kill(job);
}

static void job_timer(struct job *job)
{
	uint64_t expirations;

	if (read(job->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	if (job->phase == JOB_FAILING)
		job_stop(job, SIGTERM);
	else if (job->phase == JOB_STOPPING)
		job_grace_over(job);
}

static void job_forward(struct job *job, int sig)
{
	if (job->done) {
		/* only our own output is left to write: stop waiting for its reader */
		job->insisted = true;
	} else if (job->phase == JOB_RUNNING || job->phase == JOB_FAILING) {
		job->forwarded = sig;
		job_stop(job, sig);
	} else if (job->phase == JOB_STOPPING) {
		/* asked again while stopping: nobody wants to sit out the grace period */
		fprintf(stderr, "shmar-run: %s while stopping the job; sending SIGKILL\n",
			strsignal(sig));
		job->insisted = true;
		job_kill(job);
	} else {
		job->insisted = true;
	}
}

/*
 * Reads the signals that came: forwarded at once, SIGCHLD noted for the
 * main loop.  Also called while waiting to write output, hence nothing here
 * writes output.  Returns whether waiting for the output's reader is still
 * wanted.
 */
static bool job_take_signals(void *ctx)
{
	struct job *job = ctx;
	struct signalfd_siginfo info;

	while (read(job->sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo == SIGCHLD)
			job->children_changed = true;
		else
			job_forward(job, (int)info.ssi_signo);
	}
	return !job->insisted;
}

static void report_rank_end(const struct job *job, int r)
{
	const struct rank *rank = &job->ranks[r];

	if (rank->code == CLD_EXITED)
		fprintf(stderr, "shmar-run: rank %d (pid %ld) exited with status %d\n",
			r, (long)rank->pid, rank->status);
	else
		fprintf(stderr, "shmar-run: rank %d (pid %ld) killed by signal %d (%s)%s\n",
			r, (long)rank->pid, rank->status, strsignal(rank->status),
			rank->code == CLD_DUMPED ? ", core dumped" : "");
}

static void rank_ended(struct job *job, int r, int code, int status)
{
	struct rank *rank = &job->ranks[r];
	enum job_phase phase = job->phase;

	/* what the rank said last comes before what we say about its end */
	run_output_drain_rank(&job->output, r);
	rank->ended = true;
	rank->code = code;
	rank->status = status;
	job->nlive--;
	if (code == CLD_EXITED && status == 0)
		return;
	/*
	 * Before any failure, every failure counts, also after a forwarded
	 * signal.  After one, the ranks that end on their own in the stop
	 * delay are named too; those we stop are not.
	 */
	if (job->failed_rank < 0) {
		report_rank_end(job, r);
		job->failed_rank = r;
		job->exit_status = code == CLD_EXITED ? status : 128 + status;
	} else if (phase == JOB_FAILING) {
		report_rank_end(job, r);
	}
}

/* A rank in a background process group that touches the terminal is stopped: say why. */
static void rank_stopped(struct job *job, int r, int sig)
{
	if ((sig != SIGTTIN && sig != SIGTTOU) || job->tty_hint_given)
		return;
	job->tty_hint_given = true;
	fprintf(stderr, "shmar-run: rank %d (pid %ld) stopped by %s: ranks run in a process "
		"group of their own and cannot read from or set up the terminal; give them "
		"input from a file or a pipe\n", r, (long)job->ranks[r].pid,
		sig == SIGTTIN ? "SIGTTIN" : "SIGTTOU");
}

static void rank_poll(struct job *job, int r)
{
	struct rank *rank = &job->ranks[r];
	/* rank 0 is looked at, not reaped: its zombie pins the group id (see the top) */
	int flags = WEXITED | WSTOPPED | WNOHANG | (r == 0 ? WNOWAIT : 0);
	siginfo_t info;

	/* with WNOHANG, si_pid stays 0 when the rank has nothing to tell */
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)rank->pid, &info, flags) < 0) {
		/* only if someone else reaped it: do not wait for it forever */
		if (errno == ECHILD)
			rank_ended(job, r, CLD_EXITED, RUN_EXIT_INTERNAL);
		return;
	}
	if (info.si_pid == 0)
		return;
	if (info.si_code == CLD_STOPPED)
		rank_stopped(job, r, info.si_status);
	else if (info.si_code == CLD_EXITED || info.si_code == CLD_KILLED ||
		 info.si_code == CLD_DUMPED)
		rank_ended(job, r, info.si_code, info.si_status);
}

/* Looks at the group again: the job is over once it is empty. */
static void job_watch_group(struct job *job)
{
	if (job->watching)
		run_group_watch_stop(&job->watch);
	job->watching = run_group_watch_start(&job->watch, job->pgid) > 0;
	if (!job->watching) {
		run_group_watch_stop(&job->watch);
		job->done = true;
	}
}

static void job_all_ranks_ended(struct job *job)
{
	/* SIGKILLed: job_finish() sends the group another SIGKILL, nothing can resist that */
	if (job->phase == JOB_KILLED) {
		job->done = true;
		return;
	}
	job_watch_group(job);
	if (job->done)
		return;
	if (job->phase == JOB_RUNNING || job->phase == JOB_FAILING) {
		fprintf(stderr, "shmar-run: all ranks ended, but processes they started are "
			"still running; stopping them\n");
		job_stop(job, SIGTERM);
	}
	/* when stopping, they have had the signal: the group empties or the grace timer decides */
}

static void job_collect(struct job *job)
{
	job->children_changed = false;
	for (int r = 0; r < job->nstarted; r++)
		if (!job->ranks[r].ended)
			rank_poll(job, r);
	if (job->failed_rank >= 0 && job->phase == JOB_RUNNING)
		job_failed(job);
	if (job->nlive == 0 && !job->done && !job->watching)
		job_all_ranks_ended(job);
}

/* The fds poll() sleeps on: signals, the timer, the group's pidfds, the ranks' output. */
static int job_pollfds(struct job *job, int *output_at)
{
	struct pollfd *fds = job->pollfds;
	int n = 0;

	fds[n++] = (struct pollfd){ .fd = job->sigfd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = job->timerfd, .events = POLLIN };
	if (job->watching) {
		run_group_watch_pollfds(&job->watch, fds + n);
		n += job->watch.count;
	}
	*output_at = n;
	return n + run_output_pollfds(&job->output, fds + n);
}

static int job_wait(struct job *job)
{
	while (!job->done) {
		int output_at;
		int nfds;
		int timeout = job->watching && job->watch.blind ? RUN_GROUP_RESCAN_MS : -1;
		struct pollfd *fds = job->pollfds;
		int ready;
		bool group_changed;

		/* a SIGCHLD may also have been read while output waited for its reader */
		if (job->children_changed) {
			job_collect(job);
			continue;
		}
		nfds = job_pollfds(job, &output_at);
		ready = poll(fds, (nfds_t)nfds, timeout);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		group_changed = job->watching && ready == 0;
		for (int i = 2; i < output_at; i++)
			group_changed |= fds[i].revents != 0;
		if (fds[0].revents & POLLIN)
			job_take_signals(job);
		/* ranks that ended before the timer fired ended on their own */
		if (job->children_changed)
			job_collect(job);
		if (fds[1].revents & POLLIN)
			job_timer(job);
		if (group_changed && job->watching && !job->done)
			job_watch_group(job);
		run_output_ready(&job->output, fds + output_at);
	}
	return 0;
}

static int job_start_rank(struct job *job, int rank)
{
	int output_fds[2];
	pid_t pid;
	int ret;

	ret = run_output_open(&job->output, rank, output_fds);
	if (ret < 0)
		return ret;
	/* what stdio still holds would otherwise be written by the rank too */
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		rank_exec(job, rank, output_fds);
	ret = pid < 0 ? -errno : 0;
	run_output_started(output_fds);
	if (ret < 0)
		return ret;
	if (rank == 0)
		job->pgid = pid;
	/*
	 * The rank calls setpgid() as well, and whichever runs first wins: the
	 * group exists before the next rank joins it or a signal is forwarded.
	 * An error here means the rank has done it, or failed and says so.
	 */
	(void)setpgid(pid, job->pgid);
	job->ranks[rank].pid = pid;
	job->nstarted++;
	job->nlive++;
	return 0;
}

static void job_launch(struct job *job)
{
	for (int r = 0; r < job->opts->nranks; r++) {
		int ret = job_start_rank(job, r);

		if (ret < 0) {
			fprintf(stderr, "shmar-run: cannot start rank %d: %s\n", r, strerror(-ret));
			job->exit_status = RUN_EXIT_INTERNAL;
			job->failed_rank = r;
			if (job->nstarted)
				job_stop(job, SIGTERM);
			else
				job->done = true;
			return;
		}
	}
}

static int job_setup_signals(struct job *job)
{
	struct sigaction dfl;
	sigset_t blocked;

	/* with SIGCHLD ignored, as a parent may leave it, the kernel would reap the ranks itself */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);

	sigemptyset(&job->handled);
	sigaddset(&job->handled, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++) {
		struct sigaction old;

		/* nohup(1) and shells' background jobs hand these over ignored, on purpose */
		if (sigaction(forwarded_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&job->handled, forwarded_signals[i]);
	}
	/*
	 * SIGPIPE blocked too, not handled: a reader of our output that went
	 * away is an EPIPE to act on (run-output.c), not our end.  The ranks
	 * get the old mask back, and a pending signal is not inherited.
	 */
	blocked = job->handled;
	sigaddset(&blocked, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &blocked, &job->saved_mask) < 0)
		return -errno;
	job->sigfd = signalfd(-1, &job->handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (job->sigfd < 0)
		return -errno;
	job->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (job->timerfd < 0)
		return -errno;
	return 0;
}

/*
 * The end: a last SIGKILL to the group, while rank 0's zombie still pins its
 * id, for what outlived its rank; then reap rank 0 and any rank not yet
 * reaped (only after an error), so that no zombie is left.
 */
static void job_finish(struct job *job)
{
	if (job->nstarted == 0)
		return;
	signal_job(job, SIGKILL);
	for (int r = 0; r < job->nstarted; r++)
		if (r == 0 || !job->ranks[r].ended)
			while (waitpid(job->ranks[r].pid, NULL, 0) < 0 && errno == EINTR)
				;
}

/*
 * A closed 0, 1 or 2 would be taken by the next descriptor we open, and a
 * rank would get a pipe or a signalfd as its standard input: /dev/null
 * holds the place, as daemons do.
 */
static int keep_stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
			return -errno;
	}
	return 0;
}

static int job_init(struct job *job, const struct run_opts *o, const struct run_cpu_plan *plan)
{
	size_t npollfds = 2 + RUN_GROUP_WATCH_MAX + 2 * (size_t)o->nranks;
	int ret;

	memset(job, 0, sizeof(*job));
	job->opts = o;
	job->plan = plan;
	job->set_omp_threads = plan && !getenv("OMP_NUM_THREADS");
	job->launcher = getpid();
	job->sigfd = -1;
	job->timerfd = -1;
	job->phase = JOB_RUNNING;
	job->failed_rank = -1;
	ret = keep_stdio_open();
	if (ret < 0)
		return ret;
	job->ranks = calloc((size_t)o->nranks, sizeof(*job->ranks));
	job->pollfds = calloc(npollfds, sizeof(*job->pollfds));
	return job->ranks && job->pollfds ? 0 : -ENOMEM;
}

/*
 * The signals stay blocked: one that came late must not end shmar-run
 * before it has returned the job's status.
 */
static void job_cleanup(struct job *job)
{
	if (job->watching)
		run_group_watch_stop(&job->watch);
	if (job->sigfd >= 0)
		close(job->sigfd);
	if (job->timerfd >= 0)
		close(job->timerfd);
	free(job->pollfds);
	free(job->ranks);
}

/*
 * The "wait and cooperative exit" convention: a shell that ran us in a loop
 * stops the loop on Ctrl-C only if we, too, end by SIGINT.
 */
static _Noreturn void end_by_sigint(void)
{
	sigset_t sigint;

	signal(SIGINT, SIG_DFL);
	sigemptyset(&sigint);
	sigaddset(&sigint, SIGINT);
	fflush(NULL);
	raise(SIGINT);
	sigprocmask(SIG_UNBLOCK, &sigint, NULL);
	_exit(128 + SIGINT);
}

static int job_prepare(struct job *job, const struct run_opts *o, const struct run_cpu_plan *plan)
{
	int ret;

	ret = job_init(job, o, plan);
	if (ret == 0)
		ret = job_setup_signals(job);
	if (ret == 0)
		ret = run_output_init(&job->output, o->nranks, o->tag_output, job->sigfd,
				      job_take_signals, job);
	if (ret < 0) {
		fprintf(stderr, "shmar-run: cannot set up: %s\n", strerror(-ret));
		return ret;
	}
	return run_env_prepare(&job->env, o);
}

int run_job(const struct run_opts *o, const struct run_cpu_plan *plan)
{
	struct job job;
	bool interrupted;
	int status;
	int ret;

	if (job_prepare(&job, o, plan) < 0) {
		job_cleanup(&job);
		return RUN_EXIT_INTERNAL;
	}
	job_launch(&job);
	ret = job_wait(&job);
	if (ret < 0) {
		fprintf(stderr, "shmar-run: cannot wait for the ranks: %s\n", strerror(-ret));
		job.exit_status = RUN_EXIT_INTERNAL;
	}
	/* done: no more signals are forwarded, so rank 0 may be reaped after this */
	job.done = true;
	run_output_finish(&job.output);
	job_finish(&job);
	if (job.nstarted)
		run_rendezvous_cleanup(o->job);
	status = job.exit_status;
	interrupted = job.forwarded == SIGINT && status == 128 + SIGINT;
	job_cleanup(&job);
	if (interrupted)
		end_by_sigint();
	return status;
}
