/* SPDX-License-Identifier: MIT */
/*
 * check-util.c - reading /proc and /sys, formatting, clocks (check-util.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check-util.h"

double check_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *check_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int check_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		err = -EIO;
	fclose(f);
	if (err == 0)
		buf[strcspn(buf, "\n")] = '\0';
	return err;
}

int check_read_long(const char *path, long *out)
{
	char buf[64], *end;
	int err = check_read_line(path, buf, sizeof(buf));

	if (err < 0)
		return err;
	errno = 0;
	*out = strtol(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

int check_read_field(const char *path, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	char line[512];
	int err = -ENOENT;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + klen;

		if (strncmp(line, key, klen) != 0)
			continue;
		p += strspn(p, " \t");
		if (*p != ':')
			continue;
		p += 1 + strspn(p + 1, " \t");
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, len, "%s", p);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

long check_read_field_long(const char *path, const char *key, long fallback)
{
	char buf[64];

	if (check_read_field(path, key, buf, sizeof(buf)) < 0)
		return fallback;
	return strtol(buf, NULL, 10);
}

void check_format_bytes(char *out, size_t len, long long bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	if (bytes < 0) {
		snprintf(out, len, "unlimited");
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, len, "%lld %s", bytes, units[u]);
}

void check_append_word(char *buf, size_t len, const char *word)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? " " : "", word);
}

const char *check_us_unit(bool utf8)
{
	return utf8 ? "\xc2\xb5s" : "us";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double check_median(double *v, int n)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
