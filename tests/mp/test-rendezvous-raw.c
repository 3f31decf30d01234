/* SPDX-License-Identifier: MIT */
/*
 * test-rendezvous-raw.c - raw clients talking straight to a real rank 0's
 * socket while a real job forms around them (hostile[], one row each: the
 * client, whether the real ranks come during or after it, and whether it
 * must end the job), and a raw rank 0 that dies after the hellos.
 *
 * Dropped without a word, the job forming anyway: silent clients, a flood of
 * silent ones, garbage, file descriptors attached, lies about pid, hang-ups.
 * Refused with a reason: another protocol version (-EPROTO), an unexpected
 * token or another uid (-EACCES).  Ending the job at once, on rank 0 too: a
 * rank out of range or a lie about nranks (-EINVAL), a rank that joined and
 * left (-EOWNERDEAD) or spoke out of turn (-EPROTO).
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "rendezvous-msg.h"

#define NOBODY 65534
#define CHILD_TIMEOUT_S 30
#define MANY_FDS 200
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- a raw client's tools */

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


/* ---------------------------------------------------------------- the clients */

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


/* ---------------------------------------------------------------- the table */

struct hostile {
	const char *name;
	th_rank_fn client;
	int variant;
	int nranks;          /* of the real job */
	bool concurrent;     /* the real ranks come once the client is connected, not after it */
	int fatal;           /* the client ends the job: rank 0's init returns this, at once */
	const char *msg;     /* ... with this in its text */
	int max_ms;          /* the whole case within this; 0: no bound */
	bool needs_root;
};

/* The job forms around the client (after it, or while it is connected). */
#define FORMS(c, v, n) .client = (c), .variant = (v), .nranks = (n)
/* The client ends the job: rank 0 fails with err and text, at once. */
#define ENDS(c, v, n, err, text) \
	.client = (c), .variant = (v), .nranks = (n), .fatal = (err), .msg = (text), .max_ms = 5000

static const struct hostile hostile[] = {
	/* nobody else came: rank 0 drops the silent client after the 2 s hello deadline */
	{ .name = "silent_client_times_out", FORMS(client_silent, 0, 2) },
	{ .name = "silent_client_while_forming", FORMS(client_silent, 1, 2), .concurrent = true },
	/* the ranks still join at once, not after the hello deadline freed the places */
	{ .name = "silent_flood_while_forming", FORMS(client_flood, 0, 3), .concurrent = true,
	  .max_ms = 1900 },
	{ .name = "garbage_clients", FORMS(client_garbage, 0, 2) },
	{ .name = "fds_attached", FORMS(client_fds, 0, 2) },
	{ .name = "version_lie", FORMS(client_version, 0, 2) },
	{ .name = "pid_lie", FORMS(client_pid, 0, 2) },
	{ .name = "hangups", FORMS(client_hangup, 0, 2) },
	{ .name = "unexpected_token", FORMS(client_refused, 0, 2) },
	{ .name = "peercred_other_uid", FORMS(client_other_uid, 0, 2), .needs_root = true },
	{ .name = "rank_5_of_2", ENDS(client_bad_shape, 0, 2, -EINVAL, "out of range") },
	{ .name = "rank_0_of_2", ENDS(client_bad_shape, 1, 2, -EINVAL, "out of range") },
	{ .name = "rank_2_of_2", ENDS(client_bad_shape, 2, 2, -EINVAL, "out of range") },
	{ .name = "rank_max_of_2", ENDS(client_bad_shape, 3, 2, -EINVAL, "out of range") },
	{ .name = "nranks_5_not_2", ENDS(client_bad_shape, 4, 2, -EINVAL, "says nranks is") },
	{ .name = "nranks_0_not_2", ENDS(client_bad_shape, 5, 2, -EINVAL, "says nranks is") },
	{ .name = "joined_then_left", ENDS(client_joins_and_leaves, 0, 3, -EOWNERDEAD, "rank 1") },
	{ .name = "joined_then_spoke", ENDS(client_joins_and_leaves, 1, 3, -EPROTO, "out of turn") },
};

static bool listening(const void *path)
{
	return th_sock_listening(path);
}

static bool raw_ready(const void *arg)
{
	const struct raw *raw = arg;

	return raw->ready != 0;
}

/*
 * Rank 0 of a real job forms while the client does its worst.  The other
 * real ranks come after the client finished, or (concurrent) once it is
 * connected; where the client ends the job, they do not come at all.
 */
static void run_hostile(void **state)
{
	const struct hostile *h = *state;
	char job[80];
	struct th_member root = { .job = job, .init_timeout_ms = h->fatal ? 20000 : 15000,
				  .expect = h->fatal, .msg = h->msg };
	struct th_member peer = { .job = job, .init_timeout_ms = 15000 };
	struct raw *raw = th_shared(sizeof(*raw));
	double t0 = th_now();
	pid_t p0, pc, peers[8];

	if (h->needs_root && geteuid() != 0) {
		print_message("skipped: %s needs root\n", h->name);
		skip();
	}
	th_job_name(job, sizeof(job), "hostile");
	th_sock_path(raw->path, sizeof(raw->path), job);
	raw->variant = h->variant;
	p0 = th_spawn(th_member_rank, 0, h->nranks, &root, CHILD_TIMEOUT_S);
	assert_true(th_wait_for(listening, raw->path, 10));
	pc = th_spawn(h->client, 0, h->nranks, raw, CHILD_TIMEOUT_S);
	if (h->concurrent)
		assert_true(th_wait_for(raw_ready, raw, 10));
	else
		assert_int_equal(th_wait(pc), 0);
	for (int r = 1; r < h->nranks && !h->fatal; r++)
		peers[r] = th_spawn(th_member_rank, r, h->nranks, &peer, CHILD_TIMEOUT_S);
	for (int r = 1; r < h->nranks && !h->fatal; r++)
		assert_int_equal(th_wait(peers[r]), 0);
	assert_int_equal(th_wait(p0), 0); /* it also checked that it leaked no descriptor */
	if (h->concurrent)
		assert_int_equal(th_wait(pc), 0);
	if (h->max_ms)
		assert_true((th_now() - t0) * 1e3 < h->max_ms);
	munmap(raw, sizeof(*raw));
}

/* ---------------------------------------------------------------- a raw rank 0 */

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

/* The peers learn rank 0 died (-EOWNERDEAD) and remove its socket file; the name forms again. */
static void test_raw_rank0_dies_after_hellos(void **state)
{
	char job[80];
	struct th_member m = { .job = job, .expect = -EOWNERDEAD, .msg = "rank 0 (pid " };
	struct th_member good = { .job = job };
	struct raw *raw = th_shared(sizeof(*raw));
	pid_t pl, p1, p2;
	int st = 0;

	(void)state;
	th_job_name(job, sizeof(job), "rawdies");
	th_sock_path(raw->path, sizeof(raw->path), job);
	pl = th_spawn(raw_listener, 0, 3, raw, CHILD_TIMEOUT_S);
	assert_true(th_wait_for(raw_ready, raw, 10));
	p1 = th_spawn(th_member_rank, 1, 3, &m, CHILD_TIMEOUT_S);
	p2 = th_spawn(th_member_rank, 2, 3, &m, CHILD_TIMEOUT_S);
	assert_int_equal(th_wait(p1), 0);
	assert_int_equal(th_wait(p2), 0);
	assert_int_equal(waitpid(pl, &st, 0), pl);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* its socket file was stale: the survivors removed it */
	assert_int_equal(th_dir_entries(), 0);
	assert_int_equal(th_run_ranks(3, th_member_rank, &good, CHILD_TIMEOUT_S, NULL), 0);
	munmap(raw, sizeof(*raw));
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(hostile) + 1];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++)
		tests[n++] = (struct CMUnitTest){
			.name = hostile[i].name,
			.test_func = run_hostile,
			.setup_func = th_setup, /* a private directory, */
			.teardown_func = th_teardown, /* empty again afterwards */
			.initial_state = (void *)&hostile[i],
		};
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_raw_rank0_dies_after_hellos, th_setup, th_teardown);
	th_seed((uint64_t)getpid());
	if (getenv("TH_FILTER")) /* e.g. TH_FILTER='silent_*' */
		cmocka_set_test_filter(getenv("TH_FILTER"));
	return cmocka_run_group_tests_name("rendezvous-raw", tests, NULL, NULL) ? 1 : 0;
}
