/* SPDX-License-Identifier: MIT */
/*
 * shmar-probe.h - what the library would decide on this machine, asked by
 * its own tools (shmar-check, shmar-bench) so they never re-implement a
 * decision and drift from it.  Never installed: the symbols live in the
 * LIBSHMAR_PRIVATE node of the version script and may change in any
 * release; a tool must run against the library it was built with.
 */
#ifndef LIBSHMAR_PROBE_H
#define LIBSHMAR_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The reduce kernels shmar_comm_init() would pick for requested (enum
 * shmar_isa; SHMAR_ISA_AUTO: the best this CPU runs).  Returns the enum
 * shmar_isa picked (> 0) and its name in *name ("scalar", "avx2", "avx512"),
 * -ENOTSUP when the CPU lacks requested, -EINVAL for an unknown value.
 * *needs (when not NULL) names the CPU features requested needs.
 */
int shmar_probe_isa(int requested, const char **name, const char **needs);

/*
 * The rendezvous directory shmar_comm_init() would use with cfg_dir (NULL:
 * what the environment says), and where that came from in *source
 * ("dir", "SHMAR_DIR", "XDG_RUNTIME_DIR" or "default").  0, -ENAMETOOLONG,
 * or -EINVAL when the setting is not an absolute path.
 */
int shmar_probe_dir(const char *cfg_dir, char *out, size_t len, const char **source);

/* The CPUs this process may run on, as the library counts them. */
struct shmar_probe_cpus {
	int online;   /* online CPUs */
	int affinity; /* CPUs in this thread's affinity mask */
	int quota;    /* CPUs the cgroup v2 cpu.max quota buys, rounded up; 0: no quota */
	int usable;   /* the least of the three: what one rank of a job can use */
};
int shmar_probe_cpus(struct shmar_probe_cpus *out);

/*
 * Whether the liveness ring can be set up: 0 when io_uring_setup works
 * (*futex_wait says whether IORING_OP_FUTEX_WAIT exists, which the library
 * needs to use the ring), -ENOPKG when the library was built without
 * liburing, else what io_uring_setup returned (-EPERM, -ENOSYS, -ENOMEM).
 */
int shmar_probe_io_uring(bool *futex_wait);

/* Whether FUTEX_WAITV (Linux 5.16) works: the watcher thread needs it. */
bool shmar_probe_futex_waitv(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHMAR_PROBE_H */
