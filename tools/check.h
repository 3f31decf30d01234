/* SPDX-License-Identifier: MIT */
/*
 * check.h - shmar-check's checks, callable without main() (the idea of
 * libcap-ng's PSCAP_NO_MAIN), so a test can run one check or one helper alone.
 *
 * Every check appends rows to a struct check_report: a name, a status, the
 * value found, and for a problem the reason and what to do.  What the checks
 * measure is kept as typed facts too.  The printers turn the report into the
 * screen or the JSON document of shmar-check(1).
 *
 * Whatever the library decides (which kernels, which directory, how many CPUs
 * a rank has, whether the io_uring ring is usable) comes from the library
 * itself, through lib/shmar-probe.h, so shmar-check cannot disagree with it.
 */
#ifndef SHMAR_TOOLS_CHECK_H
#define SHMAR_TOOLS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shmar-probe.h"

/* Ordered by severity: the worst row decides the exit status. */
enum check_status {
	CHECK_OK = 0,
	CHECK_DEGRADED = 1,
	CHECK_BROKEN = 2,
	CHECK_SKIPPED = 3, /* the self-test when --no-selftest; never a row's status */
};

enum check_section {
	CHECK_SECTION_MACHINE,
	CHECK_SECTION_KERNEL,
	CHECK_SECTION_LIMITS,
	CHECK_SECTION_SECURITY,
	CHECK_SECTION_SELFTEST,
	CHECK_SECTION_COUNT,
};

#define CHECK_NAME_MAX 24
#define CHECK_VALUE_MAX 1024
#define CHECK_TEXT_MAX 512
#define CHECK_ROWS_MAX 48

struct check_row {
	enum check_section section;
	enum check_status status;
	char name[CHECK_NAME_MAX];
	char value[CHECK_VALUE_MAX];  /* what was found */
	char brief[CHECK_TEXT_MAX];   /* shorter value for the screen; "" = value */
	char detail[CHECK_TEXT_MAX];  /* why it matters (always for degraded/broken) */
	char fix[CHECK_TEXT_MAX];     /* what to do; "" when nothing */
};

/* The self-test's dtypes (enum shmar_dtype order) and element counts. */
#define CHECK_NDTYPES 7
#define CHECK_NSIZES 4
extern const size_t check_selftest_counts[CHECK_NSIZES];

/* Measured in the self-test: medians over iterations, maxima over ranks. */
enum check_timing {
	CHECK_TIME_BARRIER,
	CHECK_TIME_AR_4B,
	CHECK_TIME_AR_16KIB,
	CHECK_TIME_AR_1MIB,
	CHECK_TIME_AR_16MIB,
	CHECK_TIME_COUNT,
};

struct check_selftest {
	enum check_status status;             /* CHECK_SKIPPED when not run */
	int ranks;
	char isa[16];                         /* the kernels libshmar picks here */
	bool ran[CHECK_NDTYPES][CHECK_NSIZES];
	bool ok[CHECK_NDTYPES][CHECK_NSIZES];
	double seconds[CHECK_TIME_COUNT];     /* < 0: not measured */
	size_t bytes[CHECK_TIME_COUNT];       /* message size of each timing */
};

/* How a waiting rank learns that a peer died (the library's choice, see check_liveness()). */
enum check_liveness {
	CHECK_LIVENESS_RING,    /* one io_uring sleeps on the futex and the pidfds */
	CHECK_LIVENESS_WATCHER, /* a thread polls the pidfds; waiters sleep in FUTEX_WAITV */
	CHECK_LIVENESS_SLICES,  /* futex sleeps of 100 ms, the peers checked between them */
	CHECK_LIVENESS_NONE,    /* SHMAR_IO_URING=1 without a usable ring: init fails */
};

/* What the checks found: for later checks and for --json.  -1: not known. */
struct check_facts {
	/* machine */
	char cpu_model[256];
	unsigned cpu_features;        /* CHECK_CPU_*, for the screen */
	const char *isa_setting;      /* SHMAR_ISA as set; NULL: unset (auto) */
	int isa_err;                  /* shmar_probe_isa: 0, -ENOTSUP or -EINVAL */
	const char *isa;              /* the kernels shmar_comm_init picks; NULL when isa_err */
	const char *isa_auto;         /* the kernels it picks without SHMAR_ISA */
	const char *isa_needs;        /* what the requested kernels need, in the library's words */
	struct shmar_probe_cpus cpus; /* as the library counts them */
	char cgroup_cpu_max[512];     /* cpu.max lines with a limit on the own cgroup path */
	int ranks;
	bool oversubscribed;          /* ranks > cpus.usable */
	int numa_nodes;
	int numa_nodes_with_cpus;     /* nodes holding CPUs of the affinity mask */

	/* kernel */
	char kernel_release[65];
	int kernel_major, kernel_minor, kernel_patch;
	bool memfd;                   /* a sealed MAP_SHARED memfd works */
	bool memfd_noexec_seal;
	long vm_memfd_noexec;
	long hugetlb_pages, hugetlb_pages_free, hugepage_kb;
	char thp_shmem[256];           /* "" when not available */
	double futex_round_trip_s;    /* < 0: failed */
	bool pidfd_open;
	bool so_peerpidfd;
	int io_uring_setting;         /* shmar_config_init: -1 auto, 0 never, 1 required */
	int io_uring_err;             /* shmar_probe_io_uring: 0 or -errno */
	bool io_uring_futex_wait;
	bool futex_waitv;             /* shmar_probe_futex_waitv */
	enum check_liveness liveness;

	/* limits and security */
	long long memlock, memlock_hard; /* bytes; -1 unlimited or unknown */
	long long nofile, nofile_hard;   /* -1 unlimited or unknown */
	long long nofile_needed;
	long seccomp_mode, seccomp_filters;
	bool dropped_caps;
	int dir_err;                  /* shmar_probe_dir: 0, -EINVAL or -ENAMETOOLONG */
	char dir[4096];               /* the rendezvous directory, from the library */
	const char *dir_source;       /* "SHMAR_DIR", "XDG_RUNTIME_DIR" or "default" */
	bool dir_refused;             /* the library's one-rank init failed on the directory */
	int init_err;                 /* shmar_comm_init of one rank: 0 or -errno */
	char init_msg[256];           /* and shmar_comm_last_error() */
};

struct check_report {
	const char *library_version;
	bool utf8;       /* values use "µs" */
	int nrows;
	struct check_row rows[CHECK_ROWS_MAX];
	struct check_facts facts;
	struct check_selftest selftest;
};

struct check_options {
	int ranks;       /* for the self-test and the CPU comparison, 1..256 */
	bool selftest;   /* run the live self-test */
	bool utf8;       /* "µs" rather than "us" in values */
};

/* ---------------------------------------------------------------- running (check.c) */

/* min(4, CPUs a rank may use as the library counts them), at least 1. */
int check_default_ranks(void);

/* Everything, in order: capabilities (and their drop), machine, kernel, limits, security, self-test. */
void check_run(struct check_report *rep, const struct check_options *opt);

/* The individual checks, in the order check_run() calls them. */
void check_capabilities(struct check_report *rep);            /* check-process.c */
void check_cpu(struct check_report *rep);                     /* check-machine.c */
void check_isa(struct check_report *rep);
void check_cpus(struct check_report *rep, int ranks);
void check_numa(struct check_report *rep);
void check_kernel(struct check_report *rep);                  /* check-kernel.c */
void check_memfd(struct check_report *rep);
void check_hugepages(struct check_report *rep);
void check_futex(struct check_report *rep, bool utf8);        /* check-liveness.c */
void check_pidfd(struct check_report *rep);
void check_io_uring(struct check_report *rep);
void check_liveness(struct check_report *rep);                /* after pidfd and io_uring */
void check_limits(struct check_report *rep, int ranks);       /* check-process.c */
void check_seccomp(struct check_report *rep);
/* Also makes the one-rank shmar_comm_init that check_environment() reports. */
void check_rendezvous_dir(struct check_report *rep);          /* check-rendezvous.c */
void check_environment(struct check_report *rep);
void check_selftest(struct check_report *rep, const struct check_options *opt); /* check-selftest.c */

/* ---------------------------------------------------------------- rows (check-report.c) */

/* Append a row (beyond CHECK_ROWS_MAX rows: a scratch row that is not shown). */
struct check_row *check_add(struct check_report *rep, enum check_section section, const char *name,
			    enum check_status status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void check_set_value(struct check_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void check_set_detail(struct check_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void check_set_fix(struct check_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The row called name, or NULL. */
struct check_row *check_find_row(struct check_report *rep, const char *name);

/* The worse of two statuses; CHECK_SKIPPED counts as nothing. */
enum check_status check_worse(enum check_status a, enum check_status b);
/* The worst status of all rows and the self-test. */
enum check_status check_overall(const struct check_report *rep);
/* 0 healthy, 1 degraded, 2 broken. */
int check_exit_code(enum check_status status);
const char *check_status_name(enum check_status status);
/* "io_uring", "watcher", "slices", "none": the liveness key of --json. */
const char *check_liveness_name(enum check_liveness liveness);

/* ---------------------------------------------------------------- output (check-text.c, check-json.c) */

/* The screen; quiet: the summary line only.  colour: ANSI colours. */
void check_print_text(FILE *f, const struct check_report *rep, bool colour, bool quiet);
/* The JSON document described in shmar-check(1). */
void check_print_json(FILE *f, const struct check_report *rep);
/* s as a JSON string with its quotes; invalid UTF-8 becomes U+FFFD. */
void check_json_string(FILE *f, const char *s);
/* v as a JSON number: at most 3 decimals, no trailing zeros; null when not finite. */
void check_json_double(FILE *f, double v);

/* ---------------------------------------------------------------- pure helpers */

#define CHECK_CPU_AVX512F    (1u << 0)
#define CHECK_CPU_AVX512BW   (1u << 1)
#define CHECK_CPU_AVX512VL   (1u << 2)
#define CHECK_CPU_AVX512BF16 (1u << 3)
#define CHECK_CPU_AVX512FP16 (1u << 4)
#define CHECK_CPU_AVX2       (1u << 5)
#define CHECK_CPU_F16C       (1u << 6)
#define CHECK_CPU_FMA        (1u << 7)
#define CHECK_CPU_NFEATURES  8

/* What __builtin_cpu_supports says, for the screen (the choice is the library's). */
unsigned check_cpu_features(void);
/* The name of feature bit i ("avx512f", ...), i < CHECK_CPU_NFEATURES. */
const char *check_cpu_feature_name(unsigned i);

/* "6.18.44-foo" -> 6, 18, 44; 0, or -1 when it does not start with a number. */
int check_parse_kernel_release(const char *release, int *major, int *minor, int *patch);

/* The self-test's data (check-values.c). */
const char *check_dtype_name(int dtype);
size_t check_dtype_size(int dtype);
/*
 * The self-test's input of rank at element i, and the exact SUM over nranks
 * (O(nranks)); both repeat every CHECK_INPUT_PERIOD elements.
 */
#define CHECK_INPUT_PERIOD 16
int64_t check_input_value(int rank, size_t i);
int64_t check_sum_value(int nranks, size_t i);
/* v (a small integer) as one element of dtype, written to out (bf16/fp16 rounded by the library). */
void check_encode(int dtype, int64_t v, void *out);

#endif /* SHMAR_TOOLS_CHECK_H */
