/* SPDX-License-Identifier: MIT */
/*
 * comm.c - communicator lifecycle: init, destroy, abort.
 *
 * Forming a job (rank 0):  listen, make and map the segment, gather every
 * rank, hand out the memfd and the pids, watch the peers, wait until every
 * rank mapped the segment and watches its peers, then say go (or fail, with
 * the first reason, to everyone).
 * Joining (other ranks):   connect, hello, receive and verify the memfd, map,
 * touch the own pages, watch the peers, say ready (or why not), wait for go.
 *
 * Everything that can fail happens before the go, so shmar_comm_init()
 * succeeds on a rank only when it succeeded on every rank.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comm.h"
#include "cpus.h"
#include "rendezvous.h"

atomic_uint shmar__fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&shmar__fork_generation, 1, memory_order_relaxed);
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

/* ---------------------------------------------------------------- forming */

/* Rank 0: the sealed memfd, mapped, its header written and own pages touched. */
static int make_segment(struct shmar_comm *comm, struct shmar__layout *l, struct shmar__rdv *rdv,
			int *memfd)
{
	int fd = shmar__segment_create(comm->job, l), err;

	if (fd == -EMFILE || fd == -ENFILE) /* say which limit, and how much is needed */
		return shmar__rdv_fail_fds(rdv, fd, "cannot create the segment");
	if (fd < 0)
		return shmar__fail(&comm->report, fd, "cannot create a %zu-byte segment: %s",
				   l->total_bytes, strerror(-fd));
	err = shmar__segment_map(fd, l->total_bytes, &comm->chan.base);
	if (err < 0) {
		close(fd);
		return shmar__fail(&comm->report, err, "cannot map the segment: %s", strerror(-err));
	}
	shmar__segment_header_init(comm->chan.base, l, 0);
	shmar__segment_touch_own(comm->chan.base, l, 0);
	*memfd = fd;
	return 0;
}

/* Rank 0 decides what every rank must agree on: the job's CPUs and small_max. */
static void publish_job_shape(struct shmar_comm *comm, const struct shmar__layout *l,
			      const struct shmar__rdv *rdv)
{
	struct shmar__seg_header *h = shmar__seg_hdr(comm->chan.base);

	h->job_cpus = shmar__cpus_count(rdv->cpus);
	comm->set.small_max = shmar__cpus_small_max(comm->set.small_max, comm->nranks,
						    shmar__cpus_of_job(h->job_cpus), l->slot_bytes);
	h->small_max = comm->set.small_max;
}

/* Watch every peer: pidfds (adopted from rdv where rank 0 got them) and the
 * rendezvous connections, which stay open as part of the watch. */
static int watch_peers(struct shmar_comm *comm, struct shmar__rdv *rdv)
{
	int err = shmar__liveness_init(&comm->live, comm->nranks, comm->rank, rdv->pids,
				       rdv->pidfds, rdv->socks, &comm->report);

	return err < 0 ? err : shmar__liveness_start(&comm->live, comm->set.io_uring, &comm->report);
}

/*
 * What a rank sets up for itself once the segment is mapped: its heap of
 * registered buffers and its helper threads.  Before READY, like everything
 * that can fail.
 */
static int prepare_rank(struct shmar_comm *comm, const struct shmar__layout *l)
{
	int err;

	comm->heap_faulted = calloc((size_t)comm->nranks, sizeof(*comm->heap_faulted));
	err = comm->heap_faulted ? shmar__heap_init(&comm->heap,
						    shmar__seg_heap(comm->chan.base, l, (unsigned)comm->rank),
						    l->heap_bytes)
				 : -ENOMEM;
	if (err < 0)
		return shmar__fail(&comm->report, err, "out of memory");
	if (comm->set.threads == 0)
		return 0;
	err = shmar__pool_start(&comm->pool, comm->set.threads);
	if (err < 0)
		return shmar__fail(&comm->report, err, "cannot start %d helper threads: %s",
				   comm->set.threads, strerror(-err));
	return 0;
}

static int form_alone(struct shmar_comm *comm, struct shmar__layout *l, struct shmar__rdv *rdv)
{
	int memfd, err = make_segment(comm, l, rdv, &memfd);

	if (err < 0)
		return err;
	close(memfd); /* the mapping keeps it */
	rdv->pids[0] = getpid();
	shmar__cpus_own(rdv->cpus);
	publish_job_shape(comm, l, rdv);
	err = shmar__liveness_init(&comm->live, 1, 0, rdv->pids, NULL, rdv->socks, &comm->report);
	return err < 0 ? err : prepare_rank(comm, l);
}

static int form_as_root(struct shmar_comm *comm, struct shmar__layout *l, struct shmar__rdv *rdv)
{
	int memfd = -1, err;

	if (comm->nranks == 1)
		return form_alone(comm, l, rdv);
	err = shmar__rdv_listen(rdv);
	if (err < 0)
		return err;
	err = make_segment(comm, l, rdv, &memfd);
	if (err == 0)
		err = shmar__rdv_gather(rdv, comm->set.token); /* tells everyone when it fails */
	else
		shmar__rdv_refuse_all(rdv, err);
	if (err < 0)
		goto out;
	/* before the welcome: every rank reads it once it has mapped the segment */
	publish_job_shape(comm, l, rdv);
	err = shmar__rdv_send_welcome(rdv, memfd, l->total_bytes);
	if (err == 0)
		err = watch_peers(comm, rdv);
	if (err == 0)
		err = prepare_rank(comm, l);
	if (err == 0)
		err = shmar__rdv_collect_ready(rdv);
	shmar__rdv_finish(rdv, err);
out:
	if (memfd >= 0)
		close(memfd); /* every rank has its own reference now */
	return err;
}

/* Verify, map and check what rank 0 sent. */
static int map_received(struct shmar_comm *comm, struct shmar__layout *l, int memfd,
			size_t seg_bytes)
{
	size_t small_max;
	int err;

	err = shmar__segment_verify(memfd, seg_bytes);
	if (err < 0)
		return shmar__fail(&comm->report, err, "the segment from rank 0 is not sealed as expected");
	err = shmar__segment_map(memfd, seg_bytes, &comm->chan.base);
	if (err < 0)
		return shmar__fail(&comm->report, err, "cannot map the segment: %s", strerror(-err));
	l->total_bytes = seg_bytes;
	err = shmar__segment_header_check(comm->chan.base, seg_bytes, (unsigned)comm->nranks, l,
					  &small_max);
	if (err < 0)
		return shmar__fail(&comm->report, err, "the segment header from rank 0 is inconsistent");
	comm->set.small_max = small_max;
	comm->set.slot_bytes = l->slot_bytes;
	comm->set.chunk_bytes = l->chunk_bytes;
	comm->set.mem_bytes = l->heap_bytes;
	return shmar__segment_touch_own(comm->chan.base, l, (unsigned)comm->rank);
}

static int join_as_peer(struct shmar_comm *comm, struct shmar__layout *l, struct shmar__rdv *rdv)
{
	size_t seg_bytes = 0;
	int memfd = -1, err;

	err = shmar__rdv_connect(rdv, comm->set.token);
	if (err == 0)
		err = shmar__rdv_recv_welcome(rdv, &memfd, &seg_bytes);
	if (err < 0)
		return err;
	err = map_received(comm, l, memfd, seg_bytes);
	close(memfd);
	if (err == 0)
		err = watch_peers(comm, rdv);
	if (err == 0)
		err = prepare_rank(comm, l);
	return shmar__rdv_ready_and_go(rdv, err);
}

/* The connections outlive the rendezvous: the comm owns them from now on. */
static int adopt_sockets(struct shmar_comm *comm, struct shmar__rdv *rdv)
{
	comm->socks = malloc((size_t)comm->nranks * sizeof(int));
	if (!comm->socks)
		return shmar__fail(&comm->report, -ENOMEM, "out of memory");
	for (int r = 0; r < comm->nranks; r++) {
		comm->socks[r] = rdv->socks[r];
		rdv->socks[r] = -1;
	}
	return 0;
}

static void start_channel(struct shmar_comm *comm, const struct shmar__layout *l)
{
	struct shmar__chan_waits waits = {
		.spin_us = comm->set.spin_us,
		.timeout_ms = comm->set.timeout_ms,
		.yield = comm->nranks > shmar__cpus_of_job(shmar__seg_hdr(comm->chan.base)->job_cpus),
	};

	shmar__chan_init(&comm->chan, comm->chan.base, l, comm->rank, comm->nranks, &waits,
			 &comm->live, &comm->report, &comm->stats);
	/*
	 * When ranks share CPUs every wait for a peer is a scheduler hand-off:
	 * steps of two sub-chunks halve them (every rank decides the same: the
	 * job's CPUs come from the header).  A rank has three steps in flight
	 * (in, reduce, gather: coll_allreduce.c), so a step takes at most a
	 * third of the ring, or the copy-in of one step would wait for a gather
	 * that comes after it.
	 */
	comm->stream_step = waits.yield ? SHMAR_STREAM_OVERSUBSCRIBED_STEP : 1;
	shmar__seg_ctl(comm->chan.base, l, (unsigned)comm->rank)->pid = (uint32_t)getpid();
	shmar__chan_set_state(&comm->chan, SHMAR_RANK_ACTIVE);
	shmar__segment_prefault_peers(comm->chan.base, l, (unsigned)comm->rank);
}

static void log_formed(struct shmar_comm *comm, const struct shmar__layout *l, const char *dir)
{
	char pids[160];
	size_t used = 0;

	if (comm->report.debug < SHMAR_DEBUG_INFO)
		return;
	pids[0] = '\0';
	for (int r = 0; r < comm->nranks && used < sizeof(pids) - 16; r++)
		used += (size_t)snprintf(pids + used, sizeof(pids) - used, "%s%d", r ? "," : "",
					 (int)comm->live.pids[r]);
	if (used >= sizeof(pids) - 16)
		snprintf(pids + used, sizeof(pids) - used, ",...");
	shmar__log_line(&comm->report,
			"job %s formed in %s: %d ranks (pids %s), segment %zu bytes (slots 2 x %zu), kernels %s, liveness %s, small_max %zu, threads %d",
			comm->job, dir, comm->nranks, pids, l->total_bytes, l->slot_bytes,
			comm->kern->name, shmar__sleep_path_name(shmar__liveness_path(&comm->live)),
			comm->set.small_max, comm->set.threads);
}

static int comm_open(struct shmar_comm *comm)
{
	struct shmar__layout l;
	struct shmar__rdv rdv;
	char dir[sizeof(comm->set.dir)];
	const char *dir_source;
	uint64_t deadline;
	int err;

	comm->nt_min = shmar__copy_nt_min(); /* reads sysfs once, here and not in a call */
	err = shmar__kernels_select(comm->set.isa, &comm->kern);
	if (err < 0)
		return shmar__fail(&comm->report, err, "SHMAR_ISA=%s: %s",
				   shmar__isa_name(comm->set.isa),
				   err == -ENOTSUP ? "this CPU lacks it" : "unknown");
	err = shmar__layout_compute(&(struct shmar__geometry){ (unsigned)comm->nranks,
				    comm->set.slot_bytes, comm->set.chunk_bytes, comm->set.mem_bytes }, &l);
	if (err < 0)
		return shmar__fail(&comm->report, err,
				   "a segment of %d ranks x (2 x %zu + %u x %zu + %zu) bytes is too large",
				   comm->nranks, comm->set.slot_bytes, SHMAR_STREAM_REGIONS,
				   comm->set.chunk_bytes, comm->set.mem_bytes);
	err = shmar__rdv_dir_resolve(comm->set.dir, dir, sizeof(dir), &dir_source);
	if (err < 0)
		return shmar__fail(&comm->report, err, "the rendezvous directory path is too long");

	deadline = shmar__deadline(shmar__now_ns(), shmar__ms_to_ns(comm->set.init_timeout_ms));
	shmar__rdv_init(&rdv, comm->nranks, comm->rank, deadline, &comm->report);
	err = shmar__rdv_open_dir(&rdv, dir, comm->job);
	if (err == 0)
		err = comm->rank == 0 ? form_as_root(comm, &l, &rdv) : join_as_peer(comm, &l, &rdv);
	if (err == 0)
		err = adopt_sockets(comm, &rdv);
	shmar__rdv_fini(&rdv);
	if (err < 0)
		return err;
	start_channel(comm, &l);
	log_formed(comm, &l, dir);
	return 0;
}

static void comm_free(struct shmar_comm *comm)
{
	shmar__pool_stop(comm->pool);
	shmar__heap_fini(&comm->heap);
	free(comm->heap_faulted);
	shmar__liveness_fini(&comm->live); /* stops watching the connections first */
	for (int r = 0; comm->socks && r < comm->nranks; r++)
		if (comm->socks[r] >= 0)
			close(comm->socks[r]);
	free(comm->socks);
	shmar__segment_unmap(comm->chan.base, comm->chan.layout.total_bytes);
	free(comm);
}

/* Checked before anything is allocated or opened. */
static int check_args(struct shmar_comm *comm, const char *job, int nranks, int rank)
{
	if (nranks < 1 || nranks > SHMAR_MAX_RANKS)
		return shmar__fail(&comm->report, -EINVAL, "nranks %d outside 1..%d", nranks,
				   SHMAR_MAX_RANKS);
	if (rank < 0 || rank >= nranks)
		return shmar__fail(&comm->report, -EINVAL, "rank %d outside 0..%d", rank, nranks - 1);
	if (!valid_job_name(job))
		return shmar__fail(&comm->report, -EINVAL, "job name must match [A-Za-z0-9._-]{1,%d}",
				   SHMAR_JOB_MAX);
	return 0;
}

SHMAR_EXPORT int shmar_comm_init(struct shmar_comm **out, const char *job, int nranks, int rank,
				 const struct shmar_config *cfg)
{
	char text[SHMAR_ERRMSG_MAX + SHMAR_JOB_MAX + 32];
	struct shmar_comm *comm;
	int err;

	shmar__init_error_set("");
	if (!out) {
		shmar__init_error_set("comm pointer is NULL");
		return -EINVAL;
	}
	*out = NULL;
	comm = calloc(1, sizeof(*comm));
	if (!comm) {
		shmar__init_error_set("out of memory");
		return -ENOMEM;
	}
	comm->report.rank = rank;
	comm->report.debug = shmar__debug_level_from_env();
	comm->rank = rank;
	comm->nranks = nranks;
	err = check_args(comm, job, nranks, rank);
	if (err == 0) {
		snprintf(comm->job, sizeof(comm->job), "%s", job);
		err = shmar__settings_resolve(cfg, &comm->set, &comm->report);
	}
	if (err == 0) {
		comm->report.debug = comm->set.debug;
		pthread_once(&atfork_once, register_atfork);
		comm->fork_gen = atomic_load_explicit(&shmar__fork_generation, memory_order_relaxed);
		err = comm_open(comm);
	}
	if (err < 0) {
		snprintf(text, sizeof(text), "job %s rank %d: %s", comm->job[0] ? comm->job : "?",
			 rank, comm->report.text);
		shmar__init_error_set(text);
		comm_free(comm);
		return err;
	}
	*out = comm;
	return 0;
}

SHMAR_EXPORT int shmar_comm_rank(const struct shmar_comm *comm)
{
	return comm ? comm->rank : -EINVAL;
}

SHMAR_EXPORT int shmar_comm_size(const struct shmar_comm *comm)
{
	return comm ? comm->nranks : -EINVAL;
}

SHMAR_EXPORT const char *shmar_comm_last_error(const struct shmar_comm *comm)
{
	return comm ? comm->report.text : shmar__init_error();
}

SHMAR_EXPORT int shmar_comm_abort(struct shmar_comm *comm)
{
	if (!comm)
		return -EINVAL;
	if (shmar__forked_away(comm))
		return -ECHILD;
	shmar__chan_abort(&comm->chan); /* async-signal-safe, never blocks */
	return 0;
}

SHMAR_EXPORT int shmar_comm_destroy(struct shmar_comm *comm)
{
	if (!comm)
		return 0;
	if (!shmar__forked_away(comm))
		shmar__chan_leave(&comm->chan);
	comm_free(comm);
	return 0;
}

const struct shmar__stats *shmar__comm_stats(const struct shmar_comm *comm)
{
	return &comm->stats;
}
