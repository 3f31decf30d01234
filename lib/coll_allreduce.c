/* SPDX-License-Identifier: MIT */
/*
 * coll_allreduce.c - shmar_allreduce.
 *
 * Small messages (<= small_max): every rank copies its input into its slot,
 * one synchronisation, then every rank reduces all N slots into its output.
 *
 * Larger messages stream through each rank's ring of SHMAR_STREAM_REGIONS
 * regions (segment.h), one sub-chunk of chunk_bytes per region, in three
 * stages per sub-chunk g, each waiting only for the peers and the sub-chunk
 * it needs (the stream counters of the control blocks), not for a barrier:
 *
 *   in(g)    copy the slices the peers reduce into the own region of g
 *            (skipped when the send buffer is registered: the peers read it
 *            in place), then post IN = g + 1;
 *   reduce(g)  when every peer's IN > g: reduce the own slice of g from every
 *            rank's input, in rank order, into the output and into the own
 *            region (where the peers gather it), then post RED = g + 1;
 *   gather(g)  when peer k's RED > g: copy its reduced slice out of its
 *            region; then post DONE = g + 1.
 *
 * A rank runs in(g + 1) before reduce(g) and gather(g - 1) after it, so in
 * step with its peers nobody waits.  A region is written again for
 * g + SHMAR_STREAM_REGIONS only once every peer's DONE > g: then the peers
 * have read both what this rank copied in and what it reduced there.  A
 * registered send buffer is read by peer k only in its reduce stages, which
 * end before its RED, and this rank's gather waits for every peer's RED:
 * when the call returns, no peer reads the buffer any more, and the caller
 * may change it.  A rank whose receive buffer is registered reduces its
 * slice straight into it and the peers gather from there (no copy through
 * the region at all when both are registered); such a rank returns only
 * after every peer's DONE covers the call.  One synchronisation at the start of the call compares the
 * calls (and publishes where registered buffers are) before any data is
 * read.
 *
 * Both paths run the same kernel over all N inputs in rank order, so they
 * give the same bits (doc/design.md, "Numerics") whatever the threshold,
 * the sub-chunk, the registration or the number of helper threads.
 */
#include <errno.h>
#include <string.h>

#include "coll.h"

static void gather_sources(struct shmar_comm *comm, unsigned parity, size_t offset,
			   const void **srcs)
{
	for (int r = 0; r < comm->nranks; r++)
		srcs[r] = (const char *)shmar__slot(comm, r, parity) + offset;
}

static int allreduce_small(struct shmar_comm *comm, const struct shmar__desc *d,
			   const void *sendbuf, void *recvbuf, size_t count, size_t bytes,
			   shmar__reduce_fn reduce)
{
	const void *srcs[SHMAR_MAX_RANKS];
	unsigned parity = shmar__next_round(comm);
	int err;

	if (bytes)
		memcpy(shmar__slot(comm, comm->rank, parity), sendbuf, bytes);
	err = shmar__chan_sync(&comm->chan, d);
	if (err < 0 || count == 0)
		return err;
	gather_sources(comm, parity, 0, srcs);
	reduce(recvbuf, srcs, (unsigned)comm->nranks, count);
	return 0;
}

/* ---------------------------------------------------------------- the stream */

/* Phases below this many bytes stay on the calling thread: waking the
 * helpers costs more than they save. */
#define POOL_MIN_BYTES (64 * 1024)

struct stream {
	struct shmar_comm *comm;
	const char *in;
	char *out;
	size_t count, esize;
	size_t elems;               /* elements per step */
	unsigned step;              /* sub-chunks (regions) per step */
	uint64_t g0, end;           /* this call's sub-chunks of the ring: [g0, end) */
	shmar__reduce_fn reduce;
	bool registered;            /* this rank's input is in its heap */
	shmar__copy_fn copy_out;    /* into the output: streaming stores when it outgrows the cache */
	struct shmar__regs regs;    /* where registered peers' inputs are */
	struct shmar__regs pubs;    /* where peers with a registered output publish their slices */
	bool publish_out;           /* this rank's output is registered: the peers gather from it */
};

/* The step at sub-chunk g of the call: elements [*lo, *lo + *n), from region q
 * of the ring on (a step of several sub-chunks takes as many regions, which
 * follow each other: steps start at multiples of their size, which divides
 * the ring's). */
static unsigned sub_chunk(const struct stream *s, uint64_t g, size_t *lo, size_t *n)
{
	size_t i = (size_t)(g - s->g0) / s->step;

	*lo = i * s->elems;
	*n = s->count - *lo < s->elems ? s->count - *lo : s->elems;
	return (unsigned)(g % SHMAR_STREAM_REGIONS);
}

static char *region(const struct stream *s, int rank, unsigned q)
{
	return shmar__seg_stream(s->comm->chan.base, &s->comm->chan.layout, (unsigned)rank, q);
}

static void slice(const struct stream *s, size_t n, int rank, size_t *lo, size_t *hi)
{
	shmar__slice(n, s->esize, s->comm->nranks, rank, lo, hi);
}

/*
 * One copy or reduce of a sub-chunk, split over the helper threads: the
 * parts are whole 64-byte units of [a, b), every element in one part.
 */
struct phase {
	const struct stream *s;
	uint64_t g;
	size_t a, b;                /* elements of the sub-chunk */
	void (*run)(const struct phase *ph, size_t lo, size_t hi);
};

static void phase_part(void *arg, unsigned part, unsigned nparts)
{
	const struct phase *ph = arg;
	size_t lo, hi;

	shmar__pool_split(ph->b - ph->a, ph->s->esize, part, nparts, &lo, &hi);
	if (hi > lo)
		ph->run(ph, ph->a + lo, ph->a + hi);
}

static void run_phase(struct phase *ph)
{
	struct shmar__pool *pool = ph->s->comm->pool;

	if (ph->b <= ph->a)
		return;
	if (pool && (ph->b - ph->a) * ph->s->esize >= POOL_MIN_BYTES)
		shmar__pool_run(pool, phase_part, ph);
	else
		ph->run(ph, ph->a, ph->b);
}

/* in: elements [lo, hi) of the sub-chunk, from the input into the own region. */
static void copy_in(const struct phase *ph, size_t lo, size_t hi)
{
	const struct stream *s = ph->s;
	size_t base, n;
	unsigned q = sub_chunk(s, ph->g, &base, &n);

	memcpy(region(s, s->comm->rank, q) + lo * s->esize, s->in + (base + lo) * s->esize,
	       (hi - lo) * s->esize);
}

/* reduce: elements [lo, hi) of the own slice, from every rank's input. */
static void reduce_part(const struct phase *ph, size_t lo, size_t hi)
{
	const struct stream *s = ph->s;
	const void *srcs[SHMAR_MAX_RANKS];
	int self = s->comm->rank;
	size_t base, n;
	unsigned q = sub_chunk(s, ph->g, &base, &n);

	for (int k = 0; k < s->comm->nranks; k++) {
		if (k == self)
			srcs[k] = s->in + (base + lo) * s->esize; /* in place: the very output */
		else if (s->regs.buf[k])
			srcs[k] = s->regs.buf[k] + (base + lo) * s->esize;
		else
			srcs[k] = region(s, k, q) + lo * s->esize;
	}
	if (s->publish_out) {
		/* a registered output: the peers gather the slice right here */
		s->reduce(s->out + (base + lo) * s->esize, srcs, (unsigned)s->comm->nranks, hi - lo);
		return;
	}
	/* into the own region first, where the peers gather it (they never read
	 * an unregistered output), and where it is still in the cache for the
	 * copy out */
	s->reduce(region(s, self, q) + lo * s->esize, srcs, (unsigned)s->comm->nranks, hi - lo);
	s->copy_out(s->out + (base + lo) * s->esize, region(s, self, q) + lo * s->esize,
		    (hi - lo) * s->esize);
}

/* gather: elements [lo, hi) outside the own slice, from their owners' regions. */
static void gather_part(const struct phase *ph, size_t lo, size_t hi)
{
	const struct stream *s = ph->s;
	size_t base, n, klo, khi, a, b;
	unsigned q = sub_chunk(s, ph->g, &base, &n);

	for (int k = 0; k < s->comm->nranks; k++) {
		if (k == s->comm->rank)
			continue;
		slice(s, n, k, &klo, &khi);
		a = klo > lo ? klo : lo;
		b = khi < hi ? khi : hi;
		if (b <= a)
			continue;
		s->copy_out(s->out + (base + a) * s->esize,
			    s->pubs.buf[k] ? s->pubs.buf[k] + (base + a) * s->esize
					   : region(s, k, q) + a * s->esize,
			    (b - a) * s->esize);
	}
}

/* Wait until every peer finished with what the regions of step g last held. */
static int claim_region(const struct stream *s, uint64_t g)
{
	struct shmar__chan *c = &s->comm->chan;
	uint64_t last = g + s->step - 1;
	int err = 0;

	if (last < SHMAR_STREAM_REGIONS)
		return 0; /* never used */
	for (int k = 0; k < c->nranks && err == 0; k++)
		if (k != c->rank)
			err = shmar__chan_stream_wait(c, k, SHMAR_STREAM_DONE,
						      (uint32_t)(last - SHMAR_STREAM_REGIONS + 1));
	return err;
}

static int stage_in(struct stream *s, uint64_t g)
{
	struct phase ph = { .s = s, .g = g, .run = copy_in };
	size_t base, n, mlo, mhi;
	int err = claim_region(s, g);

	if (err < 0)
		return err;
	sub_chunk(s, g, &base, &n);
	slice(s, n, s->comm->rank, &mlo, &mhi);
	/* the slices of the ranks before this one, then those after it */
	ph.a = 0, ph.b = mlo;
	run_phase(&ph);
	ph.a = mhi, ph.b = n;
	run_phase(&ph);
	shmar__chan_stream_post(&s->comm->chan, SHMAR_STREAM_IN, (uint32_t)(g + s->step));
	return 0;
}

static int stage_reduce(struct stream *s, uint64_t g)
{
	struct shmar__chan *c = &s->comm->chan;
	struct phase ph = { .s = s, .g = g, .run = reduce_part };
	size_t base, n;
	/* the region holds the reduced slice unless the output does */
	int err = s->registered && !s->publish_out ? claim_region(s, g) : 0;

	/* the call's synchronisation came after every peer's in(g0) */
	for (int k = 0; k < c->nranks && err == 0 && g > s->g0; k++)
		if (k != c->rank && !s->regs.buf[k])
			err = shmar__chan_stream_wait(c, k, SHMAR_STREAM_IN, (uint32_t)(g + s->step));
	if (err < 0)
		return err;
	sub_chunk(s, g, &base, &n);
	slice(s, n, c->rank, &ph.a, &ph.b);
	run_phase(&ph);
	shmar__chan_stream_post(c, SHMAR_STREAM_RED, (uint32_t)(g + s->step));
	return 0;
}

static int stage_gather(struct stream *s, uint64_t g)
{
	struct shmar__chan *c = &s->comm->chan;
	struct phase ph = { .s = s, .g = g, .run = gather_part };
	size_t base, n;
	int err = 0;

	for (int k = 0; k < c->nranks && err == 0; k++)
		if (k != c->rank)
			err = shmar__chan_stream_wait(c, k, SHMAR_STREAM_RED, (uint32_t)(g + s->step));
	if (err < 0)
		return err;
	sub_chunk(s, g, &base, &n);
	ph.a = 0, ph.b = n;
	run_phase(&ph);
	shmar__chan_stream_post(c, SHMAR_STREAM_DONE, (uint32_t)(g + s->step));
	return 0;
}

/*
 * A rank that publishes its slices in its registered output returns only
 * once every peer has gathered them: after that no peer reads the output.
 */
static int wait_gathered(struct stream *s)
{
	struct shmar__chan *c = &s->comm->chan;
	int err = 0;

	for (int k = 0; k < c->nranks && err == 0; k++)
		if (k != c->rank)
			err = shmar__chan_stream_wait(c, k, SHMAR_STREAM_DONE, (uint32_t)s->end);
	return err;
}

static int allreduce_stream(struct shmar_comm *comm, const struct shmar__desc *d,
			    const char *in, char *out, size_t count, size_t esize,
			    shmar__reduce_fn reduce)
{
	struct stream s = {
		.comm = comm, .in = in, .out = out, .count = count, .esize = esize,
		.step = comm->stream_step, .reduce = reduce,
	};
	uint64_t reg = shmar__reg_mine(comm, in, count * esize, 1);
	uint64_t reg_out = shmar__reg_mine(comm, out, count * esize, 1);
	uint64_t g;
	int err;

	s.elems = comm->chan.layout.chunk_bytes / esize * s.step;
	/* every rank rounds the same way: the counters stay in step */
	s.g0 = (comm->stream_next + s.step - 1) / s.step * s.step;
	s.end = s.g0 + (count + s.elems - 1) / s.elems * s.step;
	comm->stream_next = s.end;
	s.registered = reg != 0;
	s.publish_out = reg_out != 0;
	s.copy_out = count * esize >= comm->nt_min ? shmar__copy_stream : shmar__copy_cached;
	/* the first sub-chunk goes in before the synchronisation; a registered
	 * input is all there, so IN says so for the whole call */
	err = s.registered ? 0 : stage_in(&s, s.g0);
	if (err == 0 && s.registered)
		shmar__chan_stream_post(&comm->chan, SHMAR_STREAM_IN, (uint32_t)s.end);
	if (err == 0)
		err = shmar__chan_sync_reg(&comm->chan, d, reg, reg_out);
	if (err < 0)
		return err;
	/* no trailing synchronisation for the inputs: see the top of this file */
	shmar__reg_peers(comm, count * esize, reg, false, &s.regs);
	shmar__reg_peers(comm, count * esize, reg_out, true, &s.pubs);
	for (g = s.g0; g < s.end && err == 0; g += s.step) {
		if (g + s.step < s.end && !s.registered)
			err = stage_in(&s, g + s.step);
		if (err == 0)
			err = stage_reduce(&s, g);
		if (err == 0 && g > s.g0)
			err = stage_gather(&s, g - s.step);
	}
	if (err == 0)
		err = stage_gather(&s, s.end - s.step);
	if (err == 0 && s.publish_out)
		err = wait_gathered(&s);
	return err;
}

SHMAR_EXPORT int shmar_allreduce(struct shmar_comm *comm, const void *sendbuf, void *recvbuf,
				 size_t count, enum shmar_dtype dtype, enum shmar_op op)
{
	struct shmar__desc d;
	shmar__reduce_fn reduce;
	size_t esize, bytes;
	bool small;
	int err = shmar__take(comm);

	if (err < 0)
		return err;
	if ((err = shmar__check_dtype(comm, dtype, count, &esize, &bytes)) < 0 ||
	    (err = shmar__check_op(comm, op)) < 0 ||
	    (err = shmar__check_buf(comm, sendbuf, bytes, "sendbuf")) < 0 ||
	    (err = shmar__check_buf(comm, recvbuf, bytes, "recvbuf")) < 0 ||
	    (err = shmar__check_overlap(comm, sendbuf, bytes, recvbuf, bytes, sendbuf == recvbuf)) < 0 ||
	    (err = shmar__chan_begin(&comm->chan)) < 0)
		return shmar__leave_with(comm, err);
	reduce = comm->kern->reduce[dtype][op];
	small = bytes <= comm->set.small_max || count == 0;
	shmar__chan_desc(&comm->chan, &d, SHMAR_KIND_ALLREDUCE, dtype, op, count, 0);
	shmar__trace_call(comm, "call %u: allreduce(count=%zu, %s, %s) %zu bytes%s: %s", d.call, count,
			  shmar__dtype_name(dtype), shmar__op_name(op), bytes,
			  sendbuf == recvbuf ? " in place" : "",
			  small ? "one step" : "stream");
	if (small)
		err = allreduce_small(comm, &d, sendbuf, recvbuf, count, bytes, reduce);
	else
		err = allreduce_stream(comm, &d, sendbuf, recvbuf, count, esize, reduce);
	shmar__leave(comm);
	return err;
}
