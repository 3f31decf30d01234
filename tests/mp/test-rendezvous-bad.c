/* SPDX-License-Identifier: MIT */
/*
 * test-rendezvous-bad.c - every bad input of the rendezvous, given by real
 * ranks, returns its documented code and text, and the others still form
 * the job where that is the right outcome:
 *
 *   -EINVAL       ranks that disagree on nranks (rank 0 fails at once, with
 *                 the text every rank gets); a relative rendezvous directory
 *   -EADDRINUSE   a second live rank 0, a second process claiming a rank
 *   -EACCES       unsafe directory (mode, owner, symlink, not a directory),
 *                 a rank of another uid, a wrong, missing or unexpected token
 *   -ETIMEDOUT    a rank that never comes, a rank 0 that never comes
 *   -EOWNERDEAD   rank 0 killed while a rank waits for it, a rank that gave up
 *
 * plus stale socket files in the way.  Each case is one row of scenarios[]:
 * the roles of its ranks (what init must return and what its text must
 * say) and the steps that start, stop, kill and wait for them
 * (th_scenario_run in helpers.c).  Raw clients are in test-rendezvous-raw.c,
 * deaths and exhausted resources in test-rendezvous-deaths.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

#define NOBODY 65534
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A rank of uid 65534 (no capabilities left). */
static int become_nobody(int rank, int nranks, const struct th_member *m)
{
	(void)rank;
	(void)nranks;
	(void)m;
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return -errno;
	/* the uid change made us undumpable: /proc/self/fd would be root's, uncountable */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -errno;
	return geteuid() == NOBODY ? 0 : -EPERM;
}

/* A rank working in th_dir/cwd, where a relative directory would be made. */
static int enter_cwd(int rank, int nranks, const struct th_member *m)
{
	char path[512];

	(void)rank;
	(void)nranks;
	(void)m;
	snprintf(path, sizeof(path), "%s/cwd", th_dir);
	return chdir(path) < 0 ? -errno : 0;
}

/* Roles most scenarios share. */
#define GOOD { .m = { .expect = 0 } }
#define REFUSED(err, text, ...) { .m = { .expect = (err), .msg = (text), __VA_ARGS__ } }

static const struct th_scenario scenarios[] = {
	/* ------------------------------------------------ -EINVAL: the job's shape */
	{
		/* a rank of another nranks, waiting before rank 0 comes: both fail at once */
		.name = "nranks_disagree_first",
		.roles = { REFUSED(-EINVAL, "rank 1 says nranks is 3, rank 0 says 2",
				   .init_timeout_ms = 20000) },
		.steps = { TS_MARK, TS_RUN(0, 1, 3), TS_SLEEP(50), TS_RUN(0, 0, 2), TS_REAP_ALL,
			   TS_WITHIN(5000), TS_EMPTY },
	},
	{
		/* a rank that already joined hears the same reason from rank 0 */
		.name = "nranks_disagree_joined",
		.roles = { REFUSED(-EINVAL, "rank 2 says nranks is 4, rank 0 says 3",
				   .init_timeout_ms = 20000) },
		.steps = { TS_MARK, TS_RUN(0, 0, 3), TS_RUN(0, 1, 3), TS_SLEEP(200), TS_RUN(0, 2, 4),
			   TS_REAP_ALL, TS_WITHIN(5000), TS_EMPTY },
	},
	{
		/*
		 * Issue 14.3: rank 0 is the one with the wrong count.  Both peers are
		 * queued on its socket (rank 0 stopped) before it reads a hello: it
		 * fails on the first and tells the other, all at once, all with the
		 * same text, all well before the 20 s deadline.
		 */
		.name = "rank0_wrong_nranks",
		.roles = { REFUSED(-EINVAL, "says nranks is 3, rank 0 says 4",
				   .init_timeout_ms = 20000) },
		.steps = { TS_RUN(0, 0, 4), TS_LISTENING, TS_SLEEP(20), TS_STOP(0), TS_RUN(0, 1, 3),
			   TS_RUN(0, 2, 3), TS_CONNS(2), TS_MARK, TS_CONT(0), TS_REAP_ALL,
			   TS_RETURNED(0, 1000), TS_RETURNED(1, 1000), TS_RETURNED(2, 1000),
			   TS_EMPTY },
	},
	{
		/*
		 * Issue 15.9: a relative directory (cfg.dir, then SHMAR_DIR) would be
		 * resolved against each rank's working directory: refused on every
		 * rank, naming the setting, and nothing made where the ranks work.
		 */
		.name = "relative_dir",
		.roles = {
			REFUSED(-EINVAL, "(dir, SHMAR_DIR) must be an absolute path", .dir = "rel/dir",
				.prepare = enter_cwd),
			REFUSED(-EINVAL, "(dir, SHMAR_DIR) must be an absolute path",
				.env = { "SHMAR_DIR=shmar" }, .dir_from_env = true,
				.prepare = enter_cwd),
		},
		.steps = { TS_MKDIR("cwd"), TS_MARK, TS_RUN(0, 0, 3), TS_RUN(0, 1, 3), TS_RUN(0, 2, 3),
			   TS_REAP_ALL, TS_RUN(1, 0, 3), TS_RUN(1, 1, 3), TS_RUN(1, 2, 3), TS_REAP_ALL,
			   TS_WITHIN(2000), TS_EMPTY_IN("cwd"), TS_REMOVE("cwd") },
	},

	/* ------------------------------------------------ -EADDRINUSE */
	{
		/* a second rank 0 (whatever its nranks) while the first forms: refused */
		.name = "second_rank0",
		.roles = { GOOD, REFUSED(-EADDRINUSE, "live job") },
		.steps = { TS_RUN(0, 0, 2), TS_LISTENING, TS_RUN(1, 0, 2), TS_REAP(TH_LAST),
			   TS_RUN(1, 0, 3), TS_REAP(TH_LAST), TS_RUN(0, 1, 2), TS_REAP_ALL },
	},
	{
		/* two rank 0s at the same moment, five times: exactly one wins; rank 1
		 * comes only once the loser is out, or the job could form first */
		.name = "second_rank0_race",
		.roles = { GOOD, { .m = { .expect = -EADDRINUSE, .or_success = true }, .racer = true } },
		.steps = { TS_FOR, TS_NEW_JOB, TS_RUN(1, 0, 2), TS_RUN(1, 0, 2), TS_GOT(-EADDRINUSE),
			   TS_RUN(0, 1, 2), TS_REAP_ALL, TS_SUM(-EADDRINUSE), TS_NEXT },
		.each = { 1, 1, 1, 1, 1 },
	},
	{
		/* two processes claiming rank 1: the second is refused, the first stays */
		.name = "duplicate_rank",
		.roles = { GOOD, { .m = { .expect = -EADDRINUSE, .or_success = true,
					  .msg = "already joined" }, .racer = true } },
		.steps = { TS_RUN(0, 0, 3), TS_RUN(1, 1, 3), TS_RUN(1, 1, 3), TS_GOT(-EADDRINUSE),
			   TS_RUN(0, 2, 3), TS_REAP_ALL, TS_SUM(-EADDRINUSE) },
	},

	/* ------------------------------------------------ -EACCES */
	{
		/* every mode giving group or others any access: both ranks refuse it */
		.name = "dir_mode",
		.roles = { REFUSED(-EACCES, "chmod 700") },
		.steps = { TS_FOR, TS_NEW_JOB, TS_CHMOD(TH_EACH), TS_RUN(0, 0, 2), TS_RUN(0, 1, 2),
			   TS_REAP_ALL, TS_NEXT, TS_CHMOD(0700) },
		.each = { 0777, 0701, 0702, 0704, 0710, 0720, 0740, 0750, 0755, 0711, 0770 },
	},
	{
		/* a directory of another uid, even with our group */
		.name = "dir_other_owner",
		.needs_root = true,
		.roles = { REFUSED(-EACCES, "belongs to uid 65534") },
		.steps = { TS_CHOWN(NOBODY, NOBODY), TS_RUN(0, 0, 2), TS_RUN(0, 1, 2), TS_REAP_ALL,
			   TS_CHOWN(NOBODY, TH_OURS), TS_NEW_JOB, TS_RUN(0, 0, 2), TS_RUN(0, 1, 2),
			   TS_REAP_ALL, TS_CHOWN(TH_OURS, TH_OURS) },
	},
	{
		/* a symlink to a good directory, and a regular file */
		.name = "dir_symlink_or_file",
		.roles = { { .m = { .expect = -EACCES, .msg = "symlink" }, .subdir = "link" },
			   { .m = { .expect = -EACCES, .msg = "not a directory" }, .subdir = "file" } },
		.steps = { TS_SYMLINK("link"), TS_RUN(0, 0, 2), TS_RUN(0, 1, 2), TS_REAP_ALL,
			   TS_REMOVE("link"), TS_MKFILE("file"), TS_RUN(1, 0, 2), TS_RUN(1, 1, 2),
			   TS_REAP_ALL, TS_REMOVE("file") },
	},
	{
		/* a rank of another uid fails its own directory check; the job forms without it */
		.name = "other_uid_rank",
		.needs_root = true,
		.roles = { GOOD, REFUSED(-EACCES, "rendezvous directory", .prepare = become_nobody) },
		.steps = { TS_RUN(0, 0, 2), TS_RUN(1, 1, 2), TS_REAP(TH_LAST), TS_RUN(0, 1, 2),
			   TS_REAP_ALL },
	},
	{
		/* rank 0 with token "abc": wrong and missing tokens refused, the right one joins */
		.name = "token_wrong_or_missing",
		.roles = {
			{ .m = { .token = "abc" } },
			REFUSED(-EACCES, "token", .token = "abd"),
			REFUSED(-EACCES, "token", .token = NULL),
			REFUSED(-EACCES, "token", .token = ""),
			REFUSED(-EACCES, "token", .token = "ab"),
			REFUSED(-EACCES, "token", .token = "abcd"),
			REFUSED(-EACCES, "token", .token = "ABC"),
			REFUSED(-EACCES, "token", .token = " abc"),
		},
		.steps = { TS_RUN(0, 0, 2), TS_FOR, TS_RUN(TH_EACH, 1, 2), TS_REAP(TH_LAST), TS_NEXT,
			   TS_RUN(0, 1, 2), TS_REAP_ALL },
		.each = { 1, 2, 3, 4, 5, 6, 7 },
	},
	{
		/* rank 0 without a token refuses a rank that presents one */
		.name = "token_unexpected",
		.roles = { GOOD, REFUSED(-EACCES, "token", .token = "abc") },
		.steps = { TS_RUN(0, 0, 2), TS_RUN(1, 1, 2), TS_REAP(TH_LAST), TS_RUN(0, 1, 2),
			   TS_REAP_ALL },
	},

	/* ------------------------------------------------ stale socket files */
	{
		/* rank 0 finds a dead rank 0's socket file in its place */
		.name = "stale_socket_root_first",
		.roles = { GOOD },
		.steps = { TS_STALE, TS_RUN(0, 0, 3), TS_SLEEP(50), TS_RUN(0, 1, 3), TS_RUN(0, 2, 3),
			   TS_REAP_ALL, TS_EMPTY },
	},
	{
		/* the peers find nobody listening on it and remove it before rank 0 comes */
		.name = "stale_socket_peers_first",
		.roles = { GOOD },
		.steps = { TS_STALE, TS_RUN(0, 1, 3), TS_RUN(0, 2, 3), TS_SOCK_GONE, TS_RUN(0, 0, 3),
			   TS_REAP_ALL, TS_EMPTY },
	},

	/* ------------------------------------------------ -ETIMEDOUT */
	{
		.name = "timeout_rank0_alone",
		.roles = { REFUSED(-ETIMEDOUT, "did not arrive in time: 1", .msg_at_end = true,
				   .init_timeout_ms = 300) },
		.steps = { TS_MARK, TS_RUN(0, 0, 2), TS_REAP_ALL, TS_AFTER(250), TS_WITHIN(5000),
			   TS_EMPTY },
	},
	{
		/* ranks 1 and 3 of 4 come, rank 2 never does: rank 0 names rank 2, and the
		 * ranks that came (waiting before rank 0 started its clock) learn it failed */
		.name = "timeout_names_missing_rank",
		.roles = { REFUSED(-ETIMEDOUT, "did not arrive in time: 2", .msg_at_end = true,
				   .init_timeout_ms = 300),
			   REFUSED(-ETIMEDOUT, "did not arrive in time: 2", .init_timeout_ms = 5000) },
		.steps = { TS_RUN(1, 1, 4), TS_RUN(1, 3, 4), TS_SLEEP(100), TS_RUN(0, 0, 4),
			   TS_REAP_ALL, TS_EMPTY },
	},
	{
		/* a rank that joined and then gave up (its own deadline) ends the job on rank 0
		 * at once */
		.name = "timeout_joined_rank_gives_up",
		.roles = { REFUSED(-EOWNERDEAD, "rank 1", .init_timeout_ms = 10000),
			   REFUSED(-ETIMEDOUT, "rank 0", .init_timeout_ms = 300) },
		.steps = { TS_MARK, TS_RUN(0, 0, 3), TS_RUN(1, 1, 3), TS_REAP_ALL, TS_WITHIN(5000),
			   TS_EMPTY },
	},
	{
		.name = "timeout_no_rank0",
		.roles = { REFUSED(-ETIMEDOUT, "rank 0 did not open", .init_timeout_ms = 300) },
		.steps = { TS_MARK, TS_RUN(0, 1, 2), TS_REAP_ALL, TS_AFTER(250), TS_WITHIN(5000),
			   TS_EMPTY },
	},

	/* ------------------------------------------------ -EOWNERDEAD */
	{
		/* a real rank 0 of 3 SIGKILLed while rank 2 has not come: rank 1 learns at
		 * once and removes the socket file; rank 2 finds nobody; the name forms again */
		.name = "rank0_killed_while_forming",
		.roles = { GOOD, REFUSED(-EOWNERDEAD, "rank 0 (pid "),
			   REFUSED(-ETIMEDOUT, "rank 0 did not open", .init_timeout_ms = 300) },
		.steps = { TS_RUN(0, 0, 3), TS_LISTENING, TS_RUN(1, 1, 3), TS_CONNS(1), TS_SLEEP(100),
			   TS_MARK, TS_KILL(0, SIGKILL), TS_REAP(1), TS_RETURNED(1, 1000), TS_EMPTY,
			   TS_RUN(2, 2, 3), TS_REAP(TH_LAST), TS_FORM(3) },
	},
};

static void run_scenario(void **state)
{
	const struct th_scenario *sc = *state;

	if (sc->needs_root && geteuid() != 0) {
		print_message("skipped: %s needs root\n", sc->name);
		skip();
	}
	assert_int_equal(th_scenario_run(sc), 0);
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(scenarios)];

	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		tests[i] = (struct CMUnitTest){
			.name = scenarios[i].name,
			.test_func = run_scenario,
			.setup_func = th_setup, /* a private directory, */
			.teardown_func = th_teardown, /* empty again afterwards */
			.initial_state = (void *)&scenarios[i],
		};
	th_seed((uint64_t)getpid());
	if (getenv("TH_FILTER")) /* e.g. TH_FILTER='timeout_*' */
		cmocka_set_test_filter(getenv("TH_FILTER"));
	return cmocka_run_group_tests_name("rendezvous-bad", tests, NULL, NULL) ? 1 : 0;
}
