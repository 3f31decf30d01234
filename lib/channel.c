/* SPDX-License-Identifier: MIT */
/*
 * channel.c - sequence posts and their descriptors.
 *
 * A synchronisation point is: write what this call is into the own control
 * block, publish the next post number, wait until every peer published the
 * same number, and check that each peer described the very same call.  A
 * mismatch (kind, dtype, op, count, root) revokes the comm on every rank with
 * -EPROTO before anyone reads a byte of a peer's data.
 */
#include <errno.h>
#include <string.h>

#include "shmar-private.h"

void shmar__chan_desc(struct shmar_comm *comm, struct shmar__desc *d, enum shmar__kind kind,
		      int dtype, int op, uint64_t count, int root)
{
	memset(d, 0, sizeof(*d));
	d->call = ++comm->calls;
	d->kind = (uint8_t)kind;
	d->dtype = (uint8_t)dtype;
	d->op = (uint8_t)op;
	d->root = root;
	d->count = count;
}

static const char *kind_name(unsigned kind)
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

static bool same_call(const struct shmar__desc *a, const struct shmar__desc *b)
{
	return a->post == b->post && a->call == b->call && a->kind == b->kind &&
	       a->dtype == b->dtype && a->op == b->op && a->root == b->root && a->count == b->count;
}

static int mismatch(struct shmar_comm *comm, int peer, const struct shmar__desc *mine,
		    const struct shmar__desc *theirs)
{
	int err = shmar__revoke(comm, -EPROTO, comm->rank);

	if (comm->revoked == -EPROTO)
		shmar__fail(comm, -EPROTO,
			    "rank %d called %s(count=%llu, %s, %s, root=%d) as call %u; rank %d called %s(count=%llu, %s, %s, root=%d) as call %u",
			    peer, kind_name(theirs->kind), (unsigned long long)theirs->count,
			    shmar__dtype_name(theirs->dtype), shmar__op_name(theirs->op), theirs->root,
			    theirs->call, comm->rank, kind_name(mine->kind),
			    (unsigned long long)mine->count, shmar__dtype_name(mine->dtype),
			    shmar__op_name(mine->op), mine->root, mine->call);
	return err;
}

static int wait_failed(struct shmar_comm *comm, int peer, int ret)
{
	switch (ret) {
	case SHMAR_WAIT_ABORTED:
		return shmar__abort_status(comm);
	case -ETIMEDOUT:
		return shmar__revoke(comm, -ETIMEDOUT, peer);
	case -EOWNERDEAD:
		return shmar__revoke(comm, -EOWNERDEAD, comm->wait.dead_rank);
	default:
		return shmar__revoke(comm, -EPROTO, comm->rank);
	}
}

int shmar__chan_sync(struct shmar_comm *comm, const struct shmar__desc *mine)
{
	const struct shmar__layout *l = &comm->layout;
	struct shmar__ctl *self = shmar__seg_ctl(comm->base, l, (unsigned)comm->rank);
	uint32_t post = ++comm->posts;
	struct shmar__desc want = *mine, seen;
	int ret;

	want.post = post;
	self->desc[post & 1] = want;
	comm->stats.posts++;
	shmar__post_word(&comm->wait, &self->post, post, &self->sleepers);

	for (int r = 0; r < comm->nranks; r++) {
		struct shmar__ctl *peer;

		if (r == comm->rank)
			continue;
		peer = shmar__seg_ctl(comm->base, l, (unsigned)r);
		ret = shmar__wait_word(&comm->wait, &peer->post, post, &peer->sleepers, &peer->state, r);
		if (ret != 0)
			return wait_failed(comm, r, ret);
		/* The peer wrote desc[post & 1] before publishing post (seq_cst store,
		 * acquire load in the wait), and rewrites it only at post + 2, which
		 * needs our post + 1 first. */
		memcpy(&seen, &peer->desc[post & 1], sizeof(seen));
		if (!same_call(&want, &seen))
			return mismatch(comm, r, &want, &seen);
	}
	return 0;
}
