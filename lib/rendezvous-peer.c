/* SPDX-License-Identifier: MIT */
/*
 * rendezvous-peer.c - the side of the handshake of every rank but 0
 * (rendezvous.h).
 *
 * A rank connects to rank 0's socket (retrying with back-off until rank 0
 * is there), says hello, and from then on learns everything from that one
 * connection: the segment, the pids, and whether the job formed.  A
 * hang-up of rank 0 is its death; a FAIL or REJECT carries the real cause,
 * which this rank reports as its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "futex.h"
#include "rendezvous.h"
#include "rendezvous-msg.h"

/* How long a rank 0 that hung up may take to finish dying (it normally takes
 * microseconds; a rank 0 that closed without dying costs this once). */
#define ROOT_EXIT_WAIT_MS 200
/* How long past its deadline a rank that joined waits for rank 0's verdict. */
#define ROOT_VERDICT_GRACE_MS 1000

static int connect_once(struct shmar__rdv *r, int *out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(addr.sun_path, r->sock_path, strlen(r->sock_path) + 1);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

static int rank0_never_came(struct shmar__rdv *r)
{
	if (r->swept_own)
		return shmar__fail(r->rep, -ETIMEDOUT,
				   "rank 0 did not open %s in time (a stale socket of a rank 0 that died was found there and removed)",
				   r->sock_path);
	return shmar__fail(r->rep, -ETIMEDOUT, "rank 0 did not open %s in time", r->sock_path);
}

static int connect_to_root(struct shmar__rdv *r, int *fd)
{
	long backoff_ns = 1000000;
	int err;

	for (;;) {
		err = connect_once(r, fd);
		if (err == 0)
			return 0;
		if (err == -EMFILE || err == -ENFILE)
			return shmar__rdv_fail_fds(r, err, "cannot connect to rank 0");
		if (err == -ECONNREFUSED)
			shmar__rdv_sweep_own(r); /* stale (rank 0 listens before it unlocks) */
		else if (err != -ENOENT && err != -EAGAIN)
			return shmar__fail(r->rep, err, "cannot connect to %s: %s", r->sock_path,
					   strerror(-err));
		if (shmar__rdv_remaining_ms(r) == 0)
			return rank0_never_came(r);
		nanosleep(&(struct timespec){ .tv_nsec = backoff_ns }, NULL);
		if (backoff_ns < 50000000)
			backoff_ns *= 2;
	}
}

/* The pid of the process that listens at the other end. */
static pid_t root_pid(const struct shmar__rdv *r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (r->pids[0] > 0)
		return r->pids[0];
	return getsockopt(r->socks[0], SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

/*
 * Wait (briefly) until process pid has exited.  A dying process releases its
 * files last-opened first, so rank 0's hang-up on our connection comes
 * before its listening socket is released: probed in between, that socket
 * still accepts, and looks live.  Its pidfd turns readable only after.
 */
static void wait_exited(pid_t pid)
{
	struct pollfd pfd = { .fd = pid > 0 ? shmar__pidfd_open(pid) : -1, .events = POLLIN };

	if (pfd.fd < 0)
		return; /* gone already, or no pidfds: the sweep decides */
	poll(&pfd, 1, ROOT_EXIT_WAIT_MS);
	close(pfd.fd);
}

/* Rank 0 is gone: say so, and remove the socket file it may have left. */
static int root_gone(struct shmar__rdv *r)
{
	pid_t pid = root_pid(r);

	wait_exited(pid);
	shmar__rdv_sweep_own(r);
	return shmar__fail(r->rep, -EOWNERDEAD, "rank 0 (pid %d) died or left while the job formed",
			   (int)pid);
}

/* Rank 0's next message, waiting until the deadline; fd only with WELCOME. */
static int recv_from_root(struct shmar__rdv *r, struct shmar__msg *m, int *fd)
{
	struct pollfd pfd = { .fd = r->socks[0], .events = POLLIN };
	ssize_t n;
	int wait_ms;

	for (;;) {
		wait_ms = shmar__rdv_remaining_ms(r);
		if (wait_ms == 0)
			return shmar__fail(r->rep, -ETIMEDOUT, "rank 0 (pid %d) did not answer in time",
					   (int)root_pid(r));
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
			return shmar__fail(r->rep, -errno, "poll: %s", strerror(errno));
		n = shmar__rdv_recv(r->socks[0], m, fd);
		/*
		 * A reset is reported once, ahead of what is still queued: when
		 * rank 0 refused us and closed before reading all we sent, its
		 * REJECT or FAIL is behind the error.  Read once more for it.
		 */
		if (n == -ECONNRESET)
			n = shmar__rdv_recv(r->socks[0], m, fd);
		if (n == -EAGAIN)
			continue;
		if (n == 0 || n == -ECONNRESET)
			return root_gone(r);
		if (n == -EMFILE)
			return shmar__rdv_fail_fds(r, -EMFILE, "cannot receive the segment");
		if (n < 0)
			return shmar__fail(r->rep, -EPROTO, "malformed message from rank 0: %s",
					   strerror((int)-n));
		if (shmar__msg_check_frame(m, (size_t)n) < 0) {
			if (fd && *fd >= 0) {
				close(*fd);
				*fd = -1;
			}
			return shmar__fail(r->rep, -EPROTO, "rank 0 sent a malformed message");
		}
		return 0;
	}
}

/* REJECT or FAIL: rank 0's reason is this rank's. */
static int refused(struct shmar__rdv *r, const struct shmar__msg *m)
{
	int err = m->status < 0 ? m->status : -EPROTO;

	if (m->type == SHMAR_MSG_REJECT)
		return shmar__fail(r->rep, err, "rank 0 refused this rank: %s", m->reason);
	return shmar__fail(r->rep, err, "the job failed to form: %s", m->reason);
}

/* Rank 0 closed on us before reading our hello: why, if it said so. */
static int root_said_why(struct shmar__rdv *r)
{
	struct shmar__msg m;
	int err = recv_from_root(r, &m, NULL);

	if (err < 0)
		return err; /* it said nothing: gone */
	if (m.type == SHMAR_MSG_REJECT || m.type == SHMAR_MSG_FAIL)
		return refused(r, &m);
	return shmar__fail(r->rep, -EPROTO, "unexpected message type %u from rank 0", m.type);
}

int shmar__rdv_connect(struct shmar__rdv *r, const char *token)
{
	struct shmar__msg m;
	int err, fd = -1;

	err = connect_to_root(r, &fd);
	if (err < 0)
		return err;
	r->socks[0] = fd;
	shmar__msg_init(&m, SHMAR_MSG_HELLO);
	m.nranks = (uint32_t)r->nranks;
	m.rank = (uint32_t)r->rank;
	m.pid = (uint32_t)getpid();
	shmar__cpus_own(m.cpus);
	if (token)
		strncpy(m.token, token, SHMAR_TOKEN_MAX);
	err = shmar__rdv_send(r, fd, &m, -1);
	/* rank 0 may have failed the job and closed: its FAIL is queued for us */
	if (err == -EPIPE || err == -ECONNRESET)
		return root_said_why(r);
	if (err < 0)
		return shmar__fail(r->rep, err, "cannot send hello to rank 0: %s", strerror(-err));
	/*
	 * From now on rank 0 decides.  It fails the job at its own deadline,
	 * about ours, naming the ranks that never came: give it the time to
	 * say so, rather than leave a moment earlier and be taken for the
	 * rank that left.
	 */
	r->deadline_ns = shmar__deadline(r->deadline_ns, ROOT_VERDICT_GRACE_MS * SHMAR_NS_PER_MS);
	return 0;
}

int shmar__rdv_recv_welcome(struct shmar__rdv *r, int *memfd, size_t *seg_bytes)
{
	struct shmar__msg m;
	int fd = -1, err;

	err = recv_from_root(r, &m, &fd);
	/*
	 * The welcome came but this rank cannot take it (its memfd did not
	 * fit, or it does not check out): say why in the READY, so rank 0
	 * fails the job with this cause instead of seeing us leave.
	 */
	if (err == -EMFILE)
		return shmar__rdv_ready_and_go(r, err);
	if (err < 0)
		return err;
	if (m.type == SHMAR_MSG_REJECT || m.type == SHMAR_MSG_FAIL) {
		if (fd >= 0)
			close(fd);
		return refused(r, &m);
	}
	err = shmar__msg_check_welcome(&m, (uint32_t)r->nranks, (uint32_t)r->rank,
				       (uint32_t)getpid(), r->rep);
	if (err == 0 && fd < 0)
		err = shmar__fail(r->rep, -EPROTO, "no segment came with the welcome");
	if (err < 0) {
		if (fd >= 0)
			close(fd);
		return shmar__rdv_ready_and_go(r, err);
	}
	for (int k = 0; k < r->nranks; k++)
		r->pids[k] = (pid_t)m.pids[k];
	*memfd = fd;
	*seg_bytes = (size_t)m.seg_bytes;
	return 0;
}

int shmar__rdv_ready_and_go(struct shmar__rdv *r, int status)
{
	struct shmar__msg m;
	int err;

	shmar__msg_init(&m, SHMAR_MSG_READY);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	m.rank = (uint32_t)r->rank;
	m.pid = (uint32_t)getpid();
	shmar__msg_set_reason(&m, status ? r->rep->text : "");
	err = shmar__rdv_send(r, r->socks[0], &m, -1);
	if (status < 0)
		return status; /* rank 0 fails the job with our reason */
	/*
	 * Even when the send failed (rank 0 already failed the job and
	 * closed): its FAIL is queued for us, and says why.
	 */
	if (err < 0 && err != -EPIPE && err != -ECONNRESET)
		return shmar__fail(r->rep, err, "cannot tell rank 0 this rank is ready: %s",
				   strerror(-err));
	err = recv_from_root(r, &m, NULL);
	if (err < 0)
		return err;
	if (m.type == SHMAR_MSG_GO)
		return 0;
	if (m.type == SHMAR_MSG_FAIL || m.type == SHMAR_MSG_REJECT)
		return refused(r, &m);
	return shmar__fail(r->rep, -EPROTO, "unexpected message type %u from rank 0", m.type);
}
