/* SPDX-License-Identifier: MIT */
/*
 * test-rendezvous-msg.c - the pure checks of the rendezvous wire format:
 * frame (length, magic, version, type, strings, status), rank 0's check of a
 * hello, a rank's check of a welcome, the token comparison, and 100,000
 * random and mutated messages against an independent statement of the rules.
 *
 * SHMAR_TEST_SEED=N replays the random part with another seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "rendezvous-msg.h"

#define WHY_FILL 0x5a

static struct shmar__report why_rep = { .rank = -1 };
#define why (why_rep.text)

static void why_reset(void)
{
	memset(why, WHY_FILL, sizeof(why));
}

/* The reason text is always a terminated string. */
static void assert_why_terminated(void)
{
	assert_non_null(memchr(why, '\0', sizeof(why)));
}

static void hello(struct shmar__msg *m, uint32_t nranks, uint32_t rank, uint32_t pid,
		  const char *token)
{
	shmar__msg_init(m, SHMAR_MSG_HELLO);
	m->nranks = nranks;
	m->rank = rank;
	m->pid = pid;
	if (token) /* zero-padded, as rendezvous.c sends it */
		memcpy(m->token, token, strnlen(token, SHMAR_TOKEN_MAX));
}

static void welcome(struct shmar__msg *m, uint32_t nranks, uint32_t rank)
{
	shmar__msg_init(m, SHMAR_MSG_WELCOME);
	m->nranks = nranks;
	m->rank = rank;
	m->seg_bytes = 1u << 20;
	for (uint32_t r = 0; r < nranks; r++)
		m->pids[r] = 1000 + r;
}

static int check_hello(const struct shmar__msg *m, uint32_t nranks, const char *token)
{
	int err;

	why_reset();
	err = shmar__msg_check_hello(m, nranks, token, &why_rep);
	if (err)
		assert_why_terminated();
	return err;
}

static int check_welcome(const struct shmar__msg *m, uint32_t nranks, uint32_t rank,
			 uint32_t self)
{
	int err;

	why_reset();
	err = shmar__msg_check_welcome(m, nranks, rank, self, &why_rep);
	if (err)
		assert_why_terminated();
	return err;
}

/* ---------------------------------------------------------------- layout, init */

static void test_msg_init(void **state)
{
	struct shmar__msg m;

	(void)state;
	memset(&m, 0xff, sizeof(m));
	shmar__msg_init(&m, SHMAR_MSG_READY);
	assert_int_equal(m.magic, SHMAR_MSG_MAGIC);
	assert_int_equal(m.version, SHMAR_MSG_VERSION);
	assert_int_equal(m.type, SHMAR_MSG_READY);
	assert_int_equal(m.status, 0);
	assert_int_equal(m.nranks, 0);
	assert_int_equal(m.rank, 0);
	assert_int_equal(m.pid, 0);
	assert_true(m.seg_bytes == 0);
	for (size_t i = 0; i < sizeof(m.token); i++)
		assert_int_equal(m.token[i], 0);
	for (size_t i = 0; i < sizeof(m.reason); i++)
		assert_int_equal(m.reason[i], 0);
	for (size_t i = 0; i < SHMAR_MAX_RANKS; i++)
		assert_int_equal(m.pids[i], 0);
	for (size_t i = 0; i < 16; i++)
		assert_true(m.cpus[i] == 0);
	/* every type a fresh message can have passes the frame check */
	for (int t = SHMAR_MSG_HELLO; t <= SHMAR_MSG_FAIL; t++) {
		shmar__msg_init(&m, (enum shmar__msg_type)t);
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	}
}

/* ---------------------------------------------------------------- frame */

static void test_frame_exact_length(void **state)
{
	struct shmar__msg m;

	(void)state;
	hello(&m, 2, 1, 42, NULL);
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	assert_int_equal(shmar__msg_check_frame(&m, 0), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, 1), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m) - 1), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m) + 1), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, offsetof(struct shmar__msg, cpus)), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, 2 * sizeof(m)), -EBADMSG);
	assert_int_equal(shmar__msg_check_frame(&m, SIZE_MAX), -EBADMSG);
	/* a short frame of another version is garbage, not a version to answer */
	m.version = SHMAR_MSG_VERSION + 1;
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m) - 8), -EBADMSG);
}

static void test_frame_magic(void **state)
{
	static const uint32_t bad[] = { 0, 1, SHMAR_MSG_MAGIC ^ 1, SHMAR_MSG_MAGIC ^ 0x80000000u,
					0x44525653u /* byte-swapped */, UINT32_MAX };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hello(&m, 2, 1, 42, NULL);
		m.magic = bad[i];
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
		/* the magic decides before the version: garbage is never answered */
		m.version = SHMAR_MSG_VERSION + 1;
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	}
}

static void test_frame_version(void **state)
{
	static const uint16_t other[] = { 0, SHMAR_MSG_VERSION + 1, 0x100, UINT16_MAX };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		hello(&m, 2, 1, 42, NULL);
		m.version = other[i];
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EPROTO);
		/* another version may lay out everything else differently: still -EPROTO */
		m.type = 99;
		memset(m.token, 'x', sizeof(m.token));
		m.status = 7;
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EPROTO);
	}
}

static void test_frame_type(void **state)
{
	static const uint16_t bad[] = { 0, SHMAR_MSG_FAIL + 1, 0xff, 0x101, UINT16_MAX };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hello(&m, 2, 1, 42, NULL);
		m.type = bad[i];
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	}
	for (uint16_t t = SHMAR_MSG_HELLO; t <= SHMAR_MSG_FAIL; t++) {
		hello(&m, 2, 1, 42, NULL);
		m.type = t;
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	}
}

static void test_frame_strings(void **state)
{
	struct shmar__msg m;

	(void)state;
	/* the longest token and reason still fit with their terminator */
	hello(&m, 2, 1, 42, NULL);
	memset(m.token, 't', sizeof(m.token) - 1);
	memset(m.reason, 'r', sizeof(m.reason) - 1);
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	/* one byte more and they are unterminated */
	m.token[sizeof(m.token) - 1] = 't';
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	m.token[sizeof(m.token) - 1] = '\0';
	m.reason[sizeof(m.reason) - 1] = 'r';
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	/* both unterminated */
	m.token[sizeof(m.token) - 1] = 't';
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	/* a terminator anywhere will do; bytes after it are the sender's business */
	hello(&m, 2, 1, 42, NULL);
	memset(m.token, 'a', sizeof(m.token));
	m.token[100] = '\0';
	memset(m.reason, 'b', sizeof(m.reason));
	m.reason[0] = '\0';
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	/* non-ASCII bytes are not the frame check's concern */
	memset(m.token, 0xff, sizeof(m.token) - 1);
	m.token[sizeof(m.token) - 1] = '\0';
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
}

static void test_frame_status(void **state)
{
	static const int32_t good[] = { 0, -1, -EPROTO, -EACCES, -4095 };
	static const int32_t bad[] = { 1, 2, EPROTO, 4095, INT32_MAX, -4096, -100000, INT32_MIN };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		shmar__msg_init(&m, SHMAR_MSG_FAIL);
		m.status = good[i];
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		shmar__msg_init(&m, SHMAR_MSG_REJECT);
		m.status = bad[i];
		assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), -EBADMSG);
	}
}

/* ---------------------------------------------------------------- hello */

static void test_hello_good(void **state)
{
	struct shmar__msg m;

	(void)state;
	for (uint32_t n = 2; n <= SHMAR_MAX_RANKS; n *= 2) {
		for (uint32_t r = 1; r < n; r += n / 4 + 1) {
			hello(&m, n, r, 4711, NULL);
			assert_int_equal(check_hello(&m, n, NULL), 0);
			assert_int_equal(check_hello(&m, n, ""), 0); /* "" means no token */
		}
		hello(&m, n, n - 1, 1, "abc");
		assert_int_equal(check_hello(&m, n, "abc"), 0);
	}
	/* any pid but 0: the caller compares it with SO_PEERCRED */
	hello(&m, 2, 1, UINT32_MAX, NULL);
	assert_int_equal(check_hello(&m, 2, NULL), 0);
	/* cpus and reason are not checked */
	memset(m.cpus, 0xff, sizeof(m.cpus));
	snprintf(m.reason, sizeof(m.reason), "anything");
	assert_int_equal(check_hello(&m, 2, NULL), 0);
}

static void test_hello_type(void **state)
{
	struct shmar__msg m;

	(void)state;
	for (uint16_t t = SHMAR_MSG_WELCOME; t <= SHMAR_MSG_FAIL; t++) {
		hello(&m, 2, 1, 42, NULL);
		m.type = t;
		assert_int_equal(check_hello(&m, 2, NULL), -EBADMSG);
	}
}

static void test_hello_nranks_mismatch(void **state)
{
	static const uint32_t theirs[] = { 0, 1, 3, 4, SHMAR_MAX_RANKS, SHMAR_MAX_RANKS + 1,
					   UINT32_MAX };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		hello(&m, theirs[i], 1, 42, NULL);
		assert_int_equal(check_hello(&m, 2, NULL), -EINVAL);
		assert_non_null(strstr(why, "rank 1"));
	}
	/* the token is checked first: a client without it cannot make rank 0
	 * fail the job by claiming another shape */
	hello(&m, 3, 2, 42, "wrong");
	assert_int_equal(check_hello(&m, 2, "right"), -EACCES);
	assert_non_null(strstr(why, "rank 2"));
	hello(&m, 3, 2, 42, "right");
	assert_int_equal(check_hello(&m, 2, "right"), -EINVAL);
	assert_non_null(strstr(why, "rank 2"));
	assert_non_null(strstr(why, "3"));
}

static void test_hello_rank_range(void **state)
{
	static const uint32_t bad[] = { 0, 4, 5, 100, SHMAR_MAX_RANKS, UINT32_MAX };
	struct shmar__msg m;
	char name[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hello(&m, 4, bad[i], 42, NULL);
		assert_int_equal(check_hello(&m, 4, NULL), -EINVAL);
		snprintf(name, sizeof(name), "rank %u", bad[i]);
		assert_non_null(strstr(why, name));
	}
	/* rank 5 of 2, as a hostile client would claim */
	hello(&m, 2, 5, 42, NULL);
	assert_int_equal(check_hello(&m, 2, NULL), -EINVAL);
	assert_non_null(strstr(why, "rank 5"));
}

static void test_hello_pid_zero(void **state)
{
	struct shmar__msg m;

	(void)state;
	hello(&m, 3, 2, 0, NULL);
	assert_int_equal(check_hello(&m, 3, NULL), -EBADMSG);
	assert_non_null(strstr(why, "rank 2"));
}

static void test_hello_token(void **state)
{
	static const struct {
		const char *want, *sent;
		int err;
	} cases[] = {
		{ "abc", "abc", 0 },
		{ NULL, NULL, 0 },
		{ "", NULL, 0 },
		{ NULL, "", 0 },
		{ "abc", "abd", -EACCES },   /* wrong */
		{ "abc", "Abc", -EACCES },
		{ "abc", NULL, -EACCES },    /* missing */
		{ "abc", "", -EACCES },
		{ NULL, "abc", -EACCES },    /* extra */
		{ "", "abc", -EACCES },
		{ "abc", "ab", -EACCES },    /* prefix */
		{ "abc", "abcd", -EACCES },  /* longer */
		{ "ab", "abc", -EACCES },
	};
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hello(&m, 2, 1, 42, cases[i].sent);
		assert_int_equal(check_hello(&m, 2, cases[i].want), cases[i].err);
		if (cases[i].err)
			assert_non_null(strstr(why, "rank 1"));
	}
	/* the token never appears in the reason: it goes back to whoever sent it */
	hello(&m, 2, 1, 42, "guess");
	assert_int_equal(check_hello(&m, 2, "s3cr3t-value"), -EACCES);
	assert_null(strstr(why, "s3cr3t"));
	assert_null(strstr(why, "guess"));
}

static void test_hello_token_longest(void **state)
{
	char longest[SHMAR_TOKEN_MAX + 1];
	struct shmar__msg m;

	(void)state;
	memset(longest, 'k', SHMAR_TOKEN_MAX);
	longest[SHMAR_TOKEN_MAX] = '\0';
	hello(&m, 2, 1, 42, longest);
	assert_int_equal(check_hello(&m, 2, longest), 0);
	/* differing in the last character only */
	m.token[SHMAR_TOKEN_MAX - 1] = 'j';
	assert_int_equal(check_hello(&m, 2, longest), -EACCES);
	/* bytes after the terminator: the sender must zero-pad, anything else is refused */
	hello(&m, 2, 1, 42, "abc");
	m.token[200] = 'x';
	assert_int_equal(check_hello(&m, 2, "abc"), -EACCES);
}

/* A reason longer than a message holds is cut to fit, never overrun. */
static void test_reason_truncated(void **state)
{
	char longer[3 * SHMAR_REASON_MAX];
	struct shmar__msg m;

	(void)state;
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	shmar__msg_init(&m, SHMAR_MSG_FAIL);
	memset(m.pids, 0x5a, sizeof(m.pids)); /* the field after reason */
	shmar__msg_set_reason(&m, longer);
	assert_int_equal(strlen(m.reason), SHMAR_REASON_MAX - 1);
	assert_int_equal(m.pids[0], 0x5a5a5a5a);
	assert_int_equal(shmar__msg_check_frame(&m, sizeof(m)), 0);
	shmar__msg_set_reason(&m, NULL);
	assert_string_equal(m.reason, "");
	shmar__msg_set_reason(&m, "rank 3 (pid 7) died");
	assert_string_equal(m.reason, "rank 3 (pid 7) died");
}

/* ---------------------------------------------------------------- welcome */

static void test_welcome_good(void **state)
{
	struct shmar__msg m;

	(void)state;
	for (uint32_t n = 2; n <= SHMAR_MAX_RANKS; n *= 2) {
		welcome(&m, n, n - 1);
		assert_int_equal(check_welcome(&m, n, n - 1, 1000 + n - 1), 0);
		welcome(&m, n, 1);
		assert_int_equal(check_welcome(&m, n, 1, 1001), 0);
	}
	welcome(&m, 2, 1);
	m.seg_bytes = (uint64_t)INT64_MAX; /* implausible is the receiver's fstat's call */
	m.pids[0] = (uint32_t)INT32_MAX;
	assert_int_equal(check_welcome(&m, 2, 1, 1001), 0);
	/* entries beyond nranks are not looked at */
	welcome(&m, 2, 1);
	for (size_t r = 2; r < SHMAR_MAX_RANKS; r++)
		m.pids[r] = r % 2 ? 0 : UINT32_MAX;
	assert_int_equal(check_welcome(&m, 2, 1, 1001), 0);
}

static void test_welcome_type(void **state)
{
	struct shmar__msg m;

	(void)state;
	for (uint16_t t = SHMAR_MSG_HELLO; t <= SHMAR_MSG_FAIL; t++) {
		if (t == SHMAR_MSG_WELCOME)
			continue;
		welcome(&m, 2, 1);
		m.type = t;
		assert_int_equal(check_welcome(&m, 2, 1, 1001), -EPROTO);
	}
}

static void test_welcome_identity(void **state)
{
	struct shmar__msg m;

	(void)state;
	welcome(&m, 3, 1);
	assert_int_equal(check_welcome(&m, 4, 1, 1001), -EPROTO); /* other nranks */
	assert_int_equal(check_welcome(&m, 2, 1, 1001), -EPROTO);
	assert_int_equal(check_welcome(&m, 3, 2, 1001), -EPROTO); /* answered for another rank */
	assert_int_equal(check_welcome(&m, 3, 2, 1002), -EPROTO);
	m.rank = 0;
	assert_int_equal(check_welcome(&m, 3, 1, 1001), -EPROTO);
	m.rank = 1;
	m.nranks = UINT32_MAX;
	assert_int_equal(check_welcome(&m, 3, 1, 1001), -EPROTO);
}

static void test_welcome_seg_bytes(void **state)
{
	static const uint64_t bad[] = { 0, (uint64_t)INT64_MAX + 1, UINT64_MAX };
	struct shmar__msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		welcome(&m, 2, 1);
		m.seg_bytes = bad[i];
		assert_int_equal(check_welcome(&m, 2, 1, 1001), -EPROTO);
		assert_non_null(strstr(why, "segment"));
	}
}

static void test_welcome_pids(void **state)
{
	struct shmar__msg m;
	char name[32];

	(void)state;
	/* pid 0 or beyond pid_t for any rank, the own one included */
	for (uint32_t r = 0; r < 5; r++) {
		welcome(&m, 5, 3);
		m.pids[r] = 0;
		assert_int_equal(check_welcome(&m, 5, 3, r == 3 ? 0 : 1003), -EPROTO);
		snprintf(name, sizeof(name), "rank %u", r);
		assert_non_null(strstr(why, name));
		welcome(&m, 5, 3);
		m.pids[r] = (uint32_t)INT32_MAX + 1;
		assert_int_equal(check_welcome(&m, 5, 3, 1003), -EPROTO);
		m.pids[r] = UINT32_MAX;
		assert_int_equal(check_welcome(&m, 5, 3, 1003), -EPROTO);
	}
	/* the last rank of the largest job */
	welcome(&m, SHMAR_MAX_RANKS, 1);
	m.pids[SHMAR_MAX_RANKS - 1] = 0;
	assert_int_equal(check_welcome(&m, SHMAR_MAX_RANKS, 1, 1001), -EPROTO);
	/* pids[rank] is somebody else */
	welcome(&m, 3, 2);
	assert_int_equal(check_welcome(&m, 3, 2, 1001), -EPROTO);
	assert_int_equal(check_welcome(&m, 3, 2, 4711), -EPROTO);
	assert_non_null(strstr(why, "4711"));
	assert_int_equal(check_welcome(&m, 3, 2, 1002), 0);
}

/* ---------------------------------------------------------------- token_equal */

static void test_token_equal(void **state)
{
	char a[SHMAR_TOKEN_MAX + 1], b[SHMAR_TOKEN_MAX + 1];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_true(shmar__token_equal(a, b));
	strcpy(a, "abc");
	assert_false(shmar__token_equal(a, b));
	assert_false(shmar__token_equal(b, a));
	strcpy(b, "abc");
	assert_true(shmar__token_equal(a, b));
	assert_true(shmar__token_equal(a, a));
	/* every position counts, the padding included */
	for (size_t i = 0; i < sizeof(a); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(b, a, sizeof(a));
			b[i] = (char)(b[i] ^ (1u << bit));
			assert_false(shmar__token_equal(a, b));
			assert_false(shmar__token_equal(b, a));
		}
	}
	memset(a, 0xff, sizeof(a));
	memset(b, 0xff, sizeof(b));
	assert_true(shmar__token_equal(a, b));
	b[SHMAR_TOKEN_MAX] = 0x7f;
	assert_false(shmar__token_equal(a, b));
}

/* ---------------------------------------------------------------- random */

/* The rules, stated again independently of the library, in the library's order. */
static int oracle_frame(const struct shmar__msg *m, size_t len)
{
	if (len != sizeof(*m) || m->magic != SHMAR_MSG_MAGIC)
		return -EBADMSG;
	if (m->version != SHMAR_MSG_VERSION)
		return -EPROTO;
	if (m->type < 1 || m->type > 6)
		return -EBADMSG;
	if (strnlen(m->token, sizeof(m->token)) == sizeof(m->token) ||
	    strnlen(m->reason, sizeof(m->reason)) == sizeof(m->reason))
		return -EBADMSG;
	if (m->status > 0 || m->status < -4095)
		return -EBADMSG;
	return 0;
}

static int oracle_hello(const struct shmar__msg *m, uint32_t nranks, const char *token)
{
	char want[SHMAR_TOKEN_MAX + 1] = { 0 };

	if (m->type != SHMAR_MSG_HELLO || m->pid == 0)
		return -EBADMSG;
	if (token)
		memcpy(want, token, strlen(token));
	if (memcmp(want, m->token, sizeof(want)))
		return -EACCES;
	return m->nranks != nranks || m->rank == 0 || m->rank >= nranks ? -EINVAL : 0;
}

static int oracle_welcome(const struct shmar__msg *m, uint32_t nranks, uint32_t rank,
			  uint32_t self)
{
	if (m->type != SHMAR_MSG_WELCOME || m->nranks != nranks || m->rank != rank)
		return -EPROTO;
	if (m->seg_bytes == 0 || m->seg_bytes > (uint64_t)INT64_MAX)
		return -EPROTO;
	for (uint32_t r = 0; r < nranks; r++)
		if (m->pids[r] == 0 || m->pids[r] > (uint32_t)INT32_MAX)
			return -EPROTO;
	return m->pids[rank] == self ? 0 : -EPROTO;
}

static uint32_t edge32(void)
{
	static const uint32_t v[] = { 0, 1, 2, 3, 255, 256, 257, (uint32_t)INT32_MAX,
				      (uint32_t)INT32_MAX + 1, UINT32_MAX };

	return th_rand() % 2 ? v[th_rand() % (sizeof(v) / sizeof(v[0]))] : (uint32_t)th_rand();
}

/* Change one thing about a message: a field to an edge or random value, or raw bytes. */
static void mutate(struct shmar__msg *m, size_t *len)
{
	unsigned char *raw = (unsigned char *)m;
	size_t i;

	switch (th_rand() % 14) {
	case 0: m->magic = th_rand() % 4 ? edge32() : SHMAR_MSG_MAGIC; break;
	case 1: m->version = (uint16_t)(th_rand() % 4 ? th_rand() % 3 : th_rand()); break;
	case 2: m->type = (uint16_t)(th_rand() % 4 ? th_rand() % 8 : th_rand()); break;
	case 3: m->status = th_rand() % 2 ? (int32_t)(th_rand() % 8192) - 4096 : (int32_t)edge32();
		break;
	case 4: m->nranks = th_rand() % 2 ? (uint32_t)(th_rand() % 6) : edge32(); break;
	case 5: m->rank = th_rand() % 2 ? (uint32_t)(th_rand() % 6) : edge32(); break;
	case 6: m->pid = th_rand() % 2 ? 0 : edge32(); break;
	case 7:
		if (th_rand() % 2)
			m->seg_bytes = th_rand() % 2 ? 0 : UINT64_MAX;
		else
			m->seg_bytes = th_rand() >> (th_rand() % 64);
		break;
	case 8: /* a token byte, perhaps the terminator or one past it */
		i = th_rand() % 8 ? th_rand() % 8 : th_rand() % sizeof(m->token);
		m->token[i] = (char)(th_rand() % 3 ? th_rand() % 256 : 0);
		break;
	case 9: /* a reason without its terminator */
		i = th_rand() % sizeof(m->reason);
		memset(m->reason + i, 'r', sizeof(m->reason) - i);
		if (th_rand() % 2)
			m->reason[sizeof(m->reason) - 1] = '\0';
		break;
	case 10: /* a pid of the job */
		m->pids[th_rand() % 5] = th_rand() % 3 ? edge32() : 0;
		break;
	case 11: /* the length that arrived */
		if (th_rand() % 4)
			*len = sizeof(*m) + (th_rand() % 9) - 4;
		else
			*len = th_rand() % (2 * sizeof(*m));
		break;
	case 12: /* random bytes anywhere */
		for (int k = 1 + (int)(th_rand() % 4); k > 0; k--)
			raw[th_rand() % sizeof(*m)] = (unsigned char)th_rand();
		break;
	default: /* all garbage */
		for (i = 0; i < sizeof(*m); i++)
			raw[i] = (unsigned char)th_rand();
		break;
	}
}

static void test_random_messages(void **state)
{
	static const char *const tokens[] = { NULL, "", "abc", "abd", "0123456789abcdef" };
	const char *env = getenv("SHMAR_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed2026u;
	long frames_ok = 0, hellos_ok = 0, welcomes_ok = 0, rejected = 0;
	struct shmar__msg m;
	size_t len;

	(void)state;
	print_message("seed %llu (SHMAR_TEST_SEED to replay)\n", (unsigned long long)seed);
	th_seed(seed);
	for (long iter = 0; iter < 100000; iter++) {
		uint32_t nranks = 2 + (uint32_t)(th_rand() % 4);
		uint32_t rank = 1 + (uint32_t)(th_rand() % (nranks - 1));
		const char *token = tokens[th_rand() % 5];
		const char *sent = th_rand() % 4 ? token : tokens[th_rand() % 5];
		uint32_t self;
		int err, want, nmut = (int)(th_rand() % 4);

		/* a well-formed hello or welcome (or one for another job), then 0-3 mutations */
		if (th_rand() % 2) {
			uint32_t theirs = th_rand() % 8 ? nranks : nranks + 1;
			uint32_t pid = 1 + (uint32_t)(th_rand() % 100000);

			hello(&m, theirs, rank, pid, sent);
			for (int w = 0; w < 16; w++)
				m.cpus[w] = th_rand();
		} else {
			welcome(&m, nranks, rank);
		}
		if (th_rand() % 8 == 0)
			m.type = (uint16_t)(1 + th_rand() % 6);
		self = m.pids[rank];
		len = sizeof(m);
		for (int k = 0; k < nmut; k++)
			mutate(&m, &len);
		if (th_rand() % 16 == 0)
			self = (uint32_t)th_rand();

		err = shmar__msg_check_frame(&m, len);
		want = oracle_frame(&m, len);
		if (err != want)
			fail_msg("iteration %ld: check_frame %d, expected %d", iter, err, want);
		if (err == 0) {
			frames_ok++;
			assert_true(len == sizeof(m));
		} else {
			rejected++;
		}
		/* the content checks must be safe on any bytes, framed or not */
		err = check_hello(&m, nranks, token);
		want = oracle_hello(&m, nranks, token);
		if (err != want)
			fail_msg("iteration %ld: check_hello %d, expected %d", iter, err, want);
		if (err == 0) {
			assert_int_equal(m.type, SHMAR_MSG_HELLO);
			assert_true(m.rank >= 1 && m.rank < nranks && m.nranks == nranks);
			if (!token || !*token)
				assert_int_equal(m.token[0], '\0');
			else
				assert_string_equal(m.token, token);
			if (oracle_frame(&m, len) == 0)
				hellos_ok++;
		}
		err = check_welcome(&m, nranks, rank, self);
		want = oracle_welcome(&m, nranks, rank, self);
		if (err != want)
			fail_msg("iteration %ld: check_welcome %d, expected %d", iter, err, want);
		if (err == 0) {
			assert_int_equal(m.type, SHMAR_MSG_WELCOME);
			assert_true(m.seg_bytes > 0 && m.pids[rank] == self);
			if (oracle_frame(&m, len) == 0)
				welcomes_ok++;
		}
	}
	print_message("%ld frames passed (%ld hellos, %ld welcomes accepted), %ld rejected\n",
		      frames_ok, hellos_ok, welcomes_ok, rejected);
	/* the generator reached both sides of every check */
	assert_true(hellos_ok > 1000 && welcomes_ok > 1000 && rejected > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_init),
		cmocka_unit_test(test_frame_exact_length),
		cmocka_unit_test(test_frame_magic),
		cmocka_unit_test(test_frame_version),
		cmocka_unit_test(test_frame_type),
		cmocka_unit_test(test_frame_strings),
		cmocka_unit_test(test_frame_status),
		cmocka_unit_test(test_hello_good),
		cmocka_unit_test(test_hello_type),
		cmocka_unit_test(test_hello_nranks_mismatch),
		cmocka_unit_test(test_hello_rank_range),
		cmocka_unit_test(test_hello_pid_zero),
		cmocka_unit_test(test_hello_token),
		cmocka_unit_test(test_hello_token_longest),
		cmocka_unit_test(test_reason_truncated),
		cmocka_unit_test(test_welcome_good),
		cmocka_unit_test(test_welcome_type),
		cmocka_unit_test(test_welcome_identity),
		cmocka_unit_test(test_welcome_seg_bytes),
		cmocka_unit_test(test_welcome_pids),
		cmocka_unit_test(test_token_equal),
		cmocka_unit_test(test_random_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
