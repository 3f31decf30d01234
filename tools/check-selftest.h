/* SPDX-License-Identifier: MIT */
/*
 * check-selftest.h - what the self-test's parent (check-selftest.c) and its
 * ranks (check-rank.c) share: the plan the parent makes before it forks, and
 * the page each rank reports in.
 */
#ifndef SHMAR_TOOLS_CHECK_SELFTEST_H
#define SHMAR_TOOLS_CHECK_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmar.h"
#include "check.h"

/* The row a rank's first error belongs to. */
enum selftest_stage { STAGE_JOIN = 1, STAGE_BARRIER, STAGE_ALLREDUCE };

/* What one rank reports to the parent, in a MAP_SHARED page. */
struct selftest_slot {
	int done;                  /* check_check_rank_main() returned */
	int err;                   /* first library error, 0 if none */
	enum selftest_stage stage; /* which row it belongs to */
	char call[64];             /* the failing call */
	char msg[256];             /* shmar_comm_last_error() */
	bool enosys;               /* shmar_allreduce is not implemented */
	bool ran[CHECK_NDTYPES][CHECK_NSIZES];
	uint32_t bad[CHECK_NDTYPES][CHECK_NSIZES];
	char mismatch[160];        /* the first wrong element */
	double local[CHECK_TIME_COUNT];   /* this rank's medians, seconds; < 0 not measured */
	double reduced[CHECK_TIME_COUNT]; /* after the FLOAT64 MAX exchange */
	bool exchanged;
};

struct selftest_plan {
	int ranks;
	char job[SHMAR_JOB_MAX + 1];
	const char *dir;                         /* the library's, for the cleanup */
	bool size_on[CHECK_NSIZES];
	bool timing_on[CHECK_TIME_COUNT];
	size_t timing_count[CHECK_TIME_COUNT];  /* fp32 elements; 0 = barrier */
	int iters[CHECK_TIME_COUNT];
	size_t buf_bytes;                        /* each of the send and receive buffers */
	unsigned alarm_s;
	char skipped[160];
};

/* One rank's whole part: join, barrier, every dtype, the timings.  0 or -errno. */
int check_rank_main(const struct selftest_plan *p, int rank, struct selftest_slot *s);

#endif /* SHMAR_TOOLS_CHECK_SELFTEST_H */
