/* SPDX-License-Identifier: MIT */
/*
 * bench-output.c - shmar-bench's four output formats, printed by rank 0:
 *
 *   table  aligned columns under a header that states the run (default);
 *   osu    the OSU-style rows other all-reduce benchmarks print, so the
 *          numbers can be summarised next to theirs;
 *   csv    one line per row with every statistic;
 *   json   one object, the rows in "results" (numbers as numbers).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"

#define TIME_COLUMNS "p50_us p90_us p99_us max_us b2b_us"

double bench_busbw_factor(enum bench_coll c, int nranks)
{
	/* the bytes each rank's link carries per byte of message (NCCL's PERFORMANCE.md) */
	switch (c) {
	case BENCH_ALLREDUCE:
		return 2.0 * (nranks - 1) / nranks;
	case BENCH_REDUCE_SCATTER:
	case BENCH_ALLGATHER:
		return (double)(nranks - 1) / nranks;
	case BENCH_BROADCAST:
		return 1.0;
	default:
		return -1.0;
	}
}

static const char *busbw_formula(enum bench_coll c)
{
	switch (c) {
	case BENCH_ALLREDUCE: return "2(n-1)/n";
	case BENCH_REDUCE_SCATTER: case BENCH_ALLGATHER: return "(n-1)/n";
	default: return "1";
	}
}

/* GB/s (1e9 bytes per second) at the median; < 0 when there is no message. */
static double algbw(const struct bench_row *r)
{
	return r->bytes && r->p50 > 0 ? (double)r->bytes / r->p50 / 1e3 : -1.0;
}

static double busbw(const struct bench_opts *o, const struct bench_job *job,
		    const struct bench_row *r)
{
	double f = bench_busbw_factor(o->coll, job->nranks), a = algbw(r);

	return f >= 0 && a >= 0 ? a * f : -1.0;
}

static const char *mode_name(const struct bench_opts *o, const struct bench_row *r)
{
	if (o->coll == BENCH_BARRIER)
		return "-";
	return r->in_place ? "in" : "out";
}

/* ---------------------------------------------------------------- table */

static void algo_text(FILE *f, const struct bench_opts *o, const struct bench_job *job)
{
	if (o->coll != BENCH_ALLREDUCE)
		return;
	if (o->algo != BENCH_ALGO_AUTO)
		fprintf(f, ", algorithm %s (forced)", bench_algo_name(o->algo));
	else
		fprintf(f, ", algorithm auto (one step up to %zu B, then reduce-scatter + all-gather in %zu-byte chunks)",
			job->small_max, job->slot_bytes);
}

static void table_begin(FILE *f, const struct bench_opts *o, const struct bench_job *job)
{
	fprintf(f, "# %s: shmar-bench %s, libshmar %s\n", o->label, PACKAGE_VERSION,
		shmar_version());
	fprintf(f, "# %s", bench_coll_name(o->coll));
	if (bench_coll_reduces(o->coll))
		fprintf(f, " %s", bench_op_name(o->op));
	fprintf(f, ", %d rank%s on %d CPU%s, %s%d per rank: %s\n", job->nranks,
		job->nranks == 1 ? "" : "s", job->cpus, job->cpus == 1 ? "" : "s",
		job->cpus_per_rank == 1 ? "" : "up to ", job->cpus_per_rank,
		job->oversubscribed ? "OVERSUBSCRIBED" : "not oversubscribed");
	fprintf(f, "# kernels %s", job->isa);
	algo_text(f, o, job);
	fprintf(f, ", memory %s, threads %d, data %s, liveness %s\n", bench_mem_name(o->mem),
		job->threads, o->vary ? "varying" : "fixed", job->liveness);
	fprintf(f, "# about %.2f s and %d..%d calls per size; microseconds, slowest rank\n",
		o->budget_s, o->min_iters, o->max_iters);
	if (o->coll != BENCH_BARRIER)
		fprintf(f, "# algbw = size_B / p50; busbw = algbw x %s = algbw x %.3f\n",
			busbw_formula(o->coll), bench_busbw_factor(o->coll, job->nranks));
}

static void table_dtype(FILE *f, const struct bench_opts *o, int dtype)
{
	if (o->coll != BENCH_BARRIER)
		fprintf(f, "#\n# %s\n", bench_dtype_name(dtype));
	fprintf(f, "#%9s %5s %6s %10s %10s %10s %10s %10s %11s %11s\n", "size_B", "mode", "iters",
		"p50_us", "p90_us", "p99_us", "max_us", "b2b_us", "algbw_GBps", "busbw_GBps");
}

static void bw_cell(char *buf, size_t len, double v)
{
	if (v < 0 || !isfinite(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.4f", v);
}

static void table_row(FILE *f, const struct bench_opts *o, const struct bench_job *job,
		      const struct bench_row *r)
{
	char a[32], b[32];

	bw_cell(a, sizeof(a), algbw(r));
	bw_cell(b, sizeof(b), busbw(o, job, r));
	fprintf(f, "%10zu %5s %6d %10.3f %10.3f %10.3f %10.3f %10.3f %11s %11s\n", r->bytes,
		mode_name(o, r), r->iters, r->p50, r->p90, r->p99, r->max, r->b2b, a, b);
}

/* ---------------------------------------------------------------- OSU rows */

static void osu_dtype(FILE *f, const struct bench_opts *o, const struct bench_job *job, int dtype)
{
	/* the first and third lines are what the peer summaries parse: keep them */
	fprintf(f, "# peer=%s np=%d coll=%s dtype=%s op=%s budget_s=%.2f min_iters=%d max_iters=%d algo=%s%s\n",
		o->label, job->nranks, bench_coll_name(o->coll), bench_dtype_name(dtype),
		bench_op_name(o->op), o->budget_s, o->min_iters, o->max_iters,
		bench_algo_name(o->algo), o->vary ? " data=varying" : "");
	fprintf(f, "# library: libshmar %s kernels=%s cpus=%d oversubscribed=%s mem=%s threads=%d\n",
		shmar_version(), job->isa, job->cpus, job->oversubscribed ? "yes" : "no",
		bench_mem_name(o->mem), job->threads);
	fprintf(f, "# size_B mode iters med_us avg_us avgavg_us p10_us p90_us min_us algbw_GBps b2b_us\n");
}

static void osu_row(FILE *f, const struct bench_opts *o, const struct bench_row *r)
{
	double a = algbw(r);

	fprintf(f, "%zu %s %d %.3f %.3f %.3f %.3f %.3f %.3f %.4f %.3f\n", r->bytes, mode_name(o, r),
		r->iters, r->p50, r->avg, r->avgavg, r->p10, r->p90, r->min, a < 0 ? 0.0 : a,
		r->b2b);
}

/* ---------------------------------------------------------------- CSV */

static void csv_begin(FILE *f)
{
	fprintf(f, "label,coll,dtype,op,nranks,size_B,count,mode,iters,min_us,p10_us,p50_us,"
		   "p90_us,p99_us,max_us,avg_us,avgavg_us,b2b_us,algbw_GBps,busbw_GBps\n");
}

static void csv_bw(FILE *f, double v, const char *sep)
{
	if (v < 0 || !isfinite(v))
		fprintf(f, "%s", sep);
	else
		fprintf(f, "%.6g%s", v, sep);
}

static void csv_row(FILE *f, const struct bench_opts *o, const struct bench_job *job,
		    const struct bench_row *r)
{
	bool barrier = o->coll == BENCH_BARRIER;

	fprintf(f, "%s,%s,%s,%s,%d,%zu,%zu,%s,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,",
		o->label, bench_coll_name(o->coll), barrier ? "" : bench_dtype_name(r->dtype),
		bench_coll_reduces(o->coll) ? bench_op_name(o->op) : "", job->nranks, r->bytes,
		r->count, barrier ? "" : mode_name(o, r), r->iters, r->min, r->p10, r->p50, r->p90,
		r->p99, r->max, r->avg, r->avgavg, r->b2b);
	csv_bw(f, algbw(r), ",");
	csv_bw(f, busbw(o, job, r), "\n");
}

/* ---------------------------------------------------------------- JSON */

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t utf8_length(const unsigned char *p)
{
	size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
	uint32_t cp;

	if (n == 0 || *p > 0xf4)
		return 0;
	cp = *p & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, f);
		} else if ((n = utf8_length(p)) > 0) {
			fwrite(p, 1, n, f);
			p += n;
		} else {
			fputs("\\ufffd", f);
			p++;
		}
	}
	fputc('"', f);
}

/* "key": v, null when v < 0; microseconds to the nanosecond, others to 6 digits. */
static void json_number(FILE *f, const char *key, double v)
{
	size_t n = strlen(key);

	fprintf(f, "\"%s\": ", key);
	if (v < 0 || !isfinite(v))
		fputs("null", f);
	else if (n > 3 && strcmp(key + n - 3, "_us") == 0)
		fprintf(f, "%.3f", v);
	else
		fprintf(f, "%.6g", v);
}

static void json_begin(FILE *f, const struct bench_opts *o, const struct bench_job *job)
{
	double factor = bench_busbw_factor(o->coll, job->nranks);

	fputs("{\n  \"tool\": \"shmar-bench\",\n  \"version\": ", f);
	json_string(f, PACKAGE_VERSION);
	fputs(",\n  \"library_version\": ", f);
	json_string(f, shmar_version());
	fputs(",\n  \"label\": ", f);
	json_string(f, o->label);
	fputs(",\n  \"collective\": ", f);
	json_string(f, bench_coll_name(o->coll));
	fputs(",\n  \"op\": ", f);
	json_string(f, bench_coll_reduces(o->coll) ? bench_op_name(o->op) : NULL);
	fprintf(f, ",\n  \"ranks\": %d,\n  \"cpus\": %d,\n  \"cpus_per_rank\": %d,\n"
		   "  \"oversubscribed\": %s,\n  \"isa\": ",
		job->nranks, job->cpus, job->cpus_per_rank, job->oversubscribed ? "true" : "false");
	json_string(f, job->isa);
	fputs(",\n  \"algo\": ", f);
	json_string(f, o->coll == BENCH_ALLREDUCE ? bench_algo_name(o->algo) : NULL);
	fputs(",\n  ", f);
	if (o->coll != BENCH_ALLREDUCE)
		fputs("\"small_max_B\": null", f);
	else
		fprintf(f, "\"small_max_B\": %zu", job->small_max);
	fputs(",\n  \"mem\": ", f);
	json_string(f, bench_mem_name(o->mem));
	fprintf(f, ",\n  \"threads\": %d,\n  \"data\": \"%s\",\n  \"budget_s\": %g,\n"
		   "  \"min_iters\": %d,\n  \"max_iters\": %d,\n  ",
		job->threads, o->vary ? "varying" : "fixed", o->budget_s, o->min_iters,
		o->max_iters);
	json_number(f, "busbw_factor", factor);
	fputs(",\n  \"results\": [", f);
}

static bool json_first_row;

static void json_row(FILE *f, const struct bench_opts *o, const struct bench_job *job,
		     const struct bench_row *r)
{
	bool barrier = o->coll == BENCH_BARRIER;

	fputs(json_first_row ? "\n    {" : ",\n    {", f);
	json_first_row = false;
	fputs("\"dtype\": ", f);
	json_string(f, barrier ? NULL : bench_dtype_name(r->dtype));
	fprintf(f, ", \"size_B\": %zu, \"count\": %zu, \"mode\": ", r->bytes, r->count);
	json_string(f, barrier ? NULL : mode_name(o, r));
	fprintf(f, ", \"iters\": %d, ", r->iters);
	json_number(f, "min_us", r->min);
	fputs(", ", f);
	json_number(f, "p10_us", r->p10);
	fputs(", ", f);
	json_number(f, "p50_us", r->p50);
	fputs(", ", f);
	json_number(f, "p90_us", r->p90);
	fputs(", ", f);
	json_number(f, "p99_us", r->p99);
	fputs(", ", f);
	json_number(f, "max_us", r->max);
	fputs(", ", f);
	json_number(f, "avg_us", r->avg);
	fputs(", ", f);
	json_number(f, "avgavg_us", r->avgavg);
	fputs(", ", f);
	json_number(f, "b2b_us", r->b2b);
	fputs(", ", f);
	json_number(f, "algbw_GBps", algbw(r));
	fputs(", ", f);
	json_number(f, "busbw_GBps", busbw(o, job, r));
	fputc('}', f);
}

static void json_end(FILE *f, const char *why)
{
	fputs(json_first_row ? "],\n" : "\n  ],\n", f);
	fprintf(f, "  \"status\": \"%s\",\n  \"error\": ", why ? "failed" : "ok");
	json_string(f, why);
	fputs("\n}\n", f);
}

/* ---------------------------------------------------------------- dispatch */

void bench_print_begin(FILE *f, const struct bench_opts *o, const struct bench_job *job)
{
	switch (o->format) {
	case BENCH_FORMAT_TABLE: table_begin(f, o, job); break;
	case BENCH_FORMAT_CSV: csv_begin(f); break;
	case BENCH_FORMAT_JSON: json_first_row = true; json_begin(f, o, job); break;
	case BENCH_FORMAT_OSU: break;
	}
	fflush(f);
}

void bench_print_dtype(FILE *f, const struct bench_opts *o, const struct bench_job *job, int dtype)
{
	if (o->format == BENCH_FORMAT_TABLE)
		table_dtype(f, o, dtype);
	else if (o->format == BENCH_FORMAT_OSU)
		osu_dtype(f, o, job, dtype);
}

void bench_print_row(FILE *f, const struct bench_opts *o, const struct bench_job *job,
		     const struct bench_row *r)
{
	switch (o->format) {
	case BENCH_FORMAT_TABLE: table_row(f, o, job, r); break;
	case BENCH_FORMAT_OSU: osu_row(f, o, r); break;
	case BENCH_FORMAT_CSV: csv_row(f, o, job, r); break;
	case BENCH_FORMAT_JSON: json_row(f, o, job, r); break;
	}
	fflush(f);
}

void bench_print_end(FILE *f, const struct bench_opts *o, const char *why)
{
	if (o->format == BENCH_FORMAT_JSON)
		json_end(f, why);
	fflush(f);
}
