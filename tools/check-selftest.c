/* SPDX-License-Identifier: MIT */
/*
 * check-selftest.c - a live job: N forked ranks (check-rank.c) form a job
 * through the library, pass a barrier, all-reduce every dtype at four sizes
 * (checked bit for bit against check-values.c) and time a few calls; the
 * parent plans it, then turns what they report in a shared page, and how
 * they exited, into rows.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmar.h"
#include "check-selftest.h"
#include "check-util.h"

static unsigned long long mem_available(void)
{
	long kb = check_read_field_long("/proc/meminfo", "MemAvailable", -1);

	return kb < 0 ? ULLONG_MAX : (unsigned long long)kb * 1024;
}

/* Whether ranks ranks with buffers of bytes each (twice) and their slots fit in half the free memory. */
static bool fits(int ranks, size_t bytes, unsigned long long avail)
{
	unsigned long long per_rank = 2ull * bytes + 4ull * 1024 * 1024;

	return avail == ULLONG_MAX || (unsigned long long)ranks * per_rank <= avail / 2;
}

static void make_plan(struct selftest_plan *p, const struct check_options *opt, const struct check_facts *f)
{
	static const size_t counts[CHECK_TIME_COUNT] = { 0, 1, 4096, 1 << 18, 1 << 22 };
	bool crowded = opt->ranks > f->cpus.usable; /* the library's count */
	unsigned long long avail = mem_available();

	memset(p, 0, sizeof(*p));
	/* main() allows 1..256; a caller of check_selftest() may not have checked. */
	p->ranks = opt->ranks < 1 ? 1 : opt->ranks > SHMAR_MAX_RANKS ? SHMAR_MAX_RANKS : opt->ranks;
	p->dir = f->dir;
	snprintf(p->job, sizeof(p->job), "shmar-check-%ld-test", (long)getpid());
	for (int z = 0; z < CHECK_NSIZES; z++) {
		size_t bytes = check_selftest_counts[z] * 8; /* the widest dtype */

		p->size_on[z] = fits(p->ranks, bytes, avail);
		if (p->size_on[z] && bytes > p->buf_bytes)
			p->buf_bytes = bytes;
	}
	for (int t = 0; t < CHECK_TIME_COUNT; t++) {
		size_t bytes = counts[t] * sizeof(float);

		p->timing_count[t] = counts[t];
		p->timing_on[t] = fits(p->ranks, bytes, avail);
		/* A few dozen each; fewer when ranks wait for each other's CPU. */
		p->iters[t] = crowded ? 10 : bytes >= (1u << 24) ? 20 : bytes >= (1u << 20) ? 30 : 50;
		if (p->timing_on[t] && bytes > p->buf_bytes)
			p->buf_bytes = bytes;
	}
	if (!p->size_on[CHECK_NSIZES - 1] || !p->timing_on[CHECK_TIME_COUNT - 1])
		snprintf(p->skipped, sizeof(p->skipped), "largest sizes skipped: %d ranks would need more than half the free memory",
			 p->ranks);
	if (p->buf_bytes < 64)
		p->buf_bytes = 64;
	p->alarm_s = 60 + (unsigned)p->ranks;
}

/* The rank whose error explains the others': not the echo of someone else's death. */
static int root_cause_rank(const struct selftest_slot *slots, int n)
{
	int first = -1;

	for (int r = 0; r < n; r++) {
		int e = -slots[r].err;

		if (!slots[r].err)
			continue;
		if (first < 0)
			first = r;
		if (e != EOWNERDEAD && e != ECANCELED && e != ETIMEDOUT)
			return r;
	}
	return first;
}

static void add_failure_row(struct check_report *rep, const char *name, const struct selftest_slot *s,
			    int rank)
{
	struct check_row *row;

	row = check_add(rep, CHECK_SECTION_SELFTEST, name, CHECK_BROKEN, "rank %d: %s: %s", rank, s->call,
			shmar_strerror(s->err));
	check_set_detail(row, "%s", s->msg[0] ? s->msg : "no further detail from shmar_comm_last_error");
	check_set_fix(row, "fix the broken rows above; if none, report this output as a libshmar bug");
}

/* Exit statuses: a rank that was killed or did not finish is broken whatever it reported. */
static bool summarise_processes(struct check_report *rep, const struct selftest_plan *p, const int *status,
				const struct selftest_slot *slots)
{
	struct check_row *row;

	for (int r = 0; r < p->ranks; r++) {
		int st = status[r];

		if (WIFEXITED(st) && WEXITSTATUS(st) <= 1 && slots[r].done)
			continue;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d did not finish within %u s", r, p->alarm_s);
			check_set_detail(row, "a collective hung or the machine is far too busy");
		} else if (WIFSIGNALED(st)) {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d was killed by signal %d (%s)", r, WTERMSIG(st),
					strsignal(WTERMSIG(st)));
			check_set_detail(row, "a crash in the library or the kernel's OOM killer");
		} else {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d ended abnormally (status 0x%x)", r, (unsigned)st);
		}
		check_set_fix(row, "re-run; if it repeats, report this output as a libshmar bug");
		return false;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_OK, "%d rank%s exited cleanly", p->ranks,
		  p->ranks == 1 ? "" : "s");
	return true;
}

static void summarise_allreduce(struct check_report *rep, const struct selftest_plan *p,
				const struct selftest_slot *slots)
{
	struct check_selftest *t = &rep->selftest;
	const char *mismatch = NULL;
	int cases = 0, bad_cases = 0;
	struct check_row *row;

	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			bool ran = true, ok = true;

			for (int r = 0; r < p->ranks; r++) {
				ran = ran && slots[r].ran[d][z];
				ok = ok && slots[r].bad[d][z] == 0;
				if (slots[r].bad[d][z] && !mismatch)
					mismatch = slots[r].mismatch;
			}
			t->ran[d][z] = ran;
			t->ok[d][z] = ran && ok;
			cases += ran;
			bad_cases += ran && !ok;
		}
	}
	if (bad_cases) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_BROKEN,
				"%d of %d dtype x size cases differ from the exact sum", bad_cases, cases);
		check_set_detail(row, "%s", mismatch ? mismatch : "");
		check_set_fix(row, "try SHMAR_ISA=scalar to see whether the %s kernels are at fault; report this output as a libshmar bug",
			      t->isa);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_OK,
			"all %d dtypes passed, bit-exact at %d sizes", CHECK_NDTYPES,
			cases / CHECK_NDTYPES);
	if (p->skipped[0])
		check_set_detail(row, "%s", p->skipped);
}

static void summarise_timings(struct check_report *rep, const struct selftest_plan *p,
			      const struct selftest_slot *slots)
{
	struct check_selftest *t = &rep->selftest;
	struct check_row *row;

	for (int k = 0; k < CHECK_TIME_COUNT; k++) {
		double worst = -1;

		for (int r = 0; r < p->ranks; r++)
			worst = slots[r].local[k] > worst ? slots[r].local[k] : worst;
		t->seconds[k] = worst;
		t->bytes[k] = p->timing_count[k] * sizeof(float);
		/* MAX returns one of its inputs: the library's answer must be exactly ours. */
		if (slots[0].exchanged && slots[0].reduced[k] != worst) {
			row = check_find_row(rep, "allreduce");
			if (row && row->status == CHECK_OK) {
				row->status = CHECK_BROKEN;
				snprintf(row->value, sizeof(row->value), "float64 MAX gave %.17g, the largest input is %.17g",
					 slots[0].reduced[k], worst);
				check_set_fix(row, "report this output as a libshmar bug");
			}
		}
	}
}

static void summarise_ranks(struct check_report *rep, const struct selftest_plan *p,
			    const struct selftest_slot *slots)
{
	int cause = root_cause_rank(slots, p->ranks);
	const struct selftest_slot *c = cause >= 0 ? &slots[cause] : NULL;
	struct check_row *row;

	if (c && c->stage == STAGE_JOIN) {
		add_failure_row(rep, "join", c, cause);
		return;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "join", CHECK_OK, "%d rank%s formed job %s", p->ranks,
		  p->ranks == 1 ? "" : "s", p->job);
	if (c && c->stage == STAGE_BARRIER) {
		add_failure_row(rep, "barrier", c, cause);
		return;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "barrier", CHECK_OK, "all ranks passed");
	if (c && c->stage == STAGE_ALLREDUCE) {
		add_failure_row(rep, "allreduce", c, cause);
		return;
	}
	if (slots[0].enosys) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_BROKEN,
				"shmar_allreduce: %s", shmar_strerror(-ENOSYS));
		check_set_detail(row, "this libshmar does not implement the all-reduce yet (-ENOSYS): only the barrier was tested");
		check_set_fix(row, "install a libshmar with the all-reduce and re-run");
		return;
	}
	summarise_allreduce(rep, p, slots);
}

/* Remove and count what the test's job left in the rendezvous directory. */
static int remove_leftovers(const char *dir, char *first, size_t len)
{
	char prefix[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "shmar-check-%ld-", (long)getpid());
	first[0] = '\0';
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n++ == 0)
			snprintf(first, len, "%s", e->d_name);
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return n;
}

static void check_cleanup(struct check_report *rep, const char *dir)
{
	char first[256];
	struct check_row *row;
	int n = remove_leftovers(dir, first, sizeof(first));

	if (n == 0) {
		check_add(rep, CHECK_SECTION_SELFTEST, "cleanup", CHECK_OK, "nothing left in %s", dir);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SELFTEST, "cleanup", CHECK_BROKEN, "%d file%s left in %s (%s)",
			n, n == 1 ? "" : "s", dir, first);
	check_set_detail(row, "the job's socket should be gone once the job formed or failed; shmar-check removed it");
	check_set_fix(row, "report this output as a libshmar bug");
}

static void wait_all(const pid_t *pids, int *status, int n)
{
	for (int r = 0; r < n; r++) {
		status[r] = 0;
		if (pids[r] <= 0)
			continue;
		while (waitpid(pids[r], &status[r], 0) < 0 && errno == EINTR)
			;
	}
}

static int fork_ranks(const struct selftest_plan *p, struct selftest_slot *slots, pid_t *pids)
{
	fflush(NULL); /* the children must not write the parent's buffers again */
	for (int r = 0; r < p->ranks; r++) {
		pids[r] = fork();
		if (pids[r] == 0) {
			int err = check_rank_main(p, r, &slots[r]);

			slots[r].done = 1;
			_exit(err < 0 ? 1 : 0);
		}
		if (pids[r] < 0) {
			int err = -errno;

			/* The ranks already started would wait for this one until the deadline. */
			for (int k = 0; k < r; k++)
				kill(pids[k], SIGKILL);
			return err;
		}
	}
	return 0;
}

static enum check_status selftest_rows_status(const struct check_report *rep, int first_row)
{
	enum check_status st = CHECK_OK;

	for (int i = first_row; i < rep->nrows; i++)
		st = check_worse(st, rep->rows[i].status);
	return st;
}

void check_selftest(struct check_report *rep, const struct check_options *opt)
{
	struct check_selftest *t = &rep->selftest;
	int first_row = rep->nrows, status[SHMAR_MAX_RANKS], err;
	pid_t pids[SHMAR_MAX_RANKS] = { 0 };
	struct selftest_slot *slots;
	struct check_row *row;
	struct selftest_plan p;

	make_plan(&p, opt, &rep->facts);
	t->ranks = p.ranks;
	for (int k = 0; k < CHECK_TIME_COUNT; k++)
		t->seconds[k] = -1;
	slots = mmap(NULL, (size_t)p.ranks * sizeof(*slots), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
				"cannot map %d rank reports: %s", p.ranks, strerror(errno));
		goto out;
	}
	for (int r = 0; r < p.ranks; r++)
		for (int k = 0; k < CHECK_TIME_COUNT; k++)
			slots[r].local[k] = slots[r].reduced[k] = -1;
	err = fork_ranks(&p, slots, pids);
	wait_all(pids, status, p.ranks);
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
				"cannot fork %d ranks: %s", p.ranks, strerror(-err));
		check_set_fix(row, "raise the process limit (ulimit -u) or use fewer --ranks");
	} else {
		summarise_ranks(rep, &p, slots);
		summarise_timings(rep, &p, slots);
		summarise_processes(rep, &p, status, slots);
	}
	check_cleanup(rep, p.dir);
out:
	t->status = selftest_rows_status(rep, first_row);
	if (slots != MAP_FAILED)
		munmap(slots, (size_t)p.ranks * sizeof(*slots));
}
