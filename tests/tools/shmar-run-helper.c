/* SPDX-License-Identifier: MIT */
/*
 * shmar-run-helper - a rank for test-shmar-run.sh that sleeps until it is
 * killed, with a marker on its command line for pgrep -f to find.
 *
 *   shmar-run-helper [--ignore-term] [--ignore-int] [--fork] [--init]
 *                    [--barrier] [--lines N] [--ready FILE] [--exit STATUS]
 *                    MARKER
 *
 *   --ignore-term  SIGTERM does not end it (nor its child): only SIGKILL does
 *   --ignore-int   SIGINT neither
 *   --fork         first start a child that does the same, as a process the
 *                  rank started (same process group, same command line); the
 *                  child ignores --init, --barrier, --lines and --exit and
 *                  only sleeps
 *   --init         join the job with shmar_comm_init_env() and pass one
 *                  shmar_barrier(), so that the job is whole; when that
 *                  fails, say why on stderr and exit 1
 *   --barrier      then call shmar_barrier() until it fails; then wait
 *                  200 ms, as a program that unwinds before it reports,
 *                  say why on stderr and exit 1
 *   --lines N      write N numbered lines to stdout and N to stderr, each
 *                  in two write() calls 1 ms apart, so that lines of ranks
 *                  that share a file would mix
 *   --ready FILE   create FILE once all that is set up
 *   --exit STATUS  then exit with STATUS instead of sleeping
 *
 * Whatever happens, SIGALRM ends it and its child after 60 s, so that a
 * broken shmar-run cannot leave them behind for long.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <shmar.h>

#define LIFETIME_S 60
#define REPORT_DELAY_MS 200

struct helper_opts {
	bool ignore_term;
	bool ignore_int;
	bool start_child;
	bool init;
	bool barrier;
	int lines;
	const char *ready;
	int exit_status;        /* -1: sleep until killed */
};

static int usage(void)
{
	fprintf(stderr, "usage: shmar-run-helper [--ignore-term] [--ignore-int] [--fork] [--init] "
		"[--barrier] [--lines N] [--ready FILE] [--exit STATUS] MARKER\n");
	return 2;
}

static void sleep_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static int create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

/* Both halves of one line, written apart: what shmar-run must put back together. */
static void write_line(int fd, const char *stream, int rank, int i)
{
	char head[64];
	int len = snprintf(head, sizeof(head), "rank %d %s line %d:", rank, stream, i);

	if (write(fd, head, (size_t)len) != len)
		return;
	sleep_ms(1);
	if (write(fd, " whole\n", 7) != 7)
		return;
}

static void write_lines(int count)
{
	const char *rank = getenv("SHMAR_RANK");

	for (int i = 0; i < count; i++) {
		write_line(STDOUT_FILENO, "out", rank ? atoi(rank) : -1, i);
		write_line(STDERR_FILENO, "err", rank ? atoi(rank) : -1, i);
	}
}

static int run_barriers(struct shmar_comm *comm)
{
	int err;

	while ((err = shmar_barrier(comm)) == 0)
		;
	sleep_ms(REPORT_DELAY_MS);
	fprintf(stderr, "shmar-run-helper: rank %d: barrier: %s (%s)\n", shmar_comm_rank(comm),
		shmar_strerror(err), shmar_comm_last_error(comm));
	shmar_comm_destroy(comm);
	return 1;
}

static int parse_args(int argc, char **argv, struct helper_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->exit_status = -1;
	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--ignore-term"))
			o->ignore_term = true;
		else if (!strcmp(argv[i], "--ignore-int"))
			o->ignore_int = true;
		else if (!strcmp(argv[i], "--fork"))
			o->start_child = true;
		else if (!strcmp(argv[i], "--init"))
			o->init = true;
		else if (!strcmp(argv[i], "--barrier"))
			o->barrier = true;
		else if (!strcmp(argv[i], "--lines") && i + 2 < argc)
			o->lines = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ready") && i + 2 < argc)
			o->ready = argv[++i];
		else if (!strcmp(argv[i], "--exit") && i + 2 < argc)
			o->exit_status = atoi(argv[++i]);
		else
			return -1;
	}
	return i == argc - 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct shmar_comm *comm = NULL;
	struct helper_opts o;
	pid_t child = -1;
	int err;

	if (parse_args(argc, argv, &o) < 0)
		return usage();
	/* ignored dispositions survive fork(), so the child ignores SIGTERM too */
	if (o.ignore_term)
		signal(SIGTERM, SIG_IGN);
	if (o.ignore_int)
		signal(SIGINT, SIG_IGN);
	if (o.start_child) {
		child = fork();
		if (child < 0) {
			perror("shmar-run-helper: fork");
			return 1;
		}
	}
	/* after fork(): a child does not inherit the alarm */
	alarm(LIFETIME_S);
	if (child == 0)
		for (;;)
			pause();
	if (o.init) {
		err = shmar_comm_init_env(&comm);
		if (err < 0) {
			fprintf(stderr, "shmar-run-helper: init: %s (%s)\n", shmar_strerror(err),
				shmar_comm_last_error(NULL));
			return 1;
		}
		err = shmar_barrier(comm);
		if (err < 0) {
			fprintf(stderr, "shmar-run-helper: first barrier: %s (%s)\n",
				shmar_strerror(err), shmar_comm_last_error(comm));
			shmar_comm_destroy(comm);
			return 1;
		}
	}
	write_lines(o.lines);
	if (o.ready && create_file(o.ready) < 0) {
		perror("shmar-run-helper: cannot create the ready file");
		return 1;
	}
	if (o.barrier && comm)
		return run_barriers(comm);
	if (o.exit_status == 0) {
		shmar_comm_destroy(comm);
		return 0;
	}
	/*
	 * A failing rank leaves without a word and without destroying its
	 * comm, as one that crashed; _exit(), so that a leak checker (the ASan
	 * build) does not turn its exit status into its own.
	 */
	if (o.exit_status > 0)
		_exit(o.exit_status);
	for (;;)
		pause();
}
