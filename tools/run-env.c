/* SPDX-License-Identifier: MIT */
/*
 * run-env.c - the environment each rank gets: libshmar's SHMAR_JOB,
 * SHMAR_NRANKS and SHMAR_RANK; with --torch-env what torchrun sets for
 * torch.distributed.init_process_group("env://"); with --bind
 * OMP_NUM_THREADS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "run-internal.h"

/* Where torch's TCPStore of rank 0 listens: this machine only. */
#define MASTER_ADDR "127.0.0.1"

/*
 * A TCP port that is free on MASTER_ADDR now: the kernel's pick for a
 * socket bound to port 0.  Someone may take it before rank 0 listens on
 * it; torchrun --standalone takes the same chance.
 */
static int find_free_port(int *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		err = -errno;
	close(fd);
	if (err == 0)
		*port = ntohs(addr.sin_port);
	return err;
}

int run_env_prepare(struct run_env *env, const struct run_opts *o)
{
	int err;

	memset(env, 0, sizeof(*env));
	if (!o->torch_env)
		return 0;
	err = find_free_port(&env->master_port);
	if (err < 0)
		fprintf(stderr, "shmar-run: --torch-env: cannot find a free TCP port on %s for "
			"MASTER_PORT: %s\n", MASTER_ADDR, strerror(-err));
	return err;
}

static int setenv_int(const char *name, int value)
{
	char text[16];

	snprintf(text, sizeof(text), "%d", value);
	return setenv(name, text, 1);
}

/* All ranks are local: torchrun's global and local numbers are the same. */
static int set_torch_environment(const struct run_env *env, const struct run_opts *o, int rank)
{
	if (setenv_int("RANK", rank) < 0 ||
	    setenv_int("WORLD_SIZE", o->nranks) < 0 ||
	    setenv_int("LOCAL_RANK", rank) < 0 ||
	    setenv_int("LOCAL_WORLD_SIZE", o->nranks) < 0 ||
	    setenv("MASTER_ADDR", MASTER_ADDR, 1) < 0 ||
	    setenv_int("MASTER_PORT", env->master_port) < 0)
		return -errno;
	return 0;
}

int run_env_set(const struct run_env *env, const struct run_opts *o, int rank, int omp_threads)
{
	if (setenv("SHMAR_JOB", o->job, 1) < 0 ||
	    setenv_int("SHMAR_NRANKS", o->nranks) < 0 ||
	    setenv_int("SHMAR_RANK", rank) < 0)
		return -errno;
	if (o->torch_env && set_torch_environment(env, o, rank) < 0)
		return -errno;
	/* OpenMP runtimes start one thread per online CPU, not per CPU of the affinity mask */
	if (omp_threads > 0 && setenv_int("OMP_NUM_THREADS", omp_threads) < 0)
		return -errno;
	return 0;
}
