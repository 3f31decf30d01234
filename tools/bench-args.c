/* SPDX-License-Identifier: MIT */
/*
 * bench-args.c - shmar-bench's option values, and fitting them to a job.
 *
 * Parsing checks each value alone; bench_fit() checks what needs the job's
 * shape (rank count, slot size): a size that is not a whole number of
 * elements, or of blocks of N elements for reduce_scatter and allgather, or
 * that --algo small cannot run in one slot, is an error rather than a
 * different size measured under the given name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

static const size_t osu_sizes[] = { 4, 64, 1024, 16384, 262144, 1048576, 4194304, 16777216,
				    67108864 };

static const struct {
	const char *name;
	int dtype;
	size_t size;
} dtypes[] = {
	{ "fp32", SHMAR_FLOAT32, 4 }, { "bf16", SHMAR_BFLOAT16, 2 }, { "fp16", SHMAR_FLOAT16, 2 },
	{ "fp64", SHMAR_FLOAT64, 8 }, { "int32", SHMAR_INT32, 4 },  { "int64", SHMAR_INT64, 8 },
	{ "uint8", SHMAR_UINT8, 1 },
};

#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

static const char *const coll_names[] = { "allreduce", "reduce_scatter", "allgather", "broadcast",
					  "barrier" };
static const char *const op_names[] = { "sum", "prod", "max", "min", "avg" };
static const char *const algo_names[] = { "auto", "small", "large" };
static const char *const mem_names[] = { "malloc", "registered" };
static const char *const format_names[] = { "table", "osu", "csv", "json" };

#define NAMES(a) ((int)(sizeof(a) / sizeof((a)[0])))

void bench_opts_default(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nranks = 2;
	o->bind = true;
	o->coll = BENCH_ALLREDUCE;
	o->op = SHMAR_SUM;
	o->dtypes[0] = SHMAR_FLOAT32;
	o->ndtypes = 1;
	memcpy(o->sizes, osu_sizes, sizeof(osu_sizes));
	o->nsizes = NAMES(osu_sizes);
	o->in_place = o->out_of_place = true;
	o->budget_s = 0.5;
	o->min_iters = 10;
	o->max_iters = 10000;
	o->algo = BENCH_ALGO_AUTO;
	o->mem = BENCH_MEM_MALLOC;
	o->threads = -1;
	o->format = BENCH_FORMAT_TABLE;
	o->label = "libshmar";
}

/* ---------------------------------------------------------------- names */

const char *bench_coll_name(enum bench_coll c)
{
	return (unsigned)c < (unsigned)NAMES(coll_names) ? coll_names[c] : "?";
}

const char *bench_op_name(enum shmar_op op)
{
	return (unsigned)op < (unsigned)NAMES(op_names) ? op_names[op] : "?";
}

const char *bench_algo_name(enum bench_algo a)
{
	return (unsigned)a < (unsigned)NAMES(algo_names) ? algo_names[a] : "?";
}

const char *bench_mem_name(enum bench_mem m)
{
	return (unsigned)m < (unsigned)NAMES(mem_names) ? mem_names[m] : "?";
}

const char *bench_dtype_name(int dtype)
{
	for (size_t i = 0; i < NDTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].name;
	return "?";
}

size_t bench_dtype_size(int dtype)
{
	for (size_t i = 0; i < NDTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].size;
	return 0;
}

bool bench_coll_reduces(enum bench_coll c)
{
	return c == BENCH_ALLREDUCE || c == BENCH_REDUCE_SCATTER;
}

/* ---------------------------------------------------------------- parsing */

static int word(const char *s, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(s, words[i]) == 0)
			return i;
	return -EINVAL;
}

int bench_parse_dtypes(struct bench_opts *o, const char *s)
{
	char buf[256], *save = NULL;
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NDTYPES; i++)
			if (strcasecmp(tok, dtypes[i].name) == 0)
				break;
		if (i == NDTYPES || n == BENCH_MAX_DTYPES)
			return -EINVAL;
		o->dtypes[n++] = dtypes[i].dtype;
	}
	if (n == 0)
		return -EINVAL;
	o->ndtypes = n;
	o->given |= BENCH_GAVE_DTYPES;
	return 0;
}

/* "4096", "4k", "16M", "1G" (binary multiples), 1 byte .. BENCH_MAX_BYTES. */
static int parse_bytes(const char *tok, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*tok < '0' || *tok > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(tok, &end, 10);
	if (errno || end == tok)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > BENCH_MAX_BYTES / mul)
		return -EINVAL;
	*out = (size_t)(v * mul);
	return 0;
}

int bench_parse_sizes(struct bench_opts *o, const char *s)
{
	char buf[1024], *save = NULL;
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_SIZES || parse_bytes(tok, &o->sizes[n]) < 0)
			return -EINVAL;
		n++;
	}
	if (n == 0)
		return -EINVAL;
	o->nsizes = n;
	o->given |= BENCH_GAVE_SIZES;
	return 0;
}

int bench_parse_coll(const char *s, enum bench_coll *out)
{
	int i = word(s, coll_names, NAMES(coll_names));

	if (i < 0)
		return i;
	*out = (enum bench_coll)i;
	return 0;
}

int bench_parse_op(const char *s, enum shmar_op *out)
{
	int i = word(s, op_names, NAMES(op_names));

	if (i < 0)
		return i;
	*out = (enum shmar_op)i;
	return 0;
}

int bench_parse_mode(struct bench_opts *o, const char *s)
{
	bool in = strcmp(s, "in") == 0 || strcmp(s, "both") == 0;
	bool out = strcmp(s, "out") == 0 || strcmp(s, "both") == 0;

	if (!in && !out)
		return -EINVAL;
	o->in_place = in;
	o->out_of_place = out;
	o->given |= BENCH_GAVE_MODE;
	return 0;
}

int bench_parse_algo(const char *s, enum bench_algo *out)
{
	int i = word(s, algo_names, NAMES(algo_names));

	if (i < 0)
		return i;
	*out = (enum bench_algo)i;
	return 0;
}

int bench_parse_mem(const char *s, enum bench_mem *out)
{
	int i = word(s, mem_names, NAMES(mem_names));

	if (i < 0)
		return i;
	*out = (enum bench_mem)i;
	return 0;
}

int bench_parse_format(const char *s, enum bench_format *out)
{
	int i = word(s, format_names, NAMES(format_names));

	if (i < 0)
		return i;
	*out = (enum bench_format)i;
	return 0;
}

/* A label is one word that needs no quoting in any output format. */
int bench_parse_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BENCH_LABEL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------- fitting to the job */

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), -EINVAL)

/* reduce_scatter and allgather move one block per rank: the buffer must
 * hold nranks equal blocks of whole elements. */
static size_t size_unit(const struct bench_opts *o, int dtype, int nranks)
{
	size_t unit = bench_dtype_size(dtype);

	if (o->coll == BENCH_REDUCE_SCATTER || o->coll == BENCH_ALLGATHER)
		unit *= (size_t)nranks;
	return unit;
}

static int check_given_sizes(const struct bench_opts *o, int nranks, char *why, size_t why_len)
{
	for (int i = 0; i < o->nsizes; i++) {
		for (int d = 0; d < o->ndtypes; d++) {
			size_t esize = bench_dtype_size(o->dtypes[d]);
			size_t unit = size_unit(o, o->dtypes[d], nranks);

			if (o->sizes[i] % esize)
				return WHY("-s %zu: not a whole number of %s elements (%zu bytes each)",
					   o->sizes[i], bench_dtype_name(o->dtypes[d]), esize);
			if (o->sizes[i] % unit)
				return WHY("-s %zu: %s needs %d equal blocks of %s elements, a multiple of %zu bytes",
					   o->sizes[i], bench_coll_name(o->coll), nranks,
					   bench_dtype_name(o->dtypes[d]), unit);
		}
	}
	return 0;
}

/* The default sizes, rounded down to what every dtype and the collective
 * accept (at least one unit), without repeats. */
static void round_default_sizes(struct bench_opts *o, int nranks)
{
	size_t unit = 1;
	int n = 0;

	for (int d = 0; d < o->ndtypes; d++) {
		size_t u = size_unit(o, o->dtypes[d], nranks);

		/* element sizes are powers of two: the largest unit is a multiple of the others */
		unit = u > unit ? u : unit;
	}
	for (int i = 0; i < o->nsizes; i++) {
		size_t s = o->sizes[i] / unit * unit;

		if (s == 0)
			s = unit;
		if (n == 0 || o->sizes[n - 1] != s)
			o->sizes[n++] = s;
	}
	o->nsizes = n;
}

/* --algo small runs the one-step algorithm only up to one slot. */
static int fit_small_algo(struct bench_opts *o, const struct shmar_config *cfg, char *why,
			  size_t why_len)
{
	int n = 0;

	for (int i = 0; i < o->nsizes; i++) {
		if (o->sizes[i] <= cfg->slot_bytes) {
			o->sizes[n++] = o->sizes[i];
			continue;
		}
		if (o->given & BENCH_GAVE_SIZES)
			return WHY("--algo small: %zu bytes do not fit in one slot of %zu bytes (SHMAR_SLOT_BYTES); the library would run the large algorithm",
				   o->sizes[i], cfg->slot_bytes);
	}
	if (n == 0)
		return WHY("--algo small: no size fits in one slot of %zu bytes (SHMAR_SLOT_BYTES)",
			   cfg->slot_bytes);
	o->nsizes = n; /* the default sizes stop at the slot */
	return 0;
}

static int fit_modes(struct bench_opts *o, char *why, size_t why_len)
{
	if (o->coll == BENCH_BARRIER) {
		o->in_place = true;
		o->out_of_place = false;
		return 0;
	}
	if (o->coll != BENCH_BROADCAST)
		return 0;
	if ((o->given & BENCH_GAVE_MODE) && o->out_of_place)
		return WHY("-m %s: broadcast has one buffer, it runs in place only",
			   o->in_place ? "both" : "out");
	o->in_place = true;
	o->out_of_place = false;
	return 0;
}

int bench_fit(struct bench_opts *o, int nranks, const struct shmar_config *cfg, char *why,
	      size_t why_len)
{
	int err;

	if (o->algo != BENCH_ALGO_AUTO && o->coll != BENCH_ALLREDUCE)
		return WHY("--algo %s: only allreduce has algorithms to choose from, not %s",
			   bench_algo_name(o->algo), bench_coll_name(o->coll));
	if ((err = fit_modes(o, why, why_len)) < 0)
		return err;
	if (o->coll == BENCH_BARRIER) {
		/* no message: one row */
		o->sizes[0] = 0;
		o->nsizes = 1;
		o->ndtypes = 1;
		return 0;
	}
	if (o->given & BENCH_GAVE_SIZES)
		err = check_given_sizes(o, nranks, why, why_len);
	else
		round_default_sizes(o, nranks);
	if (err < 0)
		return err;
	if (o->algo == BENCH_ALGO_SMALL)
		return fit_small_algo(o, cfg, why, why_len);
	return 0;
}

void bench_note_ignored(const struct bench_opts *o, FILE *f)
{
	static const struct {
		unsigned bit;
		const char *opt;
	} opts[] = {
		{ BENCH_GAVE_SIZES, "-s" }, { BENCH_GAVE_DTYPES, "-d" },
		{ BENCH_GAVE_OP, "-o" },    { BENCH_GAVE_MODE, "-m" },
	};
	unsigned ignored = 0;
	const char *why;
	int n = 0;

	if (o->coll == BENCH_BARRIER) {
		ignored = o->given & (BENCH_GAVE_SIZES | BENCH_GAVE_DTYPES | BENCH_GAVE_OP |
				      BENCH_GAVE_MODE);
		why = "barrier moves no data";
	} else if (!bench_coll_reduces(o->coll)) {
		ignored = o->given & BENCH_GAVE_OP;
		why = o->coll == BENCH_BROADCAST ? "broadcast reduces nothing"
						 : "allgather reduces nothing";
	}
	if (!ignored)
		return;
	fprintf(f, "shmar-bench: %s: ", why);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (ignored & opts[i].bit)
			fprintf(f, "%s%s", n++ ? ", " : "", opts[i].opt);
	fprintf(f, " ignored\n");
}
