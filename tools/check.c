/* SPDX-License-Identifier: MIT */
/*
 * check.c - every check, in order.
 *
 * Each check_*() looks at one thing libshmar depends on and appends a row:
 * ok, degraded (works, but slower or with a weaker guarantee) or broken
 * (shmar_comm_init() or a collective will fail), with the reason and a fix.
 * What the library decides it is asked (shmar-probe.h, and a real one-rank
 * shmar_comm_init); the self-test then forks real ranks and checks every
 * dtype bit for bit.
 *
 *   check-machine.c     cpu, isa, kernels, cpus, ranks, numa
 *   check-kernel.c      kernel, memfd, memfd_noexec, hugetlb, thp shmem
 *   check-liveness.c    futex, pidfd, so_peerpidfd, io_uring, futex_waitv, liveness
 *   check-process.c     memlock, nofile, capabilities, seccomp
 *   check-rendezvous.c  rendezvous dir, environment, init
 *   check-selftest.c    join, barrier, allreduce, processes, cleanup
 *   check-report.c, check-text.c, check-json.c   the rows and their printing
 */
#include <stdio.h>
#include <string.h>

#include "shmar.h"
#include "check.h"

void check_run(struct check_report *rep, const struct check_options *opt)
{
	struct check_row *row;

	memset(rep, 0, sizeof(*rep));
	rep->library_version = shmar_version();
	rep->utf8 = opt->utf8;
	rep->selftest.status = CHECK_SKIPPED;
	rep->selftest.ranks = opt->ranks;
	for (int k = 0; k < CHECK_TIME_COUNT; k++)
		rep->selftest.seconds[k] = -1;

	/* First, so that every probe sees what an unprivileged rank would. */
	check_capabilities(rep);

	check_cpu(rep);
	check_isa(rep);
	check_cpus(rep, opt->ranks);
	check_numa(rep);

	check_kernel(rep);
	check_memfd(rep);
	check_hugepages(rep);
	check_futex(rep, opt->utf8);
	check_pidfd(rep);
	check_io_uring(rep);
	check_liveness(rep);

	check_limits(rep, opt->ranks);

	check_seccomp(rep);
	check_rendezvous_dir(rep);
	check_environment(rep);

	snprintf(rep->selftest.isa, sizeof(rep->selftest.isa), "%s",
		 rep->facts.isa ? rep->facts.isa : "none");
	if (!opt->selftest)
		return;
	if (rep->facts.init_err == 0) {
		check_selftest(rep, opt);
		return;
	}
	/* N ranks would fail the same way, some only after the init deadline. */
	row = check_add(rep, CHECK_SECTION_SELFTEST, "join", CHECK_BROKEN,
			"not tried: shmar_comm_init fails already for 1 rank (see init)");
	check_set_fix(row, "fix the broken rows above, then re-run");
	rep->selftest.status = CHECK_BROKEN;
}
