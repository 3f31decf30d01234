/* SPDX-License-Identifier: MIT */
/*
 * check-text.c - the report on the screen: a section per topic, a row per
 * check, the reason and the fix under a problem, the self-test's timings,
 * and a summary line.
 */
#include <string.h>

#include "check.h"
#include "check-util.h"

#define COLUMN_STATUS 9
#define COLUMN_NAME 16

struct palette {
	const char *ok, *degraded, *broken, *bold, *dim, *reset;
};

static const struct palette colours = { "\033[32m", "\033[33m", "\033[1;31m", "\033[1m", "\033[2m", "\033[0m" };
static const struct palette plain = { "", "", "", "", "", "" };

static const char *status_colour(const struct palette *pal, enum check_status st)
{
	return st == CHECK_OK ? pal->ok : st == CHECK_DEGRADED ? pal->degraded : pal->broken;
}

static void print_status_word(FILE *f, const struct palette *pal, enum check_status st)
{
	const char *word = check_status_name(st);

	fprintf(f, "%s%s%s%*s", status_colour(pal, st), word, pal->reset,
		COLUMN_STATUS - (int)strlen(word), "");
}

static void print_row(FILE *f, const struct palette *pal, const struct check_row *row)
{
	print_status_word(f, pal, row->status);
	fprintf(f, "%-*s%s\n", COLUMN_NAME, row->name, row->brief[0] ? row->brief : row->value);
	if (row->status == CHECK_OK)
		return;
	if (row->detail[0])
		fprintf(f, "%*s%s\n", COLUMN_STATUS + COLUMN_NAME, "", row->detail);
	if (row->fix[0])
		fprintf(f, "%*s%sfix:%s %s\n", COLUMN_STATUS + COLUMN_NAME, "", pal->bold, pal->reset,
			row->fix);
}

static void format_latency(char *out, size_t len, double seconds, bool utf8)
{
	if (seconds < 0)
		snprintf(out, len, "-");
	else if (seconds < 1e-3)
		snprintf(out, len, "%.1f %s", seconds * 1e6, check_us_unit(utf8));
	else
		snprintf(out, len, "%.2f ms", seconds * 1e3);
}

static void format_bandwidth(char *out, size_t len, double seconds, size_t bytes)
{
	if (seconds <= 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.3g GB/s", (double)bytes / seconds / 1e9);
}

static void print_timings(FILE *f, const struct palette *pal, const struct check_selftest *t,
			  bool utf8)
{
	char b[32], l4[32], l16[32], g1[32], g16[32];

	if (t->status == CHECK_SKIPPED || t->seconds[CHECK_TIME_BARRIER] < 0)
		return;
	format_latency(b, sizeof(b), t->seconds[CHECK_TIME_BARRIER], utf8);
	format_latency(l4, sizeof(l4), t->seconds[CHECK_TIME_AR_4B], utf8);
	format_latency(l16, sizeof(l16), t->seconds[CHECK_TIME_AR_16KIB], utf8);
	format_bandwidth(g1, sizeof(g1), t->seconds[CHECK_TIME_AR_1MIB], t->bytes[CHECK_TIME_AR_1MIB]);
	format_bandwidth(g16, sizeof(g16), t->seconds[CHECK_TIME_AR_16MIB], t->bytes[CHECK_TIME_AR_16MIB]);
	fprintf(f, "%*s%-*sbarrier %s; allreduce 4 B %s, 16 KiB %s\n", COLUMN_STATUS, "",
		COLUMN_NAME, "latency", b, l4, l16);
	fprintf(f, "%*s%-*sallreduce 1 MiB %s, 16 MiB %s\n", COLUMN_STATUS, "", COLUMN_NAME,
		"bandwidth", g1, g16);
	fprintf(f, "%*s%s(fp32 sum; median per rank, slowest rank)%s\n", COLUMN_STATUS + COLUMN_NAME,
		"", pal->dim, pal->reset);
}

static void print_section_title(FILE *f, const struct palette *pal, const struct check_report *rep,
				enum check_section sec)
{
	static const char *const titles[CHECK_SECTION_COUNT] = {
		"Machine", "Kernel features", "Limits", "Security", "Self-test",
	};
	const struct check_selftest *t = &rep->selftest;

	fprintf(f, "%s%s%s", pal->bold, titles[sec], pal->reset);
	if (sec == CHECK_SECTION_SELFTEST) {
		if (t->status == CHECK_SKIPPED)
			fprintf(f, " (skipped: --no-selftest)");
		else
			fprintf(f, " (%d rank%s, %s kernels)", t->ranks, t->ranks == 1 ? "" : "s",
				strcmp(t->isa, "none") ? t->isa : "no usable");
	}
	fputc('\n', f);
}

/* Names of the rows with the given status, "a, b, c". */
static void names_with(const struct check_report *rep, enum check_status st, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < rep->nrows && used + 1 < len; i++) {
		if (rep->rows[i].status != st)
			continue;
		snprintf(out + used, len - used, "%s%s", used ? ", " : "", rep->rows[i].name);
		used = strlen(out);
	}
}

static void print_summary_line(FILE *f, const struct palette *pal, const struct check_report *rep)
{
	enum check_status st = check_overall(rep);
	const struct check_selftest *t = &rep->selftest;
	char names[CHECK_TEXT_MAX];

	/* The verdict on the machine: "healthy" rather than a row's "ok". */
	fprintf(f, "%s%s%s%*s", status_colour(pal, st), st == CHECK_OK ? "healthy" : check_status_name(st),
		pal->reset, st == CHECK_OK ? 2 : COLUMN_STATUS - (int)strlen(check_status_name(st)), "");
	switch (st) {
	case CHECK_OK:
	case CHECK_SKIPPED:
		fprintf(f, "libshmar %s works here: %d checks ok", rep->library_version, rep->nrows);
		if (t->status == CHECK_SKIPPED)
			fprintf(f, "; self-test skipped\n");
		else
			fprintf(f, "; self-test passed with %d rank%s\n", t->ranks, t->ranks == 1 ? "" : "s");
		break;
	case CHECK_DEGRADED:
		names_with(rep, CHECK_DEGRADED, names, sizeof(names));
		fprintf(f, "libshmar %s works, slower or less safely: %s\n", rep->library_version, names);
		break;
	case CHECK_BROKEN:
		names_with(rep, CHECK_BROKEN, names, sizeof(names));
		fprintf(f, "libshmar %s will fail here: %s\n", rep->library_version, names);
		break;
	}
}

void check_print_text(FILE *f, const struct check_report *rep, bool colour, bool quiet)
{
	const struct palette *pal = colour ? &colours : &plain;

	if (quiet) {
		print_summary_line(f, pal, rep);
		return;
	}
	fprintf(f, "%sshmar-check%s: libshmar %s\n", pal->bold, pal->reset, rep->library_version);
	for (int sec = 0; sec < CHECK_SECTION_COUNT; sec++) {
		fputc('\n', f);
		print_section_title(f, pal, rep, (enum check_section)sec);
		for (int i = 0; i < rep->nrows; i++)
			if (rep->rows[i].section == (enum check_section)sec)
				print_row(f, pal, &rep->rows[i]);
		if (sec == CHECK_SECTION_SELFTEST)
			print_timings(f, pal, &rep->selftest, rep->utf8);
	}
	fprintf(f, "\n%sSummary%s\n", pal->bold, pal->reset);
	print_summary_line(f, pal, rep);
}
