/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shmar-bench's measurement, testable without main().
 */
#ifndef SHMAR_TOOLS_BENCH_H
#define SHMAR_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shmar.h"

enum bench_coll { BENCH_ALLREDUCE, BENCH_REDUCE_SCATTER, BENCH_ALLGATHER, BENCH_BROADCAST, BENCH_BARRIER };
enum bench_algo { BENCH_ALGO_AUTO, BENCH_ALGO_SMALL, BENCH_ALGO_LARGE };
enum bench_format { BENCH_FORMAT_TABLE, BENCH_FORMAT_CSV };

#define BENCH_MAX_SIZES 64
#define BENCH_MAX_DTYPES 8

struct bench_opts {
	int nranks;              /* ranks to fork; 0: join the job of SHMAR_JOB/NRANKS/RANK */
	bool bind;               /* pin forked rank r to one CPU */
	enum bench_coll coll;
	enum shmar_op op;
	int dtypes[BENCH_MAX_DTYPES];
	int ndtypes;
	size_t sizes[BENCH_MAX_SIZES]; /* bytes of the (per-rank) message */
	int nsizes;
	bool in_place, out_of_place;
	double budget_s;         /* time per size and mode */
	int min_iters, max_iters;
	enum bench_algo algo;
	bool vary;               /* a different input region per iteration, beyond the LLC */
	enum bench_format format;
	const char *label;
};

/* Defaults: 2 ranks, allreduce fp32 sum, OSU sizes, both modes, 0.5 s per size. */
void bench_opts_default(struct bench_opts *o);

/* Parse "fp32,bf16" / "4,1k,16M" / "allreduce" ...; 0 or -EINVAL. */
int bench_parse_dtypes(struct bench_opts *o, const char *s);
int bench_parse_sizes(struct bench_opts *o, const char *s);
int bench_parse_coll(const char *s, enum bench_coll *out);
int bench_parse_op(const char *s, enum shmar_op *out);

/* Run the benchmark as one rank of comm; rank 0 prints to out.  0 or -errno. */
int bench_run_rank(struct shmar_comm *comm, const struct bench_opts *o, FILE *out);

/* Fork o->nranks ranks of a fresh job and run; 0 if every rank succeeded. */
int bench_fork_ranks(const struct bench_opts *o, FILE *out);

#endif /* SHMAR_TOOLS_BENCH_H */
