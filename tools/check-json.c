/* SPDX-License-Identifier: MIT */
/*
 * check-json.c - the report as one JSON object (shmar-check --json): the
 * verdict, the rows as on the screen, the facts with numbers as numbers, and
 * the self-test.  shmar-check(1) lists every key with its type; a change
 * here is a change there.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

/* ---------------------------------------------------------------- values */

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1fu, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0fu, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void check_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t n;

		switch (*p) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		default: break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_sequence(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

void check_json_double(FILE *f, double v)
{
	char buf[64];
	size_t n;

	if (!isfinite(v)) {
		fputs("null", f);
		return;
	}
	n = (size_t)snprintf(buf, sizeof(buf), "%.3f", v);
	while (n > 1 && buf[n - 1] == '0') /* "19.200" -> "19.2", "5.000" -> "5" */
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	fputs(strcmp(buf, "-0") == 0 ? "0" : buf, f);
}

/* ---------------------------------------------------------------- objects */

/* The members of one object: one per line at indent, or all on one line (indent NULL). */
struct object {
	FILE *f;
	const char *indent;
	bool first;
};

static struct object open_object(FILE *f, const char *indent)
{
	fputc('{', f);
	return (struct object){ .f = f, .indent = indent, .first = true };
}

/* outer: the indent of the line the closing brace goes on. */
static void close_object(struct object *o, const char *outer)
{
	if (o->indent)
		fprintf(o->f, "\n%s}", outer);
	else
		fputc('}', o->f);
}

static void key(struct object *o, const char *name)
{
	if (o->indent)
		fprintf(o->f, "%s\n%s", o->first ? "" : ",", o->indent);
	else if (!o->first)
		fputs(", ", o->f);
	o->first = false;
	check_json_string(o->f, name);
	fputs(": ", o->f);
}

/* A string, or null for NULL. */
static void put_string(struct object *o, const char *name, const char *s)
{
	key(o, name);
	if (s)
		check_json_string(o->f, s);
	else
		fputs("null", o->f);
}

static void put_int(struct object *o, const char *name, long long v)
{
	key(o, name);
	fprintf(o->f, "%lld", v);
}

/* A count that is not known (or unlimited) when negative: null. */
static void put_count(struct object *o, const char *name, long long v)
{
	key(o, name);
	if (v < 0)
		fputs("null", o->f);
	else
		fprintf(o->f, "%lld", v);
}

/* A measurement, null when it was not made (negative). */
static void put_measure(struct object *o, const char *name, double v)
{
	key(o, name);
	if (v < 0)
		fputs("null", o->f);
	else
		check_json_double(o->f, v);
}

static void put_bool(struct object *o, const char *name, bool v)
{
	key(o, name);
	fputs(v ? "true" : "false", o->f);
}

/* ---------------------------------------------------------------- checks */

static const char *section_key(enum check_section sec)
{
	static const char *const keys[CHECK_SECTION_COUNT] = {
		"machine", "kernel", "limits", "security", "selftest",
	};

	return keys[sec];
}

static void put_row(FILE *f, const struct check_row *row)
{
	struct object o = open_object(f, NULL);

	put_string(&o, "section", section_key(row->section));
	put_string(&o, "name", row->name);
	put_string(&o, "status", check_status_name(row->status));
	put_string(&o, "value", row->value);
	put_string(&o, "detail", row->detail);
	put_string(&o, "fix", row->fix);
	close_object(&o, "");
}

static void put_checks(struct object *top, const struct check_report *rep)
{
	bool first = true;

	key(top, "checks");
	fputc('[', top->f);
	/* Section by section, as on the screen. */
	for (int sec = 0; sec < CHECK_SECTION_COUNT; sec++) {
		for (int i = 0; i < rep->nrows; i++) {
			if ((int)rep->rows[i].section != sec)
				continue;
			fputs(first ? "\n    " : ",\n    ", top->f);
			first = false;
			put_row(top->f, &rep->rows[i]);
		}
	}
	fputs(first ? "]" : "\n  ]", top->f);
}

/* ---------------------------------------------------------------- facts */

static void put_cpu_features(struct object *o, unsigned features)
{
	bool first = true;

	key(o, "cpu_features");
	fputc('[', o->f);
	for (unsigned i = 0; i < CHECK_CPU_NFEATURES; i++) {
		if (!(features & (1u << i)))
			continue;
		fputs(first ? "" : ", ", o->f);
		first = false;
		check_json_string(o->f, check_cpu_feature_name(i));
	}
	fputc(']', o->f);
}

static void put_kernel_version(struct object *o, const struct check_facts *f)
{
	key(o, "kernel_version");
	if (f->kernel_major < 0)
		fputs("null", o->f);
	else
		fprintf(o->f, "[%d, %d, %d]", f->kernel_major, f->kernel_minor, f->kernel_patch);
}

static void put_machine_facts(struct object *o, const struct check_facts *f)
{
	put_string(o, "cpu_model", f->cpu_model[0] ? f->cpu_model : NULL);
	put_cpu_features(o, f->cpu_features);
	put_string(o, "kernels", f->isa);
	put_string(o, "kernels_requested", f->isa_setting ? f->isa_setting : "auto");
	put_string(o, "kernels_need", f->isa_needs);
	put_int(o, "cpus_online", f->cpus.online);
	put_int(o, "cpus_affinity", f->cpus.affinity);
	put_int(o, "cpus_quota", f->cpus.quota);
	put_int(o, "cpus_usable", f->cpus.usable);
	put_int(o, "ranks", f->ranks);
	put_bool(o, "oversubscribed", f->oversubscribed);
	put_int(o, "numa_nodes", f->numa_nodes);
	put_int(o, "numa_nodes_with_cpus", f->numa_nodes_with_cpus);
}

static void put_kernel_facts(struct object *o, const struct check_facts *f)
{
	put_string(o, "kernel_release", f->kernel_release[0] ? f->kernel_release : NULL);
	put_kernel_version(o, f);
	put_bool(o, "memfd", f->memfd);
	put_bool(o, "memfd_noexec_seal", f->memfd_noexec_seal);
	put_count(o, "vm_memfd_noexec", f->vm_memfd_noexec);
	put_count(o, "hugetlb_pages", f->hugetlb_pages);
	put_count(o, "hugetlb_pages_free", f->hugetlb_pages_free);
	put_count(o, "hugepage_kB", f->hugepage_kb);
	put_string(o, "thp_shmem", f->thp_shmem[0] ? f->thp_shmem : NULL);
	put_measure(o, "futex_round_trip_us", f->futex_round_trip_s < 0 ? -1 : f->futex_round_trip_s * 1e6);
	put_bool(o, "pidfd_open", f->pidfd_open);
	put_bool(o, "so_peerpidfd", f->so_peerpidfd);
	put_bool(o, "io_uring", f->io_uring_err == 0);
	put_int(o, "io_uring_error", f->io_uring_err);
	put_bool(o, "io_uring_futex_wait", f->io_uring_futex_wait);
	key(o, "io_uring_setting");
	if (f->io_uring_setting >= -1 && f->io_uring_setting <= 1)
		fprintf(o->f, "%d", f->io_uring_setting);
	else
		fputs("null", o->f); /* malformed: see the environment row */
	put_bool(o, "futex_waitv", f->futex_waitv);
	put_string(o, "liveness", check_liveness_name(f->liveness));
}

static void put_process_facts(struct object *o, const struct check_facts *f)
{
	put_count(o, "memlock_bytes", f->memlock);
	put_count(o, "memlock_hard_bytes", f->memlock_hard);
	put_count(o, "nofile", f->nofile);
	put_count(o, "nofile_hard", f->nofile_hard);
	put_int(o, "nofile_needed", f->nofile_needed);
	put_count(o, "seccomp_mode", f->seccomp_mode);
	put_int(o, "seccomp_filters", f->seccomp_filters);
	put_bool(o, "capabilities_dropped", f->dropped_caps);
	put_string(o, "rendezvous_dir", f->dir[0] ? f->dir : NULL);
	put_string(o, "rendezvous_dir_source", f->dir_source);
	put_int(o, "init_error", f->init_err);
	put_string(o, "init_message", f->init_msg);
}

static void put_facts(struct object *top, const struct check_facts *f)
{
	struct object o;

	key(top, "facts");
	o = open_object(top->f, "    ");
	put_machine_facts(&o, f);
	put_kernel_facts(&o, f);
	put_process_facts(&o, f);
	close_object(&o, "  ");
}

/* ---------------------------------------------------------------- self-test */

static void put_results(struct object *o, const struct check_selftest *t)
{
	bool first = true;

	key(o, "results");
	fputc('[', o->f);
	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			struct object r;

			if (!t->ran[d][z])
				continue;
			fputs(first ? "\n      " : ",\n      ", o->f);
			first = false;
			r = open_object(o->f, NULL);
			put_string(&r, "dtype", check_dtype_name(d));
			put_int(&r, "count", (long long)check_selftest_counts[z]);
			put_bool(&r, "ok", t->ok[d][z]);
			close_object(&r, "");
		}
	}
	fputs(first ? "]" : "\n    ]", o->f);
}

static double micro(double seconds)
{
	return seconds < 0 ? -1 : seconds * 1e6;
}

static double gbps(double seconds, size_t bytes)
{
	return seconds <= 0 ? -1 : (double)bytes / seconds / 1e9;
}

static void put_selftest(struct object *top, const struct check_selftest *t)
{
	struct object o, lat, bw;

	key(top, "selftest");
	o = open_object(top->f, "    ");
	put_int(&o, "ranks", t->ranks);
	put_string(&o, "status", check_status_name(t->status));
	put_string(&o, "isa", t->isa);
	put_results(&o, t);
	key(&o, "latency_us");
	lat = open_object(top->f, NULL);
	put_measure(&lat, "barrier", micro(t->seconds[CHECK_TIME_BARRIER]));
	put_measure(&lat, "allreduce_4B", micro(t->seconds[CHECK_TIME_AR_4B]));
	put_measure(&lat, "allreduce_16KiB", micro(t->seconds[CHECK_TIME_AR_16KIB]));
	close_object(&lat, "");
	key(&o, "bandwidth_GBps");
	bw = open_object(top->f, NULL);
	put_measure(&bw, "allreduce_1MiB",
		    gbps(t->seconds[CHECK_TIME_AR_1MIB], t->bytes[CHECK_TIME_AR_1MIB]));
	put_measure(&bw, "allreduce_16MiB",
		    gbps(t->seconds[CHECK_TIME_AR_16MIB], t->bytes[CHECK_TIME_AR_16MIB]));
	close_object(&bw, "");
	close_object(&o, "  ");
}

void check_print_json(FILE *f, const struct check_report *rep)
{
	enum check_status st = check_overall(rep);
	struct object top = open_object(f, "  ");

	put_string(&top, "version", rep->library_version);
	put_string(&top, "status",
		   st == CHECK_OK || st == CHECK_SKIPPED ? "healthy" : check_status_name(st));
	put_checks(&top, rep);
	put_facts(&top, &rep->facts);
	put_selftest(&top, &rep->selftest);
	close_object(&top, "");
	fputc('\n', f);
}
