/* SPDX-License-Identifier: MIT */
/*
 * rendezvous.c - the unix-socket handshake that forms a job.
 *
 * Trust model: the directory is private to the user (0700, owned by the euid,
 * not a symlink), rank 0 checks each peer's uid with SO_PEERCRED and, when a
 * token is set, the token.  Every socket rank 0 accepts is non-blocking and
 * multiplexed with poll(), so a silent, slow or hostile client can never
 * stall the job: it is dropped and the others go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shmar-private.h"
#include "rendezvous.h"
#include "rendezvous-msg.h"
#include "cpus.h"
#include "futex.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* A connected client must say hello within this. */
#define HELLO_TIMEOUT_NS (2000ull * 1000 * 1000)
/* Connections still to say hello, beyond which new ones are refused. */
#define PENDING_MAX 64
/* File descriptors a hello may carry before we notice: any is a reason to drop. */
#define CMSG_FDS_MAX 8

static int why(struct shmar__rdv *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why(struct shmar__rdv *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return err;
}

static int remaining_ms(const struct shmar__rdv *r)
{
	uint64_t now = shmar__now_ns();

	if (now >= r->deadline_ns)
		return 0;
	if (r->deadline_ns - now > (uint64_t)INT32_MAX * 1000000)
		return INT32_MAX;
	return (int)((r->deadline_ns - now + 999999) / 1000000);
}

int shmar__rdv_dir_resolve(const char *setting, char *out, size_t len, const char **source)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (setting && *setting) {
		/* ranks in different working directories must still meet */
		if (setting[0] != '/')
			return -EINVAL;
		n = snprintf(out, len, "%s", setting);
		*source = "setting";
	} else if (xdg && xdg[0] == '/') {
		n = snprintf(out, len, "%s/shmar", xdg);
		*source = "XDG_RUNTIME_DIR";
	} else {
		n = snprintf(out, len, "/tmp/shmar-%u", (unsigned)geteuid());
		*source = "default";
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void shmar__rdv_init(struct shmar__rdv *r, int nranks, int rank, uint64_t deadline_ns)
{
	memset(r, 0, sizeof(*r));
	r->dirfd = -1;
	r->listen_fd = -1;
	r->nranks = nranks;
	r->rank = rank;
	r->deadline_ns = deadline_ns;
	for (int i = 0; i < SHMAR_MAX_RANKS; i++) {
		r->socks[i] = -1;
		r->pidfds[i] = -1;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void stop_listening(struct shmar__rdv *r)
{
	if (r->listen_fd < 0)
		return;
	/* Unlink first: a client that connects in between gets ECONNREFUSED, not a hang. */
	unlinkat(r->dirfd, r->sock_name, 0);
	close_fd(&r->listen_fd);
}

void shmar__rdv_fini(struct shmar__rdv *r)
{
	stop_listening(r);
	for (int i = 0; i < SHMAR_MAX_RANKS; i++) {
		close_fd(&r->socks[i]);
		close_fd(&r->pidfds[i]);
	}
	close_fd(&r->dirfd);
}

int shmar__rdv_open_dir(struct shmar__rdv *r, const char *dir, const char *job)
{
	struct stat st;
	int n;

	n = snprintf(r->sock_name, sizeof(r->sock_name), "%s.sock", job);
	if (n < 0 || (size_t)n >= sizeof(r->sock_name))
		return why(r, -EINVAL, "job name too long");
	n = snprintf(r->sock_path, sizeof(r->sock_path), "%s/%s", dir, r->sock_name);
	if (n < 0 || (size_t)n >= sizeof(r->sock_path))
		return why(r, -ENAMETOOLONG, "socket path %s/%s is longer than %zu bytes", dir,
			   r->sock_name, sizeof(r->sock_path) - 1);

	/* Ranks start in any order: whoever comes first makes the directory. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return why(r, -errno, "cannot create rendezvous directory %s: %s", dir,
			   strerror(errno));
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->dirfd < 0) {
		int err = errno;

		if (err == ELOOP || err == ENOTDIR)
			return why(r, -EACCES, "rendezvous directory %s is a symlink or not a directory",
				   dir);
		return why(r, -err, "cannot open rendezvous directory %s: %s", dir, strerror(err));
	}
	if (fstat(r->dirfd, &st) < 0)
		return why(r, -errno, "cannot stat %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid())
		return why(r, -EACCES, "rendezvous directory %s belongs to uid %u, not to uid %u",
			   dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return why(r, -EACCES,
			   "rendezvous directory %s has mode %03o: group and others must have no access (chmod 700)",
			   dir, (unsigned)(st.st_mode & 0777));
	return 0;
}

static void sock_addr(const struct shmar__rdv *r, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, r->sock_path, strlen(r->sock_path) + 1);
}

/* 1 if a process listens on the socket file, 0 if it is stale, -errno otherwise. */
static int socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		ret = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		ret = 1; /* listening, backlog full */
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else
		ret = -errno;
	close(fd);
	return ret;
}

/* Serialise rank-0 candidates of one directory while they claim a name. */
static int lock_dir(struct shmar__rdv *r)
{
	while (flock(r->dirfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return why(r, -errno, "cannot lock the rendezvous directory: %s",
				   strerror(errno));
		if (remaining_ms(r) == 0)
			return why(r, -ETIMEDOUT, "rendezvous directory stayed locked");
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return 0;
}

static int bind_claim(struct shmar__rdv *r, int fd)
{
	struct sockaddr_un addr;
	int live;

	sock_addr(r, &addr);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return why(r, -errno, "cannot bind %s: %s", r->sock_path, strerror(errno));
		live = socket_is_live(&addr);
		if (live < 0)
			return why(r, live, "cannot probe %s: %s", r->sock_path, strerror(-live));
		if (live)
			return why(r, -EADDRINUSE, "a live job is already forming at %s",
				   r->sock_path);
		/* Stale: left by a rank 0 that was killed while the job formed. */
		if (unlinkat(r->dirfd, r->sock_name, 0) < 0 && errno != ENOENT)
			return why(r, -errno, "cannot remove stale %s: %s", r->sock_path,
				   strerror(errno));
	}
	return why(r, -EADDRINUSE, "%s keeps reappearing", r->sock_path);
}

int shmar__rdv_listen(struct shmar__rdv *r)
{
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return why(r, -errno, "socket: %s", strerror(errno));
	err = lock_dir(r);
	if (err == 0) {
		err = bind_claim(r, fd);
		flock(r->dirfd, LOCK_UN);
	}
	if (err < 0) {
		close(fd);
		return err;
	}
	r->listen_fd = fd;
	if (listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		stop_listening(r);
		return why(r, err, "listen: %s", strerror(-err));
	}
	return 0;
}

/* Send one message, optionally with one fd; waits for buffer space until the deadline. */
static int send_msg(struct shmar__rdv *r, int sock, const struct shmar__msg *m, int passfd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd pfd = { .fd = sock, .events = POLLOUT };

	if (passfd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	for (;;) {
		if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*m))
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(&pfd, 1, remaining_ms(r)) == 0)
			return -ETIMEDOUT;
	}
}

static void send_status(struct shmar__rdv *r, int sock, enum shmar__msg_type type, int status,
			const char *reason)
{
	struct shmar__msg m;

	shmar__msg_init(&m, type);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
	/* Best effort: the receiver may already be gone. */
	send(sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Receive one message without blocking.  Any file descriptor that arrives is
 * closed at once unless want_fd is set, and then only one is kept.
 * Returns the length, 0 at EOF, -EAGAIN, -EBADMSG for a malformed frame or an
 * unwanted fd, or -errno.
 */
static ssize_t recv_msg(int sock, struct shmar__msg *m, int *want_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int nfds = 0, kept = -1;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (want_fd && kept < 0 && nfds == 0)
				kept = fd;
			else
				close(fd);
			nfds++;
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > (want_fd ? 1 : 0)) {
		if (kept >= 0)
			close(kept);
		return -EBADMSG;
	}
	if (want_fd)
		*want_fd = kept;
	return n;
}

/* ---------------------------------------------------------------- rank 0 */

struct pending {
	int fd;
	pid_t pid;
	uint64_t since;
};

struct gather {
	struct pending pend[PENDING_MAX];
	int npend;
	int joined;
};

static void drop_pending(struct gather *g, int i)
{
	close(g->pend[i].fd);
	g->pend[i] = g->pend[--g->npend];
}

static int peer_pidfd(int sock, pid_t pid)
{
	socklen_t len = sizeof(int);
	int fd;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0)
		return fd;
	fd = shmar__pidfd_open(pid);
	return fd < 0 ? -1 : fd;
}

/* Read a hello from pending connection i: register it, refuse it, or drop it. */
static void handle_hello(struct shmar__rdv *r, struct gather *g, int i, const char *token)
{
	struct pending *p = &g->pend[i];
	char reason[SHMAR_REASON_MAX];
	struct shmar__msg m;
	ssize_t n;
	int err;

	n = recv_msg(p->fd, &m, NULL);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		drop_pending(g, i); /* EOF, garbage, or file descriptors */
		return;
	}
	err = shmar__msg_check_frame(&m, (size_t)n);
	if (err == -EPROTO) {
		snprintf(reason, sizeof(reason), "rank 0 speaks protocol %u, not %u",
			 SHMAR_MSG_VERSION, m.version);
	} else if (err == 0) {
		err = shmar__msg_check_hello(&m, (uint32_t)r->nranks, token, reason, sizeof(reason));
	}
	if (err == 0 && m.pid != (uint32_t)p->pid) {
		snprintf(reason, sizeof(reason), "rank %u claims pid %u but is pid %d", m.rank,
			 m.pid, (int)p->pid);
		err = -EBADMSG;
	}
	if (err == 0 && r->socks[m.rank] >= 0) {
		snprintf(reason, sizeof(reason), "rank %u already joined (pid %d)", m.rank,
			 (int)r->pids[m.rank]);
		err = -EADDRINUSE;
	}
	if (err < 0) {
		if (err != -EBADMSG)
			send_status(r, p->fd, SHMAR_MSG_REJECT, err, reason);
		drop_pending(g, i);
		return;
	}
	r->socks[m.rank] = p->fd;
	r->pids[m.rank] = p->pid;
	/* the job's CPUs: ranks pinned apart are not competing for one */
	shmar__cpus_merge(r->cpus, m.cpus);
	r->pidfds[m.rank] = peer_pidfd(p->fd, p->pid);
	g->joined++;
	g->pend[i] = g->pend[--g->npend];
}

static int oldest_pending(const struct gather *g)
{
	int oldest = 0;

	for (int i = 1; i < g->npend; i++)
		if (g->pend[i].since < g->pend[oldest].since)
			oldest = i;
	return oldest;
}

/*
 * Accept every waiting connection.  A rank sends its hello right after
 * connect(), so it is read at once and the rank never holds a pending place;
 * only silent connections stay pending.  When all places are taken the one
 * silent longest makes room: a flood of silent clients can delay a rank by
 * one poll round, never lock it out.
 */
static void accept_new(struct shmar__rdv *r, struct gather *g, const char *token)
{
	struct ucred cred;
	socklen_t len;
	int fd;

	while ((fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    cred.uid != geteuid()) {
			send_status(r, fd, SHMAR_MSG_REJECT, -EACCES,
				    "rank 0 runs as another user");
			close(fd);
			continue;
		}
		if (g->npend == PENDING_MAX)
			drop_pending(g, oldest_pending(g));
		g->pend[g->npend++] = (struct pending){ fd, cred.pid, shmar__now_ns() };
		handle_hello(r, g, g->npend - 1, token);
	}
}

/* A rank that joined and then closed or spoke out of turn gives up its place. */
static void check_joined(struct shmar__rdv *r, struct gather *g, int rank)
{
	struct shmar__msg m;
	ssize_t n = recv_msg(r->socks[rank], &m, NULL);

	if (n == -EAGAIN)
		return;
	close_fd(&r->socks[rank]);
	close_fd(&r->pidfds[rank]);
	r->pids[rank] = 0;
	g->joined--;
}

static int missing_ranks(struct shmar__rdv *r, char *buf, size_t len)
{
	size_t used = 0;
	int missing = 0;

	buf[0] = '\0';
	for (int k = 1; k < r->nranks; k++) {
		if (r->socks[k] >= 0)
			continue;
		if (used < len) {
			int n = snprintf(buf + used, len - used, "%s%d", missing ? ", " : "", k);

			used += n > 0 ? (size_t)n : 0;
		}
		missing++;
	}
	if (used >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return missing;
}

int shmar__rdv_gather(struct shmar__rdv *r, const char *token)
{
	struct pollfd pfd[1 + PENDING_MAX + SHMAR_MAX_RANKS];
	int who[1 + PENDING_MAX + SHMAR_MAX_RANKS]; /* >= 0 pending index, < 0 -(rank + 1) */
	struct gather g = { .npend = 0, .joined = 0 };
	char missing[128];
	uint64_t now;
	int n, i, wait_ms;

	r->pids[0] = getpid();
	shmar__cpus_own(r->cpus);
	while (g.joined < r->nranks - 1) {
		wait_ms = remaining_ms(r);
		if (wait_ms == 0) {
			n = missing_ranks(r, missing, sizeof(missing));
			for (i = g.npend - 1; i >= 0; i--)
				drop_pending(&g, i);
			return why(r, -ETIMEDOUT, "%d of %d ranks did not arrive in time: %s", n,
				   r->nranks, missing);
		}
		n = 0;
		pfd[n] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
		who[n++] = 0;
		for (i = 0; i < g.npend; i++) {
			pfd[n] = (struct pollfd){ .fd = g.pend[i].fd, .events = POLLIN };
			who[n++] = i;
			if (wait_ms > 100)
				wait_ms = 100; /* look at hello deadlines */
		}
		for (int k = 1; k < r->nranks; k++) {
			if (r->socks[k] < 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = r->socks[k], .events = POLLIN };
			who[n++] = -(k + 1);
		}
		if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
			return why(r, -errno, "poll: %s", strerror(errno));
		/* Joined ranks first, then pending ones from the back so indexes stay valid. */
		for (i = n - 1; i >= 1; i--) {
			if (!pfd[i].revents)
				continue;
			if (who[i] < 0)
				check_joined(r, &g, -who[i] - 1);
			else
				handle_hello(r, &g, who[i], token);
		}
		now = shmar__now_ns();
		for (i = g.npend - 1; i >= 0; i--)
			if (now - g.pend[i].since > HELLO_TIMEOUT_NS)
				drop_pending(&g, i); /* silent */
		if (pfd[0].revents)
			accept_new(r, &g, token);
	}
	for (i = g.npend - 1; i >= 0; i--)
		drop_pending(&g, i);
	/* Every rank is connected: nothing of the job stays on the file system. */
	stop_listening(r);
	return 0;
}

int shmar__rdv_send_welcome(struct shmar__rdv *r, int memfd, size_t seg_bytes)
{
	struct shmar__msg m;
	int err;

	shmar__msg_init(&m, SHMAR_MSG_WELCOME);
	m.nranks = (uint32_t)r->nranks;
	m.seg_bytes = seg_bytes;
	for (int k = 0; k < r->nranks; k++)
		m.pids[k] = (uint32_t)r->pids[k];
	for (int k = 1; k < r->nranks; k++) {
		m.rank = (uint32_t)k;
		err = send_msg(r, r->socks[k], &m, memfd);
		if (err < 0)
			return why(r, err == -EPIPE || err == -ECONNRESET ? -EOWNERDEAD : err,
				   "cannot send the segment to rank %d (pid %d): %s", k,
				   (int)r->pids[k], strerror(-err));
	}
	return 0;
}

int shmar__rdv_collect_ready(struct shmar__rdv *r)
{
	struct pollfd pfd[SHMAR_MAX_RANKS];
	bool ready[SHMAR_MAX_RANKS] = { false };
	struct shmar__msg m;
	int left = r->nranks - 1, wait_ms;
	ssize_t n;

	while (left > 0) {
		wait_ms = remaining_ms(r);
		if (wait_ms == 0)
			return why(r, -ETIMEDOUT, "%d ranks did not map the segment in time", left);
		for (int k = 1; k < r->nranks; k++)
			pfd[k] = (struct pollfd){ .fd = ready[k] ? -1 : r->socks[k], .events = POLLIN };
		if (poll(pfd + 1, (nfds_t)(r->nranks - 1), wait_ms) < 0 && errno != EINTR)
			return why(r, -errno, "poll: %s", strerror(errno));
		for (int k = 1; k < r->nranks; k++) {
			if (ready[k] || !pfd[k].revents)
				continue;
			n = recv_msg(r->socks[k], &m, NULL);
			if (n == -EAGAIN)
				continue;
			if (n == 0)
				return why(r, -EOWNERDEAD, "rank %d (pid %d) exited while the job formed",
					   k, (int)r->pids[k]);
			if (n < 0 || shmar__msg_check_frame(&m, (size_t)n) < 0 ||
			    m.type != SHMAR_MSG_READY)
				return why(r, -EPROTO, "rank %d (pid %d) sent a malformed message", k,
					   (int)r->pids[k]);
			if (m.status < 0)
				return why(r, m.status, "rank %d (pid %d) failed: %s", k,
					   (int)r->pids[k], m.reason);
			ready[k] = true;
			left--;
		}
	}
	return 0;
}

int shmar__rdv_finish(struct shmar__rdv *r, int status, const char *reason)
{
	struct shmar__msg m;
	int err, first = 0;

	shmar__msg_init(&m, status == 0 ? SHMAR_MSG_GO : SHMAR_MSG_FAIL);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
	for (int k = 1; k < r->nranks; k++) {
		if (r->socks[k] < 0)
			continue;
		err = send_msg(r, r->socks[k], &m, -1);
		if (err < 0 && first == 0 && status == 0)
			first = why(r, -EOWNERDEAD, "rank %d (pid %d) is gone: %s", k,
				    (int)r->pids[k], strerror(-err));
	}
	return first;
}

/* ---------------------------------------------------------------- other ranks */

static int connect_once(struct shmar__rdv *r, int *out)
{
	struct sockaddr_un addr;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sock_addr(r, &addr);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

int shmar__rdv_connect(struct shmar__rdv *r, const char *token)
{
	long backoff_ns = 1000000;
	struct shmar__msg m;
	int err, fd = -1;

	for (;;) {
		err = connect_once(r, &fd);
		if (err == 0)
			break;
		/* Rank 0 not there yet, or a stale file it has still to replace. */
		if (err != -ENOENT && err != -ECONNREFUSED && err != -EAGAIN)
			return why(r, err, "cannot connect to %s: %s", r->sock_path,
				   strerror(-err));
		if (remaining_ms(r) == 0)
			return why(r, -ETIMEDOUT, "rank 0 did not open %s in time", r->sock_path);
		nanosleep(&(struct timespec){ .tv_nsec = backoff_ns }, NULL);
		if (backoff_ns < 50000000)
			backoff_ns *= 2;
	}
	r->socks[0] = fd;
	shmar__msg_init(&m, SHMAR_MSG_HELLO);
	m.nranks = (uint32_t)r->nranks;
	m.rank = (uint32_t)r->rank;
	m.pid = (uint32_t)getpid();
	shmar__cpus_own(m.cpus);
	if (token)
		strncpy(m.token, token, SHMAR_TOKEN_MAX);
	err = send_msg(r, fd, &m, -1);
	if (err < 0)
		return why(r, err == -EPIPE || err == -ECONNRESET ? -EOWNERDEAD : err,
			   "cannot send hello to rank 0: %s", strerror(-err));
	return 0;
}

/* Wait for rank 0's next message of any type; fd only with WELCOME. */
static int recv_from_root(struct shmar__rdv *r, struct shmar__msg *m, int *fd)
{
	struct pollfd pfd = { .fd = r->socks[0], .events = POLLIN };
	ssize_t n;
	int err, wait_ms;

	for (;;) {
		wait_ms = remaining_ms(r);
		if (wait_ms == 0)
			return why(r, -ETIMEDOUT, "rank 0 did not answer in time");
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
			return why(r, -errno, "poll: %s", strerror(errno));
		n = recv_msg(r->socks[0], m, fd);
		/*
		 * A reset is reported once, ahead of what is still queued: when
		 * rank 0 refused us and closed before reading all we sent, its
		 * REJECT or FAIL is behind the error.  Read once more for it.
		 */
		if (n == -ECONNRESET)
			n = recv_msg(r->socks[0], m, fd);
		if (n == -EAGAIN)
			continue;
		if (n == 0 || n == -ECONNRESET)
			return why(r, -EOWNERDEAD, "rank 0 closed the connection");
		if (n < 0)
			return why(r, -EPROTO, "malformed message from rank 0: %s", strerror((int)-n));
		err = shmar__msg_check_frame(m, (size_t)n);
		if (err < 0) {
			if (fd && *fd >= 0)
				close_fd(fd);
			return why(r, -EPROTO, "rank 0 sent a malformed message");
		}
		return 0;
	}
}

int shmar__rdv_recv_welcome(struct shmar__rdv *r, int *memfd, size_t *seg_bytes)
{
	char reason[SHMAR_REASON_MAX];
	struct shmar__msg m;
	int fd = -1, err;

	err = recv_from_root(r, &m, &fd);
	if (err < 0)
		return err;
	if (m.type == SHMAR_MSG_REJECT || m.type == SHMAR_MSG_FAIL) {
		close_fd(&fd);
		return why(r, m.status < 0 ? m.status : -EPROTO, "rank 0 refused: %s", m.reason);
	}
	err = shmar__msg_check_welcome(&m, (uint32_t)r->nranks, (uint32_t)r->rank,
				       (uint32_t)getpid(), reason, sizeof(reason));
	if (err == 0 && fd < 0)
		err = -EPROTO, snprintf(reason, sizeof(reason), "no segment came with the welcome");
	if (err < 0) {
		close_fd(&fd);
		return why(r, err, "%s", reason);
	}
	for (int k = 0; k < r->nranks; k++)
		r->pids[k] = (pid_t)m.pids[k];
	*memfd = fd;
	*seg_bytes = (size_t)m.seg_bytes;
	return 0;
}

int shmar__rdv_send_ready(struct shmar__rdv *r, int status, const char *reason)
{
	struct shmar__msg m;
	int err;

	shmar__msg_init(&m, SHMAR_MSG_READY);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	m.rank = (uint32_t)r->rank;
	m.pid = (uint32_t)getpid();
	snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
	err = send_msg(r, r->socks[0], &m, -1);
	if (err < 0)
		return why(r, -EOWNERDEAD, "rank 0 is gone: %s", strerror(-err));
	return 0;
}

int shmar__rdv_recv_go(struct shmar__rdv *r)
{
	struct shmar__msg m;
	int err = recv_from_root(r, &m, NULL);

	if (err < 0)
		return err;
	if (m.type == SHMAR_MSG_GO)
		return 0;
	if (m.type == SHMAR_MSG_FAIL)
		return why(r, m.status < 0 ? m.status : -EPROTO, "the job failed to form: %s",
			   m.reason);
	return why(r, -EPROTO, "unexpected message type %u from rank 0", m.type);
}
