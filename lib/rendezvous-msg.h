/* SPDX-License-Identifier: MIT */
/*
 * rendezvous-msg.h - the rendezvous wire format and its validation.
 *
 * One fixed-size, versioned message for every step, so a receiver can demand
 * an exact length and never parses variable data.  The checks are pure
 * functions (no I/O) so a fuzzer can drive them.
 */
#ifndef LIBSHMAR_RENDEZVOUS_MSG_H
#define LIBSHMAR_RENDEZVOUS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmar.h"
#include "cpus.h"
#include "report.h"

#define SHMAR_MSG_MAGIC 0x53565244u /* "DRVS" */
#define SHMAR_MSG_VERSION 1u
#define SHMAR_REASON_MAX 160

enum shmar__msg_type {
	SHMAR_MSG_HELLO = 1,   /* rank -> rank 0: who I am */
	SHMAR_MSG_WELCOME = 2, /* rank 0 -> rank: the segment (SCM_RIGHTS) and the pids */
	SHMAR_MSG_REJECT = 3,  /* rank 0 -> rank: refused, status says why */
	SHMAR_MSG_READY = 4,   /* rank -> rank 0: mapped and touched, or failed (status) */
	SHMAR_MSG_GO = 5,      /* rank 0 -> ranks: the job is formed */
	SHMAR_MSG_FAIL = 6,    /* rank 0 -> ranks: the job cannot form, status says why */
};

struct shmar__msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	int32_t status;                  /* 0 or -errno */
	uint32_t nranks;
	uint32_t rank;
	uint32_t pid;
	uint64_t seg_bytes;
	char token[SHMAR_TOKEN_MAX + 1]; /* zero-padded */
	char reason[SHMAR_REASON_MAX];   /* NUL-terminated text for REJECT/READY/FAIL */
	uint32_t pids[SHMAR_MAX_RANKS];  /* WELCOME: pid of every rank */
	uint64_t cpus[SHMAR_CPU_WORDS];  /* HELLO: the sender's CPU affinity */
};

/* A message of type with the common fields filled and everything else zero. */
void shmar__msg_init(struct shmar__msg *m, enum shmar__msg_type type);

/* The reason of a REJECT, READY or FAIL, cut to fit. */
void shmar__msg_set_reason(struct shmar__msg *m, const char *reason);

/* Token comparison that takes the same time wherever the tokens differ. */
bool shmar__token_equal(const char a[SHMAR_TOKEN_MAX + 1], const char b[SHMAR_TOKEN_MAX + 1]);

/*
 * Check a received message's frame: exact length, magic, version, known type,
 * terminated strings.  0, or -EBADMSG for garbage (drop without reply) and
 * -EPROTO for another protocol version (worth a reply).
 */
int shmar__msg_check_frame(const struct shmar__msg *m, size_t len);

/*
 * Rank 0's check of a HELLO against its own job: 0, or the code of the
 * REJECT with the reason in why: -EBADMSG garbage (dropped unanswered),
 * -EACCES a wrong token (checked before anything else is believed),
 * -EINVAL a rank that disagrees on the job's shape (nranks, rank range).
 */
int shmar__msg_check_hello(const struct shmar__msg *m, uint32_t nranks, const char *token,
			   struct shmar__report *why);

/* A rank's check of a WELCOME: 0 or -EPROTO; pids must be plausible and
 * pids[rank] == self_pid. */
int shmar__msg_check_welcome(const struct shmar__msg *m, uint32_t nranks, uint32_t rank,
			     uint32_t self_pid, struct shmar__report *why);

#endif /* LIBSHMAR_RENDEZVOUS_MSG_H */
