/* SPDX-License-Identifier: MIT */
/*
 * check-report.c - the rows of a report and what their statuses add up to.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static void vformat(char *dst, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vformat(char *dst, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(dst, len, fmt, ap);
}

struct check_row *check_add(struct check_report *rep, enum check_section section, const char *name,
			    enum check_status status, const char *fmt, ...)
{
	static struct check_row overflow; /* full report: written, never shown */
	struct check_row *row;
	va_list ap;

	row = rep->nrows < CHECK_ROWS_MAX ? &rep->rows[rep->nrows++] : &overflow;
	memset(row, 0, sizeof(*row));
	row->section = section;
	row->status = status;
	snprintf(row->name, sizeof(row->name), "%s", name);
	va_start(ap, fmt);
	vformat(row->value, sizeof(row->value), fmt, ap);
	va_end(ap);
	return row;
}

void check_set_value(struct check_row *row, const char *fmt, ...)
{
	va_list ap;

	if (!row)
		return;
	va_start(ap, fmt);
	vformat(row->value, sizeof(row->value), fmt, ap);
	va_end(ap);
}

void check_set_detail(struct check_row *row, const char *fmt, ...)
{
	va_list ap;

	if (!row)
		return;
	va_start(ap, fmt);
	vformat(row->detail, sizeof(row->detail), fmt, ap);
	va_end(ap);
}

void check_set_fix(struct check_row *row, const char *fmt, ...)
{
	va_list ap;

	if (!row)
		return;
	va_start(ap, fmt);
	vformat(row->fix, sizeof(row->fix), fmt, ap);
	va_end(ap);
}

struct check_row *check_find_row(struct check_report *rep, const char *name)
{
	for (int i = 0; i < rep->nrows; i++)
		if (strcmp(rep->rows[i].name, name) == 0)
			return &rep->rows[i];
	return NULL;
}

const char *check_status_name(enum check_status status)
{
	switch (status) {
	case CHECK_OK:
		return "ok";
	case CHECK_DEGRADED:
		return "degraded";
	case CHECK_BROKEN:
		return "broken";
	case CHECK_SKIPPED:
		return "skipped";
	}
	return "broken";
}

const char *check_liveness_name(enum check_liveness liveness)
{
	switch (liveness) {
	case CHECK_LIVENESS_RING:
		return "io_uring";
	case CHECK_LIVENESS_WATCHER:
		return "watcher";
	case CHECK_LIVENESS_SLICES:
		return "slices";
	case CHECK_LIVENESS_NONE:
		break;
	}
	return "none";
}

enum check_status check_worse(enum check_status a, enum check_status b)
{
	if (a == CHECK_SKIPPED)
		return b;
	if (b == CHECK_SKIPPED)
		return a;
	return a > b ? a : b;
}

enum check_status check_overall(const struct check_report *rep)
{
	enum check_status st = CHECK_OK;

	for (int i = 0; i < rep->nrows; i++)
		st = check_worse(st, rep->rows[i].status);
	return check_worse(st, rep->selftest.status);
}

int check_exit_code(enum check_status status)
{
	switch (status) {
	case CHECK_OK:
	case CHECK_SKIPPED:
		return 0;
	case CHECK_DEGRADED:
		return 1;
	case CHECK_BROKEN:
		break;
	}
	return 2;
}
