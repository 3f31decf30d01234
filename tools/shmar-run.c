/* SPDX-License-Identifier: MIT */
/*
 * shmar-run - start N ranks of a command as one libshmar job.
 *
 *   shmar-run -n N [--bind[=LIST]] [--job NAME] [--grace SECONDS]
 *             [--stop-delay SECONDS] [--[no-]tag-output] [--torch-env]
 *             [--] COMMAND [ARG]...
 *
 * main() and option parsing only; the launcher itself is in run.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmar-run -n N [options] [--] COMMAND [ARG]...\n"
		"Start N ranks of COMMAND as one libshmar job: SHMAR_JOB, SHMAR_NRANKS and\n"
		"SHMAR_RANK are set for each; signals are forwarded; when a rank fails, the\n"
		"others are stopped; what the job left in the rendezvous directory is removed.\n"
		"\n"
		"  -n, --ranks N          number of ranks, 1 to 256\n"
		"      --bind             pin the ranks to disjoint CPU sets: the CPUs this\n"
		"                         process may use, split evenly\n"
		"      --bind=LIST        pin them to these sets, one per rank, separated by\n"
		"                         '|': --bind='0-3|4-7' or --bind='0,2|1,3'\n"
		"      --job NAME         job name, 1 to 64 of A-Z a-z 0-9 . _ -\n"
		"                         (default: run-PID-RANDOM, unique)\n"
		"      --grace SECONDS    when stopping the ranks, time between SIGTERM (or the\n"
		"                         signal forwarded) and SIGKILL (default 2)\n"
		"      --stop-delay SECONDS\n"
		"                         when a rank fails, time the others have to end on\n"
		"                         their own and say why before SIGTERM (default 1)\n"
		"      --tag-output       prefix every line of a rank with \"[rank R] \" and keep\n"
		"                         lines whole (default when stdout is not a terminal)\n"
		"      --no-tag-output    let the ranks write to stdout and stderr themselves\n"
		"                         (default when stdout is a terminal)\n"
		"      --torch-env        also set torchrun's RANK, WORLD_SIZE, LOCAL_RANK,\n"
		"                         LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and\n"
		"                         MASTER_PORT (a free port)\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Exit status: 0 when every rank exits 0, else that of the first rank to fail\n"
		"(128+N when killed by signal N); 2 for a usage error, 125 when shmar-run\n"
		"itself fails, 126/127 when COMMAND cannot be run / is not found.\n");
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list args;

	fputs("shmar-run: ", stderr);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputs(" (see shmar-run --help)\n", stderr);
	return RUN_EXIT_USAGE;
}

/*
 * "--bind 0-3|4-7" makes the list the command (an optional argument needs
 * the '='): say so rather than fail to run a command called "0-3|4-7".
 */
static bool looks_like_cpu_list(const char *arg)
{
	return strspn(arg, "0123456789,-|") == strlen(arg) && strpbrk(arg, "0123456789");
}

/*
 * The option getopt_long() just refused, for the message.  optopt is the
 * letter of a short option, 0 for an unknown long one, and the value of a
 * long one that lacks its argument, which is then the last word read.
 */
static const char *bad_option(int error, char **argv, char *text, size_t size)
{
	const char *last = argv[optind - 1];

	if (optopt == 0 || optopt >= 256 || (error == ':' && !strncmp(last, "--", 2)))
		return last;
	snprintf(text, size, "-%c", optopt);
	return text;
}

enum {
	OPT_BIND = 256,
	OPT_JOB,
	OPT_GRACE,
	OPT_STOP_DELAY,
	OPT_TAG_OUTPUT,
	OPT_NO_TAG_OUTPUT,
	OPT_TORCH_ENV,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ranks", required_argument, NULL, 'n' },
		{ "bind", optional_argument, NULL, OPT_BIND },
		{ "job", required_argument, NULL, OPT_JOB },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "stop-delay", required_argument, NULL, OPT_STOP_DELAY },
		{ "tag-output", no_argument, NULL, OPT_TAG_OUTPUT },
		{ "no-tag-output", no_argument, NULL, OPT_NO_TAG_OUTPUT },
		{ "torch-env", no_argument, NULL, OPT_TORCH_ENV },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_opts opts;
	struct run_cpu_plan plan;
	bool have_nranks = false;
	char option[8];
	int status;
	int ret;
	int c;

	run_opts_default(&opts);
	/* as mpirun: a terminal shows the ranks as they write, a file or pipe gets tagged lines */
	opts.tag_output = !isatty(STDOUT_FILENO);
	opterr = 0;
	/* '+': options end at COMMAND, whose own options are not ours */
	while ((c = getopt_long(argc, argv, "+:n:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (run_parse_nranks(optarg, &opts.nranks) < 0)
				return usage_error("invalid number of ranks '%s': from 1 to %d",
						   optarg, RUN_MAX_RANKS);
			have_nranks = true;
			break;
		case OPT_BIND:
			opts.bind = true;
			opts.bind_list = optarg;
			break;
		case OPT_JOB:
			if (!run_job_name_valid(optarg))
				return usage_error("invalid job name '%s': 1 to %d of A-Z a-z 0-9 . _ -",
						   optarg, RUN_JOB_NAME_MAX);
			strcpy(opts.job, optarg);
			break;
		case OPT_GRACE:
			if (run_parse_seconds(optarg, &opts.grace_s) < 0)
				return usage_error("invalid grace period '%s': seconds, from 0 to %g",
						   optarg, RUN_MAX_SECONDS);
			break;
		case OPT_STOP_DELAY:
			if (run_parse_seconds(optarg, &opts.stop_delay_s) < 0)
				return usage_error("invalid stop delay '%s': seconds, from 0 to %g",
						   optarg, RUN_MAX_SECONDS);
			break;
		case OPT_TAG_OUTPUT:
			opts.tag_output = true;
			break;
		case OPT_NO_TAG_OUTPUT:
			opts.tag_output = false;
			break;
		case OPT_TORCH_ENV:
			opts.torch_env = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shmar-run (libshmar) %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value",
					   bad_option(c, argv, option, sizeof(option)));
		default:
			return usage_error("unknown option '%s'",
					   bad_option(c, argv, option, sizeof(option)));
		}
	}
	if (!have_nranks)
		return usage_error("missing -n N, the number of ranks");
	if (optind >= argc)
		return usage_error("missing the command to run");
	if (opts.bind && !opts.bind_list && looks_like_cpu_list(argv[optind]))
		return usage_error("give the CPU sets as --bind=%s, with '='", argv[optind]);
	opts.argv = argv + optind;

	if (!opts.job[0] && run_default_job_name(opts.job, sizeof(opts.job)) < 0) {
		fprintf(stderr, "shmar-run: cannot make a job name; give one with --job\n");
		return RUN_EXIT_INTERNAL;
	}
	if (opts.bind) {
		ret = run_cpu_plan_init(&plan, opts.nranks, opts.bind_list);
		if (ret < 0)
			return ret == -EINVAL ? RUN_EXIT_USAGE : RUN_EXIT_INTERNAL;
	}
	status = run_job(&opts, opts.bind ? &plan : NULL);
	if (opts.bind)
		run_cpu_plan_free(&plan);
	return status;
}
