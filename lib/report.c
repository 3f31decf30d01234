/* SPDX-License-Identifier: MIT */
/*
 * report.c - failure texts and opt-in diagnostics (report.h).
 *
 * The library prints nothing unless SHMAR_DEBUG asks it to, and then each
 * line is one write(2), so the lines of different ranks never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shmar.h"
#include "report.h"

static __thread char init_error[SHMAR_ERRMSG_MAX];

static void log_vline(const struct shmar__report *rep, const char *fmt, va_list ap)
{
	char line[512];
	int n;

	if (rep->rank >= 0)
		n = snprintf(line, sizeof(line), "shmar[rank %d pid %d]: ", rep->rank, (int)getpid());
	else
		n = snprintf(line, sizeof(line), "shmar[pid %d]: ", (int)getpid());
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	strcat(line, "\n");
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		return; /* nowhere to say it */
}

void shmar__log_line(const struct shmar__report *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(rep, fmt, ap);
	va_end(ap);
}

int shmar__fail(struct shmar__report *rep, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->text, sizeof(rep->text), fmt, ap);
	va_end(ap);
	shmar__log(rep, SHMAR_DEBUG_ERROR, "%s (%s)", rep->text, shmar_strerror(err));
	return err;
}

int shmar__fail_fds(struct shmar__report *rep, int err, const char *what, int nranks)
{
	int root = 2 * nranks + 6, peer = nranks + 5;
	struct rlimit lim;

	if (err == -ENFILE)
		return shmar__fail(rep, err, "%s: the system's file table is full (sysctl fs.file-max)",
				   what);
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		lim.rlim_cur = 0;
	return shmar__fail(rep, -EMFILE,
			   "%s: out of file descriptors (open-files limit %llu; a job of %d ranks needs about %d on rank 0 and %d on each other rank, besides the program's own): raise it with ulimit -n",
			   what, (unsigned long long)lim.rlim_cur, nranks, root, peer);
}

void shmar__init_error_set(const char *text)
{
	snprintf(init_error, sizeof(init_error), "%s", text);
}

const char *shmar__init_error(void)
{
	return init_error;
}
