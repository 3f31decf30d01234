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

#include "shmar.h"

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

/* How a comm learns of a peer's death while it sleeps. */
enum shmar_probe_liveness_path {
	SHMAR_PROBE_LIVENESS_RING = 1,    /* io_uring: futex wait + polls, a death wakes at once */
	SHMAR_PROBE_LIVENESS_WATCHER = 2, /* a thread polls, FUTEX_WAITV wakes at once */
	SHMAR_PROBE_LIVENESS_SLICES = 3,  /* 100 ms sleeps, the peers checked in between */
};

/*
 * The path a comm of two or more ranks would take with io_uring setting
 * (-1 auto, 0 never, 1 required: SHMAR_IO_URING), and its name in *name;
 * -ENOTSUP when the setting requires the ring and it cannot be had.
 */
int shmar_probe_liveness(int io_uring, const char **name);

/* What a formed comm decided. */
struct shmar_probe_comm {
	const char *kernels;   /* "scalar", "avx2", "avx512" */
	const char *liveness;  /* as shmar_probe_liveness() names the paths */
	size_t small_max;      /* all-reduces up to this many bytes take one step */
	size_t slot_bytes;     /* bytes of each slot: larger messages go in chunks */
	int job_cpus;          /* CPUs the job's ranks may run on together */
	bool oversubscribed;   /* more ranks than job_cpus: waits yield */
	int threads;           /* helper threads of each rank */
};
int shmar_probe_comm(const struct shmar_comm *comm, struct shmar_probe_comm *out);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHMAR_PROBE_H */
