/* SPDX-License-Identifier: MIT */
/*
 * rendezvous-msg.c - building and validating rendezvous messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rendezvous-msg.h"

void shmar__msg_init(struct shmar__msg *m, enum shmar__msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->magic = SHMAR_MSG_MAGIC;
	m->version = SHMAR_MSG_VERSION;
	m->type = (uint16_t)type;
}

void shmar__msg_set_reason(struct shmar__msg *m, const char *reason)
{
	size_t n = reason ? strnlen(reason, sizeof(m->reason) - 1) : 0;

	memcpy(m->reason, reason ? reason : "", n);
	m->reason[n] = '\0';
}

bool shmar__token_equal(const char a[SHMAR_TOKEN_MAX + 1], const char b[SHMAR_TOKEN_MAX + 1])
{
	const volatile unsigned char *x = (const volatile unsigned char *)a;
	const volatile unsigned char *y = (const volatile unsigned char *)b;
	unsigned char diff = 0;

	for (size_t i = 0; i < SHMAR_TOKEN_MAX + 1; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int shmar__msg_check_frame(const struct shmar__msg *m, size_t len)
{
	if (len != sizeof(*m) || m->magic != SHMAR_MSG_MAGIC)
		return -EBADMSG;
	if (m->version != SHMAR_MSG_VERSION)
		return -EPROTO;
	if (m->type < SHMAR_MSG_HELLO || m->type > SHMAR_MSG_FAIL)
		return -EBADMSG;
	if (!terminated(m->token, sizeof(m->token)) || !terminated(m->reason, sizeof(m->reason)))
		return -EBADMSG;
	/* A status is 0 or a plausible negative errno. */
	if (m->status > 0 || m->status < -4095)
		return -EBADMSG;
	return 0;
}

int shmar__msg_check_hello(const struct shmar__msg *m, uint32_t nranks, const char *token,
			   struct shmar__report *why)
{
	char want[SHMAR_TOKEN_MAX + 1] = { 0 };

	if (m->type != SHMAR_MSG_HELLO)
		return shmar__fail(why, -EBADMSG, "expected a hello, got message type %u", m->type);
	if (m->pid == 0)
		return shmar__fail(why, -EBADMSG, "rank %u sent pid 0", m->rank);
	/* Compare always, the same way, so timing tells nothing about the token. */
	if (token)
		strncpy(want, token, SHMAR_TOKEN_MAX);
	if (!shmar__token_equal(want, m->token))
		return shmar__fail(why, -EACCES, "rank %u presented a wrong token", m->rank);
	if (m->nranks != nranks)
		return shmar__fail(why, -EINVAL, "rank %u says nranks is %u, rank 0 says %u", m->rank,
				   m->nranks, nranks);
	if (m->rank == 0 || m->rank >= nranks)
		return shmar__fail(why, -EINVAL, "rank %u out of range 1..%u", m->rank, nranks - 1);
	return 0;
}

int shmar__msg_check_welcome(const struct shmar__msg *m, uint32_t nranks, uint32_t rank,
			     uint32_t self_pid, struct shmar__report *why)
{
	if (m->type != SHMAR_MSG_WELCOME)
		return shmar__fail(why, -EPROTO, "expected the segment, got message type %u", m->type);
	if (m->nranks != nranks || m->rank != rank)
		return shmar__fail(why, -EPROTO, "rank 0 answered for rank %u of %u", m->rank,
				   m->nranks);
	if (m->seg_bytes == 0 || m->seg_bytes > (uint64_t)INT64_MAX)
		return shmar__fail(why, -EPROTO, "implausible segment size %llu",
				   (unsigned long long)m->seg_bytes);
	for (uint32_t r = 0; r < nranks; r++)
		if (m->pids[r] == 0 || m->pids[r] > (uint32_t)INT32_MAX)
			return shmar__fail(why, -EPROTO, "implausible pid for rank %u", r);
	if (m->pids[rank] != self_pid)
		return shmar__fail(why, -EPROTO, "rank 0 lists pid %u for this rank, not %u",
				   m->pids[rank], self_pid);
	return 0;
}
