/* SPDX-License-Identifier: MIT */
/*
 * shmar-check - what this machine offers libshmar, and whether it works here.
 *
 *   shmar-check [--ranks N] [--no-selftest] [--json] [--quiet]
 *
 * Exit status: 0 healthy, 1 degraded, 2 broken or a usage error.
 * The checks live in check*.c (check.c lists them); this file only parses
 * options.
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmar.h"
#include "check.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmar-check [options]\n"
		"Check what this machine offers libshmar, then run a live self-test.\n"
		"\n"
		"  -n, --ranks N      ranks of the self-test, 1..%d (default: min(4, usable CPUs))\n"
		"      --no-selftest  only the checks, no ranks are started\n"
		"  -j, --json         print a JSON document instead of the table\n"
		"  -q, --quiet        print only the summary line (with --json: nothing)\n"
		"  -h, --help         this text\n"
		"  -V, --version      the version of shmar-check and of the library\n"
		"\n"
		"Exit status: 0 healthy, 1 degraded, 2 broken or usage error.\n"
		"See shmar-check(1).\n",
		SHMAR_MAX_RANKS);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("shmar-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'shmar-check --help'.\n", stderr);
	return EXIT_USAGE;
}

static int parse_ranks(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > SHMAR_MAX_RANKS)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* NO_COLOR (no-color.org): any non-empty value turns colour off. */
static bool want_colour(void)
{
	const char *no_colour = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(no_colour && *no_colour);
}

static bool locale_is_utf8(void)
{
	setlocale(LC_CTYPE, "");
	return strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
}

enum { OPT_NO_SELFTEST = 256 };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ranks", required_argument, NULL, 'n' },
		{ "no-selftest", no_argument, NULL, OPT_NO_SELFTEST },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct check_options opt = { .ranks = 0, .selftest = true };
	static struct check_report report; /* large: not on the stack */
	bool json = false, quiet = false;
	int c;

	opterr = 0; /* our own messages, with the exit status of a usage error */
	while ((c = getopt_long(argc, argv, ":n:jqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_ranks(optarg, &opt.ranks) < 0)
				return usage_error("--ranks: '%s' is not a number from 1 to 256", optarg);
			break;
		case OPT_NO_SELFTEST:
			opt.selftest = false;
			break;
		case 'j':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shmar-check (libshmar) %s\nlibrary %s\n", PACKAGE_VERSION, shmar_version());
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);

	if (opt.ranks == 0)
		opt.ranks = check_default_ranks();
	opt.utf8 = !json && locale_is_utf8();
	check_run(&report, &opt);

	if (json && !quiet)
		check_print_json(stdout, &report);
	else if (!json)
		check_print_text(stdout, &report, want_colour(), quiet);
	fflush(stdout);
	return check_exit_code(check_overall(&report));
}
