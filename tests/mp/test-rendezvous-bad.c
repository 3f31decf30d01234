/* SPDX-License-Identifier: MIT */
/*
 * test-rendezvous-bad.c - every bad input of the rendezvous returns its
 * documented code, and the others still form the job where that is the
 * right outcome:
 *
 *   -EINVAL       a rank whose nranks disagrees with rank 0's
 *   -EADDRINUSE   a second live rank 0, a second process claiming a rank
 *   -EACCES       unsafe directory (mode, owner, symlink), a client of another
 *                 uid, a wrong, missing or unexpected token
 *   -ETIMEDOUT    a rank that never comes, a rank 0 that never comes
 *   -EOWNERDEAD   rank 0 dies while the others wait for it
 *
 * plus stale socket files, and raw hostile clients talking straight to rank
 * 0's socket (silent, a flood of silent ones, garbage, file descriptors, lies about version, pid,
 * rank or uid, hang-ups) while a real job forms around them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "rendezvous-msg.h"

#define NOBODY 65534
#define CHILD_TIMEOUT_S 30
#define MANY_FDS 200

/* ---------------------------------------------------------------- real ranks */

/* What one forked rank does and what shmar_comm_init must return to it. */
struct member {
	const char *job;
	const char *dir;         /* NULL: th_dir */
	const char *token;       /* NULL: none */
	int64_t init_timeout_ms; /* 0: 3 s when init must fail, else 10 s */
	int expect;              /* shmar_comm_init's exact return */
	bool or_success;         /* a race: 0 is fine too */
	const char *msg;         /* on failure, shmar_comm_last_error(NULL) contains it */
	bool msg_at_end;         /* ... and ends with it */
	bool as_nobody;          /* join as uid 65534 (no capabilities left) */
	volatile int *got;       /* shared, optional: what init returned */
};

static int drop_to_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return -errno;
	/* the uid change made us undumpable: /proc/self/fd would be root's, uncountable */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -errno;
	return geteuid() == NOBODY ? 0 : -EPERM;
}

/* One rank: init must return exactly what is expected; a formed job passes barriers and leaves
 * without leaking a file descriptor, a refused rank leaks nothing either. */
static int rank_member(int rank, int nranks, void *arg)
{
	const struct member *mb = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = (struct shmar_comm *)&cfg; /* init must set it to NULL */
	const char *msg;
	int fds, err;

	if (mb->as_nobody)
		TH_CHECK_EQ(drop_to_nobody(), 0);
	fds = th_count_fds();
	TH_CHECK(fds >= 3);
	th_config(&cfg);
	cfg.dir = mb->dir ? mb->dir : th_dir;
	cfg.token = mb->token;
	/* short: a refusal that never comes fails the test in seconds, not at the alarm */
	if (mb->init_timeout_ms)
		cfg.init_timeout_ms = mb->init_timeout_ms;
	else
		cfg.init_timeout_ms = mb->expect && !mb->or_success ? 3000 : 10000;
	err = shmar_comm_init(&comm, mb->job, nranks, rank, &cfg);
	if (mb->got)
		*mb->got = err;
	if (err != mb->expect && !(mb->or_success && err == 0)) {
		fprintf(stderr, "rank %d of %d (pid %d): init returned %d (%s), expected %d: %s\n",
			rank, nranks, (int)getpid(), err, shmar_strerror(err), mb->expect,
			shmar_comm_last_error(NULL));
		return 1;
	}
	if (err < 0) {
		TH_CHECK(comm == NULL);
		msg = shmar_comm_last_error(NULL);
		if (mb->msg && (!strstr(msg, mb->msg) ||
				(mb->msg_at_end &&
				 strcmp(msg + strlen(msg) - strlen(mb->msg), mb->msg) != 0))) {
			fprintf(stderr, "rank %d: message \"%s\" lacks \"%s\"%s\n", rank, msg,
				mb->msg, mb->msg_at_end ? " at its end" : "");
			return 1;
		}
	} else {
		TH_CHECK(comm != NULL);
		TH_CHECK_EQ(shmar_comm_rank(comm), rank);
		TH_CHECK_EQ(shmar_comm_size(comm), nranks);
		for (int i = 0; i < 5; i++)
			TH_CHECK_EQ(shmar_barrier(comm), 0);
		TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	}
	TH_CHECK_EQ(th_count_fds(), fds);
	return 0;
}

static pid_t spawn(const struct member *mb, int rank, int nranks)
{
	return th_spawn(rank_member, rank, nranks, (void *)mb, CHILD_TIMEOUT_S);
}

/* A job that forms normally (and so removes whatever stale file was in the way). */
static void form_job(const char *job, int nranks)
{
	struct member m = { .job = job };

	assert_int_equal(th_run_ranks(nranks, rank_member, &m, CHILD_TIMEOUT_S, NULL), 0);
}

static void sock_path(char *buf, size_t len, const char *job)
{
	snprintf(buf, len, "%s/%s.sock", th_dir, job);
}

static bool wait_until(bool (*cond)(const void *), const void *arg, double seconds)
{
	double end = th_now() + seconds;

	while (!cond(arg)) {
		if (th_now() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static bool file_exists(const void *path)
{
	return access(path, F_OK) == 0;
}

static bool file_missing(const void *path)
{
	return access(path, F_OK) < 0;
}

static bool wait_flag(const volatile int *flag, double seconds)
{
	double end = th_now() + seconds;

	while (!*flag) {
		if (th_now() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/* Connections (accepted or still in the backlog) to the socket bound at path. */
static int unix_connections(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[1024], name[512];
	unsigned st;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %*s %x %*s %511s", &st, name) == 2 &&
		    strcmp(name, path) == 0 && (st == 2 || st == 3)) /* connecting, connected */
			n++;
	fclose(f);
	return n;
}

static bool connected_once(const void *path)
{
	return unix_connections(path) >= 1;
}

static volatile int *shared_results(int n)
{
	volatile int *got = th_shared((size_t)n * sizeof(int));

	for (int i = 0; i < n; i++)
		got[i] = 1; /* init never returns a positive value */
	return got;
}

static bool got_value(const volatile int *got, int n, int value, double seconds)
{
	double end = th_now() + seconds;

	for (;;) {
		for (int i = 0; i < n; i++)
			if (got[i] == value)
				return true;
		if (th_now() > end)
			return false;
		usleep(1000);
	}
}

/* ---------------------------------------------------------------- -EINVAL */

/*
 * A rank whose nranks disagrees with rank 0's (even one that came first) ends the job at
 * once: rank 0, that rank and every rank already there fail with -EINVAL and the same
 * reason, long before the init deadline.
 */
static void test_nranks_disagree(void **state)
{
	char job[80];
	struct member fails = { .job = job, .init_timeout_ms = 20000, .expect = -EINVAL,
				.msg = "rank 1 says nranks is 3, rank 0 says 2" };
	struct member fails2 = { .job = job, .init_timeout_ms = 20000, .expect = -EINVAL,
				 .msg = "rank 2 says nranks is 4, rank 0 says 3" };
	double t0 = th_now();
	pid_t p0, pbad, p1;

	(void)state;
	th_job_name(job, sizeof(job), "nranks");
	pbad = spawn(&fails, 1, 3); /* before rank 0: it waits for it, then is refused */
	usleep(50000);
	p0 = spawn(&fails, 0, 2);
	assert_int_equal(th_wait(pbad), 0);
	assert_int_equal(th_wait(p0), 0);
	assert_true(th_now() - t0 < 5);

	/* a rank that already joined hears the same reason from rank 0 */
	th_job_name(job, sizeof(job), "nranks3");
	t0 = th_now();
	p0 = spawn(&fails2, 0, 3);
	p1 = spawn(&fails2, 1, 3);
	usleep(200000); /* rank 1 has joined */
	pbad = spawn(&fails2, 2, 4);
	assert_int_equal(th_wait(pbad), 0);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p0), 0);
	assert_true(th_now() - t0 < 5);
}

/* ---------------------------------------------------------------- -EADDRINUSE */

/* A second rank 0 while the first is forming: refused; the first forms its job. */
static void test_second_rank0(void **state)
{
	char job[80], path[512];
	struct member good = { .job = job };
	struct member dup = { .job = job, .expect = -EADDRINUSE, .msg = "live job" };
	pid_t p0, pdup, p1;

	(void)state;
	th_job_name(job, sizeof(job), "root2");
	sock_path(path, sizeof(path), job);
	p0 = spawn(&good, 0, 2);
	assert_true(wait_until(file_exists, path, 10));
	pdup = spawn(&dup, 0, 2);
	assert_int_equal(th_wait(pdup), 0);
	pdup = spawn(&dup, 0, 3); /* whatever it thinks nranks is */
	assert_int_equal(th_wait(pdup), 0);
	p1 = spawn(&good, 1, 2);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p0), 0);
}

/* Two rank 0s starting at the same moment: exactly one wins. */
static void test_second_rank0_race(void **state)
{
	char job[80];
	volatile int *got = shared_results(2);
	struct member a = { .job = job, .expect = -EADDRINUSE, .or_success = true, .got = &got[0] };
	struct member b = a, good = { .job = job };
	pid_t pa, pb, p1;

	(void)state;
	b.got = &got[1];
	for (int trial = 0; trial < 5; trial++) {
		th_job_name(job, sizeof(job), "race0");
		got[0] = got[1] = 1;
		pa = spawn(&a, 0, 2);
		pb = spawn(&b, 0, 2);
		/* rank 1 only once the loser is out, or the job could form before it looks */
		assert_true(got_value(got, 2, -EADDRINUSE, 10));
		p1 = spawn(&good, 1, 2);
		assert_int_equal(th_wait(p1), 0);
		assert_int_equal(th_wait(pa), 0);
		assert_int_equal(th_wait(pb), 0);
		assert_int_equal(got[0] + got[1], -EADDRINUSE);
	}
}

/* Two processes claiming rank 1: the second is refused, the first stays in the job. */
static void test_duplicate_rank(void **state)
{
	char job[80];
	volatile int *got = shared_results(2);
	struct member a = { .job = job, .expect = -EADDRINUSE, .or_success = true, .got = &got[0],
			    .msg = "already joined" };
	struct member b = a, good = { .job = job };
	pid_t p0, pa, pb, p2;

	(void)state;
	b.got = &got[1];
	th_job_name(job, sizeof(job), "duprank");
	p0 = spawn(&good, 0, 3);
	pa = spawn(&a, 1, 3);
	pb = spawn(&b, 1, 3);
	assert_true(got_value(got, 2, -EADDRINUSE, 10));
	p2 = spawn(&good, 2, 3);
	assert_int_equal(th_wait(p2), 0);
	assert_int_equal(th_wait(pa), 0);
	assert_int_equal(th_wait(pb), 0);
	assert_int_equal(th_wait(p0), 0);
	assert_int_equal(got[0] + got[1], -EADDRINUSE);
}

/* ---------------------------------------------------------------- -EACCES */

/* Both ranks of a job refuse the directory, and nothing is created in it. */
static void refuse_dir(const char *dir, const char *msg)
{
	char job[80];
	struct member m = { .job = job, .dir = dir, .expect = -EACCES, .msg = msg };

	th_job_name(job, sizeof(job), "dir");
	assert_int_equal(th_run_ranks(2, rank_member, &m, CHILD_TIMEOUT_S, NULL), 0);
}

static void test_dir_mode(void **state)
{
	static const mode_t modes[] = { 0777, 0701, 0702, 0704, 0710, 0720, 0740, 0750, 0755,
					0711, 0770 };

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(chmod(th_dir, modes[i]), 0);
		refuse_dir(NULL, "chmod 700");
	}
	assert_int_equal(chmod(th_dir, 0700), 0);
}

static void test_dir_other_owner(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: chown to uid %d needs root\n", NOBODY);
		skip();
	}
	assert_int_equal(chown(th_dir, NOBODY, NOBODY), 0);
	refuse_dir(NULL, "belongs to uid 65534");
	/* the group alone does not make it ours either */
	assert_int_equal(chown(th_dir, NOBODY, getegid()), 0);
	refuse_dir(NULL, "belongs to uid 65534");
	assert_int_equal(chown(th_dir, geteuid(), getegid()), 0);
}

static void test_dir_symlink(void **state)
{
	char link[300], file[300];
	int fd;

	(void)state;
	/* inside th_dir, so the teardown removes them even after a failure */
	snprintf(link, sizeof(link), "%s/link", th_dir);
	assert_int_equal(symlink(th_dir, link), 0);
	refuse_dir(link, "symlink");
	assert_int_equal(unlink(link), 0);
	/* not a directory at all */
	snprintf(file, sizeof(file), "%s/file", th_dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	refuse_dir(file, "not a directory");
	assert_int_equal(unlink(file), 0);
}

/* A rank of another uid fails its own directory check; the job forms without it. */
static void test_other_uid_client(void **state)
{
	char job[80];
	struct member good = { .job = job };
	struct member nobody = { .job = job, .expect = -EACCES, .as_nobody = true,
				 .msg = "rendezvous directory" };
	pid_t p0, pn, p1;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: becoming uid %d needs root\n", NOBODY);
		skip();
	}
	th_job_name(job, sizeof(job), "uid");
	p0 = spawn(&good, 0, 2);
	pn = spawn(&nobody, 1, 2);
	assert_int_equal(th_wait(pn), 0);
	p1 = spawn(&good, 1, 2);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p0), 0);
}

/* Rank 0 with token "abc": wrong and missing tokens are refused, the right one joins. */
static void test_token_wrong_or_missing(void **state)
{
	static const char *const bad[] = { "abd", NULL, "", "ab", "abcd", "ABC", " abc" };
	char job[80];
	struct member root = { .job = job, .token = "abc" };
	struct member m = { .job = job, .expect = -EACCES, .msg = "token" };
	pid_t p0, p;

	(void)state;
	th_job_name(job, sizeof(job), "token");
	p0 = spawn(&root, 0, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.token = bad[i];
		p = spawn(&m, 1, 2);
		assert_int_equal(th_wait(p), 0);
	}
	p = spawn(&root, 1, 2);
	assert_int_equal(th_wait(p), 0);
	assert_int_equal(th_wait(p0), 0);
}

/* Rank 0 without a token refuses a rank that presents one. */
static void test_token_unexpected(void **state)
{
	char job[80];
	struct member good = { .job = job };
	struct member m = { .job = job, .token = "abc", .expect = -EACCES, .msg = "token" };
	pid_t p0, p;

	(void)state;
	th_job_name(job, sizeof(job), "notoken");
	p0 = spawn(&good, 0, 2);
	p = spawn(&m, 1, 2);
	assert_int_equal(th_wait(p), 0);
	p = spawn(&good, 1, 2);
	assert_int_equal(th_wait(p), 0);
	assert_int_equal(th_wait(p0), 0);
}

/* ---------------------------------------------------------------- stale socket files */

/* What a killed rank 0 leaves behind: a socket file nobody listens on. */
static void make_stale(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_true(file_exists(path));
}

static void stale(bool root_first)
{
	char job[80], path[512];
	struct member m = { .job = job };
	pid_t p[3];

	th_job_name(job, sizeof(job), root_first ? "stale0" : "stalepeers");
	sock_path(path, sizeof(path), job);
	make_stale(path);
	if (root_first) {
		p[0] = spawn(&m, 0, 3);
		usleep(50000);
		p[1] = spawn(&m, 1, 3);
		p[2] = spawn(&m, 2, 3);
	} else {
		p[1] = spawn(&m, 1, 3);
		p[2] = spawn(&m, 2, 3);
		/* the peers find nobody listening on it and remove it */
		assert_true(wait_until(file_missing, path, 10));
		p[0] = spawn(&m, 0, 3);
	}
	for (int r = 0; r < 3; r++)
		assert_int_equal(th_wait(p[r]), 0);
}

static void test_stale_socket_root_first(void **state) { (void)state; stale(true); }
static void test_stale_socket_peers_first(void **state) { (void)state; stale(false); }

/* ---------------------------------------------------------------- -ETIMEDOUT */

static void test_timeout_rank0_alone(void **state)
{
	char job[80];
	struct member m = { .job = job, .init_timeout_ms = 300, .expect = -ETIMEDOUT,
			    .msg = "did not arrive in time: 1", .msg_at_end = true };
	double t0 = th_now();

	(void)state;
	th_job_name(job, sizeof(job), "alone");
	assert_int_equal(th_wait(spawn(&m, 0, 2)), 0);
	assert_true(th_now() - t0 > 0.25);
	assert_true(th_now() - t0 < 5);
}

/* Ranks 1 and 3 of 4 come, rank 2 never does: rank 0's message names rank 2, and the ranks
 * that came learn the job failed. */
static void test_timeout_names_missing_rank(void **state)
{
	char job[80];
	struct member root = { .job = job, .init_timeout_ms = 300, .expect = -ETIMEDOUT,
			       .msg = "did not arrive in time: 2", .msg_at_end = true };
	struct member peer = { .job = job, .init_timeout_ms = 5000, .expect = -ETIMEDOUT };
	pid_t p0, p1, p3;

	(void)state;
	th_job_name(job, sizeof(job), "missing");
	p1 = spawn(&peer, 1, 4); /* waiting before rank 0 starts its clock */
	p3 = spawn(&peer, 3, 4);
	usleep(100000);
	p0 = spawn(&root, 0, 4);
	assert_int_equal(th_wait(p0), 0);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p3), 0);
}

/* A rank that joined and then gave up (its own deadline) ends the job on rank 0 at once. */
static void test_timeout_joined_rank_gives_up(void **state)
{
	char job[80];
	struct member root = { .job = job, .init_timeout_ms = 10000, .expect = -EOWNERDEAD,
			       .msg = "rank 1" };
	struct member peer = { .job = job, .init_timeout_ms = 300, .expect = -ETIMEDOUT,
			       .msg = "rank 0" };
	double t0 = th_now();
	pid_t p0, p1;

	(void)state;
	th_job_name(job, sizeof(job), "givesup");
	p0 = spawn(&root, 0, 3);
	p1 = spawn(&peer, 1, 3);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p0), 0);
	assert_true(th_now() - t0 < 5);
}

static void test_timeout_no_rank0(void **state)
{
	char job[80];
	struct member m = { .job = job, .init_timeout_ms = 300, .expect = -ETIMEDOUT,
			    .msg = "rank 0" };
	double t0 = th_now();

	(void)state;
	th_job_name(job, sizeof(job), "noroot");
	assert_int_equal(th_wait(spawn(&m, 1, 2)), 0);
	assert_true(th_now() - t0 > 0.25);
	assert_true(th_now() - t0 < 5);
}

/* ---------------------------------------------------------------- raw clients */

struct raw {
	char path[512];
	int variant;
	volatile int ready; /* set by the raw process: connected, or listening */
};

union rawbuf {
	struct shmar__msg m;
	unsigned char b[2 * sizeof(struct shmar__msg) + 64];
};

static int raw_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double end = th_now() + 10;
	int fd, err;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		err = errno;
		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED) || th_now() > end)
			return -err;
		usleep(2000);
	}
}

static void raw_hello(struct shmar__msg *m, uint32_t nranks, uint32_t rank)
{
	shmar__msg_init(m, SHMAR_MSG_HELLO);
	m->nranks = nranks;
	m->rank = rank;
	m->pid = (uint32_t)getpid();
}

/* One record of len bytes, with nfds file descriptors attached. */
static int raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MANY_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/*
 * What rank 0 does next: the length of a message it sent, or 0 once it closed
 * the connection.  A close while it had not read all we sent shows as
 * ECONNRESET before any message it queued: skip over it.
 */
static ssize_t raw_next(int fd, union rawbuf *u)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, 10000) == 0)
			return -ETIMEDOUT;
		n = recv(fd, u->b, sizeof(u->b), MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR && errno != ECONNRESET)
			return -errno;
	}
}

/* Wait until rank 0 has read everything we sent (unix sockets charge a record to
 * its sender until the receiver consumed it). */
static int raw_wait_consumed(int fd)
{
	double end = th_now() + 10;
	int queued;

	for (;;) {
		if (ioctl(fd, SIOCOUTQ, &queued) < 0)
			return -errno;
		if (queued == 0)
			return 0;
		if (th_now() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* Rank 0 dropped us without a word. */
static int raw_expect_dropped(int fd)
{
	union rawbuf u;
	ssize_t n = raw_next(fd, &u);

	if (n != 0) {
		fprintf(stderr, "raw client: expected to be dropped, got %zd (type %u status %d)\n",
			n, n > 0 ? u.m.type : 0, n > 0 ? u.m.status : 0);
		return 1;
	}
	return 0;
}

/* Rank 0 refused us with status, then closed. */
static int raw_expect_reject(int fd, int status)
{
	union rawbuf u;
	ssize_t n = raw_next(fd, &u);

	if (n != (ssize_t)sizeof(u.m) || shmar__msg_check_frame(&u.m, (size_t)n) != 0 ||
	    u.m.type != SHMAR_MSG_REJECT || u.m.status != status) {
		fprintf(stderr, "raw client: expected a reject %d, got %zd (type %u status %d)\n",
			status, n, n > 0 ? u.m.type : 0, n > 0 ? u.m.status : 0);
		return 1;
	}
	TH_CHECK(u.m.reason[0] != '\0');
	return raw_expect_dropped(fd);
}

/* Rank 0 (nranks real ranks) forms while client does its worst; the real ranks come after
 * the client has finished, or (concurrent) once it is connected. */
static void hostile(th_rank_fn client, int variant, int nranks, bool concurrent)
{
	char job[80];
	struct member m = { .job = job, .init_timeout_ms = 15000 };
	struct raw *raw = th_shared(sizeof(*raw));
	pid_t p0, pc, peers[8];

	th_job_name(job, sizeof(job), "hostile");
	sock_path(raw->path, sizeof(raw->path), job);
	raw->variant = variant;
	raw->ready = 0;
	p0 = spawn(&m, 0, nranks);
	assert_true(wait_until(file_exists, raw->path, 10));
	pc = th_spawn(client, 0, nranks, raw, CHILD_TIMEOUT_S);
	if (concurrent)
		assert_true(wait_flag(&raw->ready, 10));
	else
		assert_int_equal(th_wait(pc), 0);
	for (int r = 1; r < nranks; r++)
		peers[r] = spawn(&m, r, nranks);
	for (int r = 1; r < nranks; r++)
		assert_int_equal(th_wait(peers[r]), 0);
	assert_int_equal(th_wait(p0), 0); /* it also checked that it leaked no descriptor */
	if (concurrent)
		assert_int_equal(th_wait(pc), 0);
}

/* Connects and says nothing: dropped after the hello deadline, or when the job forms. */
static int client_silent(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	double t0 = th_now();
	int fd = raw_connect(raw->path);

	(void)rank;
	(void)nranks;
	TH_CHECK(fd >= 0);
	raw->ready = 1;
	TH_CHECK_EQ(raw_expect_dropped(fd), 0);
	if (raw->variant == 0) /* nobody else came: rank 0 gave up on us after ~2 s */
		TH_CHECK(th_now() - t0 > 1.5);
	close(fd);
	return 0;
}

static void test_silent_client_times_out(void **state)
{
	(void)state;
	hostile(client_silent, 0, 2, false);
}

static void test_silent_client_while_forming(void **state)
{
	(void)state;
	hostile(client_silent, 1, 2, true);
}

/*
 * More silent connections than rank 0 keeps pending, all held open while the
 * real ranks come: the ranks still join (the silent ones make room for them),
 * and every silent connection is dropped without a word.
 */
#define FLOOD 3 * 64
static int client_flood(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	int fds[FLOOD];

	(void)rank;
	(void)nranks;
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = raw_connect(raw->path);
		TH_CHECK(fds[i] >= 0);
	}
	raw->ready = 1;
	for (int i = 0; i < FLOOD; i++) {
		TH_CHECK_EQ(raw_expect_dropped(fds[i]), 0);
		close(fds[i]);
	}
	return 0;
}

static void test_silent_flood_while_forming(void **state)
{
	double t0 = th_now();

	(void)state;
	hostile(client_flood, 0, 3, true);
	/* not after the 2 s hello deadline freed the places: at once */
	assert_true(th_now() - t0 < 1.9);
}

/* Sixty-four connections, each sending one malformed record: all dropped without a reply. */
static int client_garbage(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	union rawbuf u;
	size_t len;

	(void)rank;
	for (int i = 0; i < 64; i++) {
		int fd = raw_connect(raw->path);

		TH_CHECK(fd >= 0);
		memset(&u, 0, sizeof(u));
		raw_hello(&u.m, (uint32_t)nranks, 1);
		len = sizeof(u.m);
		switch (i % 8) {
		case 0: /* random bytes of random length; the first time an empty record */
			len = i == 0 ? 0 : 1 + th_rand() % sizeof(u.b);
			for (size_t k = 0; k < len; k++)
				u.b[k] = (unsigned char)th_rand();
			if (len >= sizeof(u.m.magic) && u.m.magic == SHMAR_MSG_MAGIC)
				u.m.magic ^= 1;
			break;
		case 1: /* a good hello, cut short */
			len = 1 + th_rand() % (sizeof(u.m) - 1);
			break;
		case 2: /* a good hello with bytes after it */
			len = sizeof(u.m) + 1 + th_rand() % 64;
			break;
		case 3: /* an unterminated token */
			memset(u.m.token, 'x', sizeof(u.m.token));
			break;
		case 4: /* a positive status */
			u.m.status = 5;
			break;
		case 5: /* a message out of turn */
			u.m.type = (uint16_t)(i & 8 ? SHMAR_MSG_READY : SHMAR_MSG_WELCOME);
			break;
		case 6: /* pid 0 */
			u.m.pid = 0;
			break;
		default: /* garbage that happens to carry another version: still garbage */
			u.m.magic = ~SHMAR_MSG_MAGIC;
			u.m.version = SHMAR_MSG_VERSION + 1;
			break;
		}
		TH_CHECK_EQ(raw_send(fd, u.b, len, NULL, 0), 0);
		TH_CHECK_EQ(raw_expect_dropped(fd), 0);
		close(fd);
	}
	return 0;
}

static void test_garbage_clients(void **state)
{
	(void)state;
	hostile(client_garbage, 0, 2, false);
}

/* A good-looking hello with file descriptors attached: dropped, and rank 0 keeps none. */
static int client_fds(int rank, int nranks, void *arg)
{
	static const int counts[] = { 1, 8, 9, MANY_FDS };
	struct raw *raw = arg;
	int fds[MANY_FDS], before = th_count_fds();
	struct shmar__msg m;

	(void)rank;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int fd = raw_connect(raw->path);

		TH_CHECK(fd >= 0);
		for (int i = 0; i < counts[c]; i++) {
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			TH_CHECK(fds[i] >= 0);
		}
		raw_hello(&m, (uint32_t)nranks, 1);
		TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), fds, counts[c]), 0);
		for (int i = 0; i < counts[c]; i++)
			close(fds[i]);
		TH_CHECK_EQ(raw_expect_dropped(fd), 0);
		close(fd);
	}
	TH_CHECK_EQ(th_count_fds(), before);
	return 0;
}

static void test_fds_attached(void **state)
{
	(void)state;
	hostile(client_fds, 0, 2, false);
}

/* Another protocol version gets a reply that says so. */
static int client_version(int rank, int nranks, void *arg)
{
	static const uint16_t versions[] = { 0, SHMAR_MSG_VERSION + 1, UINT16_MAX };
	struct raw *raw = arg;
	struct shmar__msg m;

	(void)rank;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		int fd = raw_connect(raw->path);

		TH_CHECK(fd >= 0);
		raw_hello(&m, (uint32_t)nranks, 1);
		m.version = versions[i];
		TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
		TH_CHECK_EQ(raw_expect_reject(fd, -EPROTO), 0);
		close(fd);
	}
	return 0;
}

static void test_version_lie(void **state)
{
	(void)state;
	hostile(client_version, 0, 2, false);
}

/* A hello whose pid is not the sender's (SO_PEERCRED says otherwise): dropped. */
static int client_pid(int rank, int nranks, void *arg)
{
	const uint32_t lies[] = { (uint32_t)getppid(), (uint32_t)getpid() + 1, 1,
				  (uint32_t)INT32_MAX, UINT32_MAX };
	struct raw *raw = arg;
	struct shmar__msg m;

	(void)rank;
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		int fd = raw_connect(raw->path);

		TH_CHECK(fd >= 0);
		raw_hello(&m, (uint32_t)nranks, 1);
		m.pid = lies[i];
		TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
		TH_CHECK_EQ(raw_expect_dropped(fd), 0);
		close(fd);
	}
	return 0;
}

static void test_pid_lie(void **state)
{
	(void)state;
	hostile(client_pid, 0, 2, false);
}

/* A client with a token rank 0 does not expect is refused; the job goes on. */
static int client_refused(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	struct shmar__msg m;
	int fd = raw_connect(raw->path);

	(void)rank;
	TH_CHECK(fd >= 0);
	raw_hello(&m, (uint32_t)nranks, 1);
	memcpy(m.token, "unexpected", 10);
	TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
	TH_CHECK_EQ(raw_expect_reject(fd, -EACCES), 0);
	close(fd);
	return 0;
}

/* One well-formed hello of the wrong shape (variant: which one): refused with -EINVAL, and
 * rank 0 fails the job with it at once. */
static int client_bad_shape(int rank, int nranks, void *arg)
{
	const uint32_t cases[][2] = { /* nranks, rank */
		{ (uint32_t)nranks, 5 }, { (uint32_t)nranks, 0 }, { (uint32_t)nranks, (uint32_t)nranks },
		{ (uint32_t)nranks, UINT32_MAX }, { 5, 1 }, { 0, 1 },
	};
	struct raw *raw = arg;
	struct shmar__msg m;
	int fd = raw_connect(raw->path);

	(void)rank;
	TH_CHECK(fd >= 0);
	raw_hello(&m, cases[raw->variant][0], cases[raw->variant][1]);
	TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
	TH_CHECK_EQ(raw_expect_reject(fd, -EINVAL), 0);
	close(fd);
	return 0;
}

/* Rank 0 forms while client does something that ends the job: rank 0 fails with expect. */
static void hostile_fatal(th_rank_fn client, int variant, int nranks, int expect, const char *msg)
{
	char job[80];
	struct member m = { .job = job, .init_timeout_ms = 20000, .expect = expect, .msg = msg };
	struct raw *raw = th_shared(sizeof(*raw));
	double t0 = th_now();
	pid_t p0, pc;

	th_job_name(job, sizeof(job), "fatal");
	sock_path(raw->path, sizeof(raw->path), job);
	raw->variant = variant;
	raw->ready = 0;
	p0 = spawn(&m, 0, nranks);
	assert_true(wait_until(file_exists, raw->path, 10));
	pc = th_spawn(client, 0, nranks, raw, CHILD_TIMEOUT_S);
	assert_int_equal(th_wait(pc), 0);
	assert_int_equal(th_wait(p0), 0);
	assert_true(th_now() - t0 < 5); /* at once, not at the deadline */
}

static void test_rank_out_of_range(void **state)
{
	(void)state;
	hostile(client_refused, 0, 2, false);
	for (int v = 0; v < 4; v++)
		hostile_fatal(client_bad_shape, v, 2, -EINVAL, "out of range");
	for (int v = 4; v < 6; v++)
		hostile_fatal(client_bad_shape, v, 2, -EINVAL, "says nranks is");
}

/* Connections that end at once: closed, or half-closed before saying anything. */
static int client_hangup(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;

	(void)rank;
	(void)nranks;
	for (int i = 0; i < 200; i++) {
		int fd = raw_connect(raw->path);

		TH_CHECK(fd >= 0);
		if (i % 10 == 0) {
			TH_CHECK_EQ(shutdown(fd, SHUT_WR), 0);
			TH_CHECK_EQ(raw_expect_dropped(fd), 0);
		}
		close(fd);
	}
	return 0;
}

static void test_hangups(void **state)
{
	(void)state;
	hostile(client_hangup, 0, 2, false);
}

/* Joins properly as rank 1, then leaves (or speaks out of turn) before the job formed: rank 0
 * fails the job at once (-EOWNERDEAD, or -EPROTO with a FAIL to the client). */
static int client_joins_and_leaves(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	struct shmar__msg m;
	union rawbuf u;
	int fd = raw_connect(raw->path);

	(void)rank;
	TH_CHECK(fd >= 0);
	raw_hello(&m, (uint32_t)nranks, 1);
	TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
	TH_CHECK_EQ(raw_wait_consumed(fd), 0); /* rank 0 has taken us as rank 1 */
	if (raw->variant == 1) {
		TH_CHECK_EQ(raw_send(fd, &m, sizeof(m), NULL, 0), 0);
		TH_CHECK_EQ(raw_next(fd, &u), (ssize_t)sizeof(u.m));
		TH_CHECK_EQ(u.m.type, SHMAR_MSG_FAIL);
		TH_CHECK_EQ(u.m.status, -EPROTO);
	}
	close(fd);
	return 0;
}

static void test_joined_then_left(void **state)
{
	(void)state;
	hostile_fatal(client_joins_and_leaves, 0, 3, -EOWNERDEAD, "rank 1");
	hostile_fatal(client_joins_and_leaves, 1, 3, -EPROTO, "out of turn");
}

/* Give up root but keep CAP_DAC_OVERRIDE, so the 0700 directory does not stop us. */
static int become_nobody_keeping_dac_override(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return -errno;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[CAP_TO_INDEX(CAP_DAC_OVERRIDE)].effective |= CAP_TO_MASK(CAP_DAC_OVERRIDE);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return geteuid() == NOBODY ? 0 : -EPERM;
}

/* SO_PEERCRED: a client of another uid that reached the socket anyway is refused. */
static int client_other_uid(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	struct shmar__msg m;
	int fd;

	(void)rank;
	TH_CHECK_EQ(become_nobody_keeping_dac_override(), 0);
	fd = raw_connect(raw->path);
	TH_CHECK(fd >= 0);
	raw_hello(&m, (uint32_t)nranks, 1);
	/* rank 0 may have refused us already: then the send fails, and the reply is waiting */
	raw_send(fd, &m, sizeof(m), NULL, 0);
	TH_CHECK_EQ(raw_expect_reject(fd, -EACCES), 0);
	close(fd);
	return 0;
}

static void test_peercred_other_uid(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: becoming uid %d needs root\n", NOBODY);
		skip();
	}
	hostile(client_other_uid, 0, 2, false);
}

/* ---------------------------------------------------------------- -EOWNERDEAD */

/* A rank 0 that accepts nranks - 1 hellos and dies. */
static int raw_listener(int rank, int nranks, void *arg)
{
	struct raw *raw = arg;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct shmar__msg m;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	(void)rank;
	TH_CHECK(fd >= 0);
	memcpy(a.sun_path, raw->path, strlen(raw->path) + 1);
	TH_CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	TH_CHECK_EQ(listen(fd, 16), 0);
	raw->ready = 1;
	for (int r = 1; r < nranks; r++) {
		int c = accept(fd, NULL, NULL);

		TH_CHECK(c >= 0);
		TH_CHECK_EQ(recv(c, &m, sizeof(m), 0), sizeof(m));
		TH_CHECK_EQ(shmar__msg_check_frame(&m, sizeof(m)), 0);
		TH_CHECK_EQ(m.type, SHMAR_MSG_HELLO);
	}
	kill(getpid(), SIGKILL);
	return 1;
}

static void assert_killed(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void test_rank0_dies_after_hellos(void **state)
{
	char job[80];
	struct member m = { .job = job, .expect = -EOWNERDEAD, .msg = "rank 0" };
	struct raw *raw = th_shared(sizeof(*raw));
	pid_t pl, p1, p2;

	(void)state;
	th_job_name(job, sizeof(job), "rawdies");
	sock_path(raw->path, sizeof(raw->path), job);
	raw->ready = 0;
	pl = th_spawn(raw_listener, 0, 3, raw, CHILD_TIMEOUT_S);
	assert_true(wait_flag(&raw->ready, 10));
	p1 = spawn(&m, 1, 3);
	p2 = spawn(&m, 2, 3);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p2), 0);
	assert_killed(pl);
	/* its socket file was stale: the survivors removed it, and the name forms again */
	assert_false(file_exists(raw->path));
	form_job(job, 3);
}

/* A real rank 0 of 3 is SIGKILLed while rank 2 has not come: rank 1 learns at once, rank 2
 * finds nobody, and the name is usable again. */
static void test_rank0_killed_while_forming(void **state)
{
	char job[80], path[512];
	struct member root = { .job = job };
	struct member waiting = { .job = job, .expect = -EOWNERDEAD, .msg = "rank 0" };
	struct member late = { .job = job, .init_timeout_ms = 300, .expect = -ETIMEDOUT,
			       .msg = "rank 0" };
	double t0;
	pid_t p0, p1;

	(void)state;
	th_job_name(job, sizeof(job), "killed");
	sock_path(path, sizeof(path), job);
	p0 = spawn(&root, 0, 3);
	assert_true(wait_until(file_exists, path, 10));
	p1 = spawn(&waiting, 1, 3);
	assert_true(wait_until(connected_once, path, 10));
	usleep(100000);
	t0 = th_now();
	assert_int_equal(kill(p0, SIGKILL), 0);
	assert_killed(p0);
	assert_int_equal(th_wait(p1), 0);
	assert_true(th_now() - t0 < 5); /* at once, not at its init deadline */
	assert_int_equal(th_wait(spawn(&late, 2, 3)), 0);
	form_job(job, 3);
}

/* every test gets a private rendezvous directory, empty again afterwards */
#define T(test) cmocka_unit_test_setup_teardown(test, th_setup, th_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nranks_disagree),
		T(test_second_rank0),
		T(test_second_rank0_race),
		T(test_duplicate_rank),
		T(test_dir_mode),
		T(test_dir_other_owner),
		T(test_dir_symlink),
		T(test_other_uid_client),
		T(test_token_wrong_or_missing),
		T(test_token_unexpected),
		T(test_stale_socket_root_first),
		T(test_stale_socket_peers_first),
		T(test_timeout_rank0_alone),
		T(test_timeout_names_missing_rank),
		T(test_timeout_joined_rank_gives_up),
		T(test_timeout_no_rank0),
		T(test_rank0_dies_after_hellos),
		T(test_rank0_killed_while_forming),
		T(test_silent_client_times_out),
		T(test_silent_client_while_forming),
		T(test_silent_flood_while_forming),
		T(test_garbage_clients),
		T(test_fds_attached),
		T(test_version_lie),
		T(test_pid_lie),
		T(test_rank_out_of_range),
		T(test_hangups),
		T(test_joined_then_left),
		T(test_peercred_other_uid),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
