/* SPDX-License-Identifier: MIT */
/*
 * rendezvous-root.c - rank 0's side of the handshake (rendezvous.h).
 *
 * Every socket rank 0 accepts is non-blocking and multiplexed with poll(),
 * so a silent, slow or hostile client never stalls the job: it is dropped
 * and the others go on.  What does end the job at once, for every rank: a
 * rank that joined and then dies or hangs up, a rank that disagrees on the
 * job's shape, rank 0 running out of descriptors.  Then rank 0 tells every
 * rank it knows of (joined, pending, or still in the listen queue) why.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "futex.h"
#include "rendezvous.h"
#include "rendezvous-msg.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* A connected client must say hello within this. */
#define HELLO_TIMEOUT_NS (2000ull * SHMAR_NS_PER_MS)
/* Connections still to say hello; beyond this the one silent longest goes. */
#define PENDING_MAX 64
/* Connections still queued that a failing rank 0 answers before it goes. */
#define DRAIN_MAX 1024

struct pending {
	int fd;
	pid_t pid;
	uint64_t since;
};

struct gather {
	struct pending pend[PENDING_MAX];
	int npend;
	int joined;
	const char *token;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void drop_pending(struct gather *g, int i)
{
	close(g->pend[i].fd);
	g->pend[i] = g->pend[--g->npend];
}

/* ---------------------------------------------------------------- failing */

/* accept4() with the spare descriptor given up for it when none is left. */
static int accept_one(struct shmar__rdv *r)
{
	int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && r->spare_fd >= 0) {
		close_fd(&r->spare_fd);
		fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	}
	return fd;
}

/*
 * Answer what is still queued on the listening socket, then stop listening.
 * The name goes first: a rank that connects from then on finds no socket
 * (and waits for a new rank 0) instead of joining a queue that is about to
 * be reset, which it would take for rank 0's death.
 */
static void drain_listen_queue(struct shmar__rdv *r, int status)
{
	if (r->listen_fd < 0)
		return;
	unlinkat(r->dirfd, r->sock_name, 0);
	for (int i = 0; i < DRAIN_MAX; i++) {
		int fd = accept_one(r);

		if (fd < 0)
			break;
		shmar__rdv_send_status(r, fd, SHMAR_MSG_FAIL, status, r->rep->text);
		close(fd);
		if (r->spare_fd < 0)
			r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	close_fd(&r->listen_fd);
}

void shmar__rdv_refuse_all(struct shmar__rdv *r, int status)
{
	for (int k = 1; k < r->nranks; k++)
		if (r->socks[k] >= 0)
			shmar__rdv_send_status(r, r->socks[k], SHMAR_MSG_FAIL, status, r->rep->text);
	drain_listen_queue(r, status);
}

/* The job cannot form: tell every rank rank 0 knows of, with the report's text. */
static int fail_everyone(struct shmar__rdv *r, struct gather *g, int status)
{
	for (int i = g->npend - 1; i >= 0; i--) {
		shmar__rdv_send_status(r, g->pend[i].fd, SHMAR_MSG_FAIL, status, r->rep->text);
		drop_pending(g, i);
	}
	shmar__rdv_refuse_all(r, status);
	return status;
}

/* ---------------------------------------------------------------- hellos */

static int peer_pidfd(int sock, pid_t pid)
{
	socklen_t len = sizeof(int);
	int fd;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0)
		return fd;
	fd = shmar__pidfd_open(pid);
	return fd < 0 ? -1 : fd; /* liveness opens it again, or reports why not */
}

static void join(struct shmar__rdv *r, struct gather *g, int i, const struct shmar__msg *m)
{
	struct pending *p = &g->pend[i];

	r->socks[m->rank] = p->fd;
	r->pids[m->rank] = p->pid;
	/* the job's CPUs: ranks pinned apart are not competing for one */
	shmar__cpus_merge(r->cpus, m->cpus);
	r->pidfds[m->rank] = peer_pidfd(p->fd, p->pid);
	g->joined++;
	g->pend[i] = g->pend[--g->npend];
	shmar__log(r->rep, SHMAR_DEBUG_INFO, "rank %u (pid %d) joined (%d of %d)", m->rank,
		   (int)p->pid, g->joined + 1, r->nranks);
}

/*
 * Read a hello from pending connection i and register it, refuse it, or
 * drop it.  0, or the error that ends the job: a rank that disagrees on the
 * job's shape (it came to this job by name; rank 0 fails at once, with the
 * same message the rank gets, rather than wait for ranks that never fit).
 */
static int handle_hello(struct shmar__rdv *r, struct gather *g, int i)
{
	struct shmar__report why = { .rank = -1 };
	struct pending *p = &g->pend[i];
	struct shmar__msg m;
	ssize_t n;
	int err;

	n = shmar__rdv_recv(p->fd, &m, NULL);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0) {
		drop_pending(g, i); /* EOF, garbage, or file descriptors */
		return 0;
	}
	err = shmar__msg_check_frame(&m, (size_t)n);
	if (err == -EPROTO)
		shmar__fail(&why, err, "rank 0 speaks protocol %u, not %u", SHMAR_MSG_VERSION,
			    m.version);
	else if (err == 0)
		err = shmar__msg_check_hello(&m, (uint32_t)r->nranks, g->token, &why);
	if (err == 0 && m.pid != (uint32_t)p->pid)
		err = shmar__fail(&why, -EBADMSG, "rank %u claims pid %u but is pid %d", m.rank,
				  m.pid, (int)p->pid);
	if (err == 0 && r->socks[m.rank] >= 0)
		err = shmar__fail(&why, -EADDRINUSE, "rank %u already joined (pid %d)", m.rank,
				  (int)r->pids[m.rank]);
	if (err == 0) {
		join(r, g, i, &m);
		return 0;
	}
	if (err != -EBADMSG)
		shmar__rdv_send_status(r, p->fd, SHMAR_MSG_REJECT, err, why.text);
	drop_pending(g, i);
	if (err != -EINVAL)
		return 0; /* one bad client: the others go on */
	return shmar__fail(r->rep, err, "pid %d: %s", (int)p->pid, why.text);
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
static int accept_new(struct shmar__rdv *r, struct gather *g)
{
	struct ucred cred;
	socklen_t len;
	int fd, err;

	for (;;) {
		fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR)
				return 0;
			/* the connection stays queued: retrying would spin */
			if (errno == EMFILE || errno == ENFILE)
				return shmar__rdv_fail_fds(r, -errno, "rank 0 cannot accept a rank");
			return shmar__fail(r->rep, -errno, "accept: %s", strerror(errno));
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    cred.uid != geteuid()) {
			shmar__rdv_send_status(r, fd, SHMAR_MSG_REJECT, -EACCES,
					       "rank 0 runs as another user");
			close(fd);
			continue;
		}
		if (g->npend == PENDING_MAX)
			drop_pending(g, oldest_pending(g));
		g->pend[g->npend++] = (struct pending){ fd, cred.pid, shmar__now_ns() };
		err = handle_hello(r, g, g->npend - 1);
		if (err < 0)
			return err;
	}
}

/* A rank that joined must stay silent: a hang-up is its death (or exec),
 * anything it says is out of turn. */
static int check_joined(struct shmar__rdv *r, int rank)
{
	struct shmar__msg m;
	ssize_t n = shmar__rdv_recv(r->socks[rank], &m, NULL);

	if (n == -EAGAIN)
		return 0;
	if (n == 0 || n == -ECONNRESET || n == -EPIPE)
		return shmar__fail(r->rep, -EOWNERDEAD,
				   "rank %d (pid %d) died or left while the job formed", rank,
				   (int)r->pids[rank]);
	return shmar__fail(r->rep, -EPROTO, "rank %d (pid %d) spoke out of turn while the job formed",
			   rank, (int)r->pids[rank]);
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

static int gather_timeout(struct shmar__rdv *r)
{
	char missing[128];
	int n = missing_ranks(r, missing, sizeof(missing));

	return shmar__fail(r->rep, -ETIMEDOUT, "%d of %d ranks did not arrive in time: %s", n,
			   r->nranks, missing);
}

/* One poll round over the listening socket, the pending and the joined ones. */
static int gather_round(struct shmar__rdv *r, struct gather *g, int wait_ms)
{
	struct pollfd pfd[1 + PENDING_MAX + SHMAR_MAX_RANKS];
	int who[1 + PENDING_MAX + SHMAR_MAX_RANKS]; /* >= 0 pending index, < 0 -(rank + 1) */
	uint64_t now;
	int n = 0, i, err = 0;

	pfd[n] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
	who[n++] = 0;
	for (i = 0; i < g->npend; i++) {
		pfd[n] = (struct pollfd){ .fd = g->pend[i].fd, .events = POLLIN };
		who[n++] = i;
		wait_ms = wait_ms > 100 ? 100 : wait_ms; /* look at hello deadlines */
	}
	for (int k = 1; k < r->nranks; k++) {
		if (r->socks[k] < 0)
			continue;
		pfd[n] = (struct pollfd){ .fd = r->socks[k], .events = POLLIN | POLLRDHUP };
		who[n++] = -(k + 1);
	}
	if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
		return shmar__fail(r->rep, -errno, "poll: %s", strerror(errno));
	/* Joined ranks first, then pending ones from the back so indexes stay valid. */
	for (i = n - 1; i >= 1 && err == 0; i--) {
		if (!pfd[i].revents)
			continue;
		err = who[i] < 0 ? check_joined(r, -who[i] - 1) : handle_hello(r, g, who[i]);
	}
	now = shmar__now_ns();
	for (i = g->npend - 1; i >= 0; i--)
		if (now - g->pend[i].since > HELLO_TIMEOUT_NS)
			drop_pending(g, i); /* silent */
	if (err == 0 && pfd[0].revents)
		err = accept_new(r, g);
	return err;
}

int shmar__rdv_gather(struct shmar__rdv *r, const char *token)
{
	struct gather g = { .npend = 0, .joined = 0, .token = token };
	int err = 0, wait_ms;

	r->pids[0] = getpid();
	shmar__cpus_own(r->cpus);
	while (err == 0 && g.joined < r->nranks - 1) {
		wait_ms = shmar__rdv_remaining_ms(r);
		err = wait_ms == 0 ? gather_timeout(r) : gather_round(r, &g, wait_ms);
	}
	if (err < 0)
		return fail_everyone(r, &g, err);
	for (int i = g.npend - 1; i >= 0; i--)
		drop_pending(&g, i);
	/* Every rank is connected: nothing of the job stays on the file system. */
	shmar__rdv_stop_listening(r);
	close_fd(&r->spare_fd);
	return 0;
}

/* ---------------------------------------------------------------- the segment */

static int send_failed(struct shmar__rdv *r, int k, int err, const char *what)
{
	if (err == -EPIPE || err == -ECONNRESET)
		return shmar__fail(r->rep, -EOWNERDEAD, "rank %d (pid %d) died or left while the job formed",
				   k, (int)r->pids[k]);
	return shmar__fail(r->rep, err, "cannot send %s to rank %d (pid %d): %s", what, k,
			   (int)r->pids[k], strerror(-err));
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
		err = shmar__rdv_send(r, r->socks[k], &m, memfd);
		if (err < 0)
			return send_failed(r, k, err, "the segment");
	}
	return 0;
}

/* Rank k's READY: 0, or why the job cannot form. */
static int take_ready(struct shmar__rdv *r, int k)
{
	struct shmar__msg m;
	ssize_t n = shmar__rdv_recv(r->socks[k], &m, NULL);

	if (n == -EAGAIN)
		return -EAGAIN;
	if (n == 0 || n == -ECONNRESET || n == -EPIPE)
		return shmar__fail(r->rep, -EOWNERDEAD, "rank %d (pid %d) died or left while the job formed",
				   k, (int)r->pids[k]);
	if (n < 0 || shmar__msg_check_frame(&m, (size_t)n) < 0 || m.type != SHMAR_MSG_READY)
		return shmar__fail(r->rep, -EPROTO, "rank %d (pid %d) sent a malformed message", k,
				   (int)r->pids[k]);
	if (m.status < 0)
		return shmar__fail(r->rep, m.status, "rank %d (pid %d) failed: %s", k,
				   (int)r->pids[k], m.reason);
	return 0;
}

int shmar__rdv_collect_ready(struct shmar__rdv *r)
{
	struct pollfd pfd[SHMAR_MAX_RANKS];
	bool ready[SHMAR_MAX_RANKS] = { false };
	int left = r->nranks - 1, wait_ms, err;

	while (left > 0) {
		wait_ms = shmar__rdv_remaining_ms(r);
		if (wait_ms == 0)
			return shmar__fail(r->rep, -ETIMEDOUT,
					   "%d rank%s did not map the segment in time", left,
					   left == 1 ? "" : "s");
		for (int k = 1; k < r->nranks; k++)
			pfd[k] = (struct pollfd){ .fd = ready[k] ? -1 : r->socks[k], .events = POLLIN };
		if (poll(pfd + 1, (nfds_t)(r->nranks - 1), wait_ms) < 0 && errno != EINTR)
			return shmar__fail(r->rep, -errno, "poll: %s", strerror(errno));
		for (int k = 1; k < r->nranks; k++) {
			if (ready[k] || !pfd[k].revents)
				continue;
			err = take_ready(r, k);
			if (err == -EAGAIN)
				continue;
			if (err < 0)
				return err;
			ready[k] = true;
			left--;
		}
	}
	return 0;
}

void shmar__rdv_finish(struct shmar__rdv *r, int status)
{
	struct shmar__msg m;

	shmar__msg_init(&m, status == 0 ? SHMAR_MSG_GO : SHMAR_MSG_FAIL);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	shmar__msg_set_reason(&m, status ? r->rep->text : "");
	/*
	 * A rank that cannot be told GO died after it said READY: the job
	 * formed, and the liveness watch reports that death to the first call
	 * that needs the rank.
	 */
	for (int k = 1; k < r->nranks; k++)
		if (r->socks[k] >= 0)
			shmar__rdv_send(r, r->socks[k], &m, -1);
	shmar__rdv_stop_listening(r);
}
