/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the io_uring liveness watcher and futex sleeper (see ring.h).
 *
 * Debian 12's liburing (2.3) has no futex helpers, so the FUTEX_WAIT SQE is
 * filled by hand with the layout of Linux 6.7's io_uring/futex.c: futex2
 * flags in fd, address in addr, expected value in addr2, mask in addr3.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#ifdef HAVE_LIBURING
#include <liburing.h>

#define OP_FUTEX_WAIT 51          /* IORING_OP_FUTEX_WAIT, Linux 6.7 */
#define FUTEX2_SIZE_U32 0x02      /* shared: no FUTEX2_PRIVATE, the word is in a memfd */
#define FUTEX_MATCH_ANY 0xffffffffull

/* user_data tags: what a completion is about */
#define TAG_FUTEX (1ull << 62)
#define TAG_GONE (1ull << 61)   /* a pidfd or a connection of the rank in the low bits */
#define TAG_CANCEL (1ull << 60)

struct shmar__ring {
	struct io_uring uring;
	bool *exited;
	bool futex_queued;
	_Atomic uint32_t *futex_word;
};

static bool futex_opcode_supported(struct io_uring *uring)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(uring);
	bool ok;

	if (!probe)
		return false;
	ok = io_uring_opcode_supported(probe, OP_FUTEX_WAIT);
	io_uring_free_probe(probe);
	return ok;
}

static struct io_uring_sqe *get_sqe(struct shmar__ring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->uring);

	if (!sqe) { /* full: push what is queued and try again */
		io_uring_submit(&ring->uring);
		sqe = io_uring_get_sqe(&ring->uring);
	}
	return sqe;
}

static void handle(struct shmar__ring *ring, const struct io_uring_cqe *cqe)
{
	uint64_t tag = cqe->user_data;

	if (tag & TAG_FUTEX)
		ring->futex_queued = false;
	else if (tag & TAG_GONE)
		__atomic_store_n(&ring->exited[tag & 0xffff], true, __ATOMIC_RELEASE);
}

void shmar__ring_reap(struct shmar__ring *ring)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&ring->uring, &cqe) == 0) {
		handle(ring, cqe);
		io_uring_cqe_seen(&ring->uring, cqe);
	}
}

static int watch_fd(struct shmar__ring *ring, int fd, unsigned events, int rank)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events);
	sqe->user_data = TAG_GONE | (uint64_t)rank;
	return 0;
}

int shmar__ring_open(struct shmar__ring **out, const int *pidfds, const int *socks, int nranks,
		     int self, bool *exited)
{
	struct shmar__ring *ring = calloc(1, sizeof(*ring));
	int err = 0;

	if (!ring)
		return -ENOMEM;
	ring->exited = exited;
	/* two polls per peer, a futex wait and its cancel */
	err = io_uring_queue_init(2 * (unsigned)nranks + 8, &ring->uring, 0);
	if (err < 0) {
		free(ring);
		return err;
	}
	if (!futex_opcode_supported(&ring->uring))
		err = -ENOTSUP;
	for (int r = 0; r < nranks && err == 0; r++) {
		if (r == self)
			continue;
		if (pidfds[r] >= 0)
			err = watch_fd(ring, pidfds[r], POLLIN, r);
		if (err == 0 && socks[r] >= 0)
			err = watch_fd(ring, socks[r], POLLRDHUP | POLLHUP, r);
	}
	if (err == 0) {
		err = io_uring_submit(&ring->uring);
		err = err < 0 ? err : 0;
	}
	if (err < 0) {
		shmar__ring_close(ring);
		return err;
	}
	*out = ring;
	return 0;
}

int shmar__ring_probe(bool *futex_wait)
{
	struct io_uring uring;
	int err = io_uring_queue_init(4, &uring, 0);

	*futex_wait = false;
	if (err < 0)
		return err;
	*futex_wait = futex_opcode_supported(&uring);
	io_uring_queue_exit(&uring);
	return 0;
}

void shmar__ring_close(struct shmar__ring *ring)
{
	if (!ring)
		return;
	io_uring_queue_exit(&ring->uring);
	free(ring);
}

static void queue_futex_wait(struct shmar__ring *ring, _Atomic uint32_t *word, uint32_t seen)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	if (!sqe)
		return;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = OP_FUTEX_WAIT;
	sqe->fd = FUTEX2_SIZE_U32;
	sqe->addr = (uint64_t)(uintptr_t)word;
	sqe->addr2 = seen;
	sqe->addr3 = FUTEX_MATCH_ANY;
	sqe->user_data = TAG_FUTEX;
	ring->futex_queued = true;
	ring->futex_word = word;
}

void shmar__ring_settle(struct shmar__ring *ring)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	if (!ring || !ring->futex_queued)
		return;
	sqe = get_sqe(ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, TAG_FUTEX, 0);
	sqe->user_data = TAG_CANCEL;
	io_uring_submit(&ring->uring);
	/* The cancelled wait completes at once; bounded anyway. */
	while (ring->futex_queued &&
	       io_uring_wait_cqe_timeout(&ring->uring, &cqe, &ts) == 0)
		shmar__ring_reap(ring);
	ring->futex_queued = false;
}

void shmar__ring_sleep(struct shmar__ring *ring, _Atomic uint32_t *word, uint32_t seen,
		       uint64_t timeout_ns)
{
	struct __kernel_timespec ts = { .tv_sec = (long long)(timeout_ns / 1000000000),
					.tv_nsec = (long long)(timeout_ns % 1000000000) };
	struct io_uring_cqe *cqe;

	if (ring->futex_queued && ring->futex_word != word)
		shmar__ring_settle(ring);
	/* A wait queued with an older value is still woken by the next FUTEX_WAKE. */
	if (!ring->futex_queued)
		queue_futex_wait(ring, word, seen);
	io_uring_submit_and_wait_timeout(&ring->uring, &cqe, 1, &ts, NULL);
	shmar__ring_reap(ring);
}

#else /* !HAVE_LIBURING */

int shmar__ring_open(struct shmar__ring **out, const int *pidfds, const int *socks, int nranks,
		     int self, bool *exited)
{
	(void)out, (void)pidfds, (void)socks, (void)nranks, (void)self, (void)exited;
	return -ENOTSUP;
}

int shmar__ring_probe(bool *futex_wait)
{
	*futex_wait = false;
	return -ENOPKG;
}

void shmar__ring_close(struct shmar__ring *ring) { (void)ring; }
void shmar__ring_settle(struct shmar__ring *ring) { (void)ring; }
void shmar__ring_reap(struct shmar__ring *ring) { (void)ring; }

void shmar__ring_sleep(struct shmar__ring *ring, _Atomic uint32_t *word, uint32_t seen,
		       uint64_t timeout_ns)
{
	(void)ring, (void)word, (void)seen, (void)timeout_ns;
}

#endif /* HAVE_LIBURING */
