/* SPDX-License-Identifier: MIT */
/*
 * check-util.h - small helpers the check-*.c files share: reading /proc and
 * /sys, formatting, clocks.  Not part of check.h: nothing here is a check.
 */
#ifndef SHMAR_TOOLS_CHECK_UTIL_H
#define SHMAR_TOOLS_CHECK_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double check_now_s(void);

/* getenv(), with an empty value as unset (the library's rule). */
const char *check_env(const char *name);

/* The first line of a small file, without its newline; 0 or -errno. */
int check_read_line(const char *path, char *buf, size_t len);
/* A file holding one integer; 0 or -errno. */
int check_read_long(const char *path, long *out);
/* The value of a "key<spaces>: value" line (/proc/cpuinfo, /proc/self/status, /proc/meminfo). */
int check_read_field(const char *path, const char *key, char *out, size_t len);
/* The same as a number, fallback when the line is missing. */
long check_read_field_long(const char *path, const char *key, long fallback);

/* "8 MiB", "unlimited" (bytes < 0): limits and sizes as people write them. */
void check_format_bytes(char *out, size_t len, long long bytes);
/* Append word to the space-separated list in buf. */
void check_append_word(char *buf, size_t len, const char *word);
/* "µs" in a UTF-8 locale, else "us". */
const char *check_us_unit(bool utf8);

/* The median of v[0..n) (sorts v); -1 when n <= 0. */
double check_median(double *v, int n);

#endif /* SHMAR_TOOLS_CHECK_UTIL_H */
