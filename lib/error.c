/* SPDX-License-Identifier: MIT */
/*
 * error.c - error texts, the last-failure message, and opt-in diagnostics.
 *
 * The library prints nothing unless SHMAR_DEBUG asks it to.  Before a comm
 * exists, the failure text of shmar_comm_init() is kept per thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shmar-private.h"

static __thread char init_error[SHMAR_ERRMSG_MAX];

SHMAR_EXPORT const char *shmar_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case EINVAL:
		return "Invalid argument (bad pointer, rank, job name, dtype, op, count or setting)";
	case EACCES:
		return "Rendezvous refused (another user, wrong token, or unsafe directory)";
	case EADDRINUSE:
		return "A live job with this name exists, or the rank is already taken";
	case ETIMEDOUT:
		return "A peer did not arrive before the deadline";
	case EOWNERDEAD:
		return "A peer process died or left the job";
	case EPROTO:
		return "Ranks disagree (different collectives, arguments or protocol versions)";
	case ECANCELED:
		return "A rank aborted the communicator";
	case EBUSY:
		return "The communicator is in use by another thread";
	case ECHILD:
		return "The communicator belongs to the parent process (used after fork)";
	case ENOTSUP:
		return "Not supported on this machine (e.g. SHMAR_ISA names kernels the CPU lacks)";
	case ENOSYS:
		return "Not implemented in this version of libshmar";
	}
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

SHMAR_EXPORT const char *shmar_comm_last_error(const struct shmar_comm *comm)
{
	return comm ? comm->last_error : init_error;
}

SHMAR_EXPORT const char *shmar_version(void)
{
	return PACKAGE_VERSION;
}

void shmar__log(int level, int debug, int rank, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (level > debug)
		return;
	n = snprintf(line, sizeof(line), "shmar[rank %d pid %d]: ", rank, (int)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	/* One write: lines of different ranks do not interleave. */
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		return;
}

int shmar__fail(struct shmar_comm *comm, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(comm->last_error, sizeof(comm->last_error), fmt, ap);
	va_end(ap);
	shmar__log(SHMAR_DEBUG_ERROR, comm->set.debug, comm->rank, "%s (%s)", comm->last_error,
		   shmar_strerror(err));
	return err;
}

int shmar__fail_init(int err, const char *fmt, ...)
{
	va_list ap;
	int debug = shmar__debug_level_from_env();

	va_start(ap, fmt);
	vsnprintf(init_error, sizeof(init_error), fmt, ap);
	va_end(ap);
	shmar__log(SHMAR_DEBUG_ERROR, debug, -1, "%s (%s)", init_error, shmar_strerror(err));
	return err;
}

void shmar__clear_init_error(void)
{
	init_error[0] = '\0';
}
