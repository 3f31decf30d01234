/* SPDX-License-Identifier: MIT */
/*
 * channel.c - synchronisation points, and revocation when one cannot
 * complete.
 *
 * A synchronisation point is: write what this call is into the own control
 * block, publish the next post number, wait until every peer published the
 * same number, and check that each peer described the very same call.  A
 * mismatch (kind, dtype, op, count, root) revokes the comm on every rank with
 * -EPROTO before anyone reads a byte of a peer's data.
 *
 * Revocation goes through the job's abort word in the segment header: the
 * first failure any rank sees is written there (compare-and-swap, so the
 * first reason wins), every sleeper of the job is woken, and each rank's
 * waits end on the word.  Every rank therefore reports the same cause.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "kernels/kernels.h"
#include "shmar.h"

static struct shmar__ctl *ctl_of(const struct shmar__chan *c, int rank)
{
	return shmar__seg_ctl(c->base, &c->layout, (unsigned)rank);
}

static _Atomic uint32_t *abort_word(const struct shmar__chan *c)
{
	return &shmar__seg_hdr(c->base)->abort_word;
}

void shmar__chan_init(struct shmar__chan *c, void *base, const struct shmar__layout *l,
		      int rank, int nranks, const struct shmar__chan_waits *waits,
		      struct shmar__liveness *live, struct shmar__report *rep,
		      struct shmar__stats *stats)
{
	struct shmar__waitctx *w = &c->wait;

	c->base = base;
	c->layout = *l;
	c->rank = rank;
	c->nranks = nranks;
	c->posts = 0;
	c->calls = 0;
	atomic_init(&c->revoked, 0);
	c->described = false;
	c->live = live;
	c->rep = rep;
	c->stats = stats;
	w->abort_word = abort_word(c);
	w->spin_ns = (uint64_t)waits->spin_us * 1000;
	w->yield = waits->yield;
	w->timeout_ns = shmar__ms_to_ns(waits->timeout_ms);
	w->deadline_ns = 0;
	w->slice_ns = SHMAR_SLICE_NS;
	w->live = live;
	w->stats = stats;
	w->rep = rep;
	w->dead_rank = -1;
}

void shmar__chan_set_state(struct shmar__chan *c, enum shmar__rank_state state)
{
	atomic_store_explicit(&ctl_of(c, c->rank)->state, state, memory_order_release);
}

const char *shmar__kind_name(unsigned kind)
{
	switch (kind) {
	case SHMAR_KIND_BARRIER: return "barrier";
	case SHMAR_KIND_ALLREDUCE: return "allreduce";
	case SHMAR_KIND_REDUCE_SCATTER: return "reduce_scatter";
	case SHMAR_KIND_ALLGATHER: return "allgather";
	case SHMAR_KIND_BROADCAST: return "broadcast";
	default: return "?";
	}
}

/* ---------------------------------------------------------------- revocation */

/* Wake every sleeper of the job so it looks at the abort word. */
static void wake_everyone(const struct shmar__chan *c)
{
	for (int r = 0; r < c->nranks; r++) {
		struct shmar__ctl *ctl = ctl_of(c, r);

		shmar__wake_sleepers(&ctl->post, &ctl->sleepers);
	}
}

/* Write err naming rank into the abort word unless a reason is there already;
 * the word as it now is. */
static uint32_t raise_word(const struct shmar__chan *c, int err, int rank)
{
	uint32_t expected = 0, word = SHMAR_ABORT_ENCODE(-err, rank);

	if (!atomic_compare_exchange_strong(abort_word(c), &expected, word))
		word = expected;
	return word;
}

/* The error a word stands for; a word no rank could have written is -EPROTO. */
static int word_error(uint32_t word)
{
	int err = SHMAR_ABORT_ERR(word);

	switch (err) {
	case EOWNERDEAD: case ECANCELED: case ETIMEDOUT: case EPROTO:
		return -err;
	default:
		return -EPROTO;
	}
}

/* Revoke with what the word says, and say it in the report. */
static int revoke_from_word(struct shmar__chan *c, uint32_t word)
{
	int err = word_error(word), who = SHMAR_ABORT_RANK(word);
	unsigned pid = who >= 0 && who < c->nranks ? (unsigned)c->live->pids[who] : 0;

	atomic_store_explicit(&c->revoked, err, memory_order_release);
	c->described = true;
	if (who < 0 || who >= c->nranks)
		err = shmar__fail(c->rep, err, "corrupted abort word 0x%08x", word);
	else if (err == -EOWNERDEAD)
		shmar__fail(c->rep, err, "rank %d (pid %u) died or left the job", who, pid);
	else if (err == -ECANCELED)
		shmar__fail(c->rep, err, "rank %d (pid %u) aborted the job", who, pid);
	else if (err == -ETIMEDOUT)
		shmar__fail(c->rep, err, "rank %d (pid %u) did not arrive before the deadline", who,
			    pid);
	else
		shmar__fail(c->rep, err, "ranks called different collectives (seen by rank %d)", who);
	shmar__log(c->rep, SHMAR_DEBUG_INFO, "comm revoked: %s", c->rep->text);
	return err;
}

int shmar__chan_revoke(struct shmar__chan *c, int err, int rank)
{
	uint32_t word = raise_word(c, err, rank);

	wake_everyone(c);
	return revoke_from_word(c, word);
}

void shmar__chan_abort(struct shmar__chan *c)
{
	uint32_t word = raise_word(c, -ECANCELED, c->rank);

	/* no text here: formatting is not async-signal-safe; chan_begin writes it */
	atomic_store_explicit(&c->revoked, word_error(word), memory_order_release);
	wake_everyone(c);
}

void shmar__chan_leave(struct shmar__chan *c)
{
	struct shmar__ctl *self = ctl_of(c, c->rank);

	/* Peers still waiting on this rank learn it left instead of timing out. */
	shmar__chan_set_state(c, SHMAR_RANK_LEFT);
	shmar__wake_sleepers(&self->post, &self->sleepers);
}

int shmar__chan_begin(struct shmar__chan *c)
{
	int err = atomic_load_explicit(&c->revoked, memory_order_acquire);
	uint32_t word;

	if (err) {
		if (!c->described) /* revoked by shmar_comm_abort(): say so now */
			return revoke_from_word(c, atomic_load(abort_word(c)));
		return err;
	}
	word = atomic_load_explicit(abort_word(c), memory_order_acquire);
	if (word) /* a peer revoked the job while we were away */
		return revoke_from_word(c, word);
	c->wait.deadline_ns = 0;
	return 0;
}

/* ---------------------------------------------------------------- posts */

void shmar__chan_desc(struct shmar__chan *c, struct shmar__desc *d, enum shmar__kind kind,
		      int dtype, int op, uint64_t count, int root)
{
	memset(d, 0, sizeof(*d));
	d->call = ++c->calls;
	d->kind = (uint8_t)kind;
	d->dtype = (uint8_t)dtype;
	d->op = (uint8_t)op;
	d->root = root;
	d->count = count;
}

static bool same_call(const struct shmar__desc *a, const struct shmar__desc *b)
{
	return a->post == b->post && a->call == b->call && a->kind == b->kind &&
	       a->dtype == b->dtype && a->op == b->op && a->root == b->root && a->count == b->count;
}

/* "allreduce(count=1024, bf16, sum)": only the arguments the kind has. */
static void describe_call(char *buf, size_t len, const struct shmar__desc *d)
{
	const char *dt = shmar__dtype_name(d->dtype), *op = shmar__op_name(d->op);
	unsigned long long n = (unsigned long long)d->count;

	switch (d->kind) {
	case SHMAR_KIND_BARRIER:
		snprintf(buf, len, "barrier()");
		break;
	case SHMAR_KIND_ALLREDUCE:
		snprintf(buf, len, "allreduce(count=%llu, %s, %s)", n, dt, op);
		break;
	case SHMAR_KIND_REDUCE_SCATTER:
		snprintf(buf, len, "reduce_scatter(recvcount=%llu, %s, %s)", n, dt, op);
		break;
	case SHMAR_KIND_ALLGATHER:
		snprintf(buf, len, "allgather(sendcount=%llu, %s)", n, dt);
		break;
	case SHMAR_KIND_BROADCAST:
		snprintf(buf, len, "broadcast(count=%llu, %s, root=%d)", n, dt, d->root);
		break;
	default:
		snprintf(buf, len, "an unknown call (kind %u)", d->kind);
	}
}

static int mismatch(struct shmar__chan *c, int peer, const struct shmar__desc *mine,
		    const struct shmar__desc *theirs)
{
	char a[96], b[96];
	int err = shmar__chan_revoke(c, -EPROTO, c->rank);

	if (err != -EPROTO)
		return err; /* another reason came first */
	describe_call(a, sizeof(a), theirs);
	describe_call(b, sizeof(b), mine);
	return shmar__fail(c->rep, -EPROTO, "rank %d called %s as call %u; rank %d called %s as call %u",
			   peer, a, theirs->call, c->rank, b, mine->call);
}

static int wait_failed(struct shmar__chan *c, int peer, int ret)
{
	switch (ret) {
	case SHMAR_WAIT_ABORTED:
		return revoke_from_word(c, atomic_load(abort_word(c)));
	case -ETIMEDOUT:
		return shmar__chan_revoke(c, -ETIMEDOUT, peer);
	case -EOWNERDEAD:
		return shmar__chan_revoke(c, -EOWNERDEAD, c->wait.dead_rank);
	default:
		return shmar__chan_revoke(c, -EPROTO, c->rank);
	}
}

int shmar__chan_sync_reg(struct shmar__chan *c, const struct shmar__desc *mine, uint64_t reg_in,
			 uint64_t reg_out)
{
	struct shmar__ctl *self = ctl_of(c, c->rank);

	/* before the post (a seq_cst store), read by a peer after it */
	self->reg_off[(c->posts + 1) & 1] = reg_in;
	self->reg_out[(c->posts + 1) & 1] = reg_out;
	return shmar__chan_sync(c, mine);
}

uint64_t shmar__chan_peer_reg(const struct shmar__chan *c, int peer, bool out)
{
	const struct shmar__ctl *p = ctl_of(c, peer);

	return out ? p->reg_out[c->posts & 1] : p->reg_off[c->posts & 1];
}

void shmar__chan_stream_post(struct shmar__chan *c, enum shmar__stream_counter which,
			     uint32_t value)
{
	struct shmar__ctl *self = ctl_of(c, c->rank);

	shmar__post_word(&c->wait, &self->stream[which], value, &self->stream_sleepers[which]);
}

int shmar__chan_stream_wait(struct shmar__chan *c, int peer, enum shmar__stream_counter which,
			    uint32_t target)
{
	struct shmar__ctl *p = ctl_of(c, peer);
	int ret = shmar__wait_word(&c->wait, &p->stream[which], target, &p->stream_sleepers[which],
				   &p->state, peer);

	return ret == 0 ? 0 : wait_failed(c, peer, ret);
}

int shmar__chan_sync(struct shmar__chan *c, const struct shmar__desc *mine)
{
	struct shmar__ctl *self = ctl_of(c, c->rank);
	uint32_t post = ++c->posts;
	struct shmar__desc want = *mine, seen;
	int ret;

	want.post = post;
	self->desc[post & 1] = want;
	c->stats->posts++;
	shmar__post_word(&c->wait, &self->post, post, &self->sleepers);

	for (int r = 0; r < c->nranks; r++) {
		struct shmar__ctl *peer;

		if (r == c->rank)
			continue;
		peer = ctl_of(c, r);
		ret = shmar__wait_word(&c->wait, &peer->post, post, &peer->sleepers, &peer->state, r);
		if (ret != 0)
			return wait_failed(c, r, ret);
		/* The peer wrote desc[post & 1] before publishing post (seq_cst store,
		 * acquire load in the wait), and rewrites it only at post + 2, which
		 * needs our post + 1 first. */
		memcpy(&seen, &peer->desc[post & 1], sizeof(seen));
		if (!same_call(&want, &seen))
			return mismatch(c, r, &want, &seen);
	}
	return 0;
}
