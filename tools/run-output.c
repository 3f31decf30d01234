/* SPDX-License-Identifier: MIT */
/*
 * run-output.c - the ranks' output, line by line, tagged with their rank
 * (--tag-output).
 *
 * Each rank's stdout and stderr are pipes to shmar-run, which reads them as
 * they fill and writes every complete line to its own stdout or stderr as
 * "[rank R] line", whole lines in one writev() call of at most PIPE_BUF
 * bytes (unless a single line is longer): lines of different ranks never
 * mix, not even where both streams end in one pipe (2>&1), since a pipe
 * takes a write of up to PIPE_BUF bytes whole.  A line longer than RUN_LINE_MAX is
 * cut into tagged pieces; a last line without its newline gets one.
 *
 * shmar-run must not block for long where it could miss a signal: before
 * writing to something that can fill up (a pipe, a terminal), it waits for
 * room with poll() on that and on its signalfd, and acts on signals in
 * between.  A reader that goes away (EPIPE) closes the ranks' pipes to that
 * stream, so that they get EPIPE or SIGPIPE, as they would without
 * shmar-run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "run-internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What the end of a rank takes at most from a pipe that something else still fills. */
#define DRAIN_MAX (4 * RUN_LINE_MAX)

struct run_output_stream {
	int fd;                 /* our read end, -1: closed */
	int rank;
	int dest;               /* STDOUT_FILENO or STDERR_FILENO */
	char *buf;              /* RUN_LINE_MAX bytes, allocated on the first data */
	size_t len;             /* bytes of an unfinished line in buf */
};

/* Descriptors besides the pipes: stdio, signalfd, timerfd, group pidfds, slack. */
#define FDS_BESIDES_PIPES (16 + RUN_GROUP_WATCH_MAX)

/* Two pipe read ends per rank stay open in shmar-run: raise the soft limit if needed. */
static int reserve_descriptors(struct run_output *out)
{
	rlim_t need = (rlim_t)out->nranks * 2 + FDS_BESIDES_PIPES;
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &out->saved_nofile) < 0)
		return -errno;
	if (out->saved_nofile.rlim_cur == RLIM_INFINITY || out->saved_nofile.rlim_cur >= need)
		return 0;
	if (out->saved_nofile.rlim_max != RLIM_INFINITY && out->saved_nofile.rlim_max < need) {
		fprintf(stderr, "shmar-run: warning: tagging the output of %d ranks needs %lu file "
			"descriptors, the hard limit is %lu (ulimit -Hn): output not tagged\n",
			out->nranks, (unsigned long)need, (unsigned long)out->saved_nofile.rlim_max);
		return -EMFILE;
	}
	raised = out->saved_nofile;
	raised.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
		return -errno;
	out->nofile_raised = true;
	return 0;
}

static bool may_block(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 || !S_ISREG(st.st_mode);
}

int run_output_init(struct run_output *out, int nranks, bool tag, int signal_fd,
		    run_output_waiting_fn *waiting, void *ctx)
{
	memset(out, 0, sizeof(*out));
	out->nranks = nranks;
	out->signal_fd = signal_fd;
	out->waiting = waiting;
	out->ctx = ctx;
	if (!tag || reserve_descriptors(out) < 0)
		return 0;
	out->streams = calloc((size_t)nranks * 2, sizeof(*out->streams));
	if (!out->streams)
		return -ENOMEM;
	for (int i = 0; i < nranks * 2; i++) {
		out->streams[i].fd = -1;
		out->streams[i].rank = i / 2;
		out->streams[i].dest = i % 2 ? STDERR_FILENO : STDOUT_FILENO;
	}
	out->dest_may_block[STDOUT_FILENO] = may_block(STDOUT_FILENO);
	out->dest_may_block[STDERR_FILENO] = may_block(STDERR_FILENO);
	out->tag = true;
	return 0;
}

/* ---- starting a rank */

int run_output_open(struct run_output *out, int rank, int child_fds[2])
{
	child_fds[0] = child_fds[1] = -1;
	if (!out->tag)
		return 0;
	for (int i = 0; i < 2; i++) {
		struct run_output_stream *s = &out->streams[rank * 2 + i];
		int ends[2];

		if (pipe2(ends, O_CLOEXEC) < 0) {
			int err = -errno;

			run_output_started(child_fds);
			return err;
		}
		/* our end only: the rank's end is another open file, which stays blocking */
		fcntl(ends[0], F_SETFL, O_NONBLOCK);
		s->fd = ends[0];
		child_fds[i] = ends[1];
	}
	return 0;
}

int run_output_in_child(const struct run_output *out, const int child_fds[2])
{
	if (!out->tag)
		return 0;
	/* 0, 1 and 2 are open in shmar-run (run-job.c sees to it), so no pipe end is one of them */
	if (dup2(child_fds[0], STDOUT_FILENO) < 0 || dup2(child_fds[1], STDERR_FILENO) < 0)
		return -errno;
	if (out->nofile_raised && setrlimit(RLIMIT_NOFILE, &out->saved_nofile) < 0)
		return -errno;
	return 0;
}

void run_output_started(int child_fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (child_fds[i] >= 0)
			close(child_fds[i]);
		child_fds[i] = -1;
	}
}

/* ---- writing */

/* Our reader went away: the ranks' writers of that stream get EPIPE, as they would without us. */
static void dest_gone(struct run_output *out, int dest)
{
	out->dest_gone[dest] = true;
	for (int i = 0; i < out->nranks * 2; i++) {
		struct run_output_stream *s = &out->streams[i];

		if (s->dest == dest && s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
}

/* Waits for room in dest while acting on signals; false when the caller gave up. */
static bool wait_for_room(struct run_output *out, int dest)
{
	struct pollfd fds[2] = {
		{ .fd = dest, .events = POLLOUT },
		{ .fd = out->signal_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return true;    /* the write will say what is wrong */
		}
		if ((fds[1].revents & POLLIN) && !out->waiting(out->ctx))
			return false;
		if (fds[0].revents)
			return true;
	}
}

static void write_whole(struct run_output *out, int dest, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n;

		if (out->dest_may_block[dest] && !wait_for_room(out, dest)) {
			out->dest_gone[dest] = true;
			return;
		}
		n = writev(dest, iov, iovcnt);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EPIPE)
				dest_gone(out, dest);
			/* other errors (ENOSPC, EIO) cost this line, as they would cost the rank */
			return;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
}

/*
 * Tagged lines, gathered for one writev(): as many as fit in PIPE_BUF
 * bytes, which a pipe takes whole, so that fewer calls do not mean mixed
 * lines.  A longer line goes alone.
 */
#define BATCH_LINES 64

struct batch {
	struct run_output *out;
	int dest;
	char tag[32];
	size_t tag_len;
	struct iovec iov[BATCH_LINES * 3];
	int iovcnt;
	size_t bytes;
};

static void batch_init(struct batch *b, struct run_output *out, const struct run_output_stream *s)
{
	b->out = out;
	b->dest = s->dest;
	snprintf(b->tag, sizeof(b->tag), "[rank %d] ", s->rank);
	b->tag_len = strlen(b->tag);
	b->iovcnt = 0;
	b->bytes = 0;
}

static void batch_flush(struct batch *b)
{
	if (b->iovcnt && !b->out->dest_gone[b->dest])
		write_whole(b->out, b->dest, b->iov, b->iovcnt);
	b->iovcnt = 0;
	b->bytes = 0;
}

/* One line (with its newline, or without when it was cut or unfinished), tagged. */
static void batch_add(struct batch *b, const char *line, size_t len)
{
	bool add_newline = len == 0 || line[len - 1] != '\n';
	size_t bytes = b->tag_len + len + add_newline;

	if (b->iovcnt + 3 > (int)ARRAY_SIZE(b->iov) || b->bytes + bytes > PIPE_BUF)
		batch_flush(b);
	b->iov[b->iovcnt++] = (struct iovec){ .iov_base = b->tag, .iov_len = b->tag_len };
	b->iov[b->iovcnt++] = (struct iovec){ .iov_base = (void *)line, .iov_len = len };
	if (add_newline)
		b->iov[b->iovcnt++] = (struct iovec){ .iov_base = "\n", .iov_len = 1 };
	b->bytes += bytes;
}

/* Writes the complete lines in s->buf, and a full buffer as one cut piece. */
static void write_complete_lines(struct run_output *out, struct run_output_stream *s)
{
	struct batch b;
	size_t start = 0;
	char *newline;

	batch_init(&b, out, s);
	while ((newline = memchr(s->buf + start, '\n', s->len - start))) {
		size_t end = (size_t)(newline - s->buf) + 1;

		batch_add(&b, s->buf + start, end - start);
		start = end;
	}
	if (start == 0 && s->len == RUN_LINE_MAX) {
		batch_add(&b, s->buf, s->len);
		start = s->len;
	}
	batch_flush(&b);
	s->len -= start;
	memmove(s->buf, s->buf + start, s->len);
}

/* What is left of a stream that ends: its unfinished line, with a newline. */
static void write_unfinished_line(struct run_output *out, struct run_output_stream *s)
{
	struct batch b;

	batch_init(&b, out, s);
	batch_add(&b, s->buf, s->len);
	batch_flush(&b);
}

static void close_stream(struct run_output *out, struct run_output_stream *s)
{
	if (s->len)
		write_unfinished_line(out, s);
	s->len = 0;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

/* One read(): > 0 bytes taken, 0 nothing there now, -1 the stream is closed. */
static ssize_t read_stream(struct run_output *out, struct run_output_stream *s)
{
	ssize_t n;

	if (s->fd < 0)
		return -1;
	if (!s->buf) {
		s->buf = malloc(RUN_LINE_MAX);
		if (!s->buf) {
			fprintf(stderr, "shmar-run: %s: output of rank %d lost\n", strerror(ENOMEM),
				s->rank);
			close_stream(out, s);
			return -1;
		}
	}
	n = read(s->fd, s->buf + s->len, RUN_LINE_MAX - s->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* end of file: every writer closed it */
		close_stream(out, s);
		return -1;
	}
	s->len += (size_t)n;
	write_complete_lines(out, s);
	return n;
}

/* Everything there now, but no more than DRAIN_MAX from a writer that does not stop. */
static void drain_stream(struct run_output *out, struct run_output_stream *s)
{
	size_t taken = 0;
	ssize_t n;

	while (taken < DRAIN_MAX && (n = read_stream(out, s)) > 0)
		taken += (size_t)n;
}

/* ---- the loop */

int run_output_pollfds(const struct run_output *out, struct pollfd *fds)
{
	int count = out->tag ? out->nranks * 2 : 0;

	for (int i = 0; i < count; i++)
		fds[i] = (struct pollfd){ .fd = out->streams[i].fd, .events = POLLIN };
	return count;
}

void run_output_ready(struct run_output *out, const struct pollfd *fds)
{
	if (!out->tag)
		return;
	/* one read() per stream and turn: a rank that writes without pause does not starve the rest */
	for (int i = 0; i < out->nranks * 2; i++)
		if (fds[i].fd >= 0 && fds[i].revents)
			read_stream(out, &out->streams[i]);
}

void run_output_drain_rank(struct run_output *out, int rank)
{
	if (!out->tag)
		return;
	for (int i = 0; i < 2; i++)
		drain_stream(out, &out->streams[rank * 2 + i]);
}

void run_output_finish(struct run_output *out)
{
	if (!out->tag)
		return;
	for (int i = 0; i < out->nranks * 2; i++) {
		drain_stream(out, &out->streams[i]);
		/* what a process that outlived its rank still holds open is not waited for */
		close_stream(out, &out->streams[i]);
	}
	free(out->streams);
	out->streams = NULL;
	out->tag = false;
}
