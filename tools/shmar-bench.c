/* SPDX-License-Identifier: MIT */
/*
 * shmar-bench - latency and bandwidth of libshmar's collectives (OSU style).
 *
 * Started by itself it forks N ranks; under shmar-run (SHMAR_JOB set, no -n)
 * each process is one rank of that job.  Arguments the job cannot run are
 * refused with exit status 2 before anything is measured.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* shmar_config.threads accepts 0..256 (shmar_config_init(3)). */
#define MAX_THREADS 256

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmar-bench [options]\n"
		"Measure the latency and bandwidth of a libshmar collective, size by size.\n"
		"\n"
		"  -n, --ranks N        ranks to fork, 1..%d (default 2); under shmar-run, join its job\n"
		"  -c, --coll C         allreduce (default), reduce_scatter, allgather, broadcast, barrier\n"
		"  -d, --dtype LIST     fp32,bf16,fp16,fp64,int32,int64,uint8 (default fp32)\n"
		"  -o, --op OP          sum (default), prod, max, min, avg\n"
		"  -s, --sizes LIST     buffer sizes in bytes, k/M/G suffixes (default 4,64,1k,...,64M)\n"
		"  -m, --mode M         in (in place), out, or both (default; broadcast: in)\n"
		"  -t, --time SECONDS   time budget per size and mode (default 0.5)\n"
		"      --min-iters N    fewest timed calls per size (default 10)\n"
		"      --max-iters N    most timed calls per size (default 10000)\n"
		"      --algo A         auto (default), small, large: the all-reduce algorithm\n"
		"      --mem M          malloc (default) or registered (shmar_mem_alloc) buffers\n"
		"      --threads T      helper threads per rank, 0..%d (default: SHMAR_THREADS)\n"
		"      --vary           a different input region per call, beyond the caches\n"
		"      --no-bind        do not pin forked rank r to the r-th allowed CPU\n"
		"  -f, --format F       table (default), osu, csv or json\n"
		"      --osu, --csv, --json   the same as -f osu, -f csv, -f json\n"
		"  -l, --label NAME     the name of this run in the output (default libshmar)\n"
		"  -h, --help           this text\n"
		"  -V, --version        the version of shmar-bench and of the library\n"
		"\n"
		"Exit status: 0 measured, 1 a rank failed, 2 usage error.  See shmar-bench(1).\n",
		SHMAR_MAX_RANKS, MAX_THREADS);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("shmar-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'shmar-bench --help'.\n", stderr);
	return BENCH_EXIT_USAGE;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v < 3600))
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_MIN = 256,
	OPT_MAX,
	OPT_ALGO,
	OPT_MEM,
	OPT_THREADS,
	OPT_VARY,
	OPT_NOBIND,
	OPT_OSU,
	OPT_CSV,
	OPT_JSON,
};

static const struct option longopts[] = {
	{ "ranks", required_argument, NULL, 'n' },
	{ "coll", required_argument, NULL, 'c' },
	{ "dtype", required_argument, NULL, 'd' },
	{ "op", required_argument, NULL, 'o' },
	{ "sizes", required_argument, NULL, 's' },
	{ "mode", required_argument, NULL, 'm' },
	{ "time", required_argument, NULL, 't' },
	{ "label", required_argument, NULL, 'l' },
	{ "format", required_argument, NULL, 'f' },
	{ "min-iters", required_argument, NULL, OPT_MIN },
	{ "max-iters", required_argument, NULL, OPT_MAX },
	{ "algo", required_argument, NULL, OPT_ALGO },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "vary", no_argument, NULL, OPT_VARY },
	{ "no-bind", no_argument, NULL, OPT_NOBIND },
	{ "osu", no_argument, NULL, OPT_OSU },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct cmdline {
	struct bench_opts o;
	bool ranks_given;
	char format_opt[24];    /* the option that chose the format; "": none */
	bool exit_now;          /* --help, --version */
};

/* One output format per run: a second, different one is an error. */
static int set_format(struct cmdline *cl, enum bench_format f, const char *opt)
{
	if (cl->format_opt[0] && cl->o.format != f)
		return usage_error("%s and %s: choose one output format", cl->format_opt, opt);
	cl->o.format = f;
	snprintf(cl->format_opt, sizeof(cl->format_opt), "%s", opt);
	return 0;
}

static int parse_option(struct cmdline *cl, int c, const char *arg, const char *opt)
{
	struct bench_opts *o = &cl->o;
	enum bench_format f;

	switch (c) {
	case 'n':
		if (parse_int(arg, 1, SHMAR_MAX_RANKS, &o->nranks) < 0)
			return usage_error("-n '%s': ranks are 1..%d", arg, SHMAR_MAX_RANKS);
		cl->ranks_given = true;
		return 0;
	case 'c':
		if (bench_parse_coll(arg, &o->coll) < 0)
			return usage_error("-c '%s': allreduce, reduce_scatter, allgather, broadcast or barrier",
					   arg);
		return 0;
	case 'd':
		if (bench_parse_dtypes(o, arg) < 0)
			return usage_error("-d '%s': a list of up to %d of fp32, bf16, fp16, fp64, int32, int64, uint8",
					   arg, BENCH_MAX_DTYPES);
		return 0;
	case 'o':
		if (bench_parse_op(arg, &o->op) < 0)
			return usage_error("-o '%s': sum, prod, max, min or avg", arg);
		o->given |= BENCH_GAVE_OP;
		return 0;
	case 's':
		if (bench_parse_sizes(o, arg) < 0)
			return usage_error("-s '%s': a list of up to %d sizes, 1 byte to 16G, with k, M or G suffixes",
					   arg, BENCH_MAX_SIZES);
		return 0;
	case 'm':
		if (bench_parse_mode(o, arg) < 0)
			return usage_error("-m '%s': in, out or both", arg);
		return 0;
	case 't':
		if (parse_seconds(arg, &o->budget_s) < 0)
			return usage_error("-t '%s': seconds, more than 0 and less than 3600", arg);
		return 0;
	case 'l':
		if (bench_parse_label(arg) < 0)
			return usage_error("-l '%s': 1 to %d of A-Z a-z 0-9 . _ + -", arg, BENCH_LABEL_MAX);
		o->label = arg;
		return 0;
	case 'f':
		if (bench_parse_format(arg, &f) < 0)
			return usage_error("-f '%s': table, osu, csv or json", arg);
		return set_format(cl, f, opt);
	case OPT_MIN:
		if (parse_int(arg, 1, 10000000, &o->min_iters) < 0)
			return usage_error("--min-iters '%s': 1..10000000", arg);
		return 0;
	case OPT_MAX:
		if (parse_int(arg, 1, 10000000, &o->max_iters) < 0)
			return usage_error("--max-iters '%s': 1..10000000", arg);
		return 0;
	case OPT_ALGO:
		if (bench_parse_algo(arg, &o->algo) < 0)
			return usage_error("--algo '%s': auto, small or large", arg);
		o->given |= BENCH_GAVE_ALGO;
		return 0;
	case OPT_MEM:
		if (bench_parse_mem(arg, &o->mem) < 0)
			return usage_error("--mem '%s': malloc or registered", arg);
		return 0;
	case OPT_THREADS:
		if (parse_int(arg, 0, MAX_THREADS, &o->threads) < 0)
			return usage_error("--threads '%s': 0..%d", arg, MAX_THREADS);
		return 0;
	case OPT_VARY: o->vary = true; return 0;
	case OPT_NOBIND: o->bind = false; o->given |= BENCH_GAVE_NO_BIND; return 0;
	case OPT_OSU: return set_format(cl, BENCH_FORMAT_OSU, opt);
	case OPT_CSV: return set_format(cl, BENCH_FORMAT_CSV, opt);
	case OPT_JSON: return set_format(cl, BENCH_FORMAT_JSON, opt);
	case 'h':
		usage(stdout);
		cl->exit_now = true;
		return 0;
	case 'V':
		printf("shmar-bench (libshmar) %s\nlibrary %s\n", PACKAGE_VERSION, shmar_version());
		cl->exit_now = true;
		return 0;
	case ':':
		return usage_error("option '%s' needs an argument", opt);
	default:
		return usage_error("unknown option '%s'", opt);
	}
}

/* The option as the user spelled it, for messages. */
static const char *option_name(int c, int longindex, char **argv, char *buf, size_t len)
{
	if (c == '?' || c == ':')
		return argv[optind - 1];
	if (longindex >= 0)
		snprintf(buf, len, "--%s", longopts[longindex].name);
	else
		snprintf(buf, len, "-%c", c);
	return buf;
}

static int parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
	int c, err, longindex = -1;
	char name[24];

	memset(cl, 0, sizeof(*cl));
	bench_opts_default(&cl->o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:c:d:o:s:m:t:l:f:hV", longopts, &longindex)) != -1) {
		const char *opt = option_name(c, longindex, argv, name, sizeof(name));

		longindex = -1;
		if ((err = parse_option(cl, c, optarg, opt)) != 0 || cl->exit_now)
			return err;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cl->o.min_iters > cl->o.max_iters)
		return usage_error("--min-iters %d is more than --max-iters %d", cl->o.min_iters,
				   cl->o.max_iters);
	return 0;
}

/* Under shmar-run the library reads its settings from the environment. */
static int export_settings(const struct bench_opts *o)
{
	struct shmar_config cfg;
	char v[32];

	shmar_config_init(&cfg);
	bench_apply_config(o, &cfg);
	if (o->algo != BENCH_ALGO_AUTO) {
		snprintf(v, sizeof(v), "%zu", cfg.small_max);
		if (setenv("SHMAR_SMALL_MAX", v, 1) < 0)
			return -errno;
	}
	if (o->threads >= 0) {
		snprintf(v, sizeof(v), "%d", o->threads);
		if (setenv("SHMAR_THREADS", v, 1) < 0)
			return -errno;
	}
	return 0;
}

/* One rank of the job shmar-run (or another launcher) started. */
static int join_job(struct bench_opts *o)
{
	struct shmar_config cfg;
	struct shmar_comm *comm;
	char why[256];
	int err, rank;

	if ((err = export_settings(o)) < 0) {
		fprintf(stderr, "shmar-bench: setenv: %s\n", strerror(-err));
		return 1;
	}
	err = shmar_comm_init_env(&comm);
	if (err < 0) {
		fprintf(stderr, "shmar-bench: %s: %s\n", shmar_strerror(err),
			shmar_comm_last_error(NULL));
		return 1;
	}
	rank = shmar_comm_rank(comm);
	shmar_config_init(&cfg); /* what init read, --algo and --threads included */
	err = bench_fit(o, shmar_comm_size(comm), &cfg, why, sizeof(why));
	if (err < 0) {
		/* every rank comes to the same conclusion; one says it */
		if (rank == 0)
			usage_error("%s", why);
		shmar_comm_destroy(comm);
		return BENCH_EXIT_USAGE;
	}
	if (rank == 0) {
		bench_note_ignored(o, stderr);
		if (o->given & BENCH_GAVE_NO_BIND)
			fprintf(stderr, "shmar-bench: under shmar-run the ranks are placed by shmar-run: --no-bind ignored\n");
	}
	err = bench_run_rank(comm, o, &cfg, stdout);
	shmar_comm_destroy(comm);
	return err < 0;
}

/* Fork the ranks of a fresh job. */
static int fork_job(struct bench_opts *o)
{
	struct shmar_config cfg;
	char why[256];

	shmar_config_init(&cfg);
	bench_apply_config(o, &cfg);
	if (bench_fit(o, o->nranks, &cfg, why, sizeof(why)) < 0)
		return usage_error("%s", why);
	bench_note_ignored(o, stderr);
	return bench_fork_ranks(o, stdout) < 0;
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	int err = parse_cmdline(argc, argv, &cl);

	if (err != 0 || cl.exit_now)
		return err;
	if (getenv("SHMAR_JOB") && !cl.ranks_given)
		return join_job(&cl.o);
	return fork_job(&cl.o);
}
