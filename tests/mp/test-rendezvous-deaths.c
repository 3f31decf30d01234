/* SPDX-License-Identifier: MIT */
/*
 * test-rendezvous-deaths.c - ranks that die, or run out of descriptors or
 * memory, while the job forms.  Every survivor must return at once with the
 * real cause, naming the rank (and pid) it concerns, and nothing of the job
 * may stay in the rendezvous directory.
 *
 *   scenarios[]   rank 0 killed (SIGTERM and SIGKILL) at each stage: before
 *                 it listens, listening alone, with peers joined, after the
 *                 welcome; a peer killed after its hello or after the
 *                 welcome; a peer that cannot map the segment; rank 0 or a
 *                 peer out of descriptors (accept, the memfd, the watch)
 *   fd sweep      every open-files limit on rank 0 and on rank 1: init
 *                 succeeds on every rank or on none
 *   soak          a random rank killed at a random moment of init, on both
 *                 liveness paths; SHMAR_TEST_TRIALS=N trials each (default 40)
 *
 * Some ranks are held at a point of init by wrapping library functions
 * (-Wl,--wrap): after the welcome (shmar__segment_verify), before or after
 * listening (shmar__rdv_listen); or fail there (shmar__segment_map, -ENOMEM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CHILD_TIMEOUT_S 30

/* ---------------------------------------------------------------- held and failing ranks */

/* Shared with every rank: where a held rank is. */
struct hold {
	volatile int welcomed; /* the held rank has the segment */
	volatile int release;  /* the harness lets it go on */
};

static struct hold *hold;
static bool hold_after_welcome, fail_map, stop_before_listen, stop_after_listen; /* in one rank */

int __real_shmar__segment_verify(int fd, size_t size);
int __wrap_shmar__segment_verify(int fd, size_t size);
int __real_shmar__segment_map(int fd, size_t size, void **base);
int __wrap_shmar__segment_map(int fd, size_t size, void **base);
struct shmar__rdv;
int __real_shmar__rdv_listen(struct shmar__rdv *r);
int __wrap_shmar__rdv_listen(struct shmar__rdv *r);

/* A peer calls it first thing after the welcome came with the memfd. */
int __wrap_shmar__segment_verify(int fd, size_t size)
{
	double end = th_now() + 10;

	if (hold_after_welcome) {
		hold->welcomed = 1;
		while (!hold->release && th_now() < end)
			usleep(1000);
	}
	return __real_shmar__segment_verify(fd, size);
}

int __wrap_shmar__segment_map(int fd, size_t size, void **base)
{
	return fail_map ? -ENOMEM : __real_shmar__segment_map(fd, size, base);
}

/* Rank 0 calls it once its directory is open and swept. */
int __wrap_shmar__rdv_listen(struct shmar__rdv *r)
{
	int err;

	if (stop_before_listen)
		raise(SIGSTOP);
	err = __real_shmar__rdv_listen(r);
	if (stop_after_listen)
		raise(SIGSTOP); /* while the harness queues ranks on it */
	return err;
}

static int holds_after_welcome(int rank, int nranks, const struct th_member *m)
{
	(void)rank, (void)nranks, (void)m;
	hold_after_welcome = true;
	return 0;
}

static int fails_to_map(int rank, int nranks, const struct th_member *m)
{
	(void)rank, (void)nranks, (void)m;
	fail_map = true;
	return 0;
}

static int stops_before_listening(int rank, int nranks, const struct th_member *m)
{
	(void)rank, (void)nranks, (void)m;
	stop_before_listen = true;
	return 0;
}

static int stops_after_listening(int rank, int nranks, const struct th_member *m)
{
	(void)rank, (void)nranks, (void)m;
	stop_after_listen = true;
	return 0;
}

/* ---------------------------------------------------------------- steps of the scenarios */

static bool hold_welcomed(const void *arg)
{
	(void)arg;
	return hold->welcomed != 0;
}

static int arm(struct th_run *run, int a)
{
	(void)run, (void)a;
	hold->welcomed = 0;
	hold->release = 0;
	return 0;
}

static int wait_welcomed(struct th_run *run, int a)
{
	(void)run, (void)a;
	return th_wait_for(hold_welcomed, NULL, 10) ? 0 : -1;
}

static int release(struct th_run *run, int a)
{
	(void)run, (void)a;
	hold->release = 1;
	return 0;
}

/* Every other rank of this job that failed names slot's rank and pid. */
static int all_name(struct th_run *run, int a)
{
	int slot = th_slot(run, a), err = 0;
	char who[64];

	if (slot < 0 || slot >= run->nslots)
		return -1;
	snprintf(who, sizeof(who), "rank %d (pid %d)", run->ranks[slot], (int)run->pids[slot]);
	for (int i = run->job_first_slot; i < run->nslots; i++) {
		const struct th_outcome *o = &run->out[i];

		if (i == slot || !o->done || o->err == 0)
			continue;
		if (!strstr(o->text, who)) {
			fprintf(stderr, "slot %d: \"%s\" does not name %s\n", i, o->text, who);
			err = -1;
		}
	}
	return err;
}

/* Rank 0 of this job used less than a ms of CPU in init: it never spun. */
static int root_cpu_below(struct th_run *run, int a)
{
	for (int i = run->job_first_slot; i < run->nslots; i++) {
		const struct th_outcome *o = &run->out[i];

		if (run->ranks[i] != 0)
			continue;
		printf("rank 0 used %.1f ms of CPU in init, returned %.0f ms after it started\n",
		       o->cpu_s * 1e3, (o->returned - o->started) * 1e3);
		return o->done && o->cpu_s * 1e3 < a ? 0 : -1;
	}
	return -1;
}

/* ---------------------------------------------------------------- the table */

#define GOOD { .m = { .expect = 0 } }
#define ROLE(err, text, ...) { .m = { .expect = (err), .msg = (text), __VA_ARGS__ } }
#define DEAD_ROOT "rank 0 (pid "
#define SIGNALS { SIGTERM, SIGKILL }
/* Rank 0 with an open-files limit, stopped once it listens while ranks queue on it. */
#define SHORT_ROOT(limit, text) \
	ROLE(-EMFILE, text, .nofile = (limit), .init_timeout_ms = 20000, \
	     .prepare = stops_after_listening)

static const struct th_scenario scenarios[] = {
	/* ------------------------------------------------ issue 14.2, 15.4c: rank 0 killed */
	{
		/*
		 * Before it listens (its directory open and swept): nothing of it
		 * is in the directory; the peers find nobody and time out naming
		 * rank 0.
		 */
		.name = "rank0_killed_before_listening",
		.roles = { { .m = { .prepare = stops_before_listening } },
			   ROLE(-ETIMEDOUT, "rank 0 did not open", .init_timeout_ms = 800) },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(0, 0, 3), TS_STOPPED(TH_LAST), TS_MARK,
			   TS_RUN(1, 1, 3), TS_RUN(1, 2, 3), TS_SLEEP(100), TS_KILL(-3, TH_EACH),
			   TS_EMPTY, TS_REAP_ALL, TS_AFTER(800), TS_WITHIN(3000), TS_EMPTY,
			   TS_FORM(3), TS_NEXT },
		.each = SIGNALS,
	},
	{
		/* Listening, nobody joined: its socket file stays until the next init in
		 * the directory (here another job's) sweeps it. */
		.name = "rank0_killed_listening_swept_by_next_init",
		.roles = { GOOD },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(0, 0, 3), TS_LISTENING,
			   TS_KILL(TH_LAST, TH_EACH), TS_SOCK_LEFT, TS_OTHER_INIT, TS_EMPTY, TS_FORM(3),
			   TS_NEXT },
		.each = SIGNALS,
	},
	{
		/* ... or until its own peers come: their init sweeps it, and they wait for
		 * a new rank 0 until their deadline */
		.name = "rank0_killed_listening_swept_by_peers",
		.roles = { GOOD, ROLE(-ETIMEDOUT, "rank 0 did not open", .init_timeout_ms = 500) },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(0, 0, 3), TS_LISTENING,
			   TS_KILL(TH_LAST, TH_EACH), TS_SOCK_LEFT, TS_RUN(1, 1, 3), TS_RUN(1, 2, 3),
			   TS_SOCK_GONE, TS_REAP_ALL, TS_EMPTY, TS_FORM(3), TS_NEXT },
		.each = SIGNALS,
	},
	{
		/* Two peers joined, one rank still to come: both return at once, and they
		 * removed its socket file */
		.name = "rank0_killed_with_peers_joined",
		.roles = { GOOD, ROLE(-EOWNERDEAD, DEAD_ROOT) },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(0, 0, 4), TS_LISTENING, TS_RUN(1, 1, 4),
			   TS_RUN(1, 2, 4), TS_CONNS(2), TS_SLEEP(50), TS_MARK, TS_KILL(-3, TH_EACH),
			   TS_REAP(-2), TS_REAP(-1), TS_RETURNED(-2, 1000), TS_RETURNED(-1, 1000),
			   TS_CALL(all_name, -3), TS_EMPTY, TS_FORM(4), TS_NEXT },
		.each = SIGNALS,
	},
	{
		/* After the welcome: rank 1 is ready, rank 2 holds the segment; both return at
		 * once (rank 0 had unlinked its socket when every rank connected) */
		.name = "rank0_killed_after_welcome",
		.roles = { GOOD, ROLE(-EOWNERDEAD, DEAD_ROOT),
			   ROLE(-EOWNERDEAD, DEAD_ROOT, .prepare = holds_after_welcome) },
		.steps = { TS_FOR, TS_NEW_JOB, TS_CALL(arm, 0), TS_RUN(0, 0, 3), TS_RUN(1, 1, 3),
			   TS_RUN(2, 2, 3), TS_CALL(wait_welcomed, 0), TS_EMPTY, TS_MARK,
			   TS_KILL(-3, TH_EACH), TS_CALL(release, 0), TS_REAP(-2), TS_REAP(-1),
			   TS_RETURNED(-2, 1000), TS_RETURNED(-1, 1000), TS_CALL(all_name, -3), TS_EMPTY,
			   TS_FORM(3), TS_NEXT },
		.each = SIGNALS,
	},

	/* ------------------------------------------------ issue 15.4a, b: a peer killed */
	{
		/* (b) rank 1 said hello and died while rank 3 is still to come: rank 0 and
		 * rank 2 return at once, naming it */
		.name = "peer_killed_after_hello",
		.roles = { ROLE(-EOWNERDEAD, "died or left while the job formed"), GOOD },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(0, 0, 4), TS_LISTENING, TS_RUN(1, 1, 4),
			   TS_RUN(0, 2, 4), TS_CONNS(2), TS_SLEEP(50), TS_MARK, TS_KILL(-2, TH_EACH),
			   TS_REAP(-3), TS_REAP(-1), TS_RETURNED(-3, 1000), TS_RETURNED(-1, 1000),
			   TS_CALL(all_name, -2), TS_EMPTY, TS_NEXT },
		.each = SIGNALS,
	},
	{
		/* (a) rank 2 killed holding the segment, before its READY: a death
		 * (-EOWNERDEAD naming it), never a protocol error */
		.name = "peer_killed_after_welcome",
		.roles = { ROLE(-EOWNERDEAD, "died or left while the job formed"),
			   { .m = { .prepare = holds_after_welcome } } },
		.steps = { TS_FOR, TS_NEW_JOB, TS_CALL(arm, 0), TS_RUN(0, 0, 3), TS_RUN(0, 1, 3),
			   TS_RUN(1, 2, 3), TS_CALL(wait_welcomed, 0), TS_MARK, TS_KILL(TH_LAST, TH_EACH),
			   TS_REAP(-3), TS_REAP(-2), TS_RETURNED(-3, 1000), TS_RETURNED(-2, 1000),
			   TS_CALL(all_name, -1), TS_EMPTY, TS_NEXT },
		.each = SIGNALS,
	},

	/* ------------------------------------------------ issue 15.4d: a peer cannot map */
	{
		/*
		 * Rank 1's mmap fails (-ENOMEM); rank 2 holds the segment until rank 0
		 * has failed the job and closed, so its READY finds rank 0 gone: it
		 * reads the FAIL queued for it and reports the real cause too.
		 */
		.name = "peer_cannot_map",
		.roles = { ROLE(-ENOMEM, "cannot map the segment"),
			   ROLE(-ENOMEM, "cannot map the segment", .prepare = fails_to_map),
			   ROLE(-ENOMEM, "cannot map the segment", .prepare = holds_after_welcome) },
		.steps = { TS_CALL(arm, 0), TS_MARK, TS_RUN(0, 0, 3), TS_RUN(1, 1, 3), TS_RUN(2, 2, 3),
			   TS_CALL(wait_welcomed, 0), TS_REAP(0), TS_REAP(1), TS_CALL(release, 0),
			   TS_REAP(2), TS_WITHIN(2000), TS_CALL(all_name, 1), TS_EMPTY },
	},

	/* ------------------------------------------------ issues 15.2, 15.3, 15.9: descriptors */
	{
		/*
		 * 15.2: rank 0 with an open-files limit of 6 to 11 (of the 12 a job
		 * of 3 needs) while both peers wait in its queue: it fails at once
		 * with -EMFILE and the limit (6: for the segment, 7 and up: in
		 * accept), without spinning (its CPU time), and the peers report
		 * the same cause.
		 */
		.name = "rank0_out_of_fds",
		.roles = {
			ROLE(-EMFILE, "out of file descriptors (open-files limit ", .init_timeout_ms = 20000),
			SHORT_ROOT(6, "cannot create the segment: out of file descriptors "
				   "(open-files limit 6;"),
			SHORT_ROOT(7, "cannot accept a rank: out of file descriptors "
				   "(open-files limit 7;"),
			SHORT_ROOT(8, "(open-files limit 8; a job of 3 ranks needs about 12 on rank 0"),
			SHORT_ROOT(9, "(open-files limit 9;"),
			SHORT_ROOT(10, "(open-files limit 10;"),
			SHORT_ROOT(11, "(open-files limit 11;"),
		},
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(TH_EACH, 0, 3), TS_STOPPED(TH_LAST),
			   TS_RUN(0, 1, 3), TS_RUN(0, 2, 3), TS_CONNS(2), TS_MARK, TS_CONT(-3),
			   TS_REAP_ALL, TS_RETURNED(-3, 1000), TS_RETURNED(-2, 1000),
			   TS_RETURNED(-1, 1000), TS_CALL(root_cpu_below, 100), TS_EMPTY, TS_NEXT },
		.each = { 1, 2, 3, 4, 5, 6 },
	},
	{
		/* 15.3: rank 1 with a limit of 5: the memfd does not fit (MSG_CTRUNC): -EMFILE
		 * naming the limit on rank 1, and the same cause on every rank */
		.name = "peer_out_of_fds_for_the_segment",
		.roles = { ROLE(-EMFILE, "cannot receive the segment: out of file descriptors "
				"(open-files limit 5;"),
			   ROLE(-EMFILE, "cannot receive the segment: out of file descriptors "
				"(open-files limit 5;", .nofile = 5) },
		.steps = { TS_MARK, TS_RUN(0, 0, 3), TS_RUN(1, 1, 3), TS_RUN(0, 2, 3), TS_REAP_ALL,
			   TS_WITHIN(2000), TS_CALL(all_name, 1), TS_EMPTY },
	},
	{
		/* 15.9: rank 1 has room for the segment but not to watch its peers (limit 6:
		 * a pidfd; 7: the watch itself): init fails on every rank, with its reason */
		.name = "peer_out_of_fds_for_the_watch",
		.roles = { ROLE(-EMFILE, "out of file descriptors (open-files limit"),
			   ROLE(-EMFILE, "cannot watch the peers (pidfd_open): out of file "
				"descriptors (open-files limit 6;", .nofile = 6),
			   ROLE(-EMFILE, "out of file descriptors (open-files limit 7;", .nofile = 7) },
		.steps = { TS_FOR, TS_NEW_JOB, TS_MARK, TS_RUN(0, 0, 3), TS_RUN(TH_EACH, 1, 3),
			   TS_RUN(0, 2, 3), TS_REAP_ALL, TS_WITHIN(2000), TS_CALL(all_name, -2),
			   TS_EMPTY, TS_NEXT },
		.each = { 1, 2 },
	},
	{
		/*
		 * Rank 1 with a limit of 4 cannot even connect: nobody can hear of it.
		 * Rank 0 names it at its deadline, and tells rank 2 (whose own
		 * deadline is later).
		 */
		.name = "peer_out_of_fds_before_connecting",
		.roles = { ROLE(-ETIMEDOUT, "did not arrive in time: 1", .init_timeout_ms = 500),
			   ROLE(-EMFILE, "cannot connect to rank 0: out of file descriptors "
				"(open-files limit 4;", .nofile = 4),
			   ROLE(-ETIMEDOUT, "did not arrive in time: 1", .init_timeout_ms = 2000) },
		.steps = { TS_MARK, TS_RUN(0, 0, 3), TS_RUN(1, 1, 3), TS_RUN(2, 2, 3), TS_REAP_ALL,
			   TS_AFTER(500), TS_WITHIN(2000), TS_EMPTY },
	},
};

static void run_scenario(void **state)
{
	assert_int_equal(th_scenario_run(*state), 0);
}

/* ---------------------------------------------------------------- every fd limit */

/*
 * Issue 15.9: init succeeds on a rank only when it succeeded on all.  Three
 * ranks, one (rank 0, then rank 1) under every open-files limit from one
 * that leaves it nothing to one that is enough: all succeed, or none.
 */
static int sweep_limit(int limited, int nofile, int *formed)
{
	struct th_outcome *out = th_outcomes(3);
	struct th_member m[3];
	char job[80];
	pid_t pids[3];
	int failed = 0;

	th_job_name(job, sizeof(job), "fdsweep");
	for (int r = 0; r < 3; r++) {
		m[r] = (struct th_member){ .job = job, .expect = TH_ANY, .init_timeout_ms = 500,
					   .out = &out[r], .nofile = r == limited ? nofile : 0 };
		pids[r] = th_spawn(th_member_rank, r, 3, &m[r], CHILD_TIMEOUT_S);
	}
	*formed = 0;
	for (int r = 0; r < 3; r++) {
		failed |= th_wait(pids[r]);
		*formed += out[r].done && out[r].err == 0;
	}
	if (failed || (*formed != 0 && *formed != 3)) {
		for (int r = 0; r < 3; r++)
			fprintf(stderr, "limit %d on rank %d: rank %d returned %d: %s\n", nofile,
				limited, r, out[r].err, out[r].text);
		failed = 1;
	}
	munmap(out, 3 * sizeof(*out));
	return failed;
}

static void test_all_or_none_under_fd_limits(void **state)
{
	int formed;

	(void)state;
	for (int limited = 0; limited < 2; limited++) {
		bool formed_once = false;

		for (int nofile = 4; nofile <= 13; nofile++) {
			assert_int_equal(sweep_limit(limited, nofile, &formed), 0);
			formed_once |= formed == 3;
			assert_int_equal(th_dir_entries(), 0);
		}
		assert_true(formed_once); /* the last limits are enough */
	}
}

/* ---------------------------------------------------------------- the soak */

enum verdict {
	DIED_IN_INIT,    /* -EOWNERDEAD from init, naming the dead rank */
	UNKNOWN_DEATH,   /* -ETIMEDOUT at the deadline, naming it: it died unseen */
	NO_ROOT,         /* -ETIMEDOUT at the deadline, "rank 0 did not open": this rank
			    came after rank 0 had failed the job and left */
	DIED_AFTER,      /* init succeeded, then a barrier: -EOWNERDEAD naming it */
	WRONG,           /* anything else: a failure */
	NVERDICTS
};

static const char *const verdict_names[NVERDICTS] = {
	"-EOWNERDEAD from init", "-ETIMEDOUT naming it", "-ETIMEDOUT rank 0 did not open",
	"formed, then -EOWNERDEAD", "wrong",
};

struct soak {
	int count[NVERDICTS];
	double *lat_ms;      /* death to the survivor's return, for -EOWNERDEAD */
	int nlat;
	int kill_stage[2];   /* kills before, after the victim's init returned */
};

#define INIT_TIMEOUT_MS 1000

/* What a survivor's outcome means, given who died when. */
static enum verdict judge(const struct th_outcome *o, int victim, pid_t vpid, double killed,
			  double *lat)
{
	char who[64], missing[32];

	snprintf(who, sizeof(who), "rank %d (pid %d)", victim, (int)vpid);
	if (!o->done)
		return WRONG;
	if (o->err == 0) {
		if (!o->held || o->held_err != -EOWNERDEAD || !strstr(o->held_text, who))
			return WRONG;
		*lat = (o->held_at - killed) * 1e3;
		return *lat <= 1000 ? DIED_AFTER : WRONG;
	}
	if (o->err == -EOWNERDEAD) {
		*lat = (o->returned - killed) * 1e3;
		return strstr(o->text, who) && *lat <= 1000 ? DIED_IN_INIT : WRONG;
	}
	/* at its deadline, or rank 0's (which started a little earlier, or later) */
	if (o->err != -ETIMEDOUT || o->returned - o->started < INIT_TIMEOUT_MS * 1e-3 - 0.2 ||
	    o->returned - o->started > INIT_TIMEOUT_MS * 1e-3 + 1)
		return WRONG;
	if (strstr(o->text, "rank 0 did not open"))
		return victim == 0 ? UNKNOWN_DEATH : NO_ROOT;
	snprintf(missing, sizeof(missing), "did not arrive in time: ");
	if (!strstr(o->text, missing))
		return WRONG;
	/* the list of missing ranks holds the victim */
	for (const char *p = strstr(o->text, missing) + strlen(missing); *p;) {
		char *end;
		long r = strtol(p, &end, 10);

		if (end == p)
			break;
		if (r == victim)
			return UNKNOWN_DEATH;
		p = end + strspn(end, ", ");
	}
	return WRONG;
}

/* One trial: nranks ranks, one killed with sig after delay_us. */
static int soak_trial(struct soak *s, int nranks, int victim, int sig, unsigned delay_us,
		      bool no_uring)
{
	struct th_outcome *out = th_outcomes(nranks);
	struct th_member m[8];
	pid_t pids[8];
	int order[8], failed = 0, st = 0;
	double killed;
	char job[80];

	th_job_name(job, sizeof(job), "soak");
	for (int i = 0; i < nranks; i++)
		order[i] = i;
	for (int i = nranks - 1; i > 0; i--) { /* ranks start in any order */
		int j = (int)(th_rand() % (uint64_t)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < nranks; i++) {
		int r = order[i];

		m[r] = (struct th_member){ .job = job, .expect = TH_ANY, .hold = true,
					   .init_timeout_ms = INIT_TIMEOUT_MS, .out = &out[r],
					   .env = { no_uring ? "SHMAR_IO_URING=0" : "SHMAR_IO_URING=auto" } };
		pids[r] = th_spawn(th_member_rank, r, nranks, &m[r], CHILD_TIMEOUT_S);
	}
	usleep(delay_us);
	killed = th_now();
	kill(pids[victim], sig);
	if (waitpid(pids[victim], &st, 0) != pids[victim] || !WIFSIGNALED(st) ||
	    WTERMSIG(st) != sig) {
		fprintf(stderr, "soak: the victim's wait status is %#x\n", st);
		failed = 1;
	}
	s->kill_stage[out[victim].done ? 1 : 0]++;
	for (int r = 0; r < nranks; r++) {
		double lat = 0;
		enum verdict v;

		if (r == victim)
			continue;
		failed |= th_wait(pids[r]);
		v = judge(&out[r], victim, pids[victim], killed, &lat);
		s->count[v]++;
		if (v == DIED_IN_INIT || v == DIED_AFTER)
			s->lat_ms[s->nlat++] = lat;
		failed |= v == WRONG;
	}
	for (int r = 0; r < nranks && failed; r++)
		fprintf(stderr,
			"soak: %d ranks, rank %d (pid %d) killed by %d after %u us; "
			"rank %d: init %d \"%s\" %.0f..%.0f ms; then %d \"%s\"\n",
			nranks, victim, (int)pids[victim], sig, delay_us, r, out[r].err, out[r].text,
			(out[r].started - killed) * 1e3, (out[r].returned - killed) * 1e3,
			out[r].held_err, out[r].held_text);
	if (th_dir_entries() != 0) {
		fprintf(stderr, "soak: %d entries left after rank %d was killed by %d after %u us\n",
			th_dir_entries(), victim, sig, delay_us);
		failed = 1;
	}
	munmap(out, (size_t)nranks * sizeof(*out));
	return failed;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int trials(void)
{
	const char *v = getenv("SHMAR_TEST_TRIALS");

	return v && atoi(v) > 0 ? atoi(v) : 40;
}

/*
 * Issue 15.4: SIGKILL or SIGTERM of a random rank of 2 to 4 at a random
 * moment of init.  Every survivor returns: with -EOWNERDEAD naming the dead
 * rank and pid within 1 s of the death; or, at the deadline, -ETIMEDOUT
 * naming it (it died before anyone could know it) or saying rank 0 did not
 * open (this rank came after rank 0 had failed the job and gone); nothing
 * else; nothing left in the directory.
 */
static void soak(bool no_uring)
{
	struct soak *s = calloc(1, sizeof(*s));
	static const unsigned spans_us[] = { 2000, 6000, 20000 };
	int n = trials(), t, failed = 0;

	assert_non_null(s);
	s->lat_ms = calloc((size_t)n * 3, sizeof(double)); /* 3 survivors at most */
	assert_non_null(s->lat_ms);
	for (t = 0; t < n && !failed; t++) {
		int nranks = 2 + (int)(th_rand() % 3), victim = (int)(th_rand() % (uint64_t)nranks);
		int sig = th_rand() & 1 ? SIGKILL : SIGTERM;
		/* a rendezvous takes a few ms: most deaths fall inside it, some after */
		unsigned delay_us = (unsigned)(th_rand() % spans_us[th_rand() % 3]);

		failed = soak_trial(s, nranks, victim, sig, delay_us, no_uring);
	}
	qsort(s->lat_ms, (size_t)s->nlat, sizeof(double), cmp_double);
	printf("soak, SHMAR_IO_URING=%s: %d trials (the victim killed in init %d times, after %d)\n",
	       no_uring ? "0" : "auto", t, s->kill_stage[0], s->kill_stage[1]);
	for (int v = 0; v < NVERDICTS; v++)
		printf("  %-32s %d survivors\n", verdict_names[v], s->count[v]);
	if (s->nlat)
		printf("  death to return: median %.2f ms, max %.2f ms (%d survivors)\n",
		       s->lat_ms[s->nlat / 2], s->lat_ms[s->nlat - 1], s->nlat);
	assert_int_equal(failed, 0);
	assert_int_equal(s->count[WRONG], 0);
	free(s->lat_ms);
	free(s);
}

static void test_soak_io_uring_auto(void **state)
{
	(void)state;
	soak(false);
}

static void test_soak_io_uring_off(void **state)
{
	(void)state;
	soak(true);
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(scenarios) + 3];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		tests[n++] = (struct CMUnitTest){
			.name = scenarios[i].name,
			.test_func = run_scenario,
			.setup_func = th_setup, /* a private directory, */
			.teardown_func = th_teardown, /* empty again afterwards */
			.initial_state = (void *)&scenarios[i],
		};
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_all_or_none_under_fd_limits, th_setup, th_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_soak_io_uring_auto, th_setup, th_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_soak_io_uring_off, th_setup, th_teardown);
	hold = th_shared(sizeof(*hold));
	th_seed((uint64_t)getpid());
	if (getenv("TH_FILTER")) /* e.g. TH_FILTER='soak_*' */
		cmocka_set_test_filter(getenv("TH_FILTER"));
	return cmocka_run_group_tests_name("rendezvous-deaths", tests, NULL, NULL) ? 1 : 0;
}
