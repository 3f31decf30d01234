/* SPDX-License-Identifier: MIT */
/*
 * helpers.c - the shared test harness (see helpers.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* ---------------------------------------------------------------- rendezvous */

void th_sock_path(char *buf, size_t len, const char *job)
{
	snprintf(buf, len, "%s/%s.sock", th_dir, job);
}

bool th_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Calls fn for every line of /proc/net/unix naming path, with its flags and state. */
static int unix_sockets_at(const char *path, bool (*fn)(unsigned long flags, unsigned st))
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[1024], name[512];
	unsigned long flags;
	unsigned st;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %lx %*s %x %*s %511s", &flags, &st, name) == 3 &&
		    strcmp(name, path) == 0 && fn(flags, st))
			n++;
	fclose(f);
	return n;
}

static bool is_listening(unsigned long flags, unsigned st)
{
	(void)st;
	return flags & 0x10000; /* __SO_ACCEPTCON */
}

static bool is_connection(unsigned long flags, unsigned st)
{
	(void)flags;
	return st == 2 || st == 3; /* SS_CONNECTING, SS_CONNECTED */
}

bool th_sock_listening(const char *path)
{
	return unix_sockets_at(path, is_listening) > 0;
}

int th_unix_connections(const char *path)
{
	return unix_sockets_at(path, is_connection);
}

int th_make_stale_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, err = 0;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		err = -errno;
	close(fd);
	return err;
}

bool th_wait_for(bool (*cond)(const void *arg), const void *arg, double seconds)
{
	double end = th_now() + seconds;

	while (!cond(arg)) {
		if (th_now() > end)
			return cond(arg);
		usleep(1000);
	}
	return true;
}

struct th_outcome *th_outcomes(int n)
{
	return th_shared((size_t)n * sizeof(struct th_outcome)); /* zeroed */
}

/* In the rank, before its config: environment, descriptor limit, the test's own. */
static int member_prepare(int rank, int nranks, const struct th_member *m)
{
	for (int i = 0; i < 3 && m->env[i]; i++)
		if (putenv((char *)m->env[i]) != 0)
			return -errno;
	if (m->nofile > 0) {
		struct rlimit lim = { (rlim_t)m->nofile, (rlim_t)m->nofile };

		/* what the harness left open (make's jobserver, logs) would count */
		if (close_range(3, ~0u, 0) < 0 || setrlimit(RLIMIT_NOFILE, &lim) < 0)
			return -errno;
	}
	if (m->prepare) {
		int err = m->prepare(rank, nranks, m);

		if (err)
			return err;
	}
	return 0;
}

static void record_init(struct th_outcome *o, int err, double started)
{
	if (!o)
		return;
	o->pid = getpid();
	o->err = err;
	o->started = started;
	o->returned = th_now();
	o->cpu_s = th_cpu_seconds();
	snprintf(o->text, sizeof(o->text), "%s", err ? shmar_comm_last_error(NULL) : "");
	__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
}

/* The job formed: barriers, until one fails when the member holds. */
static int use_comm(struct shmar_comm *comm, const struct th_member *m, int rank, int nranks)
{
	int err = 0;

	TH_CHECK_EQ(shmar_comm_rank(comm), rank);
	TH_CHECK_EQ(shmar_comm_size(comm), nranks);
	if (m->hold) {
		while ((err = shmar_barrier(comm)) == 0)
			usleep(1000);
		if (m->out) {
			m->out->held_err = err;
			m->out->held_at = th_now();
			snprintf(m->out->held_text, sizeof(m->out->held_text), "%s",
				 shmar_comm_last_error(comm));
			__atomic_store_n(&m->out->held, 1, __ATOMIC_RELEASE);
		}
	} else {
		for (int i = 0; i < 5; i++)
			TH_CHECK_EQ(shmar_barrier(comm), 0);
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static bool text_matches(const char *text, const char *want, bool at_end)
{
	size_t n = strlen(text), k = strlen(want);

	return strstr(text, want) && (!at_end || (n >= k && strcmp(text + n - k, want) == 0));
}

int th_member_rank(int rank, int nranks, void *arg)
{
	const struct th_member *m = arg;
	bool must_fail = m->expect != 0 && m->expect != TH_ANY && !m->or_success;
	struct shmar_config cfg;
	struct shmar_comm *comm = (struct shmar_comm *)&cfg; /* init must set it to NULL */
	const char *text;
	double started;
	int fds, err;

	err = member_prepare(rank, nranks, m);
	if (err) {
		fprintf(stderr, "rank %d: cannot prepare: %s\n", rank, strerror(err < 0 ? -err : err));
		return 1;
	}
	fds = th_count_fds(); /* -1 when the limit leaves no room to look */
	if (m->nofile == 0)
		TH_CHECK(fds >= 3);
	th_config(&cfg);
	cfg.dir = m->dir_from_env ? getenv("SHMAR_DIR") : m->dir ? m->dir : th_dir;
	cfg.token = m->token;
	/* short: a refusal that never comes fails the test in seconds, not at the alarm */
	cfg.init_timeout_ms = m->init_timeout_ms ? m->init_timeout_ms : must_fail ? 3000 : 10000;
	started = th_now();
	err = shmar_comm_init(&comm, m->job, nranks, rank, &cfg);
	record_init(m->out, err, started);
	text = err ? shmar_comm_last_error(NULL) : "";
	if (m->expect != TH_ANY && err != m->expect && !(m->or_success && err == 0)) {
		fprintf(stderr, "rank %d of %d (pid %d): init returned %d (%s), expected %d: %s\n",
			rank, nranks, (int)getpid(), err, shmar_strerror(err), m->expect, text);
		return 1;
	}
	if (err < 0) {
		TH_CHECK(comm == NULL);
		if (m->expect != TH_ANY && m->msg && !text_matches(text, m->msg, m->msg_at_end)) {
			fprintf(stderr, "rank %d: message \"%s\" lacks \"%s\"%s\n", rank, text, m->msg,
				m->msg_at_end ? " at its end" : "");
			return 1;
		}
	} else {
		TH_CHECK(comm != NULL);
		if (use_comm(comm, m, rank, nranks))
			return 1;
	}
	if (fds >= 0)
		TH_CHECK_EQ(th_count_fds(), fds);
	return 0;
}

/* ---------------------------------------------------------------- scenarios */

static const char *const op_names[] = {
	[TH_END] = "end", [TH_RUN] = "run", [TH_REAP] = "reap", [TH_REAP_ALL] = "reap all",
	[TH_KILL] = "kill", [TH_STOP] = "stop", [TH_CONT] = "cont", [TH_STOPPED] = "stopped",
	[TH_SLEEP] = "sleep", [TH_LISTENING] = "listening", [TH_SOCK_GONE] = "socket gone",
	[TH_SOCK_LEFT] = "socket left", [TH_CONNS] = "connections", [TH_GOT] = "got",
	[TH_SUM] = "sum", [TH_MARK] = "mark", [TH_WITHIN] = "within", [TH_AFTER] = "after",
	[TH_RETURNED] = "returned", [TH_NEW_JOB] = "new job", [TH_FORM] = "form",
	[TH_OTHER_INIT] = "other init", [TH_EMPTY] = "empty", [TH_CHMOD] = "chmod",
	[TH_CHOWN] = "chown", [TH_SYMLINK] = "symlink", [TH_MKFILE] = "mkfile",
	[TH_MKDIR] = "mkdir", [TH_REMOVE] = "remove", [TH_STALE] = "stale", [TH_CALL] = "call",
	[TH_FOR] = "for", [TH_NEXT] = "next",
};

#define SCENARIO_WAIT_S 10.0

int th_slot(const struct th_run *run, int a)
{
	return a < 0 ? run->nslots + a : a;
}

static void in_th_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", th_dir, name);
}

/* Entries of the directory at path, named on stderr. */
static int entries_of(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			fprintf(stderr, "left in %s: %s\n", path, e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static bool sock_listening(const void *path)
{
	return th_sock_listening(path);
}

static bool path_missing(const void *path)
{
	return !th_path_exists(path);
}

static void new_job(struct th_run *run)
{
	th_job_name(run->job, sizeof(run->job), "scn");
	th_sock_path(run->path, sizeof(run->path), run->job);
	run->job_first_slot = run->nslots;
}

static int run_role(struct th_run *run, int role, int rank, int nranks)
{
	const struct th_role *r = &run->sc->roles[role];
	struct th_member m = r->m; /* the child gets its own copy at fork */
	char dir[512];

	if (run->nslots == TH_MAX_SLOTS)
		return -1;
	m.job = run->job;
	m.out = &run->out[run->nslots];
	if (r->subdir) {
		in_th_dir(dir, sizeof(dir), r->subdir);
		m.dir = dir;
	}
	run->roles[run->nslots] = role;
	run->ranks[run->nslots] = rank;
	run->pids[run->nslots++] = th_spawn(th_member_rank, rank, nranks, &m, 30);
	return run->pids[run->nslots - 1] > 0 ? 0 : -1;
}

static int reap(struct th_run *run, int slot)
{
	if (slot < 0 || slot >= run->nslots || run->reaped[slot])
		return -1;
	run->reaped[slot] = true;
	return th_wait(run->pids[slot]) ? -1 : 0;
}

static int kill_slot(struct th_run *run, int slot, int sig)
{
	int st = 0;

	if (slot < 0 || slot >= run->nslots || run->reaped[slot] || kill(run->pids[slot], sig) < 0)
		return -1;
	if (sig != SIGKILL && sig != SIGSTOP)
		kill(run->pids[slot], SIGCONT); /* a stopped rank takes it only once running */
	run->reaped[slot] = true;
	if (waitpid(run->pids[slot], &st, 0) != run->pids[slot])
		return -1;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig) {
		fprintf(stderr, "slot %d (pid %d): wait status %#x, not killed by signal %d\n", slot,
			(int)run->pids[slot], st, sig);
		return -1;
	}
	return 0;
}

static int signal_slot(struct th_run *run, int slot, int sig)
{
	if (slot < 0 || slot >= run->nslots || run->reaped[slot])
		return -1;
	return kill(run->pids[slot], sig);
}

static int wait_stopped(struct th_run *run, int slot)
{
	int st = 0;

	if (slot < 0 || slot >= run->nslots || run->reaped[slot] ||
	    waitpid(run->pids[slot], &st, WUNTRACED) != run->pids[slot])
		return -1;
	if (WIFSTOPPED(st))
		return 0;
	run->reaped[slot] = true;
	return -1;
}

static int wait_got(struct th_run *run, int value)
{
	double end = th_now() + SCENARIO_WAIT_S;

	do {
		for (int i = run->job_first_slot; i < run->nslots; i++)
			if (__atomic_load_n(&run->out[i].done, __ATOMIC_ACQUIRE) &&
			    run->out[i].err == value)
				return 0;
		usleep(1000);
	} while (th_now() < end);
	return -1;
}

static int racers_sum(struct th_run *run, int value)
{
	int sum = 0;

	for (int i = run->job_first_slot; i < run->nslots; i++) {
		if (!run->sc->roles[run->roles[i]].racer)
			continue;
		if (!run->out[i].done)
			return -1;
		sum += run->out[i].err;
	}
	if (sum != value)
		fprintf(stderr, "the racers returned %d in sum, not %d\n", sum, value);
	return sum == value ? 0 : -1;
}

static int conns_at_least(struct th_run *run, int n)
{
	double end = th_now() + SCENARIO_WAIT_S;

	while (th_unix_connections(run->path) < n) {
		if (th_now() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

static int good_job(const char *job, int nranks)
{
	struct th_member good = { .job = job };

	return th_run_ranks(nranks, th_member_rank, &good, 30, NULL) ? -1 : 0;
}

static int other_init(void)
{
	char job[80];

	th_job_name(job, sizeof(job), "other");
	return good_job(job, 1);
}

static int make_file(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int elapsed_ok(const struct th_run *run, double limit_ms, bool at_most)
{
	double ms = (th_now() - run->mark) * 1e3;

	if (at_most ? ms <= limit_ms : ms >= limit_ms)
		return 0;
	fprintf(stderr, "%.0f ms since the mark, expected %s %.0f\n", ms,
		at_most ? "at most" : "at least", limit_ms);
	return -1;
}

static int returned_within(const struct th_run *run, int slot, int ms)
{
	double took;

	if (slot < 0 || slot >= run->nslots || !run->out[slot].done)
		return -1;
	took = (run->out[slot].returned - run->mark) * 1e3;
	if (took <= ms)
		return 0;
	fprintf(stderr, "slot %d returned %.0f ms after the mark, expected at most %d\n", slot,
		took, ms);
	return -1;
}

static int one_step(struct th_run *run, const struct th_step *st, int each)
{
	int a = st->a == TH_EACH ? each : st->a, b = st->b == TH_EACH ? each : st->b;
	char path[512];

	if (st->s)
		in_th_dir(path, sizeof(path), st->s);
	switch (st->op) {
	case TH_RUN: return run_role(run, a, b, st->c);
	case TH_REAP: return reap(run, th_slot(run, a));
	case TH_REAP_ALL: {
		int err = 0;

		for (int i = 0; i < run->nslots; i++)
			if (!run->reaped[i] && reap(run, i) < 0)
				err = -1;
		return err;
	}
	case TH_KILL: return kill_slot(run, th_slot(run, a), b);
	case TH_STOP: return signal_slot(run, th_slot(run, a), SIGSTOP);
	case TH_CONT: return signal_slot(run, th_slot(run, a), SIGCONT);
	case TH_STOPPED: return wait_stopped(run, th_slot(run, a));
	case TH_SLEEP: return usleep((useconds_t)a * 1000);
	case TH_LISTENING: return th_wait_for(sock_listening, run->path, SCENARIO_WAIT_S) ? 0 : -1;
	case TH_SOCK_GONE: return th_wait_for(path_missing, run->path, SCENARIO_WAIT_S) ? 0 : -1;
	case TH_SOCK_LEFT: return th_path_exists(run->path) ? 0 : -1;
	case TH_CONNS: return conns_at_least(run, a);
	case TH_GOT: return wait_got(run, a);
	case TH_SUM: return racers_sum(run, a);
	case TH_MARK: run->mark = th_now(); return 0;
	case TH_WITHIN: return elapsed_ok(run, a, true);
	case TH_AFTER: return elapsed_ok(run, a, false);
	case TH_RETURNED: return returned_within(run, th_slot(run, a), b);
	case TH_NEW_JOB: new_job(run); return 0;
	case TH_FORM: return good_job(run->job, a);
	case TH_OTHER_INIT: return other_init();
	case TH_EMPTY: {
		int n = entries_of(st->s ? path : th_dir);

		if (n != 0)
			fprintf(stderr, "%d entries in %s\n", n, st->s ? path : th_dir);
		return n == 0 ? 0 : -1;
	}
	case TH_CHMOD: return chmod(th_dir, (mode_t)a);
	case TH_CHOWN:
		return chown(th_dir, a == TH_OURS ? geteuid() : (uid_t)a,
			     b == TH_OURS ? getegid() : (gid_t)b);
	case TH_SYMLINK: return symlink(th_dir, path);
	case TH_MKFILE: return make_file(path);
	case TH_MKDIR: return mkdir(path, 0700);
	case TH_REMOVE: return remove(path);
	case TH_STALE: return th_make_stale_socket(run->path);
	case TH_CALL: return st->fn(run, a);
	default: return -1;
	}
}

static void kill_the_rest(struct th_run *run)
{
	for (int i = 0; i < run->nslots; i++) {
		if (run->reaped[i] || run->pids[i] <= 0)
			continue;
		kill(run->pids[i], SIGKILL);
		waitpid(run->pids[i], NULL, 0);
		run->reaped[i] = true;
	}
}

int th_scenario_run(const struct th_scenario *sc)
{
	struct th_run run = { .sc = sc };
	int loop_start = -1, each_i = 0, each = sc->each[0], failed = 0;

	run.out = th_outcomes(TH_MAX_SLOTS);
	new_job(&run);
	for (int i = 0; i < TH_MAX_STEPS && sc->steps[i].op != TH_END && !failed; i++) {
		const struct th_step *st = &sc->steps[i];

		if (st->op == TH_FOR) {
			loop_start = i;
			each_i = 0;
			each = sc->each[0];
			continue;
		}
		if (st->op == TH_NEXT) {
			if (loop_start >= 0 && sc->each[++each_i] != 0) {
				each = sc->each[each_i];
				i = loop_start;
			}
			continue;
		}
		if (one_step(&run, st, each) != 0) {
			fprintf(stderr, "scenario %s: step %d (%s %d %d %d%s%s) failed (job %s)\n",
				sc->name, i, op_names[st->op], st->a, st->b, st->c, st->s ? " " : "",
				st->s ? st->s : "", run.job);
			failed = 1;
		}
	}
	kill_the_rest(&run);
	munmap(run.out, TH_MAX_SLOTS * sizeof(*run.out));
	return failed;
}
