/* SPDX-License-Identifier: MIT */
/*
 * comm.c - communicator lifecycle: init, destroy, abort, revocation.
 *
 * Forming a job (rank 0):  listen, make and map the segment, gather every
 * rank, hand out the memfd, wait until every rank mapped it, say go.
 * Joining (other ranks):   connect, hello, receive and verify the memfd, map,
 * touch the own pages, say ready, wait for go.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmar-private.h"
#include "rendezvous.h"
#include "cpus.h"

/*
 * Bumped in every child after fork(): a comm remembers the generation it was
 * made in, so a child using its parent's comm is caught without a getpid()
 * system call on every collective.
 */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static bool valid_job_name(const char *job)
{
	size_t n = 0;

	if (!job)
		return false;
	for (const char *p = job; *p; p++, n++) {
		char c = *p;

		if (n >= SHMAR_JOB_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && strcmp(job, ".") != 0 && strcmp(job, "..") != 0;
}

static struct shmar__ctl *own_ctl(struct shmar_comm *comm)
{
	return shmar__seg_ctl(comm->base, &comm->layout, (unsigned)comm->rank);
}

/* ---------------------------------------------------------------- forming */

/* Rank 0 decides what every rank must agree on: the job's CPUs and small_max. */
static void publish_job_shape(struct shmar_comm *comm, const struct shmar__rdv *rdv)
{
	struct shmar__seg_header *h = shmar__seg_hdr(comm->base);

	h->job_cpus = shmar__cpus_count(rdv->cpus);
	comm->set.small_max = shmar__cpus_small_max(comm->set.small_max, comm->nranks,
						    shmar__cpus_of_job(h->job_cpus),
						    comm->layout.slot_bytes);
	h->small_max = comm->set.small_max;
}

static int form_as_root(struct shmar_comm *comm, struct shmar__rdv *rdv, char *why, size_t len)
{
	int memfd, err;

	if (comm->nranks > 1) {
		err = shmar__rdv_listen(rdv);
		if (err < 0)
			return snprintf(why, len, "%s", rdv->why), err;
	}
	memfd = shmar__segment_create(comm->job, &comm->layout);
	if (memfd < 0)
		return snprintf(why, len, "cannot create a %zu-byte segment: %s",
				comm->layout.total_bytes, strerror(-memfd)), memfd;
	err = shmar__segment_map(memfd, comm->layout.total_bytes, &comm->base);
	if (err < 0) {
		close(memfd);
		return snprintf(why, len, "cannot map the segment: %s", strerror(-err)), err;
	}
	shmar__segment_header_init(comm->base, &comm->layout, 0);
	shmar__segment_touch_own(comm->base, &comm->layout, 0);
	if (comm->nranks == 1) {
		close(memfd);
		rdv->pids[0] = getpid();
		shmar__cpus_own(rdv->cpus);
		publish_job_shape(comm, rdv);
		return 0;
	}
	err = shmar__rdv_gather(rdv, comm->set.token);
	if (err == 0) {
		/* before the welcome: every rank reads it once it has mapped the segment */
		publish_job_shape(comm, rdv);
		err = shmar__rdv_send_welcome(rdv, memfd, comm->layout.total_bytes);
	}
	close(memfd); /* every rank has its own reference now */
	if (err == 0)
		err = shmar__rdv_collect_ready(rdv);
	if (err < 0) {
		shmar__rdv_finish(rdv, err, rdv->why);
		return snprintf(why, len, "%s", rdv->why), err;
	}
	err = shmar__rdv_finish(rdv, 0, NULL);
	if (err < 0)
		return snprintf(why, len, "%s", rdv->why), err;
	return 0;
}

/* Verify, map and check what rank 0 sent; tell rank 0 how it went. */
static int map_received(struct shmar_comm *comm, int memfd, size_t seg_bytes, char *why,
			size_t len)
{
	size_t small_max;
	int err;

	err = shmar__segment_verify(memfd, seg_bytes);
	if (err < 0)
		return snprintf(why, len, "the segment from rank 0 is not sealed as expected"), err;
	err = shmar__segment_map(memfd, seg_bytes, &comm->base);
	if (err < 0)
		return snprintf(why, len, "cannot map the segment: %s", strerror(-err)), err;
	comm->layout.total_bytes = seg_bytes;
	err = shmar__segment_header_check(comm->base, seg_bytes, (unsigned)comm->nranks,
					  &comm->layout, &small_max);
	if (err < 0)
		return snprintf(why, len, "the segment header from rank 0 is inconsistent"), err;
	comm->set.small_max = small_max;
	comm->set.slot_bytes = comm->layout.slot_bytes;
	return shmar__segment_touch_own(comm->base, &comm->layout, (unsigned)comm->rank);
}

static int join_as_peer(struct shmar_comm *comm, struct shmar__rdv *rdv, char *why, size_t len)
{
	size_t seg_bytes = 0;
	int memfd = -1, err;

	err = shmar__rdv_connect(rdv, comm->set.token);
	if (err == 0)
		err = shmar__rdv_recv_welcome(rdv, &memfd, &seg_bytes);
	if (err < 0)
		return snprintf(why, len, "%s", rdv->why), err;
	err = map_received(comm, memfd, seg_bytes, why, len);
	close(memfd);
	if (err < 0) {
		shmar__rdv_send_ready(rdv, err, why);
		return err;
	}
	err = shmar__rdv_send_ready(rdv, 0, NULL);
	if (err == 0)
		err = shmar__rdv_recv_go(rdv);
	if (err < 0)
		return snprintf(why, len, "%s", rdv->why), err;
	return 0;
}

/* Keep the rendezvous connections: they outlive the job's forming. */
static int adopt_sockets(struct shmar_comm *comm, struct shmar__rdv *rdv)
{
	comm->nsocks = comm->rank == 0 ? comm->nranks : 1;
	comm->socks = malloc((size_t)comm->nsocks * sizeof(int));
	if (!comm->socks)
		return -ENOMEM;
	for (int i = 0; i < comm->nsocks; i++) {
		comm->socks[i] = rdv->socks[i];
		rdv->socks[i] = -1;
	}
	return 0;
}

static void setup_waits(struct shmar_comm *comm)
{
	struct shmar__waitctx *w = &comm->wait;

	w->abort_word = &shmar__seg_hdr(comm->base)->abort_word;
	w->spin_ns = (uint64_t)comm->set.spin_us * 1000;
	w->yield = comm->nranks > shmar__cpus_of_job(shmar__seg_hdr(comm->base)->job_cpus);
	w->timeout_ns = (uint64_t)comm->set.timeout_ms * 1000000;
	w->slice_ns = SHMAR_SLICE_NS;
	w->live = &comm->live;
	w->stats = &comm->stats;
}

static int comm_open(struct shmar_comm *comm, char *why, size_t len)
{
	struct shmar__rdv rdv;
	char dir[sizeof(comm->set.dir)];
	const char *dir_source;
	uint64_t deadline;
	int err, bad_rank = -1;

	err = shmar__kernels_select(comm->set.isa, &comm->kern);
	if (err < 0)
		return snprintf(why, len, "SHMAR_ISA=%s: %s", shmar__isa_name(comm->set.isa),
				err == -ENOTSUP ? "this CPU lacks it" : "unknown"), err;
	err = shmar__layout_compute((unsigned)comm->nranks, comm->set.slot_bytes, &comm->layout);
	if (err < 0)
		return snprintf(why, len, "segment of %d ranks x 2 x %zu bytes is too large",
				comm->nranks, comm->set.slot_bytes), err;
	err = shmar__rdv_dir_resolve(comm->set.dir, dir, sizeof(dir), &dir_source);
	if (err < 0)
		return snprintf(why, len, "%s", err == -EINVAL
				? "the rendezvous directory (dir, SHMAR_DIR) must be an absolute path"
				: "the rendezvous directory path is too long"), err;

	deadline = comm->set.init_timeout_ms
			   ? shmar__now_ns() + (uint64_t)comm->set.init_timeout_ms * 1000000
			   : UINT64_MAX;
	shmar__rdv_init(&rdv, comm->nranks, comm->rank, deadline);
	err = shmar__rdv_open_dir(&rdv, dir, comm->job);
	if (err < 0) {
		snprintf(why, len, "%s", rdv.why);
		goto out;
	}
	err = comm->rank == 0 ? form_as_root(comm, &rdv, why, len)
			      : join_as_peer(comm, &rdv, why, len);
	if (err < 0)
		goto out;
	err = adopt_sockets(comm, &rdv);
	if (err < 0)
		goto out;
	err = shmar__liveness_init(&comm->live, comm->nranks, comm->rank, rdv.pids, rdv.pidfds,
				   &bad_rank);
	if (err < 0) {
		snprintf(why, len, "cannot watch rank %d (pid %d): %s", bad_rank,
			 bad_rank >= 0 ? (int)rdv.pids[bad_rank] : 0, strerror(-err));
		goto out;
	}
	err = shmar__liveness_ring_open(&comm->live, comm->set.io_uring, why, len);
	if (err < 0)
		goto out;
	shmar__liveness_watch(&comm->live);
	own_ctl(comm)->pid = (uint32_t)getpid();
	atomic_store_explicit(&own_ctl(comm)->state, SHMAR_RANK_ACTIVE, memory_order_release);
	shmar__segment_prefault_peers(comm->base, &comm->layout, (unsigned)comm->rank);
	setup_waits(comm);
out:
	shmar__rdv_fini(&rdv);
	return err;
}

static void comm_free(struct shmar_comm *comm)
{
	if (comm->socks)
		for (int i = 0; i < comm->nsocks; i++)
			if (comm->socks[i] >= 0)
				close(comm->socks[i]);
	free(comm->socks);
	shmar__liveness_fini(&comm->live);
	shmar__segment_unmap(comm->base, comm->layout.total_bytes);
	free(comm);
}

SHMAR_EXPORT int shmar_comm_init(struct shmar_comm **out, const char *job, int nranks, int rank,
				 const struct shmar_config *cfg)
{
	char why[SHMAR_ERRMSG_MAX] = "";
	struct shmar_comm *comm;
	int err;

	shmar__clear_init_error();
	if (!out)
		return shmar__fail_init(-EINVAL, "comm pointer is NULL");
	*out = NULL;
	if (nranks < 1 || nranks > SHMAR_MAX_RANKS)
		return shmar__fail_init(-EINVAL, "nranks %d outside 1..%d", nranks, SHMAR_MAX_RANKS);
	if (rank < 0 || rank >= nranks)
		return shmar__fail_init(-EINVAL, "rank %d outside 0..%d", rank, nranks - 1);
	if (!valid_job_name(job))
		return shmar__fail_init(-EINVAL, "job name must match [A-Za-z0-9._-]{1,%d}",
					SHMAR_JOB_MAX);
	comm = calloc(1, sizeof(*comm));
	if (!comm)
		return shmar__fail_init(-ENOMEM, "out of memory");
	comm->rank = rank;
	comm->nranks = nranks;
	snprintf(comm->job, sizeof(comm->job), "%s", job);
	err = shmar__settings_resolve(cfg, &comm->set, why, sizeof(why));
	if (err == 0) {
		pthread_once(&atfork_once, register_atfork);
		comm->fork_gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
		err = comm_open(comm, why, sizeof(why));
	}
	if (err < 0) {
		comm_free(comm);
		return shmar__fail_init(err, "job %s rank %d: %s", job, rank, why);
	}
	*out = comm;
	return 0;
}

/* torchrun's variables: a job named after the master port, so runs never collide. */
static int env_torchrun(const char **job, char *buf, size_t len, int *nranks, int *rank)
{
	const char *lr = getenv("LOCAL_RANK"), *lws = getenv("LOCAL_WORLD_SIZE");
	const char *port = getenv("MASTER_PORT");

	if (!lr || !lws)
		return -EINVAL;
	*rank = atoi(lr);
	*nranks = atoi(lws);
	snprintf(buf, len, "torch-%s", port && *port ? port : "0");
	*job = buf;
	return 0;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

SHMAR_EXPORT int shmar_comm_init_env(struct shmar_comm **comm)
{
	const char *job = getenv("SHMAR_JOB"), *n = getenv("SHMAR_NRANKS"), *r = getenv("SHMAR_RANK");
	char torch_job[SHMAR_JOB_MAX + 1];
	int nranks, rank;

	shmar__clear_init_error();
	if (!comm)
		return shmar__fail_init(-EINVAL, "comm pointer is NULL");
	*comm = NULL;
	if (job && n && r) {
		if (parse_int(n, &nranks) < 0 || parse_int(r, &rank) < 0)
			return shmar__fail_init(-EINVAL, "SHMAR_NRANKS=%s SHMAR_RANK=%s are not numbers",
						n, r);
	} else if (env_torchrun(&job, torch_job, sizeof(torch_job), &nranks, &rank) < 0) {
		return shmar__fail_init(-EINVAL,
					"set SHMAR_JOB, SHMAR_NRANKS and SHMAR_RANK (or torchrun's LOCAL_RANK and LOCAL_WORLD_SIZE)");
	}
	return shmar_comm_init(comm, job, nranks, rank, NULL);
}

SHMAR_EXPORT int shmar_comm_rank(const struct shmar_comm *comm)
{
	return comm ? comm->rank : -EINVAL;
}

SHMAR_EXPORT int shmar_comm_size(const struct shmar_comm *comm)
{
	return comm ? comm->nranks : -EINVAL;
}

static bool forked_away(const struct shmar_comm *comm)
{
	return atomic_load_explicit(&fork_generation, memory_order_relaxed) != comm->fork_gen;
}

/* Wake every sleeper of the job so it looks at the abort word. */
static void wake_everyone(struct shmar_comm *comm)
{
	for (int r = 0; r < comm->nranks; r++) {
		struct shmar__ctl *ctl = shmar__seg_ctl(comm->base, &comm->layout, (unsigned)r);

		shmar__wake_all(&comm->wait, &ctl->post, &ctl->sleepers);
	}
}

/* Describe the abort word, as every rank sees it. */
static int revoke_from_word(struct shmar_comm *comm, uint32_t word)
{
	int err = -SHMAR_ABORT_ERR(word), who = SHMAR_ABORT_RANK(word);
	unsigned pid = who >= 0 && who < comm->nranks ? (unsigned)comm->live.pids[who] : 0;

	comm->revoked = err;
	switch (-err) {
	case EOWNERDEAD:
		return shmar__fail(comm, err, "rank %d (pid %u) died or left the job", who, pid);
	case ECANCELED:
		return shmar__fail(comm, err, "rank %d (pid %u) aborted the job", who, pid);
	case ETIMEDOUT:
		return shmar__fail(comm, err, "rank %d (pid %u) did not arrive before the deadline",
				   who, pid);
	case EPROTO:
		return shmar__fail(comm, err, "ranks called different collectives (seen by rank %d)",
				   who);
	default:
		comm->revoked = -EPROTO;
		return shmar__fail(comm, -EPROTO, "corrupted abort word 0x%08x", word);
	}
}

/*
 * Raise the job's abort word with err and rank (the first reason wins), wake
 * every sleeper, and revoke this comm with whatever the word now says.
 */
int shmar__revoke(struct shmar_comm *comm, int err, int rank)
{
	struct shmar__seg_header *h = shmar__seg_hdr(comm->base);
	uint32_t expected = 0, word = SHMAR_ABORT_ENCODE(-err, rank);

	if (!atomic_compare_exchange_strong(&h->abort_word, &expected, word))
		word = expected;
	wake_everyone(comm);
	return revoke_from_word(comm, word);
}

int shmar__abort_status(struct shmar_comm *comm)
{
	uint32_t word = atomic_load_explicit(&shmar__seg_hdr(comm->base)->abort_word,
					     memory_order_acquire);

	return word ? revoke_from_word(comm, word) : 0;
}

int shmar__enter(struct shmar_comm *comm)
{
	if (!comm)
		return -EINVAL;
	if (forked_away(comm))
		return -ECHILD; /* never touch the parent's job from a child */
	if (atomic_exchange_explicit(&comm->busy, 1, memory_order_acquire))
		return -EBUSY;
	if (comm->revoked) {
		atomic_store_explicit(&comm->busy, 0, memory_order_release);
		return comm->revoked;
	}
	if (atomic_load_explicit(comm->wait.abort_word, memory_order_relaxed)) {
		int err = shmar__abort_status(comm);

		atomic_store_explicit(&comm->busy, 0, memory_order_release);
		return err;
	}
	comm->wait.deadline_ns = 0;
	return 0;
}

void shmar__leave(struct shmar_comm *comm)
{
	atomic_store_explicit(&comm->busy, 0, memory_order_release);
}

SHMAR_EXPORT int shmar_comm_abort(struct shmar_comm *comm)
{
	if (!comm)
		return -EINVAL;
	if (forked_away(comm))
		return -ECHILD;
	/* No lock, no wait: safe from a signal handler or a watchdog thread. */
	shmar__revoke(comm, -ECANCELED, comm->rank);
	return 0;
}

SHMAR_EXPORT int shmar_comm_destroy(struct shmar_comm *comm)
{
	if (!comm)
		return 0;
	if (!forked_away(comm)) {
		struct shmar__ctl *ctl = own_ctl(comm);

		/* Peers still waiting on this rank learn it left instead of timing out. */
		atomic_store_explicit(&ctl->state, SHMAR_RANK_LEFT, memory_order_release);
		shmar__wake_all(&comm->wait, &ctl->post, &ctl->sleepers);
	}
	comm_free(comm);
	return 0;
}

const struct shmar__stats *shmar__comm_stats(const struct shmar_comm *comm)
{
	return &comm->stats;
}
