/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - what the tests share: forking ranks, private rendezvous
 * directories, unique job names, leak checks.
 *
 * Children never call cmocka asserts (a failing assert would longjmp into
 * the child's copy of the runner): they use TH_CHECK, which prints where it
 * failed and makes the rank function return 1; the parent checks every
 * child's exit status.
 */
#ifndef SHMAR_TEST_HELPERS_H
#define SHMAR_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmar.h"

#define TH_SKIP 77

#define TH_CHECK(cond)                                                                  \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "%s:%d: rank check failed: %s\n", __FILE__,     \
				__LINE__, #cond);                                       \
			return 1;                                                       \
		}                                                                       \
	} while (0)

#define TH_CHECK_EQ(a, b)                                                               \
	do {                                                                            \
		long long th_a_ = (long long)(a), th_b_ = (long long)(b);               \
		if (th_a_ != th_b_) {                                                   \
			fprintf(stderr, "%s:%d: rank check failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, th_a_, th_b_);              \
			return 1;                                                       \
		}                                                                       \
	} while (0)

/* Body of one rank, run in a forked child; 0 = success. */
typedef int (*th_rank_fn)(int rank, int nranks, void *arg);

/*
 * Fork nranks children running fn (each with alarm(timeout_s)), wait for all,
 * and return how many failed.  status[r] (if not NULL) receives each wait
 * status.  Children start in a shuffled order.
 */
int th_run_ranks(int nranks, th_rank_fn fn, void *arg, unsigned timeout_s, int *status);

/* Fork one child running fn(rank, nranks, arg); returns its pid. */
pid_t th_spawn(th_rank_fn fn, int rank, int nranks, void *arg, unsigned timeout_s);
/* Wait for pid; 0 if it exited 0, else 1 (and prints why). */
int th_wait(pid_t pid);

/* A job name no other test or concurrent run uses. */
void th_job_name(char *buf, size_t len, const char *what);

/* A fresh private rendezvous directory (0700) in th_dir; removed by th_dir_remove. */
extern char th_dir[256];
int th_dir_create(void);
/* Number of entries in th_dir (must be 0 after every test). */
int th_dir_entries(void);
int th_dir_remove(void);

/*
 * cmocka fixtures of every multi-process test: a fresh th_dir before; after,
 * the directory must be empty and no /dev/shm entry may have appeared (a
 * failure of the test), then th_dir is removed.
 */
int th_setup(void **state);
int th_teardown(void **state);

/* Default config pointing at th_dir with short timeouts. */
void th_config(struct shmar_config *cfg);

/* Open file descriptors of this process. */
int th_count_fds(void);
/* Entries of /dev/shm whose name mentions shmar. */
int th_devshm_shmar(void);

/* Anonymous memory shared with forked children. */
void *th_shared(size_t bytes);

/* Milliseconds of random delay, from a per-process seeded generator. */
void th_random_delay(unsigned max_ms);
uint64_t th_rand(void);
void th_seed(uint64_t seed);

/* Seconds of CPU (user + system) this process used. */
double th_cpu_seconds(void);
double th_now(void);

/* ---------------------------------------------------------------- rendezvous */

/* The socket file of job in th_dir. */
void th_sock_path(char *buf, size_t len, const char *job);
bool th_path_exists(const char *path);
/* Whether a socket bound at path is listening (from /proc/net/unix). */
bool th_sock_listening(const char *path);
/* Connections (accepted or still queued) to the socket bound at path; -1 if unknown. */
int th_unix_connections(const char *path);
/* What a killed rank 0 leaves: a socket file at path nobody listens on.  0 or -errno. */
int th_make_stale_socket(const char *path);
/* Poll cond(arg) every millisecond for up to seconds; its last answer. */
bool th_wait_for(bool (*cond)(const void *arg), const void *arg, double seconds);

/* Room for any text shmar_comm_last_error gives. */
#define TH_TEXT_MAX 384

/* What one rank's shmar_comm_init did, written by the rank into shared memory. */
struct th_outcome {
	volatile int done;       /* init returned (everything else is set before) */
	int err;                 /* what it returned */
	pid_t pid;
	double started, returned; /* th_now() before and after init */
	double cpu_s;            /* CPU seconds the rank had used when init returned */
	char text[TH_TEXT_MAX];  /* shmar_comm_last_error(NULL) on failure */
	volatile int held;       /* th_member.hold: a barrier failed after the job formed */
	int held_err;
	double held_at;
	char held_text[TH_TEXT_MAX];
};

/* th_member.expect: any return is fine; the caller judges the outcome. */
#define TH_ANY 1

/* One rank's shmar_comm_init as a test expects it (th_member_rank). */
struct th_member {
	const char *job;
	const char *dir;          /* NULL: th_dir */
	bool dir_from_env;        /* leave cfg.dir to SHMAR_DIR (set by env) */
	const char *token;        /* NULL: none */
	int64_t init_timeout_ms;  /* 0: 3 s when init must fail, else 10 s */
	const char *env[3];       /* "NAME=value" set in the rank before its config */
	int nofile;               /* > 0: only fds 0-2 kept, RLIMIT_NOFILE set to this */
	int (*prepare)(int rank, int nranks, const struct th_member *m); /* before init; 0 or fail */
	int expect;               /* init's exact return, or TH_ANY */
	bool or_success;          /* a race: 0 is fine too */
	const char *msg;          /* on failure, shmar_comm_last_error(NULL) contains it */
	bool msg_at_end;          /* ... and ends with it */
	bool hold;                /* formed: barriers until one fails (a peer died), recorded */
	struct th_outcome *out;   /* shared (th_outcomes), optional */
};

/*
 * th_rank_fn running shmar_comm_init for the th_member arg: the exact return
 * and text it expects, then (formed) barriers and destroy, or (failed) a NULL
 * comm; either way no descriptor leaked.
 */
int th_member_rank(int rank, int nranks, void *member);
/* n zeroed outcomes shared with forked ranks. */
struct th_outcome *th_outcomes(int n);

/*
 * A scenario: ranks started, stopped, killed and waited for in the order its
 * steps say, each with the expectations of its role.  Slots number the
 * processes in the order they were started; a negative slot counts back from
 * the last one (TH_LAST is the last).
 */
struct th_role {
	struct th_member m;       /* job and out are the scenario's */
	const char *subdir;       /* the rendezvous directory is th_dir/subdir */
	bool racer;               /* counted by TH_SUM */
};

enum th_op {
	TH_END,
	TH_RUN,          /* a role, b rank, c nranks: start it in the next slot */
	TH_REAP,         /* a slot: it must have exited 0 */
	TH_REAP_ALL,     /* every slot not yet reaped */
	TH_KILL,         /* a slot, b signal: it must die of it */
	TH_STOP,         /* a slot: SIGSTOP */
	TH_CONT,         /* a slot: SIGCONT */
	TH_STOPPED,      /* a slot: wait until it stopped (itself, SIGSTOP) */
	TH_SLEEP,        /* a ms */
	TH_LISTENING,    /* wait until rank 0 listens on the job's socket */
	TH_SOCK_GONE,    /* wait until the job's socket file is gone */
	TH_SOCK_LEFT,    /* the job's socket file is there now */
	TH_CONNS,        /* wait for a connections to the job's socket */
	TH_GOT,          /* wait until a slot of this job returned a from init */
	TH_SUM,          /* the racers of this job returned a in sum */
	TH_MARK,         /* start the clock of TH_WITHIN and TH_AFTER */
	TH_WITHIN,       /* at most a ms since the mark */
	TH_AFTER,        /* at least a ms since the mark */
	TH_RETURNED,     /* a slot's init returned at most b ms after the mark */
	TH_NEW_JOB,      /* a fresh job name */
	TH_FORM,         /* a good job of this name and a ranks forms */
	TH_OTHER_INIT,   /* a one-rank job of another name forms in the directory */
	TH_EMPTY,        /* th_dir (or th_dir/s) is empty */
	TH_CHMOD,        /* a mode of th_dir */
	TH_CHOWN,        /* a uid, b gid of th_dir (TH_OURS: ours) */
	TH_SYMLINK,      /* th_dir/s -> th_dir */
	TH_MKFILE,       /* th_dir/s, a regular file */
	TH_MKDIR,        /* th_dir/s, a directory */
	TH_REMOVE,       /* th_dir/s, file or directory */
	TH_STALE,        /* a stale socket file of the job */
	TH_CALL,         /* fn(run, a): the test's own step; 0 or fail */
	TH_FOR,          /* the steps up to TH_NEXT once per value of each[] */
	TH_NEXT,
};

#define TH_LAST (-1)
#define TH_EACH (-0x7fff0000) /* an argument: the value of each[] this time round */
#define TH_OURS (-2)

struct th_run;

struct th_step {
	enum th_op op;
	int a, b, c;
	const char *s;
	int (*fn)(struct th_run *run, int a);
};

/* Steps, as a scenario's table spells them. */
#define TS_RUN(role, rank, nranks) { .op = TH_RUN, .a = (role), .b = (rank), .c = (nranks) }
#define TS_REAP(slot) { .op = TH_REAP, .a = (slot) }
#define TS_REAP_ALL { .op = TH_REAP_ALL }
#define TS_KILL(slot, sig) { .op = TH_KILL, .a = (slot), .b = (sig) }
#define TS_STOP(slot) { .op = TH_STOP, .a = (slot) }
#define TS_CONT(slot) { .op = TH_CONT, .a = (slot) }
#define TS_STOPPED(slot) { .op = TH_STOPPED, .a = (slot) }
#define TS_SLEEP(ms) { .op = TH_SLEEP, .a = (ms) }
#define TS_LISTENING { .op = TH_LISTENING }
#define TS_SOCK_GONE { .op = TH_SOCK_GONE }
#define TS_SOCK_LEFT { .op = TH_SOCK_LEFT }
#define TS_CONNS(n) { .op = TH_CONNS, .a = (n) }
#define TS_GOT(err) { .op = TH_GOT, .a = (err) }
#define TS_SUM(err) { .op = TH_SUM, .a = (err) }
#define TS_MARK { .op = TH_MARK }
#define TS_WITHIN(ms) { .op = TH_WITHIN, .a = (ms) }
#define TS_AFTER(ms) { .op = TH_AFTER, .a = (ms) }
#define TS_RETURNED(slot, ms) { .op = TH_RETURNED, .a = (slot), .b = (ms) }
#define TS_NEW_JOB { .op = TH_NEW_JOB }
#define TS_FORM(nranks) { .op = TH_FORM, .a = (nranks) }
#define TS_OTHER_INIT { .op = TH_OTHER_INIT }
#define TS_EMPTY { .op = TH_EMPTY }
#define TS_EMPTY_IN(name) { .op = TH_EMPTY, .s = (name) }
#define TS_CHMOD(mode) { .op = TH_CHMOD, .a = (mode) }
#define TS_CHOWN(uid, gid) { .op = TH_CHOWN, .a = (uid), .b = (gid) }
#define TS_SYMLINK(name) { .op = TH_SYMLINK, .s = (name) }
#define TS_MKFILE(name) { .op = TH_MKFILE, .s = (name) }
#define TS_MKDIR(name) { .op = TH_MKDIR, .s = (name) }
#define TS_REMOVE(name) { .op = TH_REMOVE, .s = (name) }
#define TS_STALE { .op = TH_STALE }
#define TS_CALL(f, arg) { .op = TH_CALL, .fn = (f), .a = (arg) }
#define TS_FOR { .op = TH_FOR }
#define TS_NEXT { .op = TH_NEXT }

#define TH_MAX_STEPS 40
#define TH_MAX_ROLES 8
#define TH_MAX_SLOTS 48

struct th_scenario {
	const char *name;
	struct th_role roles[TH_MAX_ROLES];
	struct th_step steps[TH_MAX_STEPS];
	int each[16];             /* TH_FOR's values, up to the first 0 */
	bool needs_root;
};

/* The state of a scenario being run, for TH_CALL steps. */
struct th_run {
	const struct th_scenario *sc;
	char job[80];
	char path[512];           /* the job's socket file */
	pid_t pids[TH_MAX_SLOTS];
	bool reaped[TH_MAX_SLOTS];
	int roles[TH_MAX_SLOTS];
	int ranks[TH_MAX_SLOTS];
	int nslots, job_first_slot;
	struct th_outcome *out;   /* per slot */
	double mark;
};

/* Run the scenario: 0, or 1 after saying on stderr which step failed (every
 * rank still running is killed and reaped first). */
int th_scenario_run(const struct th_scenario *sc);
/* The slot a step argument names. */
int th_slot(const struct th_run *run, int a);

#endif /* SHMAR_TEST_HELPERS_H */
