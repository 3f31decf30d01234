/* SPDX-License-Identifier: MIT */
/*
 * check-liveness.c - how ranks sleep and how a sleeping rank learns that a
 * peer died: the futex round trip, pidfds, the io_uring ring, FUTEX_WAITV,
 * and the path the library takes with them.
 *
 * Whether the ring is usable and whether FUTEX_WAITV exists are the
 * library's answers (shmar_probe_io_uring, shmar_probe_futex_waitv); the
 * sysctl and seccomp readings only explain a refusal.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmar.h"
#include "check.h"
#include "check-util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif

/* ---------------------------------------------------------------- futex round trip */

static long sys_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Deliberately not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* Sleep until *word == want; false after about a second without it. */
static bool futex_await(_Atomic uint32_t *word, uint32_t want)
{
	const struct timespec slice = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
	int timeouts = 0;

	for (;;) {
		uint32_t seen = atomic_load(word);

		if (seen == want)
			return true;
		if (sys_futex(word, FUTEX_WAIT, seen, &slice) < 0 && errno == ETIMEDOUT &&
		    ++timeouts >= 20)
			return false;
	}
}

static void futex_post(_Atomic uint32_t *word, uint32_t value)
{
	atomic_store(word, value);
	sys_futex(word, FUTEX_WAKE, 1, NULL);
}

#define FUTEX_WARMUP 20
#define FUTEX_ROUNDS 300

static void futex_child(_Atomic uint32_t *word)
{
	alarm(10);
	for (uint32_t k = 0; k < FUTEX_WARMUP + FUTEX_ROUNDS; k++) {
		if (!futex_await(word, 2 * k + 1))
			_exit(1);
		futex_post(word, 2 * k + 2);
	}
	_exit(0);
}

/* Median round trip in seconds between two processes, each sleeping in FUTEX_WAIT. */
static int futex_round_trip(double *median_s)
{
	double samples[FUTEX_ROUNDS];
	_Atomic uint32_t *word;
	int status, err = 0;
	pid_t pid;

	word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (word == MAP_FAILED)
		return -errno;
	atomic_store(word, 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		munmap((void *)word, 4096);
		return err;
	}
	if (pid == 0)
		futex_child(word);
	for (uint32_t k = 0; k < FUTEX_WARMUP + FUTEX_ROUNDS; k++) {
		double t0 = check_now_s();

		futex_post(word, 2 * k + 1);
		if (!futex_await(word, 2 * k + 2)) {
			err = -ETIMEDOUT;
			kill(pid, SIGKILL);
			break;
		}
		if (k >= FUTEX_WARMUP)
			samples[k - FUTEX_WARMUP] = check_now_s() - t0;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	munmap((void *)word, 4096);
	if (err == 0)
		*median_s = check_median(samples, FUTEX_ROUNDS);
	return err;
}

void check_futex(struct check_report *rep, bool utf8)
{
	struct check_row *row;
	double med = -1;
	int err = futex_round_trip(&med);

	rep->facts.futex_round_trip_s = err < 0 ? -1 : med;
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "futex", CHECK_BROKEN, "round trip failed: %s",
				strerror(-err));
		check_set_detail(row, "FUTEX_WAIT/FUTEX_WAKE on a MAP_SHARED word between two processes did not work; libshmar sleeps this way");
		check_set_fix(row, "check the seccomp policy (futex must be allowed) and that fork() works");
		return;
	}
	row = check_add(rep, CHECK_SECTION_KERNEL, "futex", med > 1e-3 ? CHECK_DEGRADED : CHECK_OK,
			"round trip %.1f %s (median of %d, shared futex)", med * 1e6,
			check_us_unit(utf8), FUTEX_ROUNDS);
	if (med > 1e-3) {
		check_set_detail(row, "waking a sleeping process takes over a millisecond here: every collective that sleeps pays it");
		check_set_fix(row, "give the ranks idle CPUs of their own; raise SHMAR_SPIN_US so waits spin instead of sleeping");
	}
}

/* ---------------------------------------------------------------- pidfd */

static int peer_pidfd_probe(void)
{
	int sv[2], pidfd = -1, err = 0;
	socklen_t len = sizeof(pidfd);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		err = -errno;
	else
		close(pidfd);
	close(sv[0]);
	close(sv[1]);
	return err;
}

void check_pidfd(struct check_report *rep)
{
	long fd = syscall(SYS_pidfd_open, getpid(), 0);
	struct check_row *row;
	int err;

	rep->facts.pidfd_open = fd >= 0;
	if (fd < 0) {
		err = errno;
		row = check_add(rep, CHECK_SECTION_KERNEL, "pidfd", CHECK_DEGRADED, "pidfd_open: %s",
				strerror(err));
		check_set_detail(row, "%s: the ranks check each other's pids between futex sleeps of 100 ms instead, so a death is noticed within ~100 ms (see liveness)",
				 err == ENOSYS ? "no pidfd_open (Linux < 5.3)" : "pidfd_open is refused (seccomp?)");
		check_set_fix(row, err == ENOSYS ? "upgrade to Linux 5.3 or later"
						 : "allow pidfd_open in the seccomp profile");
	} else {
		close((int)fd);
		check_add(rep, CHECK_SECTION_KERNEL, "pidfd", CHECK_OK, "pidfd_open ok");
	}

	err = peer_pidfd_probe();
	rep->facts.so_peerpidfd = err == 0;
	if (err == 0)
		check_add(rep, CHECK_SECTION_KERNEL, "so_peerpidfd", CHECK_OK, "supported");
	else
		check_add(rep, CHECK_SECTION_KERNEL, "so_peerpidfd", CHECK_OK,
			  "%s (Linux < 6.5): rank 0 uses pidfd_open instead",
			  err == -ENOPROTOOPT ? "not supported" : strerror(-err));
}

/* ---------------------------------------------------------------- io_uring */

/* Why io_uring_setup failed, in the value; what to do, in the fix. */
static void explain_io_uring_error(struct check_row *row, int err)
{
	long disabled = -1, seccomp = check_read_field_long("/proc/self/status", "Seccomp", 0);

	check_read_long("/proc/sys/kernel/io_uring_disabled", &disabled);
	if (err == -ENOPKG) {
		check_set_value(row, "libshmar was built without liburing");
		check_set_fix(row, "rebuild libshmar with liburing-dev installed");
	} else if (err == -EPERM && disabled == 2) {
		check_set_value(row, "blocked by sysctl kernel.io_uring_disabled=2");
		check_set_fix(row, "sysctl -w kernel.io_uring_disabled=0");
	} else if (err == -EPERM && disabled == 1) {
		check_set_value(row, "blocked by sysctl kernel.io_uring_disabled=1 (only CAP_SYS_ADMIN or kernel.io_uring_group)");
		check_set_fix(row, "sysctl -w kernel.io_uring_group=<a group of this user>, or kernel.io_uring_disabled=0");
	} else if ((err == -EPERM || err == -ENOSYS) && seccomp == 2) {
		check_set_value(row, "blocked by seccomp (io_uring_setup: %s)", strerror(-err));
		check_set_fix(row, "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile (Docker's default blocks them)");
	} else if (err == -ENOSYS) {
		check_set_value(row, "not in this kernel (io_uring_setup: ENOSYS)");
		check_set_fix(row, "use a kernel built with CONFIG_IO_URING=y");
	} else if (err == -ENOMEM) {
		check_set_value(row, "io_uring_setup: ENOMEM (RLIMIT_MEMLOCK too small?)");
		check_set_fix(row, "raise the locked-memory limit: ulimit -l 1024 (rings count against it before Linux 5.12)");
	} else {
		check_set_value(row, "io_uring_setup: %s", strerror(-err));
	}
}

static void add_io_uring_futex_row(struct check_report *rep, const char *setting)
{
	const struct check_facts *f = &rep->facts;
	struct check_row *row;

	if (f->io_uring_futex_wait) {
		check_add(rep, CHECK_SECTION_KERNEL, "io_uring futex", CHECK_OK,
			  "IORING_OP_FUTEX_WAIT supported");
		return;
	}
	row = check_add(rep, CHECK_SECTION_KERNEL, "io_uring futex",
			f->io_uring_setting == 1 ? CHECK_BROKEN : CHECK_OK,
			"no IORING_OP_FUTEX_WAIT (Linux < 6.7): the ring is not used");
	if (f->io_uring_setting == 1) {
		check_set_detail(row, "SHMAR_IO_URING=%s requires the ring, which needs IORING_OP_FUTEX_WAIT: shmar_comm_init of 2 or more ranks fails",
				 setting);
		check_set_fix(row, "unset SHMAR_IO_URING (see liveness), or use Linux 6.7 or later");
	}
}

void check_io_uring(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	const char *setting = check_env("SHMAR_IO_URING");
	struct shmar_config cfg;
	struct check_row *row;

	shmar_config_init(&cfg); /* SHMAR_IO_URING parsed as the library parses it */
	f->io_uring_setting = cfg.io_uring;
	f->io_uring_err = shmar_probe_io_uring(&f->io_uring_futex_wait);
	f->futex_waitv = shmar_probe_futex_waitv();

	if (f->io_uring_err == 0) {
		check_add(rep, CHECK_SECTION_KERNEL, "io_uring", CHECK_OK, "available%s%s%s",
			  f->io_uring_setting == 0 ? " (not used: SHMAR_IO_URING=" : "",
			  f->io_uring_setting == 0 ? setting : "", f->io_uring_setting == 0 ? ")" : "");
		add_io_uring_futex_row(rep, setting);
	} else {
		row = check_add(rep, CHECK_SECTION_KERNEL, "io_uring",
				f->io_uring_setting == 1 ? CHECK_BROKEN : CHECK_OK, "unavailable");
		explain_io_uring_error(row, f->io_uring_err);
		if (f->io_uring_setting == 1)
			check_set_detail(row, "SHMAR_IO_URING=%s requires the io_uring ring: shmar_comm_init of 2 or more ranks fails",
					 setting);
		else
			check_set_detail(row, "libshmar does without the ring (see liveness)");
	}
	check_add(rep, CHECK_SECTION_KERNEL, "futex_waitv", CHECK_OK, "%s",
		  f->futex_waitv ? "supported" : "not supported (Linux < 5.16)");
}

/* ---------------------------------------------------------------- the path taken */

/* The path the library says a comm of two or more ranks would take here. */
static enum check_liveness liveness_path(const struct check_facts *f)
{
	switch (shmar_probe_liveness(f->io_uring_setting, NULL)) {
	case SHMAR_PROBE_LIVENESS_RING: return CHECK_LIVENESS_RING;
	case SHMAR_PROBE_LIVENESS_WATCHER: return CHECK_LIVENESS_WATCHER;
	case SHMAR_PROBE_LIVENESS_SLICES: return CHECK_LIVENESS_SLICES;
	default: return CHECK_LIVENESS_NONE;
	}
}

/* Why the ring is not the path, for the detail of the liveness row. */
static const char *why_no_ring(const struct check_facts *f)
{
	if (f->io_uring_setting == 0)
		return "the ring is not used: SHMAR_IO_URING=0";
	if (f->io_uring_err == 0)
		return "no ring: no IORING_OP_FUTEX_WAIT (Linux < 6.7)";
	return "no ring: io_uring is unavailable (see io_uring)";
}

void check_liveness(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct check_row *row;

	f->liveness = liveness_path(f);
	switch (f->liveness) {
	case CHECK_LIVENESS_RING:
		row = check_add(rep, CHECK_SECTION_KERNEL, "liveness", CHECK_OK,
				"io_uring ring: a death wakes a waiter at once");
		check_set_detail(row, "a waiter sleeps in one ring on IORING_OP_FUTEX_WAIT and on a poll of every peer's pidfd");
		return;
	case CHECK_LIVENESS_WATCHER:
		row = check_add(rep, CHECK_SECTION_KERNEL, "liveness", CHECK_OK,
				"watcher thread + FUTEX_WAITV: a death wakes a waiter at once");
		check_set_detail(row, "%s; a thread of each rank polls the peers' pidfds, and a waiter sleeps in FUTEX_WAITV on its peer's word and the thread's death count",
				 why_no_ring(f));
		return;
	case CHECK_LIVENESS_SLICES:
		row = check_add(rep, CHECK_SECTION_KERNEL, "liveness", CHECK_DEGRADED,
				"futex sleeps of 100 ms: a death is noticed within ~100 ms");
		check_set_detail(row, "%s; %s, so a waiter sleeps in slices of 100 ms and checks its peers between them",
				 why_no_ring(f),
				 !f->futex_waitv ? "no FUTEX_WAITV (Linux < 5.16) for the watcher thread"
						 : "no pidfds for the watcher thread to poll");
		check_set_fix(row, "%s", !f->futex_waitv ? "upgrade to Linux 5.16 or later"
							 : "allow pidfd_open in the seccomp profile");
		return;
	case CHECK_LIVENESS_NONE:
		break;
	}
	row = check_add(rep, CHECK_SECTION_KERNEL, "liveness", CHECK_BROKEN,
			"none: SHMAR_IO_URING=1 requires the ring, which cannot be used here");
	check_set_detail(row, "shmar_comm_init of 2 or more ranks fails");
	check_set_fix(row, "unset SHMAR_IO_URING: %s",
		      f->pidfd_open && f->futex_waitv ? "the watcher thread notices a death as quickly"
						      : "futex sleeps of 100 ms notice a death within ~100 ms");
}
