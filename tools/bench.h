/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shmar-bench's pieces, testable without main():
 *   bench-args.c    option values and the checks that need the job's shape,
 *   bench-data.c    input values, expected results and the validation call,
 *   bench-output.c  the table, OSU rows, CSV and JSON,
 *   bench.c         buffers, timing, statistics, the ranks.
 */
#ifndef SHMAR_TOOLS_BENCH_H
#define SHMAR_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shmar.h"

enum bench_coll { BENCH_ALLREDUCE, BENCH_REDUCE_SCATTER, BENCH_ALLGATHER, BENCH_BROADCAST, BENCH_BARRIER };
enum bench_algo { BENCH_ALGO_AUTO, BENCH_ALGO_SMALL, BENCH_ALGO_LARGE };
enum bench_format { BENCH_FORMAT_TABLE, BENCH_FORMAT_OSU, BENCH_FORMAT_CSV, BENCH_FORMAT_JSON };
enum bench_mem { BENCH_MEM_MALLOC, BENCH_MEM_REGISTERED };

/* Options the user gave explicitly (struct bench_opts.given), so that the
 * ones a collective has no use for can be named, and defaults adapted. */
enum {
	BENCH_GAVE_SIZES = 1 << 0,
	BENCH_GAVE_DTYPES = 1 << 1,
	BENCH_GAVE_OP = 1 << 2,
	BENCH_GAVE_MODE = 1 << 3,
	BENCH_GAVE_ALGO = 1 << 4,
	BENCH_GAVE_NO_BIND = 1 << 5,
};

#define BENCH_MAX_SIZES 64
#define BENCH_MAX_DTYPES 8
#define BENCH_LABEL_MAX 64
/* The largest message: 16 GiB. */
#define BENCH_MAX_BYTES ((size_t)1 << 34)

/* Exit status of a usage error, including arguments the job cannot satisfy. */
#define BENCH_EXIT_USAGE 2

struct bench_opts {
	int nranks;              /* ranks to fork */
	bool bind;               /* pin forked rank r to one CPU */
	enum bench_coll coll;
	enum shmar_op op;
	int dtypes[BENCH_MAX_DTYPES];
	int ndtypes;
	size_t sizes[BENCH_MAX_SIZES]; /* bytes of the caller's buffer (see sizing in bench.c) */
	int nsizes;
	bool in_place, out_of_place;
	double budget_s;         /* time per size and mode */
	int min_iters, max_iters;
	enum bench_algo algo;
	enum bench_mem mem;
	int threads;             /* helper threads per rank; -1: the library's (SHMAR_THREADS) */
	bool vary;               /* a different input region per iteration, beyond the LLC */
	enum bench_format format;
	const char *label;
	unsigned given;          /* BENCH_GAVE_* */
};

/* Defaults: 2 ranks, allreduce fp32 sum, OSU sizes, both modes, 0.5 s per size. */
void bench_opts_default(struct bench_opts *o);

/* Parse one option's value into o; 0 or -EINVAL. */
int bench_parse_dtypes(struct bench_opts *o, const char *s);
int bench_parse_sizes(struct bench_opts *o, const char *s);
int bench_parse_coll(const char *s, enum bench_coll *out);
int bench_parse_op(const char *s, enum shmar_op *out);
int bench_parse_mode(struct bench_opts *o, const char *s);
int bench_parse_algo(const char *s, enum bench_algo *out);
int bench_parse_mem(const char *s, enum bench_mem *out);
int bench_parse_format(const char *s, enum bench_format *out);
int bench_parse_label(const char *s);

/*
 * Fit the options to a job of nranks ranks whose library settings are cfg:
 * the sizes, modes and algorithm a collective can take.  Default sizes are
 * rounded to what the collective accepts; a size or mode given explicitly
 * that the job cannot run is an error: -EINVAL with the reason in why.
 * The same on every rank (it depends on nothing rank-specific).
 */
int bench_fit(struct bench_opts *o, int nranks, const struct shmar_config *cfg, char *why,
	      size_t why_len);

/* Tell f which given options the collective ignores; nothing if none. */
void bench_note_ignored(const struct bench_opts *o, FILE *f);

/* Names, for the output. */
const char *bench_coll_name(enum bench_coll c);
const char *bench_op_name(enum shmar_op op);
const char *bench_dtype_name(int dtype);
const char *bench_algo_name(enum bench_algo a);
const char *bench_mem_name(enum bench_mem m);
size_t bench_dtype_size(int dtype);
bool bench_coll_reduces(enum bench_coll c);

/* ---------------------------------------------------------------- data (bench-data.c) */

/* What one call moves: the count argument and the per-rank buffers. */
struct bench_sizing {
	size_t count;     /* elements in the call's count argument */
	size_t in_bytes;  /* per-rank input */
	size_t out_bytes; /* per-rank output */
};

struct bench_sizing bench_sizing_for(enum bench_coll c, size_t bytes, size_t esize, int nranks);

/* Fill bytes of buf with this rank's input pattern in dtype. */
void bench_fill(void *buf, size_t bytes, int dtype, int rank);

/* One call of the collective: sendbuf, recvbuf (the buffer of broadcast). */
int bench_call(struct shmar_comm *comm, const struct bench_opts *o, const void *in, void *out,
	       const struct bench_sizing *s, int dtype);

/* Run the call once on known inputs and compare every element with the
 * expected bits; 0, -EPROTO (reported on stderr) or the call's error. */
int bench_validate(struct shmar_comm *comm, const struct bench_opts *o, char *in, char *out,
		   const struct bench_sizing *s, int dtype, bool in_place);

/* ---------------------------------------------------------------- output (bench-output.c) */

/* The facts of one run that the header states. */
struct bench_job {
	int nranks;
	int cpus;              /* CPUs the job's ranks may run on, together */
	int cpus_per_rank;     /* the most any one rank may run on */
	bool oversubscribed;   /* more ranks than cpus */
	const char *isa;       /* the reduce kernels the library picked */
	const char *liveness;  /* how a sleeping rank learns of a death */
	size_t small_max;      /* all-reduces up to this take one step (the library's) */
	size_t slot_bytes;     /* larger messages go in chunks of this */
	int threads;           /* helper threads asked for */
};

/* One row: the statistics of one size, dtype and mode over every rank. */
struct bench_row {
	int dtype;
	size_t bytes, count;
	bool in_place;
	int iters;
	/* microseconds; each the maximum over ranks of each rank's statistic,
	 * except min (the minimum) and avgavg (the mean of the ranks' means) */
	double min, p10, p50, p90, p99, max, avg, avgavg, b2b;
};

/* NCCL's bus bandwidth factor of the collective at nranks; < 0: none. */
double bench_busbw_factor(enum bench_coll c, int nranks);

void bench_print_begin(FILE *f, const struct bench_opts *o, const struct bench_job *job);
void bench_print_dtype(FILE *f, const struct bench_opts *o, const struct bench_job *job, int dtype);
void bench_print_row(FILE *f, const struct bench_opts *o, const struct bench_job *job,
		     const struct bench_row *r);
/* Close the document; why: NULL on success, else what failed. */
void bench_print_end(FILE *f, const struct bench_opts *o, const char *why);

/* ---------------------------------------------------------------- runs (bench.c) */

/*
 * Run the benchmark as one rank of comm, made with the settings cfg; rank 0
 * prints to out.  0, or -errno (reported on stderr).
 */
int bench_run_rank(struct shmar_comm *comm, const struct bench_opts *o,
		   const struct shmar_config *cfg, FILE *out);

/* The library settings the options ask for, on top of cfg's. */
void bench_apply_config(const struct bench_opts *o, struct shmar_config *cfg);

/* Fork o->nranks ranks of a fresh job and run; 0 if every rank succeeded. */
int bench_fork_ranks(const struct bench_opts *o, FILE *out);

#endif /* SHMAR_TOOLS_BENCH_H */
