/* SPDX-License-Identifier: MIT */
/*
 * rendezvous.h - how the ranks of a job find each other and get the segment.
 *
 * Rank 0 listens on <dir>/<job>.sock (SOCK_SEQPACKET); every other rank
 * connects, says hello, receives the segment's memfd with SCM_RIGHTS and the
 * pids of all ranks, maps it and says ready; rank 0 then says go.  The socket
 * file is unlinked as soon as every rank has connected; the connections stay
 * open for the life of the comm.
 */
#ifndef LIBSHMAR_RENDEZVOUS_H
#define LIBSHMAR_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmar.h"
#include "cpus.h"

struct shmar__rdv {
	int dirfd;
	int listen_fd;                 /* rank 0 until the job formed, else -1 */
	char sock_name[SHMAR_JOB_MAX + 8];
	char sock_path[108];
	int nranks;
	int rank;
	int socks[SHMAR_MAX_RANKS];    /* rank 0: per peer rank; others: [0] to rank 0 */
	int pidfds[SHMAR_MAX_RANKS];   /* rank 0: from SO_PEERPIDFD where the kernel has it */
	pid_t pids[SHMAR_MAX_RANKS];
	uint64_t cpus[SHMAR_CPU_WORDS]; /* rank 0: union of every rank's affinity */
	uint64_t deadline_ns;
	char why[256];                 /* the reason of the last failure */
};

/*
 * The rendezvous directory: setting (cfg->dir or SHMAR_DIR, which must be
 * absolute) when given, else $XDG_RUNTIME_DIR/shmar, else /tmp/shmar-<euid>.
 * *source says which: "setting", "XDG_RUNTIME_DIR" or "default".
 * 0, -EINVAL for a relative setting, -ENAMETOOLONG.
 */
int shmar__rdv_dir_resolve(const char *setting, char *out, size_t len, const char **source);

void shmar__rdv_init(struct shmar__rdv *r, int nranks, int rank, uint64_t deadline_ns);
/* Close everything still open; unlinks the socket file if rank 0 still owns it. */
void shmar__rdv_fini(struct shmar__rdv *r);

/* Open (creating it 0700 if missing) and vet the directory. */
int shmar__rdv_open_dir(struct shmar__rdv *r, const char *dir, const char *job);

/* rank 0 */
int shmar__rdv_listen(struct shmar__rdv *r);
int shmar__rdv_gather(struct shmar__rdv *r, const char *token);
int shmar__rdv_send_welcome(struct shmar__rdv *r, int memfd, size_t seg_bytes);
int shmar__rdv_collect_ready(struct shmar__rdv *r);
int shmar__rdv_finish(struct shmar__rdv *r, int status, const char *reason);

/* other ranks */
int shmar__rdv_connect(struct shmar__rdv *r, const char *token);
int shmar__rdv_recv_welcome(struct shmar__rdv *r, int *memfd, size_t *seg_bytes);
int shmar__rdv_send_ready(struct shmar__rdv *r, int status, const char *reason);
int shmar__rdv_recv_go(struct shmar__rdv *r);

#endif /* LIBSHMAR_RENDEZVOUS_H */
