/* SPDX-License-Identifier: MIT */
/*
 * rendezvous.h - how the ranks of a job find each other and get the segment.
 *
 * Rank 0 listens on <dir>/<job>.sock (SOCK_SEQPACKET); every other rank
 * connects and says hello.  When all are there, rank 0 sends each the
 * segment's memfd (SCM_RIGHTS) and the pids of all ranks; each maps it, sets
 * up its liveness watch and says ready (or why it failed); rank 0 then says
 * go, or fail with the first reason, to everyone.  So init succeeds on a
 * rank only when it succeeded on every rank, and every rank reports the
 * same cause when it does not.
 *
 * The socket file is unlinked as soon as every rank has connected, and on
 * any failure; a file left by a rank 0 that was killed is swept by the next
 * init in the directory.  The connections stay open for the life of the comm:
 * they are part of the liveness watch (liveness.h).
 */
#ifndef LIBSHMAR_RENDEZVOUS_H
#define LIBSHMAR_RENDEZVOUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cpus.h"
#include "report.h"
#include "shmar.h"

struct shmar__rdv {
	int dirfd;
	int listen_fd;                 /* rank 0 until every rank connected, else -1 */
	int spare_fd;                  /* rank 0: kept to answer a peer when out of fds */
	char sock_name[SHMAR_JOB_MAX + 8];
	char sock_path[108];
	int nranks;
	int rank;
	int socks[SHMAR_MAX_RANKS];    /* rank 0: per peer rank; others: [0] to rank 0 */
	int pidfds[SHMAR_MAX_RANKS];   /* rank 0: from SO_PEERPIDFD where the kernel has it */
	pid_t pids[SHMAR_MAX_RANKS];
	uint64_t cpus[SHMAR_CPU_WORDS]; /* rank 0: union of every rank's affinity */
	uint64_t deadline_ns;
	bool swept_own;                /* a peer removed a stale socket of this job */
	struct shmar__report *rep;     /* the comm's: where failures are described */
};

/* ------------------------------------------------ the directory (rendezvous-dir.c) */

/*
 * The rendezvous directory: setting (cfg->dir or SHMAR_DIR, which must be
 * absolute) when given, else $XDG_RUNTIME_DIR/shmar, else /tmp/shmar-<euid>.
 * *source says which: "setting", "XDG_RUNTIME_DIR" or "default".
 * 0, -EINVAL for a relative setting, -ENAMETOOLONG.
 */
int shmar__rdv_dir_resolve(const char *setting, char *out, size_t len, const char **source);

void shmar__rdv_init(struct shmar__rdv *r, int nranks, int rank, uint64_t deadline_ns,
		     struct shmar__report *rep);
/* Close everything still open; rank 0 unlinks its socket file if it still has it. */
void shmar__rdv_fini(struct shmar__rdv *r);

/* Open (creating it 0700 if missing) and vet the directory, then sweep
 * the socket files of dead jobs out of it. */
int shmar__rdv_open_dir(struct shmar__rdv *r, const char *dir, const char *job);

/* Remove this job's socket file if nobody listens on it; true if it did. */
bool shmar__rdv_sweep_own(struct shmar__rdv *r);

/* rank 0: bind and listen on the job's socket (a live one is -EADDRINUSE). */
int shmar__rdv_listen(struct shmar__rdv *r);
/* rank 0: unlink the socket file and stop listening. */
void shmar__rdv_stop_listening(struct shmar__rdv *r);

/* ------------------------------------------------ messages (rendezvous.c) */

struct shmar__msg;

/* Milliseconds to the deadline, for poll(); 0 once it passed. */
int shmar__rdv_remaining_ms(const struct shmar__rdv *r);
/* Send one message, with one fd when passfd >= 0; waits for room until the deadline. */
int shmar__rdv_send(struct shmar__rdv *r, int sock, const struct shmar__msg *m, int passfd);
/* Best effort, without waiting: a REJECT or FAIL to a peer that may be gone. */
void shmar__rdv_send_status(struct shmar__rdv *r, int sock, int type, int status,
			    const char *reason);
/*
 * Receive one message without blocking; any fd that comes is closed unless
 * want_fd is set (then one is kept).  The length, 0 at EOF, -EAGAIN,
 * -EBADMSG for a malformed frame or an unwanted fd, -EMFILE when the fd
 * could not be taken for lack of descriptors, or -errno.
 */
ssize_t shmar__rdv_recv(int sock, struct shmar__msg *m, int *want_fd);
/* "out of file descriptors" with the limit and what a job of nranks needs. */
int shmar__rdv_fail_fds(struct shmar__rdv *r, int err, const char *what);

/* ------------------------------------------------ rank 0 (rendezvous-root.c) */

/* Accept every rank's hello; fails fast on a death or a disagreement. */
int shmar__rdv_gather(struct shmar__rdv *r, const char *token);
int shmar__rdv_send_welcome(struct shmar__rdv *r, int memfd, size_t seg_bytes);
/* Every rank mapped the segment and watches its peers, or the first reason not. */
int shmar__rdv_collect_ready(struct shmar__rdv *r);
/* FAIL with status and the report's text to every rank known or queued. */
void shmar__rdv_refuse_all(struct shmar__rdv *r, int status);
/* GO to every rank (status 0), or FAIL with status and the report's text. */
void shmar__rdv_finish(struct shmar__rdv *r, int status);

/* ------------------------------------------------ other ranks (rendezvous-peer.c) */

int shmar__rdv_connect(struct shmar__rdv *r, const char *token);
int shmar__rdv_recv_welcome(struct shmar__rdv *r, int *memfd, size_t *seg_bytes);
/* READY with status (0, or the reason in the report); then GO, or why not. */
int shmar__rdv_ready_and_go(struct shmar__rdv *r, int status);

#endif /* LIBSHMAR_RENDEZVOUS_H */
