/* SPDX-License-Identifier: MIT */
/*
 * shmar-bench - latency and bandwidth of libshmar's collectives (OSU style).
 *
 *   shmar-bench [-n N] [--coll C] [-d DTYPES] [-o OP] [-s SIZES] [-m in|out|both]
 *               [-t SECONDS] [--algo auto|small|large] [--vary] [--csv]
 *
 * Started by itself it forks N ranks; under shmar-run (SHMAR_JOB set) each
 * process is one rank of that job.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmar-bench [options]\n"
		"  -n, --ranks N        ranks to fork (default 2); under shmar-run, join its job\n"
		"  -c, --coll C         allreduce (default), reduce_scatter, allgather, broadcast,\n"
		"                       barrier (sizes are then ignored: give -s 4)\n"
		"  -d, --dtype LIST     fp32,bf16,fp16,fp64,int32,int64,uint8 (default fp32)\n"
		"  -o, --op OP          sum (default), prod, max, min, avg\n"
		"  -s, --sizes LIST     message sizes in bytes, k/M/G suffixes (default 4..64M)\n"
		"  -m, --mode M         in (in place), out, or both (default)\n"
		"  -t, --time SECONDS   time budget per size and mode (default 0.5)\n"
		"      --min-iters N    (default 10)\n"
		"      --max-iters N    (default 10000)\n"
		"      --algo A         auto (default), small, large: force an all-reduce algorithm\n"
		"      --vary           a different input region per call, beyond the caches\n"
		"      --no-bind        do not pin forked rank r to CPU r\n"
		"      --csv            comma-separated output\n"
		"  -l, --label NAME     first field of the header / CSV (default libshmar)\n"
		"  -h, --help           this text\n"
		"Rows: size_B mode iters med_us avg_us avgavg_us p10_us p90_us min_us algbw_GBps b2b_us\n"
		"(per rank statistics of 'barrier; t0; call; t1', maximum over ranks).\n");
}

enum { OPT_MIN = 256, OPT_MAX, OPT_ALGO, OPT_VARY, OPT_NOBIND, OPT_CSV };

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

static int bad(const char *what, const char *value)
{
	fprintf(stderr, "shmar-bench: invalid %s '%s' (see --help)\n", what, value);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ranks", required_argument, NULL, 'n' }, { "coll", required_argument, NULL, 'c' },
		{ "dtype", required_argument, NULL, 'd' }, { "op", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' }, { "mode", required_argument, NULL, 'm' },
		{ "time", required_argument, NULL, 't' },  { "label", required_argument, NULL, 'l' },
		{ "min-iters", required_argument, NULL, OPT_MIN },
		{ "max-iters", required_argument, NULL, OPT_MAX },
		{ "algo", required_argument, NULL, OPT_ALGO },
		{ "vary", no_argument, NULL, OPT_VARY },
		{ "no-bind", no_argument, NULL, OPT_NOBIND },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o;
	bool ranks_given = false;
	char *end;
	int c;

	bench_opts_default(&o);
	while ((c = getopt_long(argc, argv, "n:c:d:o:s:m:t:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_int(optarg, 1, SHMAR_MAX_RANKS, &o.nranks) < 0)
				return bad("rank count", optarg);
			ranks_given = true;
			break;
		case 'c':
			if (bench_parse_coll(optarg, &o.coll) < 0)
				return bad("collective", optarg);
			break;
		case 'd':
			if (bench_parse_dtypes(&o, optarg) < 0)
				return bad("dtype list", optarg);
			break;
		case 'o':
			if (bench_parse_op(optarg, &o.op) < 0)
				return bad("op", optarg);
			break;
		case 's':
			if (bench_parse_sizes(&o, optarg) < 0)
				return bad("size list", optarg);
			break;
		case 'm':
			o.in_place = !strcmp(optarg, "in") || !strcmp(optarg, "both");
			o.out_of_place = !strcmp(optarg, "out") || !strcmp(optarg, "both");
			if (!o.in_place && !o.out_of_place)
				return bad("mode", optarg);
			break;
		case 't':
			o.budget_s = strtod(optarg, &end);
			if (*end || end == optarg || !(o.budget_s > 0 && o.budget_s < 3600))
				return bad("time", optarg);
			break;
		case 'l':
			o.label = optarg;
			break;
		case OPT_MIN:
			if (parse_int(optarg, 1, 10000000, &o.min_iters) < 0)
				return bad("--min-iters", optarg);
			break;
		case OPT_MAX:
			if (parse_int(optarg, 1, 10000000, &o.max_iters) < 0)
				return bad("--max-iters", optarg);
			break;
		case OPT_ALGO:
			if (!strcmp(optarg, "auto"))
				o.algo = BENCH_ALGO_AUTO;
			else if (!strcmp(optarg, "small"))
				o.algo = BENCH_ALGO_SMALL;
			else if (!strcmp(optarg, "large"))
				o.algo = BENCH_ALGO_LARGE;
			else
				return bad("--algo", optarg);
			break;
		case OPT_VARY: o.vary = true; break;
		case OPT_NOBIND: o.bind = false; break;
		case OPT_CSV: o.format = BENCH_FORMAT_CSV; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return bad("argument", argv[optind]);
	if (o.min_iters > o.max_iters)
		return bad("iteration range", "--min-iters > --max-iters");
	if (o.format == BENCH_FORMAT_CSV)
		printf("label,coll,dtype,op,nranks,size_B,mode,iters,med_us,avg_us,avgavg_us,p10_us,p90_us,min_us,algbw_GBps,b2b_us\n");

	if (getenv("SHMAR_JOB") && !ranks_given) {
		struct shmar_comm *comm;
		int err = shmar_comm_init_env(&comm);

		if (err < 0) {
			fprintf(stderr, "shmar-bench: %s: %s\n", shmar_strerror(err),
				shmar_comm_last_error(NULL));
			return 1;
		}
		err = bench_run_rank(comm, &o, stdout);
		shmar_comm_destroy(comm);
		return err < 0;
	}
	return bench_fork_ranks(&o, stdout) < 0;
}
