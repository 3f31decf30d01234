/* SPDX-License-Identifier: MIT */
/*
 * env.c - shmar_comm_init_env(): a job from the environment.
 *
 * The rank and size come from SHMAR_RANK/SHMAR_NRANKS (shmar-run) or from
 * torchrun's LOCAL_RANK/LOCAL_WORLD_SIZE.  The job name must be the same on
 * every rank of a job and differ between jobs that run at the same time:
 * SHMAR_JOB when set, else a name built from what torchrun gives every
 * worker of one run and no other run (the rendezvous run id, else the
 * master address and port).  When nothing identifies the job the call fails
 * and says what to set, rather than guess a name two jobs could share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* 64-bit FNV-1a: a short suffix that keeps shortened names apart. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* "torch-" + what, with characters a job name cannot hold made '-', and a
 * hash of the whole when it must be shortened. */
static void torch_job_name(char *out, size_t len, const char *what)
{
	size_t n = (size_t)snprintf(out, len, "torch-%s", what);

	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			*p = '-';
	if (n >= len || n > SHMAR_JOB_MAX)
		snprintf(out + SHMAR_JOB_MAX - 17, 18, "-%016llx", (unsigned long long)fnv1a(what));
}

/* The job name of a torchrun worker; -EINVAL when nothing identifies the run. */
static int torch_job(char *out, size_t len)
{
	const char *run = env("TORCHELASTIC_RUN_ID"), *restart = env("TORCHELASTIC_RESTART_COUNT");
	const char *addr = env("MASTER_ADDR"), *port = env("MASTER_PORT");
	char what[256];

	/* torchrun --standalone makes a fresh uuid; "none" is its default otherwise */
	if (run && strcmp(run, "none") != 0) {
		snprintf(what, sizeof(what), "%s-%s", run, restart ? restart : "0");
		torch_job_name(out, len, what);
		return 0;
	}
	if (port) {
		snprintf(what, sizeof(what), "%s-%s", addr ? addr : "localhost", port);
		torch_job_name(out, len, what);
		return 0;
	}
	return -EINVAL;
}

static int env_fail(int err, const char *text)
{
	shmar__init_error_set(text);
	return err;
}

SHMAR_EXPORT int shmar_comm_init_env(struct shmar_comm **comm)
{
	const char *job = env("SHMAR_JOB"), *n = env("SHMAR_NRANKS"), *r = env("SHMAR_RANK");
	char name[SHMAR_JOB_MAX + 1], text[SHMAR_ERRMSG_MAX];
	int nranks, rank;

	shmar__init_error_set("");
	if (!comm)
		return env_fail(-EINVAL, "comm pointer is NULL");
	*comm = NULL;
	if (!n && !r) { /* torchrun's */
		n = env("LOCAL_WORLD_SIZE");
		r = env("LOCAL_RANK");
	}
	if (!n || !r)
		return env_fail(-EINVAL, "set SHMAR_JOB, SHMAR_NRANKS and SHMAR_RANK (or run under torchrun, which sets LOCAL_WORLD_SIZE and LOCAL_RANK)");
	if (parse_int(n, &nranks) < 0 || parse_int(r, &rank) < 0) {
		snprintf(text, sizeof(text), "the rank count %.32s and rank %.32s are not numbers", n, r);
		return env_fail(-EINVAL, text);
	}
	if (!job) {
		if (torch_job(name, sizeof(name)) < 0)
			return env_fail(-EINVAL, "nothing identifies this job: set SHMAR_JOB to a name its ranks share and no other job uses (torchrun sets MASTER_ADDR and MASTER_PORT, which serve)");
		job = name;
	}
	return shmar_comm_init(comm, job, nranks, rank, NULL);
}
