/* SPDX-License-Identifier: MIT */
/*
 * check-process.c - what this process may do: its resource limits, its
 * capabilities (dropped before any other check), its seccomp filter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cap-ng.h>

#include "check.h"
#include "check-util.h"

/* ---------------------------------------------------------------- limits */

static long long limit_value(rlim_t v)
{
	return v == RLIM_INFINITY ? -1 : (long long)v;
}

static void check_memlock(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	bool old_ring = f->kernel_major >= 0 &&
			(f->kernel_major < 5 || (f->kernel_major == 5 && f->kernel_minor < 12));
	char soft[32], hard[32];
	struct check_row *row;
	struct rlimit rl;

	f->memlock = f->memlock_hard = -1;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return;
	f->memlock = limit_value(rl.rlim_cur);
	f->memlock_hard = limit_value(rl.rlim_max);
	check_format_bytes(soft, sizeof(soft), f->memlock);
	check_format_bytes(hard, sizeof(hard), f->memlock_hard);
	row = check_add(rep, CHECK_SECTION_LIMITS, "memlock", CHECK_OK, "%s (hard %s)", soft, hard);
	check_set_detail(row, "libshmar locks no memory%s",
			 old_ring ? "; io_uring rings count against it before Linux 5.12" : "");
	if (old_ring && f->memlock >= 0 && f->memlock < 1024 * 1024) {
		row->status = CHECK_DEGRADED;
		check_set_fix(row, "ulimit -l 1024 (or more) so that io_uring rings fit");
	}
}

static void check_nofile(struct check_report *rep, int ranks)
{
	struct check_facts *f = &rep->facts;
	long long need = 64 + 2 * (long long)ranks;
	struct check_row *row;
	struct rlimit rl;

	f->nofile = f->nofile_hard = -1;
	f->nofile_needed = need;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	f->nofile = limit_value(rl.rlim_cur);
	f->nofile_hard = limit_value(rl.rlim_max);
	if (f->nofile < 0 || f->nofile >= need) {
		char soft[32];

		snprintf(soft, sizeof(soft), "%lld", f->nofile);
		check_add(rep, CHECK_SECTION_LIMITS, "nofile", CHECK_OK, "%s (%d ranks need >= %lld)",
			  f->nofile < 0 ? "unlimited" : soft, ranks, need);
		return;
	}
	row = check_add(rep, CHECK_SECTION_LIMITS, "nofile", CHECK_DEGRADED, "%lld (%d ranks need >= %lld)",
			f->nofile, ranks, need);
	check_set_detail(row, "rank 0 holds a socket and a pidfd per rank, plus the process's own files: init may fail with -EMFILE");
	if (f->nofile_hard < 0 || f->nofile_hard >= need)
		check_set_fix(row, "ulimit -n %lld", need);
	else
		check_set_fix(row, "raise the hard limit (now %lld) to >= %lld: nofile in limits.conf, LimitNOFILE= in systemd",
			      f->nofile_hard, need);
}

void check_limits(struct check_report *rep, int ranks)
{
	check_memlock(rep);
	check_nofile(rep, ranks);
}

/* ---------------------------------------------------------------- capabilities */

/* capng's "a, b" as setpriv --dump prints it ("a,b", "[none]"); count in *n. */
static void caps_text(capng_type_t which, char *out, size_t len, int *n)
{
	char *text = capng_print_caps_text(CAPNG_PRINT_BUFFER, which);
	size_t o = 0;

	*n = 0;
	if (!text || !*text || strcmp(text, "none") == 0) {
		snprintf(out, len, "[none]");
		free(text);
		return;
	}
	*n = 1;
	for (const char *p = text; *p && o + 1 < len; p++) {
		if (*p == ' ')
			continue;
		*n += *p == ',';
		out[o++] = *p;
	}
	out[o] = '\0';
	free(text);
}

static void add_caps_row(struct check_report *rep, const char *name, capng_type_t which)
{
	struct check_row *row;
	char list[CHECK_VALUE_MAX];
	int n;

	caps_text(which, list, sizeof(list), &n);
	row = check_add(rep, CHECK_SECTION_SECURITY, name, CHECK_OK, "%s", list);
	/* The screen keeps one line per set; --json has the whole list. */
	if (strlen(list) > 48) {
		const char *cut = list + 34;

		while (cut > list && *cut != ',')
			cut--;
		snprintf(row->brief, sizeof(row->brief), "%d capabilities: %.*s,...", n, (int)(cut - list), list);
	}
}

void check_capabilities(struct check_report *rep)
{
	bool root = geteuid() == 0, any;
	struct check_row *row;
	int err;

	if (capng_get_caps_process() < 0) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "capabilities", CHECK_OK, "unknown");
		check_set_detail(row, "cannot read this process's capabilities (/proc/self/status)");
		return;
	}
	add_caps_row(rep, "cap bounding", CAPNG_BOUNDING_SET);
	add_caps_row(rep, "cap effective", CAPNG_EFFECTIVE);
	add_caps_row(rep, "cap permitted", CAPNG_PERMITTED);
	any = capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE;
	if (!root && !any) {
		check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_OK, "not needed: no capabilities");
		return;
	}
	/* The irqbalance pattern: everything at once, before any probe or rank runs. */
	capng_clear(CAPNG_SELECT_BOTH);
	err = capng_apply(CAPNG_SELECT_BOTH);
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_DEGRADED,
				"could not drop capabilities (capng_apply: %d)", err);
		check_set_detail(row, "the checks and the self-test ran with the capabilities above: an unprivileged process may fare worse");
		check_set_fix(row, "run shmar-check as the user that runs the ranks");
		return;
	}
	rep->facts.dropped_caps = true;
	row = check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_OK,
			"dropped all capabilities at start (%s)",
			root ? "started as root" : "started with capabilities");
	check_set_detail(row, "the checks below and the self-test see what a process without capabilities gets");
}

/* ---------------------------------------------------------------- seccomp */

void check_seccomp(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct check_row *row;

	f->seccomp_mode = check_read_field_long("/proc/self/status", "Seccomp", -1);
	f->seccomp_filters = check_read_field_long("/proc/self/status", "Seccomp_filters", 0);
	if (f->seccomp_mode < 0) {
		check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "unknown (no Seccomp line in /proc/self/status)");
		return;
	}
	if (f->seccomp_mode == 0) {
		check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "none");
		return;
	}
	row = check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "%s (%ld filter%s)",
			f->seccomp_mode == 2 ? "filter mode" : "strict mode", f->seccomp_filters,
			f->seccomp_filters == 1 ? "" : "s");
	check_set_detail(row, "a filter may refuse io_uring or pidfd_open: see those rows");
}
