/* SPDX-License-Identifier: MIT */
/*
 * rendezvous.c - sending and receiving rendezvous messages (rendezvous.h).
 *
 * Every socket is non-blocking; a send waits for room with poll() until the
 * init deadline, a receive never waits (the callers poll).  One fixed-size
 * message per step, validated by rendezvous-msg.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "rendezvous.h"
#include "rendezvous-msg.h"

/* File descriptors a message may carry before we notice: any unwanted one
 * is a reason to drop the message. */
#define CMSG_FDS_MAX 8

int shmar__rdv_remaining_ms(const struct shmar__rdv *r)
{
	uint64_t now = shmar__now_ns();

	if (now >= r->deadline_ns)
		return 0;
	if (r->deadline_ns - now > (uint64_t)INT32_MAX * SHMAR_NS_PER_MS)
		return INT32_MAX;
	return (int)((r->deadline_ns - now + SHMAR_NS_PER_MS - 1) / SHMAR_NS_PER_MS);
}

int shmar__rdv_send(struct shmar__rdv *r, int sock, const struct shmar__msg *m, int passfd)
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
		if (poll(&pfd, 1, shmar__rdv_remaining_ms(r)) == 0)
			return -ETIMEDOUT;
	}
}

void shmar__rdv_send_status(struct shmar__rdv *r, int sock, int type, int status,
			    const char *reason)
{
	struct shmar__msg m;

	shmar__msg_init(&m, (enum shmar__msg_type)type);
	m.status = status;
	m.nranks = (uint32_t)r->nranks;
	shmar__msg_set_reason(&m, reason);
	/* Best effort: the receiver may already be gone. */
	send(sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Close every fd that came with a message except the first when one is wanted. */
static int take_fds(struct msghdr *mh, bool want_fd, int *kept)
{
	int nfds = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (want_fd && *kept < 0 && nfds == 0)
				*kept = fd;
			else
				close(fd);
			nfds++;
		}
	}
	return nfds;
}

ssize_t shmar__rdv_recv(int sock, struct shmar__msg *m, int *want_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int nfds, kept = -1;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	nfds = take_fds(&mh, want_fd != NULL, &kept);
	/* The kernel truncates the fds it cannot install: out of descriptors. */
	if (want_fd && nfds == 0 && (mh.msg_flags & MSG_CTRUNC))
		return -EMFILE;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > (want_fd ? 1 : 0)) {
		if (kept >= 0)
			close(kept);
		return -EBADMSG;
	}
	if (want_fd)
		*want_fd = kept;
	return n;
}

int shmar__rdv_fail_fds(struct shmar__rdv *r, int err, const char *what)
{
	return shmar__fail_fds(r->rep, err, what, r->nranks);
}
