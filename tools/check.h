/* SPDX-License-Identifier: MIT */
/*
 * check.h - shmar-check's checks, callable without main() (the idea of
 * libcap-ng's PSCAP_NO_MAIN), so a test can run one check or one helper alone.
 *
 * Every check appends rows to a struct check_report: a name, a status, the
 * value found, and for a problem the reason and what to do.  The printers
 * turn the report into the screen or the JSON document of shmar-check(1).
 */
#ifndef SHMAR_TOOLS_CHECK_H
#define SHMAR_TOOLS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
const char *check_dtype_name(int dtype);

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

/* What one check learns and a later one needs. */
struct check_facts {
	int kernel_major, kernel_minor, kernel_patch;
	int online_cpus;
	int allowed_cpus;       /* sched_getaffinity */
	double quota_cpus;      /* cgroup v2 cpu.max; 0: no quota */
	int usable_cpus;        /* min(allowed, ceil(quota)) */
	unsigned cpu_features;  /* CHECK_CPU_* */
	const char *isa;        /* "scalar", "avx2", "avx512"; NULL when SHMAR_ISA is unusable */
	bool io_uring_usable;
	bool dropped_caps;
	char dir[4096];         /* the rendezvous directory, resolved as the library does */
	int init_err;           /* shmar_comm_init of one rank: 0 or -errno */
	char init_msg[256];     /* and shmar_comm_last_error() */
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

/* ---------------------------------------------------------------- running */

/* min(4, CPUs this process may use), at least 1. */
int check_default_ranks(void);

/* Everything, in order: capabilities (and their drop), machine, kernel, limits, security, self-test. */
void check_run(struct check_report *rep, const struct check_options *opt);

/* The individual checks, in the order check_run() calls them. */
void check_capabilities(struct check_report *rep);
void check_cpu(struct check_report *rep);
void check_isa(struct check_report *rep);
void check_cpus(struct check_report *rep, int ranks);
void check_numa(struct check_report *rep);
void check_kernel(struct check_report *rep);
void check_memfd(struct check_report *rep);
void check_hugepages(struct check_report *rep);
void check_futex(struct check_report *rep, bool utf8);
void check_pidfd(struct check_report *rep);
void check_io_uring(struct check_report *rep);
void check_limits(struct check_report *rep, int ranks);
void check_seccomp(struct check_report *rep);
void check_rendezvous_dir(struct check_report *rep);
void check_environment(struct check_report *rep);
void check_selftest(struct check_report *rep, const struct check_options *opt);

/* Append a row (beyond CHECK_ROWS_MAX rows: a scratch row that is not shown). */
struct check_row *check_add(struct check_report *rep, enum check_section section, const char *name,
			    enum check_status status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void check_set_detail(struct check_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void check_set_fix(struct check_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The worst status of all rows and the self-test. */
enum check_status check_overall(const struct check_report *rep);
/* 0 healthy, 1 degraded, 2 broken. */
int check_exit_code(enum check_status status);
const char *check_status_name(enum check_status status);

/* ---------------------------------------------------------------- output */

/* The screen; quiet: the summary line only.  colour: ANSI colours. */
void check_print_text(FILE *f, const struct check_report *rep, bool colour, bool quiet);
/* The JSON document described in shmar-check(1). */
void check_print_json(FILE *f, const struct check_report *rep);
/* s as a JSON string with its quotes; invalid UTF-8 becomes U+FFFD. */
void check_json_string(FILE *f, const char *s);

/* ---------------------------------------------------------------- helpers */

#define CHECK_CPU_AVX512F    (1u << 0)
#define CHECK_CPU_AVX512BW   (1u << 1)
#define CHECK_CPU_AVX512VL   (1u << 2)
#define CHECK_CPU_AVX512BF16 (1u << 3)
#define CHECK_CPU_AVX512FP16 (1u << 4)
#define CHECK_CPU_AVX2       (1u << 5)
#define CHECK_CPU_F16C       (1u << 6)
#define CHECK_CPU_FMA        (1u << 7)

unsigned check_cpu_features(void);

/*
 * The kernels libshmar picks for these CPU features and this SHMAR_ISA value
 * (NULL or "" = unset): SHMAR_ISA if set; else avx512 with avx512f+avx512bw,
 * else avx2 with avx2+f16c+fma, else scalar.  Returns the name, or NULL when
 * shmar_comm_init() would fail (-EINVAL for an unknown name, -ENOTSUP when the
 * CPU lacks it); why then says which.
 */
const char *check_isa_pick(unsigned features, const char *env, char *why, size_t len);

/* "6.18.44-foo" -> 6, 18, 44; 0, or -1 when it does not start with a number. */
int check_parse_kernel_release(const char *release, int *major, int *minor, int *patch);

/* cgroup v2 "cpu.max" contents -> CPUs (quota / period); 0 for "max" or junk. */
double check_parse_cpu_max(const char *line);

/* The rendezvous directory as libshmar resolves it; 0 or -ENAMETOOLONG. */
int check_resolve_dir(char *out, size_t len);

/* Round-to-nearest-even from fp32 to bfloat16 / IEEE binary16 bits (finite inputs). */
uint16_t check_bf16_from_float(float f);
uint16_t check_fp16_from_float(float f);

/*
 * The self-test's input of rank at element i, and the exact SUM over nranks
 * (O(nranks)); both repeat every CHECK_INPUT_PERIOD elements.
 */
#define CHECK_INPUT_PERIOD 16
int64_t check_input_value(int rank, size_t i);
int64_t check_sum_value(int nranks, size_t i);
/* v (a small integer) as one element of dtype, written to out. */
void check_encode(int dtype, int64_t v, void *out);

#endif /* SHMAR_TOOLS_CHECK_H */
