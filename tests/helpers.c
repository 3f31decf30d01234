/* SPDX-License-Identifier: MIT */
/*
 * helpers.c - the shared test harness (see helpers.h).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

char th_dir[256];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

void th_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t th_rand(void)
{
	/* xorshift64*: fine for test data, and the same everywhere for a seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

void th_random_delay(unsigned max_ms)
{
	unsigned us = max_ms ? (unsigned)(th_rand() % ((uint64_t)max_ms * 1000)) : 0;

	usleep(us);
}

pid_t th_spawn(th_rank_fn fn, int rank, int nranks, void *arg, unsigned timeout_s)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		alarm(timeout_s);
		th_seed(((uint64_t)getpid() << 16) ^ (uint64_t)rank ^ (uint64_t)time(NULL));
		_exit(fn(rank, nranks, arg) ? 1 : 0);
	}
	return pid;
}

int th_wait(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "child %d killed by signal %d%s\n", (int)pid, WTERMSIG(st),
			WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
	else
		fprintf(stderr, "child %d exited with %d\n", (int)pid, WEXITSTATUS(st));
	return 1;
}

int th_run_ranks(int nranks, th_rank_fn fn, void *arg, unsigned timeout_s, int *status)
{
	pid_t *pids = calloc((size_t)nranks, sizeof(*pids));
	int *order = calloc((size_t)nranks, sizeof(*order));
	int failed = 0;

	if (!pids || !order)
		abort();
	for (int i = 0; i < nranks; i++)
		order[i] = i;
	for (int i = nranks - 1; i > 0; i--) { /* ranks may start in any order */
		int j = (int)(th_rand() % (uint64_t)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < nranks; i++)
		pids[order[i]] = th_spawn(fn, order[i], nranks, arg, timeout_s);
	for (int r = 0; r < nranks; r++) {
		int st = 0;

		if (pids[r] < 0 || waitpid(pids[r], &st, 0) != pids[r]) {
			failed++;
			continue;
		}
		if (status)
			status[r] = st;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (WIFSIGNALED(st))
				fprintf(stderr, "rank %d killed by signal %d%s\n", r, WTERMSIG(st),
					WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
			else
				fprintf(stderr, "rank %d exited with %d\n", r, WEXITSTATUS(st));
			failed++;
		}
	}
	free(pids);
	free(order);
	return failed;
}

void th_job_name(char *buf, size_t len, const char *what)
{
	static unsigned counter;

	snprintf(buf, len, "t%d-%u-%s", (int)getpid(), counter++, what);
}

int th_dir_create(void)
{
	snprintf(th_dir, sizeof(th_dir), "/tmp/shmar-test-%d-XXXXXX", (int)getpid());
	if (!mkdtemp(th_dir))
		return -errno;
	return chmod(th_dir, 0700) < 0 ? -errno : 0;
}

int th_dir_entries(void)
{
	DIR *d = opendir(th_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int th_dir_remove(void)
{
	char path[512];
	DIR *d = opendir(th_dir);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", th_dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	return rmdir(th_dir) < 0 ? -errno : 0;
}

static int devshm_before;

int th_setup(void **state)
{
	(void)state;
	devshm_before = th_devshm_shmar();
	return th_dir_create();
}

int th_teardown(void **state)
{
	int left = th_dir_entries(), shm = th_devshm_shmar(), err = 0;

	(void)state;
	if (left != 0) {
		fprintf(stderr, "teardown: %d entries left in %s\n", left, th_dir);
		err = -1;
	}
	if (shm != devshm_before) {
		fprintf(stderr, "teardown: /dev/shm entries went from %d to %d\n", devshm_before, shm);
		err = -1;
	}
	return th_dir_remove() < 0 ? -1 : err;
}

void th_config(struct shmar_config *cfg)
{
	shmar_config_init(cfg);
	cfg->dir = th_dir;
	cfg->init_timeout_ms = 20000;
	cfg->timeout_ms = 60000;
}

int th_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

int th_devshm_shmar(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strstr(e->d_name, "shmar"))
			n++;
	closedir(d);
	return n;
}

void *th_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	return p;
}

double th_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double th_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
