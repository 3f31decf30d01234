/* SPDX-License-Identifier: MIT */
/*
 * check-kernel.c - the kernel release and the memory the segment is made
 * of: a sealed memfd, vm.memfd_noexec, huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "check.h"
#include "check-util.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3 */
#endif

int check_parse_kernel_release(const char *release, int *major, int *minor, int *patch)
{
	int n;

	*major = *minor = *patch = 0;
	n = sscanf(release, "%d.%d.%d", major, minor, patch);
	return n >= 1 ? 0 : -1;
}

static bool kernel_before(const struct check_facts *f, int major, int minor)
{
	return f->kernel_major < major || (f->kernel_major == major && f->kernel_minor < minor);
}

void check_kernel(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct utsname u;
	struct check_row *row;

	f->kernel_major = f->kernel_minor = f->kernel_patch = -1;
	if (uname(&u) < 0 ||
	    check_parse_kernel_release(u.release, &f->kernel_major, &f->kernel_minor, &f->kernel_patch) < 0) {
		f->kernel_major = f->kernel_minor = f->kernel_patch = -1;
		row = check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_DEGRADED, "unknown");
		check_set_detail(row, "cannot read the kernel release with uname(2)");
		return;
	}
	snprintf(f->kernel_release, sizeof(f->kernel_release), "%s", u.release);
	if (kernel_before(f, 5, 14)) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_DEGRADED,
				"%d.%d.%d (>= 5.16 recommended)", f->kernel_major, f->kernel_minor,
				f->kernel_patch);
		check_set_detail(row, "no MADV_POPULATE_WRITE (5.14): shmar_comm_init faults the segment in page by page%s",
				 kernel_before(f, 5, 3) ? "; no pidfd_open (5.3): see pidfd" : "");
		check_set_fix(row, "upgrade to Linux 5.16 or later (FUTEX_WAITV for the liveness watcher)");
		return;
	}
	check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_OK, "%d.%d.%d (>= 5.16 recommended)",
		  f->kernel_major, f->kernel_minor, f->kernel_patch);
}

/* Size, seal and map a memfd exactly as rank 0 does with the segment. */
static int seal_and_map(int fd, const char **step)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	const size_t bytes = 1 << 16;
	void *p;
	int got;

	*step = "ftruncate";
	if (ftruncate(fd, (off_t)bytes) < 0)
		return -errno;
	*step = "F_ADD_SEALS";
	if (fcntl(fd, F_ADD_SEALS, seals) < 0)
		return -errno;
	*step = "F_GET_SEALS";
	got = fcntl(fd, F_GET_SEALS);
	if (got < 0)
		return -errno;
	if ((got & seals) != seals)
		return -EPERM;
	*step = "mmap(MAP_SHARED)";
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	memset(p, 0x5a, bytes);
	munmap(p, bytes);
	*step = "F_SEAL_SHRINK";
	if (ftruncate(fd, 0) == 0)
		return -EINVAL; /* the seal did not hold: a peer could cause SIGBUS */
	return 0;
}

static void check_memfd_noexec_sysctl(struct check_report *rep)
{
	long v;

	rep->facts.vm_memfd_noexec = -1;
	if (check_read_long("/proc/sys/vm/memfd_noexec", &v) < 0) {
		check_add(rep, CHECK_SECTION_KERNEL, "memfd_noexec", CHECK_OK, "not present (Linux < 6.3)");
		return;
	}
	rep->facts.vm_memfd_noexec = v;
	check_add(rep, CHECK_SECTION_KERNEL, "memfd_noexec", CHECK_OK, "vm.memfd_noexec=%ld (%s)", v,
		  v == 0 ? "memfds may be executable" :
		  v == 1 ? "memfds are MFD_NOEXEC_SEAL by default" :
			   "memfds must be MFD_NOEXEC_SEAL; libshmar asks for it");
}

void check_memfd(struct check_report *rep)
{
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL;
	const char *step = "memfd_create";
	struct check_facts *f = &rep->facts;
	struct check_row *row;
	int fd, err;

	f->memfd_noexec_seal = true;
	fd = memfd_create("shmar-check", flags);
	if (fd < 0 && errno == EINVAL) { /* Linux < 6.3: what the library retries with */
		f->memfd_noexec_seal = false;
		fd = memfd_create("shmar-check", flags & ~MFD_NOEXEC_SEAL);
	}
	err = fd < 0 ? -errno : seal_and_map(fd, &step);
	if (fd >= 0)
		close(fd);
	f->memfd = err == 0;
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "memfd", CHECK_BROKEN, "%s: %s", step,
				strerror(-err));
		check_set_detail(row, "libshmar's segment is a sealed memfd shared with MAP_SHARED; this kernel refuses it");
		check_set_fix(row, "use a kernel with memfd_create and file sealing (CONFIG_MEMFD_CREATE, Linux >= 3.17); check seccomp/LSM policy");
	} else {
		check_add(rep, CHECK_SECTION_KERNEL, "memfd", CHECK_OK, "sealed MAP_SHARED memfd; %s",
			  f->memfd_noexec_seal ? "MFD_NOEXEC_SEAL" :
						 "no MFD_NOEXEC_SEAL (Linux < 6.3): created without it");
	}
	check_memfd_noexec_sysctl(rep);
}

static void check_thp_shmem(struct check_report *rep)
{
	char thp[256], *mode = rep->facts.thp_shmem, *open;
	size_t len = sizeof(rep->facts.thp_shmem);
	struct check_row *row;

	mode[0] = '\0';
	if (check_read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp, sizeof(thp)) < 0) {
		check_add(rep, CHECK_SECTION_KERNEL, "thp shmem", CHECK_OK, "not available");
		return;
	}
	/* "always within_size [never] deny force": the bracketed word is the mode */
	open = strchr(thp, '[');
	if (open)
		snprintf(mode, len, "%.*s", (int)strcspn(open + 1, "]"), open + 1);
	else
		snprintf(mode, len, "%s", thp);
	row = check_add(rep, CHECK_SECTION_KERNEL, "thp shmem", CHECK_OK, "%s", mode);
	if (strcmp(mode, "always") && strcmp(mode, "within_size") && strcmp(mode, "force"))
		check_set_detail(row, "the segment uses 4 KiB pages: more TLB misses in large all-reduces; 'within_size' in /sys/kernel/mm/transparent_hugepage/shmem_enabled lets it use 2 MiB pages");
}

void check_hugepages(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct check_row *row;
	int fd = memfd_create("shmar-check-huge", MFD_CLOEXEC | MFD_HUGETLB);
	int err = fd < 0 ? errno : 0;

	if (fd >= 0)
		close(fd);
	f->hugetlb_pages = check_read_field_long("/proc/meminfo", "HugePages_Total", -1);
	f->hugetlb_pages_free = check_read_field_long("/proc/meminfo", "HugePages_Free", -1);
	f->hugepage_kb = check_read_field_long("/proc/meminfo", "Hugepagesize", -1);
	row = check_add(rep, CHECK_SECTION_KERNEL, "hugetlb", CHECK_OK,
			"MFD_HUGETLB %s; pool %ld pages of %ld kB (%ld free)",
			err ? strerror(err) : "ok", f->hugetlb_pages < 0 ? 0 : f->hugetlb_pages,
			f->hugepage_kb < 0 ? 0 : f->hugepage_kb,
			f->hugetlb_pages_free < 0 ? 0 : f->hugetlb_pages_free);
	check_set_detail(row, "libshmar maps its segment with normal pages; the huge-page pool is not needed");
	check_thp_shmem(rep);
}
