/* SPDX-License-Identifier: MIT */
/*
 * error.c - what each error number means for a job, and the version.
 */
#include <errno.h>
#include <string.h>

#include "shmar.h"
#include "macro.h"

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

SHMAR_EXPORT const char *shmar_version(void)
{
	return PACKAGE_VERSION;
}
