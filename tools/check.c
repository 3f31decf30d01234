/* SPDX-License-Identifier: MIT */
/*
 * check.c - what shmar-check looks at, and how it says so.
 *
 * Each check_*() probes one thing libshmar depends on the way the library
 * itself does it (same system calls, flags and directory rules) and appends a
 * row: ok, degraded (works, but slower or with a weaker guarantee) or broken
 * (shmar_comm_init() or a collective will fail), with the reason and a fix.
 * The self-test then forks real ranks and checks every dtype bit for bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cap-ng.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "shmar.h"
#include "check.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3 */
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif
/* Linux 6.7; liburing 2.3 (Debian 12) does not name it. */
#define CHECK_IORING_OP_FUTEX_WAIT 51

/* A unix socket path holds 107 bytes; the library names sockets <dir>/<job>.sock. */
#define SUN_PATH_MAX 107
#define SOCK_SUFFIX_LEN 5

#define MIB (1024.0 * 1024.0)

/* ================================================================ rows */

static void vformat(char *dst, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vformat(char *dst, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(dst, len, fmt, ap);
}

struct check_row *check_add(struct check_report *rep, enum check_section section, const char *name,
			    enum check_status status, const char *fmt, ...)
{
	struct check_row *row;
	va_list ap;

	static struct check_row overflow; /* full report: written, never shown */

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

static struct check_row *find_row(struct check_report *rep, const char *name)
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

static enum check_status worse(enum check_status a, enum check_status b)
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
		st = worse(st, rep->rows[i].status);
	return worse(st, rep->selftest.status);
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

/* ================================================================ small helpers */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *env_value(const char *name)
{
	const char *v = getenv(name);

	/* The library treats an empty variable as unset. */
	return v && *v ? v : NULL;
}

/* The first line of a small file, without its newline; 0 or -errno. */
static int read_line(const char *path, char *buf, size_t len)
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

static int read_long(const char *path, long *out)
{
	char buf[64], *end;
	int err = read_line(path, buf, sizeof(buf));

	if (err < 0)
		return err;
	errno = 0;
	*out = strtol(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

/* "key<spaces>: value" lines (/proc/cpuinfo, /proc/self/status, /proc/meminfo). */
static int read_field(const char *path, const char *key, char *out, size_t len)
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

static long read_field_long(const char *path, const char *key, long fallback)
{
	char buf[64];

	if (read_field(path, key, buf, sizeof(buf)) < 0)
		return fallback;
	return strtol(buf, NULL, 10);
}

/* "8 MiB", "unlimited": limits and sizes as people write them. */
static void format_bytes(char *out, size_t len, unsigned long long bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	if (bytes == (unsigned long long)RLIM_INFINITY) {
		snprintf(out, len, "unlimited");
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, len, "%llu %s", bytes, units[u]);
}

static const char *us_unit(bool utf8)
{
	return utf8 ? "\xc2\xb5s" : "us";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ================================================================ pure helpers */

int check_parse_kernel_release(const char *release, int *major, int *minor, int *patch)
{
	int n;

	*major = *minor = *patch = 0;
	n = sscanf(release, "%d.%d.%d", major, minor, patch);
	return n >= 1 ? 0 : -1;
}

double check_parse_cpu_max(const char *line)
{
	long long quota, period;

	if (sscanf(line, "%lld %lld", &quota, &period) != 2 || quota <= 0 || period <= 0)
		return 0; /* "max 100000": no quota */
	return (double)quota / (double)period;
}

int check_resolve_dir(char *out, size_t len)
{
	const char *dir = env_value("SHMAR_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (dir)
		n = snprintf(out, len, "%s", dir);
	else if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/shmar", xdg);
	else
		n = snprintf(out, len, "/tmp/shmar-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint16_t check_bf16_from_float(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#ifndef __FLT16_MAX__
/* Integer round-to-nearest-even for compilers without _Float16. */
static uint16_t fp16_from_float_soft(float f)
{
	uint32_t u, mant, half, rem, halfway, shift;
	uint16_t sign;
	int32_t exp;

	memcpy(&u, &f, sizeof(u));
	sign = (uint16_t)((u >> 16) & 0x8000u);
	exp = (int32_t)((u >> 23) & 0xffu) - 127 + 15;
	mant = u & 0x7fffffu;
	if (((u >> 23) & 0xffu) == 0xffu)
		return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) {
		if (exp < -10)
			return sign;
		mant |= 0x800000u;
		shift = (uint32_t)(14 - exp);
		half = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		halfway = 1u << (shift - 1);
		if (rem > halfway || (rem == halfway && (half & 1u)))
			half++;
		return (uint16_t)(sign | half);
	}
	half = ((uint32_t)exp << 10) | (mant >> 13);
	rem = mant & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
		half++; /* a carry into the exponent is right, up to Inf */
	return (uint16_t)(sign | half);
}
#endif

uint16_t check_fp16_from_float(float f)
{
#ifdef __FLT16_MAX__
	_Float16 h = (_Float16)f; /* round to nearest even */
	uint16_t u;

	memcpy(&u, &h, sizeof(u));
	return u;
#else
	return fp16_from_float_soft(f);
#endif
}

/*
 * Inputs: an odd number up to 7 times 1, 8, 64 or 512.  Every input is exact
 * in every dtype (3 significant bits), every sum is exact in the fp32
 * accumulator (< 2^24 for 256 ranks), yet sums of different magnitudes need
 * up to 12 bits, so the one rounding to bf16 and fp16 at the end is really
 * exercised, ties to even included.  uint8 keeps the low byte and wraps.
 */
int64_t check_input_value(int rank, size_t i)
{
	int64_t odd = 2 * (int64_t)(((size_t)rank + i) % 4) + 1;
	unsigned shift = 3 * (unsigned)(((size_t)rank + i / 4) % 4);

	return odd << shift;
}

int64_t check_sum_value(int nranks, size_t i)
{
	int64_t sum = 0;

	for (int r = 0; r < nranks; r++)
		sum += check_input_value(r, i);
	return sum;
}

void check_encode(int dtype, int64_t v, void *out)
{
	switch (dtype) {
	case SHMAR_FLOAT32: {
		float f = (float)v;

		memcpy(out, &f, sizeof(f));
		break;
	}
	case SHMAR_BFLOAT16: {
		uint16_t h = check_bf16_from_float((float)v);

		memcpy(out, &h, sizeof(h));
		break;
	}
	case SHMAR_FLOAT16: {
		uint16_t h = check_fp16_from_float((float)v);

		memcpy(out, &h, sizeof(h));
		break;
	}
	case SHMAR_FLOAT64: {
		double d = (double)v;

		memcpy(out, &d, sizeof(d));
		break;
	}
	case SHMAR_INT32: {
		int32_t x = (int32_t)v;

		memcpy(out, &x, sizeof(x));
		break;
	}
	case SHMAR_INT64:
		memcpy(out, &v, sizeof(v));
		break;
	case SHMAR_UINT8:
		*(uint8_t *)out = (uint8_t)(v & 0xff); /* integers wrap */
		break;
	}
}

static size_t dtype_size(int dtype)
{
	static const size_t sizes[CHECK_NDTYPES] = { 4, 2, 2, 8, 4, 8, 1 };

	return dtype >= 0 && dtype < CHECK_NDTYPES ? sizes[dtype] : 0;
}

const char *check_dtype_name(int dtype)
{
	static const char *const names[CHECK_NDTYPES] = {
		"float32", "bfloat16", "float16", "float64", "int32", "int64", "uint8",
	};

	return dtype >= 0 && dtype < CHECK_NDTYPES ? names[dtype] : "?";
}

const size_t check_selftest_counts[CHECK_NSIZES] = { 1, 1000, 65536 + 7, 1 << 20 };

/* ================================================================ CPU */

unsigned check_cpu_features(void)
{
	unsigned f = 0;

#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	f |= __builtin_cpu_supports("avx512f") ? CHECK_CPU_AVX512F : 0;
	f |= __builtin_cpu_supports("avx512bw") ? CHECK_CPU_AVX512BW : 0;
	f |= __builtin_cpu_supports("avx512vl") ? CHECK_CPU_AVX512VL : 0;
	f |= __builtin_cpu_supports("avx512bf16") ? CHECK_CPU_AVX512BF16 : 0;
	f |= __builtin_cpu_supports("avx512fp16") ? CHECK_CPU_AVX512FP16 : 0;
	f |= __builtin_cpu_supports("avx2") ? CHECK_CPU_AVX2 : 0;
	f |= __builtin_cpu_supports("f16c") ? CHECK_CPU_F16C : 0;
	f |= __builtin_cpu_supports("fma") ? CHECK_CPU_FMA : 0;
#endif
	return f;
}

#define ISA_AVX512_NEEDS (CHECK_CPU_AVX512F | CHECK_CPU_AVX512BW)
#define ISA_AVX2_NEEDS (CHECK_CPU_AVX2 | CHECK_CPU_F16C | CHECK_CPU_FMA)

static const char *isa_auto(unsigned features)
{
	if ((features & ISA_AVX512_NEEDS) == ISA_AVX512_NEEDS)
		return "avx512";
	if ((features & ISA_AVX2_NEEDS) == ISA_AVX2_NEEDS)
		return "avx2";
	return "scalar";
}

const char *check_isa_pick(unsigned features, const char *env, char *why, size_t len)
{
	snprintf(why, len, "%s", "");
	if (!env || !*env || strcasecmp(env, "auto") == 0)
		return isa_auto(features);
	if (strcasecmp(env, "scalar") == 0)
		return "scalar";
	if (strcasecmp(env, "avx2") == 0) {
		if ((features & ISA_AVX2_NEEDS) == ISA_AVX2_NEEDS)
			return "avx2";
		snprintf(why, len, "SHMAR_ISA=%s but this CPU lacks avx2+f16c+fma: shmar_comm_init fails with -ENOTSUP", env);
		return NULL;
	}
	if (strcasecmp(env, "avx512") == 0) {
		if ((features & ISA_AVX512_NEEDS) == ISA_AVX512_NEEDS)
			return "avx512";
		snprintf(why, len, "SHMAR_ISA=%s but this CPU lacks avx512f+avx512bw: shmar_comm_init fails with -ENOTSUP", env);
		return NULL;
	}
	snprintf(why, len, "SHMAR_ISA=%s is not auto, scalar, avx2 or avx512: shmar_comm_init fails with -EINVAL", env);
	return NULL;
}

void check_cpu(struct check_report *rep)
{
	char model[256];

	if (read_field("/proc/cpuinfo", "model name", model, sizeof(model)) < 0)
		snprintf(model, sizeof(model), "unknown (no \"model name\" in /proc/cpuinfo)");
	check_add(rep, CHECK_SECTION_MACHINE, "cpu", CHECK_OK, "%s", model);
}

static void append(char *buf, size_t len, const char *word)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? " " : "", word);
}

/* "avx512f avx512bw avx2" -> "avx512 f,bw avx2": the screen keeps one line. */
static void shorten_isa(char *out, size_t len, const char *list)
{
	char copy[CHECK_VALUE_MAX], *save = NULL;
	bool prev_member = false;
	size_t o = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	out[0] = '\0';
	for (char *tok = strtok_r(copy, " ", &save); tok && o < len; tok = strtok_r(NULL, " ", &save)) {
		bool member = strncmp(tok, "avx512", 6) == 0 && tok[6];

		if (member && prev_member)
			o += (size_t)snprintf(out + o, len - o, ",%s", tok + 6);
		else if (member)
			o += (size_t)snprintf(out + o, len - o, "%savx512 %s", o ? " " : "", tok + 6);
		else
			o += (size_t)snprintf(out + o, len - o, "%s%s", o ? " " : "", tok);
		prev_member = member;
	}
}

void check_isa(struct check_report *rep)
{
	static const struct {
		unsigned bit;
		const char *name;
	} flags[] = {
		{ CHECK_CPU_AVX512F, "avx512f" },     { CHECK_CPU_AVX512BW, "avx512bw" },
		{ CHECK_CPU_AVX512VL, "avx512vl" },   { CHECK_CPU_AVX512BF16, "avx512bf16" },
		{ CHECK_CPU_AVX512FP16, "avx512fp16" }, { CHECK_CPU_AVX2, "avx2" },
		{ CHECK_CPU_F16C, "f16c" },           { CHECK_CPU_FMA, "fma" },
	};
	unsigned feat = check_cpu_features();
	const char *env = env_value("SHMAR_ISA");
	char have[256] = "", lack[256] = "", why[256];
	struct check_row *row;

	rep->facts.cpu_features = feat;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		append((feat & flags[i].bit) ? have : lack, sizeof(have), flags[i].name);
	row = check_add(rep, CHECK_SECTION_MACHINE, "isa", CHECK_OK, "%s%s%s", have[0] ? have : "none of",
			lack[0] ? "; lacks " : "", lack);
	shorten_isa(row->brief, sizeof(row->brief), row->value);

	rep->facts.isa = check_isa_pick(feat, env, why, sizeof(why));
	if (rep->facts.isa) {
		check_add(rep, CHECK_SECTION_MACHINE, "kernels", CHECK_OK, "%s (%s%s)", rep->facts.isa,
			  env ? "SHMAR_ISA=" : "auto", env ? env : "");
		return;
	}
	row = check_add(rep, CHECK_SECTION_MACHINE, "kernels", CHECK_BROKEN, "SHMAR_ISA=%s", env);
	check_set_detail(row, "%s", why);
	check_set_fix(row, "unset SHMAR_ISA (auto picks %s on this CPU) or set it to scalar",
		      isa_auto(feat));
}

static int allowed_cpu_count(void)
{
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	int ncpus = conf > 1024 ? (int)conf : 1024;

	/* Grow the mask until the kernel's fits (machines with > 1024 CPUs). */
	for (; ncpus <= (1 << 20); ncpus *= 2) {
		cpu_set_t *set = CPU_ALLOC((size_t)ncpus);
		size_t size = CPU_ALLOC_SIZE((size_t)ncpus);
		int n;

		if (!set)
			return -ENOMEM;
		if (sched_getaffinity(0, size, set) == 0) {
			n = CPU_COUNT_S(size, set);
			CPU_FREE(set);
			return n;
		}
		CPU_FREE(set);
		if (errno != EINVAL)
			return -errno;
	}
	return -EINVAL;
}

/* The own cgroup v2 and its ancestors: the tightest cpu.max, in CPUs; 0 if none. */
static double cgroup_quota_cpus(char *where, size_t wlen)
{
	char line[4096], path[4200], buf[128];
	double best = 0;
	char *cg;

	snprintf(where, wlen, "%s", "");
	if (read_field("/proc/self/cgroup", "0:", line, sizeof(line)) < 0)
		snprintf(line, sizeof(line), "/");
	cg = line; /* "0::/a/b": read_field leaves "/a/b" after the second colon */
	for (;;) {
		double cpus;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", strcmp(cg, "/") ? cg : "");
		if (read_line(path, buf, sizeof(buf)) == 0) {
			cpus = check_parse_cpu_max(buf);
			if (cpus > 0 && (best == 0 || cpus < best)) {
				best = cpus;
				snprintf(where, wlen, "%s: %s", path, buf);
			}
		}
		if (strcmp(cg, "/") == 0 || !*cg)
			break;
		*strrchr(cg, '/') = '\0';
		if (!*cg)
			snprintf(cg, sizeof(line), "/");
	}
	return best;
}

static void measure_cpus(struct check_facts *f, char *quota_where, size_t qlen)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int quota_ceil;

	f->online_cpus = online > 0 && online < INT_MAX ? (int)online : 1;
	f->allowed_cpus = allowed_cpu_count();
	if (f->allowed_cpus <= 0)
		f->allowed_cpus = f->online_cpus;
	f->quota_cpus = cgroup_quota_cpus(quota_where, qlen);
	f->usable_cpus = f->allowed_cpus;
	quota_ceil = (int)f->quota_cpus;
	quota_ceil += quota_ceil < f->quota_cpus; /* 1.5 CPUs of quota keep 2 ranks running */
	if (f->quota_cpus > 0 && quota_ceil < f->usable_cpus)
		f->usable_cpus = quota_ceil > 0 ? quota_ceil : 1;
}

int check_default_ranks(void)
{
	struct check_facts f;
	char where[64];

	memset(&f, 0, sizeof(f));
	measure_cpus(&f, where, sizeof(where));
	return f.usable_cpus < 4 ? f.usable_cpus : 4;
}

void check_cpus(struct check_report *rep, int ranks)
{
	struct check_facts *f = &rep->facts;
	char where[4400], quota[64];
	struct check_row *row;

	measure_cpus(f, where, sizeof(where));
	if (f->quota_cpus > 0)
		snprintf(quota, sizeof(quota), "cgroup quota %.2f CPUs", f->quota_cpus);
	else
		snprintf(quota, sizeof(quota), "no cgroup CPU quota");
	row = check_add(rep, CHECK_SECTION_MACHINE, "cpus", CHECK_OK, "%d allowed of %d online; %s",
			f->allowed_cpus, f->online_cpus, quota);
	if (f->quota_cpus > 0)
		check_set_detail(row, "%s", where);

	if (ranks <= f->usable_cpus) {
		check_add(rep, CHECK_SECTION_MACHINE, "ranks", CHECK_OK, "%d on %d usable CPU%s", ranks,
			  f->usable_cpus, f->usable_cpus == 1 ? "" : "s");
		return;
	}
	row = check_add(rep, CHECK_SECTION_MACHINE, "ranks", CHECK_DEGRADED,
			"%d on %d usable CPU%s: oversubscribed", ranks, f->usable_cpus,
			f->usable_cpus == 1 ? "" : "s");
	check_set_detail(row, "oversubscribed: waits will yield/sleep; expect tens of microseconds per collective");
	check_set_fix(row, "run at most %d ranks, or give the job more CPUs (taskset, cpuset, cgroup cpu.max)",
		      f->usable_cpus);
}

static bool cpu_on_node(int node, int cpu)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpu%d", node, cpu);
	return access(path, F_OK) == 0;
}

/* Nodes that hold at least one CPU of the affinity mask. */
static int nodes_spanned(int nnodes_max)
{
	cpu_set_t set;
	int spanned = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	for (int node = 0; node < nnodes_max; node++) {
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
			if (CPU_ISSET(cpu, &set) && cpu_on_node(node, cpu)) {
				spanned++;
				break;
			}
		}
	}
	return spanned;
}

void check_numa(struct check_report *rep)
{
	DIR *d = opendir("/sys/devices/system/node");
	struct dirent *e;
	int nodes = 0, max_id = -1, spanned;
	struct check_row *row;

	if (!d) {
		check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "1 node (no /sys/devices/system/node)");
		return;
	}
	while ((e = readdir(d))) {
		int id;
		char rest;

		if (sscanf(e->d_name, "node%d%c", &id, &rest) == 1) {
			nodes++;
			max_id = id > max_id ? id : max_id;
		}
	}
	closedir(d);
	if (nodes <= 1) {
		check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "1 node");
		return;
	}
	spanned = nodes_spanned(max_id + 1);
	row = check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "%d nodes; allowed CPUs on %d",
			nodes, spanned);
	if (spanned > 1)
		check_set_detail(row, "ranks of one job on different nodes pay remote-memory latency; each rank's slots live on its own node");
}

/* ================================================================ kernel */

void check_kernel(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct utsname u;
	struct check_row *row;

	if (uname(&u) < 0 ||
	    check_parse_kernel_release(u.release, &f->kernel_major, &f->kernel_minor, &f->kernel_patch) < 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_DEGRADED, "unknown");
		check_set_detail(row, "cannot read the kernel release with uname(2)");
		return;
	}
	if (f->kernel_major < 5 || (f->kernel_major == 5 && f->kernel_minor < 3)) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_BROKEN, "%d.%d.%d (>= 5.3 needed)",
				f->kernel_major, f->kernel_minor, f->kernel_patch);
		check_set_detail(row, "libshmar needs pidfd_open(2), added in Linux 5.3, to watch its peers");
		check_set_fix(row, "upgrade to Linux 5.14 or later");
		return;
	}
	if (f->kernel_major == 5 && f->kernel_minor < 14) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_DEGRADED,
				"%d.%d.%d (>= 5.14 recommended)", f->kernel_major, f->kernel_minor,
				f->kernel_patch);
		check_set_detail(row, "no MADV_POPULATE_WRITE (5.14): the segment is faulted in on first use, the first collectives are slow");
		check_set_fix(row, "upgrade to Linux 5.14 or later (6.7+ for io_uring futex waits)");
		return;
	}
	check_add(rep, CHECK_SECTION_KERNEL, "kernel", CHECK_OK, "%d.%d.%d (>= 5.14 recommended)",
		  f->kernel_major, f->kernel_minor, f->kernel_patch);
}

/* Size, seal and map a memfd exactly as rank 0 does with the segment. */
static int seal_and_map(int fd, const char **step)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	const size_t bytes = 1 << 16;
	void *p;
	int got;

	*step = "ftruncate";
	if (ftruncate(fd, (off_t)bytes) < 0)
		return -errno;
	*step = "F_ADD_SEALS";
	if (fcntl(fd, F_ADD_SEALS, seals) < 0)
		return -errno;
	*step = "F_GET_SEALS";
	got = fcntl(fd, F_GET_SEALS);
	if (got < 0)
		return -errno;
	if ((got & seals) != seals)
		return -EPERM;
	*step = "mmap(MAP_SHARED)";
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	memset(p, 0x5a, bytes);
	munmap(p, bytes);
	*step = "F_SEAL_SHRINK";
	if (ftruncate(fd, 0) == 0)
		return -EINVAL; /* the seal did not hold: a peer could cause SIGBUS */
	return 0;
}

static void check_memfd_noexec_sysctl(struct check_report *rep)
{
	long v;

	if (read_long("/proc/sys/vm/memfd_noexec", &v) < 0) {
		check_add(rep, CHECK_SECTION_KERNEL, "memfd_noexec", CHECK_OK, "not present (Linux < 6.3)");
		return;
	}
	check_add(rep, CHECK_SECTION_KERNEL, "memfd_noexec", CHECK_OK, "vm.memfd_noexec=%ld (%s)", v,
		  v == 0 ? "memfds may be executable" :
		  v == 1 ? "memfds are MFD_NOEXEC_SEAL by default" :
			   "memfds must be MFD_NOEXEC_SEAL; libshmar asks for it");
}

void check_memfd(struct check_report *rep)
{
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL;
	bool noexec = true;
	const char *step = "memfd_create";
	struct check_row *row;
	int fd, err;

	fd = memfd_create("shmar-check", flags);
	if (fd < 0 && errno == EINVAL) { /* Linux < 6.3: what the library retries with */
		noexec = false;
		fd = memfd_create("shmar-check", flags & ~MFD_NOEXEC_SEAL);
	}
	err = fd < 0 ? -errno : seal_and_map(fd, &step);
	if (fd >= 0)
		close(fd);
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "memfd", CHECK_BROKEN, "%s: %s", step,
				strerror(-err));
		check_set_detail(row, "libshmar's segment is a sealed memfd shared with MAP_SHARED; this kernel refuses it");
		check_set_fix(row, "use a kernel with memfd_create and file sealing (CONFIG_MEMFD_CREATE, Linux >= 3.17); check seccomp/LSM policy");
	} else {
		check_add(rep, CHECK_SECTION_KERNEL, "memfd", CHECK_OK, "sealed MAP_SHARED memfd; %s",
			  noexec ? "MFD_NOEXEC_SEAL" :
				   "no MFD_NOEXEC_SEAL (Linux < 6.3): created without it");
	}
	check_memfd_noexec_sysctl(rep);
}

void check_hugepages(struct check_report *rep)
{
	long total = read_field_long("/proc/meminfo", "HugePages_Total", -1);
	long free_pages = read_field_long("/proc/meminfo", "HugePages_Free", -1);
	long size_kb = read_field_long("/proc/meminfo", "Hugepagesize", 0);
	char thp[256], mode[256] = "";
	struct check_row *row;
	int fd = memfd_create("shmar-check-huge", MFD_CLOEXEC | MFD_HUGETLB);
	int err = fd < 0 ? errno : 0;

	if (fd >= 0)
		close(fd);
	row = check_add(rep, CHECK_SECTION_KERNEL, "hugetlb", CHECK_OK,
			"MFD_HUGETLB %s; pool %ld pages of %ld kB (%ld free)",
			err ? strerror(err) : "ok", total < 0 ? 0 : total, size_kb,
			free_pages < 0 ? 0 : free_pages);
	check_set_detail(row, "libshmar maps its segment with normal pages; the huge-page pool is not needed");

	if (read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp, sizeof(thp)) < 0) {
		check_add(rep, CHECK_SECTION_KERNEL, "thp shmem", CHECK_OK, "not available");
		return;
	}
	if (sscanf(strchr(thp, '[') ? strchr(thp, '[') : thp, "[%255[^]]", mode) != 1)
		snprintf(mode, sizeof(mode), "%s", thp);
	row = check_add(rep, CHECK_SECTION_KERNEL, "thp shmem", CHECK_OK, "%s", mode);
	if (strcmp(mode, "always") && strcmp(mode, "within_size") && strcmp(mode, "force"))
		check_set_detail(row, "the segment uses 4 KiB pages: more TLB misses in large all-reduces; 'within_size' in /sys/kernel/mm/transparent_hugepage/shmem_enabled lets it use 2 MiB pages");
}

/* ---------------------------------------------------------------- futex round trip */

static long sys_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Deliberately not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* Sleep until *word == want; false after about a second without it. */
static bool futex_await(_Atomic uint32_t *word, uint32_t want)
{
	const struct timespec slice = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
	int timeouts = 0;

	for (;;) {
		uint32_t seen = atomic_load(word);

		if (seen == want)
			return true;
		if (sys_futex(word, FUTEX_WAIT, seen, &slice) < 0 && errno == ETIMEDOUT &&
		    ++timeouts >= 20)
			return false;
	}
}

static void futex_post(_Atomic uint32_t *word, uint32_t value)
{
	atomic_store(word, value);
	sys_futex(word, FUTEX_WAKE, 1, NULL);
}

#define FUTEX_WARMUP 20
#define FUTEX_ROUNDS 300

static void futex_child(_Atomic uint32_t *word)
{
	alarm(10);
	for (uint32_t k = 0; k < FUTEX_WARMUP + FUTEX_ROUNDS; k++) {
		if (!futex_await(word, 2 * k + 1))
			_exit(1);
		futex_post(word, 2 * k + 2);
	}
	_exit(0);
}

/* Median round trip in seconds between two processes, each sleeping in FUTEX_WAIT. */
static int futex_round_trip(double *median_s)
{
	double samples[FUTEX_ROUNDS];
	_Atomic uint32_t *word;
	int status, err = 0;
	pid_t pid;

	word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (word == MAP_FAILED)
		return -errno;
	atomic_store(word, 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		munmap((void *)word, 4096);
		return err;
	}
	if (pid == 0)
		futex_child(word);
	for (uint32_t k = 0; k < FUTEX_WARMUP + FUTEX_ROUNDS; k++) {
		double t0 = now_s();

		futex_post(word, 2 * k + 1);
		if (!futex_await(word, 2 * k + 2)) {
			err = -ETIMEDOUT;
			kill(pid, SIGKILL);
			break;
		}
		if (k >= FUTEX_WARMUP)
			samples[k - FUTEX_WARMUP] = now_s() - t0;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	munmap((void *)word, 4096);
	if (err == 0)
		*median_s = median(samples, FUTEX_ROUNDS);
	return err;
}

void check_futex(struct check_report *rep, bool utf8)
{
	struct check_row *row;
	double med = 0;
	int err = futex_round_trip(&med);

	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "futex", CHECK_BROKEN, "round trip failed: %s",
				strerror(-err));
		check_set_detail(row, "FUTEX_WAIT/FUTEX_WAKE on a MAP_SHARED word between two processes did not work; libshmar sleeps this way");
		check_set_fix(row, "check the seccomp policy (futex must be allowed) and that fork() works");
		return;
	}
	row = check_add(rep, CHECK_SECTION_KERNEL, "futex", med > 1e-3 ? CHECK_DEGRADED : CHECK_OK,
			"round trip %.1f %s (median of %d, shared futex)", med * 1e6, us_unit(utf8),
			FUTEX_ROUNDS);
	if (med > 1e-3) {
		check_set_detail(row, "waking a sleeping process takes over a millisecond here: every collective that sleeps pays it");
		check_set_fix(row, "give the ranks idle CPUs of their own; raise SHMAR_SPIN_US so waits spin instead of sleeping");
	}
}

/* ---------------------------------------------------------------- pidfd */

static int peer_pidfd_probe(void)
{
	int sv[2], pidfd = -1, err = 0;
	socklen_t len = sizeof(pidfd);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		err = -errno;
	else
		close(pidfd);
	close(sv[0]);
	close(sv[1]);
	return err;
}

void check_pidfd(struct check_report *rep)
{
	long fd = syscall(SYS_pidfd_open, getpid(), 0);
	struct check_row *row;
	int err;

	if (fd < 0) {
		err = errno;
		row = check_add(rep, CHECK_SECTION_KERNEL, "pidfd", CHECK_BROKEN, "pidfd_open: %s",
				strerror(err));
		check_set_detail(row, err == ENOSYS ? "the kernel has no pidfd_open (Linux < 5.3): libshmar cannot watch its peers"
						    : "pidfd_open is refused (seccomp?): libshmar cannot watch its peers");
		check_set_fix(row, err == ENOSYS ? "upgrade to Linux 5.3 or later"
						 : "allow pidfd_open in the seccomp profile");
	} else {
		close((int)fd);
		check_add(rep, CHECK_SECTION_KERNEL, "pidfd", CHECK_OK, "pidfd_open ok");
	}

	err = peer_pidfd_probe();
	if (err == 0)
		check_add(rep, CHECK_SECTION_KERNEL, "so_peerpidfd", CHECK_OK, "supported");
	else
		check_add(rep, CHECK_SECTION_KERNEL, "so_peerpidfd", CHECK_OK,
			  "%s (Linux < 6.5): rank 0 uses pidfd_open instead",
			  err == -ENOPROTOOPT ? "not supported" : strerror(-err));
}

/* ---------------------------------------------------------------- io_uring */

/* 0 = auto, 1 = required (SHMAR_IO_URING=1/on), -1 = never. */
static int io_uring_wanted(const char **text)
{
	const char *v = env_value("SHMAR_IO_URING");

	*text = v;
	if (!v || strcasecmp(v, "auto") == 0)
		return 0;
	if (strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcasecmp(v, "never") == 0 || strcasecmp(v, "off") == 0)
		return -1;
	return 0; /* malformed: the environment row says so */
}

/* FUTEX_WAITV (Linux 5.16): the fallback's watcher wakes sleepers through it. */
static bool have_futex_waitv(void)
{
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
	return syscall(SYS_futex_waitv, NULL, 0, 0, NULL, CLOCK_MONOTONIC) < 0 && errno != ENOSYS;
}

#define WATCHER_NOTE "a thread watches the peers' pidfds and wakes waiters through FUTEX_WAITV: a dead peer is still noticed at once"
#define SLICES_NOTE "no FUTEX_WAITV (Linux < 5.16): futex sleeps of ~100 ms with pidfd checks, so a dead peer is noticed within ~100 ms"

static void explain_io_uring_error(struct check_row *row, int err)
{
	long disabled = -1, seccomp = read_field_long("/proc/self/status", "Seccomp", 0);

	read_long("/proc/sys/kernel/io_uring_disabled", &disabled);
	if (err == -EPERM && disabled == 2) {
		snprintf(row->value, sizeof(row->value), "blocked by sysctl kernel.io_uring_disabled=2");
		check_set_fix(row, "sysctl -w kernel.io_uring_disabled=0");
	} else if (err == -EPERM && disabled == 1) {
		snprintf(row->value, sizeof(row->value), "blocked by sysctl kernel.io_uring_disabled=1 (only CAP_SYS_ADMIN or kernel.io_uring_group)");
		check_set_fix(row, "sysctl -w kernel.io_uring_group=<a group of this user>, or kernel.io_uring_disabled=0");
	} else if ((err == -EPERM || err == -ENOSYS) && seccomp == 2) {
		snprintf(row->value, sizeof(row->value), "blocked by seccomp (io_uring_setup: %s)", strerror(-err));
		check_set_fix(row, "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile (Docker's default blocks them)");
	} else if (err == -ENOSYS) {
		snprintf(row->value, sizeof(row->value), "not in this kernel (io_uring_setup: ENOSYS)");
		check_set_fix(row, "use a kernel built with CONFIG_IO_URING=y");
	} else if (err == -ENOMEM) {
		snprintf(row->value, sizeof(row->value), "io_uring_setup: ENOMEM (RLIMIT_MEMLOCK too small?)");
		check_set_fix(row, "raise the locked-memory limit: ulimit -l 1024 (rings count against it before Linux 5.12)");
	} else {
		snprintf(row->value, sizeof(row->value), "io_uring_setup: %s", strerror(-err));
	}
}

#ifdef HAVE_LIBURING
/* A ring as the library makes one, and whether it can wait on a futex. */
static int ring_probe(bool *futex_op)
{
	struct io_uring_probe *probe;
	struct io_uring ring;
	int err = io_uring_queue_init(4, &ring, 0);

	*futex_op = false;
	if (err < 0)
		return err;
	probe = io_uring_get_probe_ring(&ring);
	if (probe) {
		*futex_op = io_uring_opcode_supported(probe, CHECK_IORING_OP_FUTEX_WAIT);
		io_uring_free_probe(probe);
	}
	io_uring_queue_exit(&ring);
	return 0;
}
#endif

void check_io_uring(struct check_report *rep)
{
	const char *wanted_text;
	int wanted = io_uring_wanted(&wanted_text);
	struct check_row *row;
	bool futex_op = false;
	int err;

#ifdef HAVE_LIBURING
	err = ring_probe(&futex_op);
#else
	err = -ENOPKG;
#endif
	rep->facts.io_uring_usable = err == 0;
	if (err == 0) {
		row = check_add(rep, CHECK_SECTION_KERNEL, "io_uring", CHECK_OK, "available%s%s%s",
				wanted < 0 ? " (not used: SHMAR_IO_URING=" : "",
				wanted < 0 ? wanted_text : "", wanted < 0 ? ")" : "");
		row = check_add(rep, CHECK_SECTION_KERNEL, "io_uring futex", CHECK_OK, "%s",
				futex_op ? "IORING_OP_FUTEX_WAIT supported"
					 : "no IORING_OP_FUTEX_WAIT (Linux < 6.7)");
		if (!futex_op)
			check_set_detail(row, "libshmar does not use the ring here; %s",
					 have_futex_waitv() ? WATCHER_NOTE : SLICES_NOTE);
		return;
	}
	row = check_add(rep, CHECK_SECTION_KERNEL, "io_uring", wanted > 0 ? CHECK_BROKEN : CHECK_DEGRADED,
			"unavailable");
	if (err == -ENOPKG) {
		snprintf(row->value, sizeof(row->value), "libshmar was built without liburing");
		check_set_fix(row, "rebuild with liburing-dev installed");
	} else {
		explain_io_uring_error(row, err);
	}
	if (wanted > 0)
		check_set_detail(row, "SHMAR_IO_URING=%s requires io_uring: shmar_comm_init will fail", wanted_text);
	else if (wanted == 0 && have_futex_waitv()) {
		row->status = CHECK_OK; /* the watcher does the ring's job */
		check_set_detail(row, "%s", WATCHER_NOTE);
	} else if (wanted == 0)
		check_set_detail(row, "%s", SLICES_NOTE);
	else
		row->status = CHECK_OK; /* SHMAR_IO_URING=0: not wanted anyway */
}

/* ================================================================ limits */

void check_limits(struct check_report *rep, int ranks)
{
	const struct check_facts *f = &rep->facts;
	unsigned long long need = 64 + 2 * (unsigned long long)ranks;
	char soft[32], hard[32];
	struct check_row *row;
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		bool old_ring = f->kernel_major < 5 || (f->kernel_major == 5 && f->kernel_minor < 12);

		format_bytes(soft, sizeof(soft), rl.rlim_cur);
		format_bytes(hard, sizeof(hard), rl.rlim_max);
		row = check_add(rep, CHECK_SECTION_LIMITS, "memlock", CHECK_OK, "%s (hard %s)", soft, hard);
		check_set_detail(row, "libshmar locks no memory%s", old_ring ? "; io_uring rings count against it before Linux 5.12" : "");
		if (old_ring && rl.rlim_cur < 1024 * 1024) {
			row->status = CHECK_DEGRADED;
			check_set_fix(row, "ulimit -l 1024 (or more) so that io_uring rings fit");
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	format_bytes(hard, sizeof(hard), rl.rlim_max);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) {
		snprintf(soft, sizeof(soft), "%llu", (unsigned long long)rl.rlim_cur);
		check_add(rep, CHECK_SECTION_LIMITS, "nofile", CHECK_OK, "%s (%d ranks need >= %llu)",
			  rl.rlim_cur == RLIM_INFINITY ? "unlimited" : soft, ranks, need);
		return;
	}
	row = check_add(rep, CHECK_SECTION_LIMITS, "nofile", CHECK_DEGRADED, "%llu (%d ranks need >= %llu)",
			(unsigned long long)rl.rlim_cur, ranks, need);
	check_set_detail(row, "rank 0 holds a socket and a pidfd per rank, plus the process's own files: init may fail with -EMFILE");
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)
		check_set_fix(row, "ulimit -n %llu", need);
	else
		check_set_fix(row, "raise the hard limit (now %llu) to >= %llu: nofile in limits.conf, LimitNOFILE= in systemd",
			      (unsigned long long)rl.rlim_max, need);
}

/* ================================================================ security */

/* capng's "a, b" as setpriv --dump prints it ("a,b", "[none]"); count in *n. */
static void caps_text(capng_type_t which, char *out, size_t len, int *n)
{
	char *text = capng_print_caps_text(CAPNG_PRINT_BUFFER, which);
	size_t o = 0;

	*n = 0;
	if (!text || !*text || strcmp(text, "none") == 0) {
		snprintf(out, len, "[none]");
		free(text);
		return;
	}
	*n = 1;
	for (const char *p = text; *p && o + 1 < len; p++) {
		if (*p == ' ')
			continue;
		*n += *p == ',';
		out[o++] = *p;
	}
	out[o] = '\0';
	free(text);
}

static void add_caps_row(struct check_report *rep, const char *name, capng_type_t which)
{
	struct check_row *row;
	char list[CHECK_VALUE_MAX];
	int n;

	caps_text(which, list, sizeof(list), &n);
	row = check_add(rep, CHECK_SECTION_SECURITY, name, CHECK_OK, "%s", list);
	/* The screen keeps one line per set; --json has the whole list. */
	if (row && strlen(list) > 48) {
		const char *cut = list + 34;

		while (cut > list && *cut != ',')
			cut--;
		snprintf(row->brief, sizeof(row->brief), "%d capabilities: %.*s,...", n, (int)(cut - list), list);
	}
}

void check_capabilities(struct check_report *rep)
{
	bool root = geteuid() == 0, any;
	struct check_row *row;
	int err;

	if (capng_get_caps_process() < 0) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "capabilities", CHECK_OK, "unknown");
		check_set_detail(row, "cannot read this process's capabilities (/proc/self/status)");
		return;
	}
	add_caps_row(rep, "cap bounding", CAPNG_BOUNDING_SET);
	add_caps_row(rep, "cap effective", CAPNG_EFFECTIVE);
	add_caps_row(rep, "cap permitted", CAPNG_PERMITTED);
	any = capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE;
	if (!root && !any) {
		check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_OK, "not needed: no capabilities");
		return;
	}
	/* The irqbalance pattern: everything at once, before any probe or rank runs. */
	capng_clear(CAPNG_SELECT_BOTH);
	err = capng_apply(CAPNG_SELECT_BOTH);
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_DEGRADED,
				"could not drop capabilities (capng_apply: %d)", err);
		check_set_detail(row, "the checks and the self-test ran with the capabilities above: an unprivileged process may fare worse");
		check_set_fix(row, "run shmar-check as the user that runs the ranks");
		return;
	}
	rep->facts.dropped_caps = true;
	row = check_add(rep, CHECK_SECTION_SECURITY, "cap drop", CHECK_OK,
			"dropped all capabilities at start (%s)",
			root ? "started as root" : "started with capabilities");
	check_set_detail(row, "the checks below and the self-test see what a process without capabilities gets");
}

void check_seccomp(struct check_report *rep)
{
	long mode = read_field_long("/proc/self/status", "Seccomp", -1);
	long filters = read_field_long("/proc/self/status", "Seccomp_filters", 0);
	struct check_row *row;

	if (mode < 0) {
		check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "unknown (no Seccomp line in /proc/self/status)");
		return;
	}
	if (mode == 0) {
		check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "none");
		return;
	}
	row = check_add(rep, CHECK_SECTION_SECURITY, "seccomp", CHECK_OK, "%s (%ld filter%s)",
			mode == 2 ? "filter mode" : "strict mode", filters, filters == 1 ? "" : "s");
	check_set_detail(row, "a filter may refuse io_uring or pidfd_open: see those rows");
}

/* Whether <dir>/<job>.sock fits a unix socket address for every job name. */
static void check_socket_path_room(struct check_row *row, const char *dir)
{
	long room = SUN_PATH_MAX - (long)strlen(dir) - 1 - SOCK_SUFFIX_LEN;

	if (room >= SHMAR_JOB_MAX)
		return;
	if (room < 1) {
		row->status = CHECK_BROKEN;
		check_set_detail(row, "the path is too long for a unix socket (<dir>/<job>.sock must fit in %d bytes): every shmar_comm_init fails",
				 SUN_PATH_MAX);
	} else {
		row->status = CHECK_DEGRADED;
		check_set_detail(row, "job names longer than %ld characters will not fit in a unix socket path (%d bytes)",
				 room, SUN_PATH_MAX);
	}
	check_set_fix(row, "use a shorter SHMAR_DIR");
}

/* Missing is fine (the library creates it 0700) if its parent exists. */
static void dir_missing(struct check_report *rep, const char *dir)
{
	char parent[4096];
	char *slash;
	struct stat st;
	struct check_row *row;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode)) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_OK,
				"%s missing: will be created 0700", dir);
		check_socket_path_room(row, dir);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
			"%s missing and its parent %s too", dir, parent);
	check_set_detail(row, "the library creates only the last component: shmar_comm_init fails");
	check_set_fix(row, "mkdir -p %s, or point SHMAR_DIR at an existing private directory", parent);
}

void check_rendezvous_dir(struct check_report *rep)
{
	char *dir = rep->facts.dir;
	unsigned euid = (unsigned)geteuid();
	struct check_row *row;
	struct stat st;

	if (check_resolve_dir(dir, sizeof(rep->facts.dir)) < 0) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN, "path too long");
		check_set_fix(row, "use a shorter SHMAR_DIR");
		return;
	}
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT) {
			dir_missing(rep, dir);
			return;
		}
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN, "%s: %s", dir,
				strerror(errno));
		check_set_detail(row, "the library cannot use it");
		check_set_fix(row, "point SHMAR_DIR at a directory of this user with mode 0700");
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
				"%s is a symbolic link", dir);
		check_set_detail(row, "the library refuses it (-EACCES): a link can lead into a directory that others control");
		check_set_fix(row, "rm %s (the library recreates it 0700), or point SHMAR_DIR at a real directory", dir);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
				"%s is not a directory", dir);
		check_set_detail(row, "the library refuses it (-EACCES)");
		check_set_fix(row, "remove %s, or point SHMAR_DIR elsewhere", dir);
		return;
	}
	if (st.st_uid != euid) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
				"%s belongs to uid %u, not to uid %u", dir, (unsigned)st.st_uid, euid);
		check_set_detail(row, "the library refuses another user's directory (-EACCES): that user could read or replace the job's socket");
		check_set_fix(row, "chown %u %s (as root), or point SHMAR_DIR at a directory of uid %u", euid,
			      dir, euid);
		return;
	}
	if ((st.st_mode & 077) || (st.st_mode & 0700) != 0700) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
				"%s has mode %04o", dir, (unsigned)(st.st_mode & 07777));
		check_set_detail(row, (st.st_mode & 077) ? "group or others have access: the library refuses it (-EACCES)"
							 : "the owner cannot create sockets in it");
		check_set_fix(row, "chmod 700 %s", dir);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_OK, "%s (0700, uid %u)", dir, euid);
	check_socket_path_room(row, dir);
}

static void list_shmar_env(char *out, size_t len)
{
	out[0] = '\0';
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SHMAR_", 6) != 0)
			continue;
		/* A token is a secret: say that it is set, never what it is. */
		if (strncmp(*e, "SHMAR_TOKEN=", 12) == 0)
			append(out, len, (*e)[12] ? "SHMAR_TOKEN=(set)" : "SHMAR_TOKEN=");
		else
			append(out, len, *e);
	}
}

/* One rank, the library's own defaults and environment: what a user's first call does. */
static void probe_init(struct check_facts *f)
{
	struct shmar_comm *comm = NULL;
	char job[SHMAR_JOB_MAX + 1];

	snprintf(job, sizeof(job), "shmar-check-%ld-probe", (long)getpid());
	f->init_err = shmar_comm_init(&comm, job, 1, 0, NULL);
	snprintf(f->init_msg, sizeof(f->init_msg), "%s",
		 f->init_err < 0 ? shmar_comm_last_error(NULL) : "");
	shmar_comm_destroy(comm);
}

/* The broken row that already says why shmar_comm_init failed with err, or NULL. */
static const char *explaining_row(struct check_report *rep, int err)
{
	static const struct {
		int err;
		const char *row;
	} causes[] = {
		{ -EINVAL, "environment" },
		{ -ENOTSUP, "kernels" },
		{ -EACCES, "rendezvous dir" },
		{ -ENAMETOOLONG, "rendezvous dir" },
		{ -ENOENT, "rendezvous dir" },
		{ -ENOENT, "io_uring" },
		{ -ENOSYS, "io_uring" },
		{ -EPERM, "io_uring" },
	};

	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		const struct check_row *row = find_row(rep, causes[i].row);

		if (causes[i].err == err && row && row->status == CHECK_BROKEN)
			return causes[i].row;
	}
	return NULL;
}

void check_environment(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	char vars[CHECK_VALUE_MAX];
	const char *explained;
	struct check_row *row;

	list_shmar_env(vars, sizeof(vars));
	probe_init(f);
	if (f->init_err == -EINVAL) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "environment", CHECK_BROKEN, "%s",
				vars[0] ? vars : "no SHMAR_* variables");
		check_set_detail(row, "shmar_comm_init: %s", f->init_msg);
		check_set_fix(row, "correct or unset the variable (valid values: shmar(7))");
	} else {
		check_add(rep, CHECK_SECTION_SECURITY, "environment", CHECK_OK, "%s",
			  vars[0] ? vars : "no SHMAR_* variables (defaults)");
	}
	if (f->init_err == 0) {
		check_add(rep, CHECK_SECTION_SELFTEST, "init", CHECK_OK, "shmar_comm_init of 1 rank");
		return;
	}
	explained = explaining_row(rep, f->init_err);
	row = check_add(rep, CHECK_SECTION_SELFTEST, "init", CHECK_BROKEN, "shmar_comm_init of 1 rank: %s",
			shmar_strerror(f->init_err));
	if (explained) {
		check_set_detail(row, "explained above: %s", explained);
		return;
	}
	check_set_detail(row, "%s", f->init_msg);
	check_set_fix(row, "if no row above explains it, report this output as a libshmar bug");
}

/* ================================================================ self-test */

/* The row a rank's first error belongs to. */
enum stage { STAGE_JOIN = 1, STAGE_BARRIER, STAGE_ALLREDUCE };

/* What one rank reports to the parent, in a MAP_SHARED page. */
struct rank_slot {
	int done;                  /* rank_main() returned */
	int err;                   /* first library error, 0 if none */
	enum stage stage;          /* which row it belongs to */
	char call[64];             /* the failing call */
	char msg[256];             /* shmar_comm_last_error() */
	bool enosys;               /* shmar_allreduce is not implemented */
	bool ran[CHECK_NDTYPES][CHECK_NSIZES];
	uint32_t bad[CHECK_NDTYPES][CHECK_NSIZES];
	char mismatch[160];        /* the first wrong element */
	double local[CHECK_TIME_COUNT];   /* this rank's medians, seconds; < 0 not measured */
	double reduced[CHECK_TIME_COUNT]; /* after the FLOAT64 MAX exchange */
	bool exchanged;
};

struct plan {
	int ranks;
	char job[SHMAR_JOB_MAX + 1];
	const char *dir;
	bool size_on[CHECK_NSIZES];
	bool timing_on[CHECK_TIME_COUNT];
	size_t timing_count[CHECK_TIME_COUNT];  /* fp32 elements; 0 = barrier */
	int iters[CHECK_TIME_COUNT];
	size_t buf_bytes;                        /* each of the send and receive buffers */
	unsigned alarm_s;
	char skipped[160];
};

#define WARMUP_ITERS 3
#define MAX_ITERS 64
#define INIT_TIMEOUT_MS 20000
#define COLL_TIMEOUT_MS 30000

static int record(struct rank_slot *s, enum stage stage, int err, const char *call,
		  const char *msg)
{
	if (s->err == 0) {
		s->err = err;
		s->stage = stage;
		snprintf(s->call, sizeof(s->call), "%s", call);
		snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "");
	}
	return err;
}

static void fill_input(int dtype, int rank, size_t count, unsigned char *buf)
{
	size_t es = dtype_size(dtype);

	for (size_t i = 0; i < count; i++)
		check_encode(dtype, check_input_value(rank, i), buf + i * es);
}

static void hex_element(char *out, size_t len, const unsigned char *p, size_t es)
{
	uint64_t v = 0;

	memcpy(&v, p, es); /* little-endian x86/arm64: the element's value */
	snprintf(out, len, "0x%0*llx", (int)(2 * es), (unsigned long long)v);
}

/* Elements of recv that differ from the exact answer, bit for bit. */
static uint32_t verify_output(struct rank_slot *s, int dtype, int nranks, size_t count,
			      const unsigned char *recv)
{
	unsigned char answers[CHECK_INPUT_PERIOD][8];
	size_t es = dtype_size(dtype);
	uint32_t bad = 0;

	for (size_t k = 0; k < CHECK_INPUT_PERIOD; k++)
		check_encode(dtype, check_sum_value(nranks, k), answers[k]);
	for (size_t i = 0; i < count; i++) {
		const unsigned char *want = answers[i % CHECK_INPUT_PERIOD];

		if (memcmp(want, recv + i * es, es) == 0)
			continue;
		if (bad++ == 0 && !s->mismatch[0]) {
			char got_hex[24], want_hex[24];

			hex_element(got_hex, sizeof(got_hex), recv + i * es, es);
			hex_element(want_hex, sizeof(want_hex), want, es);
			snprintf(s->mismatch, sizeof(s->mismatch), "%s x %zu: element %zu is %s, expected %s",
				 check_dtype_name(dtype), count, i, got_hex, want_hex);
		}
	}
	return bad;
}

static int run_dtypes(struct shmar_comm *comm, const struct plan *p, int rank, struct rank_slot *s,
		      unsigned char *send, unsigned char *recv)
{
	char call[64];

	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			size_t count = check_selftest_counts[z];
			int err;

			if (!p->size_on[z])
				continue;
			fill_input(d, rank, count, send);
			memset(recv, 0xa5, count * dtype_size(d)); /* an unwritten output shows */
			err = shmar_allreduce(comm, send, recv, count, (enum shmar_dtype)d, SHMAR_SUM);
			if (err == -ENOSYS) {
				s->enosys = true;
				return 0; /* nothing to check yet; the barrier still is */
			}
			snprintf(call, sizeof(call), "shmar_allreduce(%s, %zu, SUM)", check_dtype_name(d), count);
			if (err < 0)
				return record(s, STAGE_ALLREDUCE, err, call, shmar_comm_last_error(comm));
			s->ran[d][z] = true;
			s->bad[d][z] = verify_output(s, d, p->ranks, count, recv);
		}
	}
	return 0;
}

static int timed_call(struct shmar_comm *comm, size_t count, void *send, void *recv)
{
	if (count == 0)
		return shmar_barrier(comm);
	return shmar_allreduce(comm, send, recv, count, SHMAR_FLOAT32, SHMAR_SUM);
}

/*
 * OSU style, as shmar-bench: "barrier; t0; call; t1", so every call starts
 * with the ranks together and back-to-back calls cannot hide each other's cost.
 */
static int measure(struct shmar_comm *comm, size_t count, int iters, void *send, void *recv,
		   double *median_s)
{
	double samples[MAX_ITERS], t0;
	int err;

	for (int i = -WARMUP_ITERS; i < iters; i++) {
		err = shmar_barrier(comm);
		if (err < 0)
			return err;
		t0 = now_s();
		err = timed_call(comm, count, send, recv);
		if (err < 0)
			return err;
		if (i >= 0)
			samples[i] = now_s() - t0;
	}
	*median_s = median(samples, iters);
	return 0;
}

static int run_timings(struct shmar_comm *comm, const struct plan *p, struct rank_slot *s,
		       unsigned char *send, unsigned char *recv)
{
	float one = 1.0f;
	int err;

	/* Ones, not leftovers of the dtype loop: denormals or NaNs would skew the times. */
	for (size_t i = 0; i < p->buf_bytes / sizeof(float); i++)
		memcpy(send + i * sizeof(float), &one, sizeof(one));
	for (int t = 0; t < CHECK_TIME_COUNT; t++) {
		bool barrier = p->timing_count[t] == 0;

		s->local[t] = -1;
		if (!p->timing_on[t] || (!barrier && s->enosys))
			continue;
		err = shmar_barrier(comm);
		if (err < 0)
			return record(s, STAGE_BARRIER, err, "shmar_barrier", shmar_comm_last_error(comm));
		err = measure(comm, p->timing_count[t], p->iters[t], send, recv, &s->local[t]);
		if (err < 0)
			return record(s, barrier ? STAGE_BARRIER : STAGE_ALLREDUCE, err,
				      barrier ? "shmar_barrier (timing)" : "shmar_allreduce (timing)",
				      shmar_comm_last_error(comm));
	}
	if (s->enosys)
		return 0;
	/* Max over ranks with the library itself: FLOAT64 MAX, checked by the parent. */
	memcpy(s->reduced, s->local, sizeof(s->local));
	err = shmar_allreduce(comm, s->reduced, s->reduced, CHECK_TIME_COUNT, SHMAR_FLOAT64, SHMAR_MAX);
	if (err < 0)
		return record(s, STAGE_ALLREDUCE, err, "shmar_allreduce(float64, 5, MAX)",
			      shmar_comm_last_error(comm));
	s->exchanged = true;
	return 0;
}

static void rank_config(struct shmar_config *cfg, const struct plan *p)
{
	shmar_config_init(cfg);
	cfg->dir = p->dir;
	/* Bounded waits unless the user chose others: a broken job must end, not hang. */
	if (!env_value("SHMAR_INIT_TIMEOUT_MS"))
		cfg->init_timeout_ms = INIT_TIMEOUT_MS;
	if (!env_value("SHMAR_TIMEOUT_MS"))
		cfg->timeout_ms = COLL_TIMEOUT_MS;
}

static int rank_main(const struct plan *p, int rank, struct rank_slot *s)
{
	struct shmar_comm *comm = NULL;
	unsigned char *send, *recv;
	struct shmar_config cfg;
	int err;

	signal(SIGALRM, SIG_DFL);
	alarm(p->alarm_s);
	rank_config(&cfg, p);
	err = shmar_comm_init(&comm, p->job, p->ranks, rank, &cfg);
	if (err < 0)
		return record(s, STAGE_JOIN, err, "shmar_comm_init", shmar_comm_last_error(NULL));
	send = malloc(p->buf_bytes);
	recv = malloc(p->buf_bytes);
	if (!send || !recv) {
		err = record(s, STAGE_JOIN, -ENOMEM, "malloc", "no memory for the test buffers");
		shmar_comm_abort(comm); /* the peers would wait for this rank */
		goto out;
	}
	err = shmar_barrier(comm);
	if (err < 0) {
		record(s, STAGE_BARRIER, err, "shmar_barrier", shmar_comm_last_error(comm));
		goto out;
	}
	err = run_dtypes(comm, p, rank, s, send, recv);
	if (err == 0)
		err = run_timings(comm, p, s, send, recv);
out:
	free(send);
	free(recv);
	shmar_comm_destroy(comm);
	return err;
}

static unsigned long long mem_available(void)
{
	long kb = read_field_long("/proc/meminfo", "MemAvailable", -1);

	return kb < 0 ? ULLONG_MAX : (unsigned long long)kb * 1024;
}

/* Whether ranks ranks with buffers of bytes each (twice) and their slots fit in half the free memory. */
static bool fits(int ranks, size_t bytes, unsigned long long avail)
{
	unsigned long long per_rank = 2ull * bytes + 4ull * 1024 * 1024;

	return avail == ULLONG_MAX || (unsigned long long)ranks * per_rank <= avail / 2;
}

static void make_plan(struct plan *p, const struct check_options *opt, const struct check_facts *f)
{
	static const size_t counts[CHECK_TIME_COUNT] = { 0, 1, 4096, 1 << 18, 1 << 22 };
	bool crowded = opt->ranks > f->usable_cpus;
	unsigned long long avail = mem_available();

	memset(p, 0, sizeof(*p));
	/* main() allows 1..256; a caller of check_selftest() may not have checked. */
	p->ranks = opt->ranks < 1 ? 1 : opt->ranks > SHMAR_MAX_RANKS ? SHMAR_MAX_RANKS : opt->ranks;
	p->dir = f->dir;
	snprintf(p->job, sizeof(p->job), "shmar-check-%ld-test", (long)getpid());
	for (int z = 0; z < CHECK_NSIZES; z++) {
		size_t bytes = check_selftest_counts[z] * 8; /* the widest dtype */

		p->size_on[z] = fits(p->ranks, bytes, avail);
		if (p->size_on[z] && bytes > p->buf_bytes)
			p->buf_bytes = bytes;
	}
	for (int t = 0; t < CHECK_TIME_COUNT; t++) {
		size_t bytes = counts[t] * sizeof(float);

		p->timing_count[t] = counts[t];
		p->timing_on[t] = fits(p->ranks, bytes, avail);
		/* A few dozen each; fewer when ranks wait for each other's CPU. */
		p->iters[t] = crowded ? 10 : bytes >= (1u << 24) ? 20 : bytes >= (1u << 20) ? 30 : 50;
		if (p->timing_on[t] && bytes > p->buf_bytes)
			p->buf_bytes = bytes;
	}
	if (!p->size_on[CHECK_NSIZES - 1] || !p->timing_on[CHECK_TIME_COUNT - 1])
		snprintf(p->skipped, sizeof(p->skipped), "largest sizes skipped: %d ranks would need more than half the free memory",
			 p->ranks);
	if (p->buf_bytes < 64)
		p->buf_bytes = 64;
	p->alarm_s = 60 + (unsigned)p->ranks;
}

/* The rank whose error explains the others': not the echo of someone else's death. */
static int root_cause_rank(const struct rank_slot *slots, int n)
{
	int first = -1;

	for (int r = 0; r < n; r++) {
		int e = -slots[r].err;

		if (!slots[r].err)
			continue;
		if (first < 0)
			first = r;
		if (e != EOWNERDEAD && e != ECANCELED && e != ETIMEDOUT)
			return r;
	}
	return first;
}

static void add_failure_row(struct check_report *rep, const char *name, const struct rank_slot *s,
			    int rank)
{
	struct check_row *row;

	row = check_add(rep, CHECK_SECTION_SELFTEST, name, CHECK_BROKEN, "rank %d: %s: %s", rank, s->call,
			shmar_strerror(s->err));
	check_set_detail(row, "%s", s->msg[0] ? s->msg : "no further detail from shmar_comm_last_error");
	check_set_fix(row, "fix the broken rows above; if none, report this output as a libshmar bug");
}

/* Exit statuses: a rank that was killed or did not finish is broken whatever it reported. */
static bool summarise_processes(struct check_report *rep, const struct plan *p, const int *status,
				const struct rank_slot *slots)
{
	struct check_row *row;

	for (int r = 0; r < p->ranks; r++) {
		int st = status[r];

		if (WIFEXITED(st) && WEXITSTATUS(st) <= 1 && slots[r].done)
			continue;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d did not finish within %u s", r, p->alarm_s);
			check_set_detail(row, "a collective hung or the machine is far too busy");
		} else if (WIFSIGNALED(st)) {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d was killed by signal %d (%s)", r, WTERMSIG(st),
					strsignal(WTERMSIG(st)));
			check_set_detail(row, "a crash in the library or the kernel's OOM killer");
		} else {
			row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
					"rank %d ended abnormally (status 0x%x)", r, (unsigned)st);
		}
		check_set_fix(row, "re-run; if it repeats, report this output as a libshmar bug");
		return false;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_OK, "%d rank%s exited cleanly", p->ranks,
		  p->ranks == 1 ? "" : "s");
	return true;
}

static void summarise_allreduce(struct check_report *rep, const struct plan *p,
				const struct rank_slot *slots)
{
	struct check_selftest *t = &rep->selftest;
	const char *mismatch = NULL;
	int cases = 0, bad_cases = 0;
	struct check_row *row;

	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			bool ran = true, ok = true;

			for (int r = 0; r < p->ranks; r++) {
				ran = ran && slots[r].ran[d][z];
				ok = ok && slots[r].bad[d][z] == 0;
				if (slots[r].bad[d][z] && !mismatch)
					mismatch = slots[r].mismatch;
			}
			t->ran[d][z] = ran;
			t->ok[d][z] = ran && ok;
			cases += ran;
			bad_cases += ran && !ok;
		}
	}
	if (bad_cases) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_BROKEN,
				"%d of %d dtype x size cases differ from the exact sum", bad_cases, cases);
		check_set_detail(row, "%s", mismatch ? mismatch : "");
		check_set_fix(row, "try SHMAR_ISA=scalar to see whether the %s kernels are at fault; report this output as a libshmar bug",
			      t->isa);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_OK,
			"all %d dtypes passed, bit-exact at %d sizes", CHECK_NDTYPES,
			cases / CHECK_NDTYPES);
	if (p->skipped[0])
		check_set_detail(row, "%s", p->skipped);
}

static void summarise_timings(struct check_report *rep, const struct plan *p,
			      const struct rank_slot *slots)
{
	struct check_selftest *t = &rep->selftest;
	struct check_row *row;

	for (int k = 0; k < CHECK_TIME_COUNT; k++) {
		double worst = -1;

		for (int r = 0; r < p->ranks; r++)
			worst = slots[r].local[k] > worst ? slots[r].local[k] : worst;
		t->seconds[k] = worst;
		t->bytes[k] = p->timing_count[k] * sizeof(float);
		/* MAX returns one of its inputs: the library's answer must be exactly ours. */
		if (slots[0].exchanged && slots[0].reduced[k] != worst) {
			row = find_row(rep, "allreduce");
			if (row && row->status == CHECK_OK) {
				row->status = CHECK_BROKEN;
				snprintf(row->value, sizeof(row->value), "float64 MAX gave %.17g, the largest input is %.17g",
					 slots[0].reduced[k], worst);
				check_set_fix(row, "report this output as a libshmar bug");
			}
		}
	}
}

static void summarise_ranks(struct check_report *rep, const struct plan *p,
			    const struct rank_slot *slots)
{
	int cause = root_cause_rank(slots, p->ranks);
	const struct rank_slot *c = cause >= 0 ? &slots[cause] : NULL;
	struct check_row *row;

	if (c && c->stage == STAGE_JOIN) {
		add_failure_row(rep, "join", c, cause);
		return;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "join", CHECK_OK, "%d rank%s formed job %s", p->ranks,
		  p->ranks == 1 ? "" : "s", p->job);
	if (c && c->stage == STAGE_BARRIER) {
		add_failure_row(rep, "barrier", c, cause);
		return;
	}
	check_add(rep, CHECK_SECTION_SELFTEST, "barrier", CHECK_OK, "all ranks passed");
	if (c && c->stage == STAGE_ALLREDUCE) {
		add_failure_row(rep, "allreduce", c, cause);
		return;
	}
	if (slots[0].enosys) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "allreduce", CHECK_BROKEN,
				"shmar_allreduce: %s", shmar_strerror(-ENOSYS));
		check_set_detail(row, "this libshmar does not implement the all-reduce yet (-ENOSYS): only the barrier was tested");
		check_set_fix(row, "install a libshmar with the all-reduce and re-run");
		return;
	}
	summarise_allreduce(rep, p, slots);
}

/* Remove and count what the test's job left in the rendezvous directory. */
static int remove_leftovers(const char *dir, char *first, size_t len)
{
	char prefix[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "shmar-check-%ld-", (long)getpid());
	first[0] = '\0';
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n++ == 0)
			snprintf(first, len, "%s", e->d_name);
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return n;
}

static void check_cleanup(struct check_report *rep, const char *dir)
{
	char first[256];
	struct check_row *row;
	int n = remove_leftovers(dir, first, sizeof(first));

	if (n == 0) {
		check_add(rep, CHECK_SECTION_SELFTEST, "cleanup", CHECK_OK, "nothing left in %s", dir);
		return;
	}
	row = check_add(rep, CHECK_SECTION_SELFTEST, "cleanup", CHECK_BROKEN, "%d file%s left in %s (%s)",
			n, n == 1 ? "" : "s", dir, first);
	check_set_detail(row, "the job's socket should be gone once the job formed or failed; shmar-check removed it");
	check_set_fix(row, "report this output as a libshmar bug");
}

static void wait_all(const pid_t *pids, int *status, int n)
{
	for (int r = 0; r < n; r++) {
		status[r] = 0;
		if (pids[r] <= 0)
			continue;
		while (waitpid(pids[r], &status[r], 0) < 0 && errno == EINTR)
			;
	}
}

static int fork_ranks(const struct plan *p, struct rank_slot *slots, pid_t *pids)
{
	fflush(NULL); /* the children must not write the parent's buffers again */
	for (int r = 0; r < p->ranks; r++) {
		pids[r] = fork();
		if (pids[r] == 0) {
			int err = rank_main(p, r, &slots[r]);

			slots[r].done = 1;
			_exit(err < 0 ? 1 : 0);
		}
		if (pids[r] < 0) {
			int err = -errno;

			/* The ranks already started would wait for this one until the deadline. */
			for (int k = 0; k < r; k++)
				kill(pids[k], SIGKILL);
			return err;
		}
	}
	return 0;
}

static enum check_status selftest_rows_status(const struct check_report *rep, int first_row)
{
	enum check_status st = CHECK_OK;

	for (int i = first_row; i < rep->nrows; i++)
		st = worse(st, rep->rows[i].status);
	return st;
}

void check_selftest(struct check_report *rep, const struct check_options *opt)
{
	struct check_selftest *t = &rep->selftest;
	int first_row = rep->nrows, status[SHMAR_MAX_RANKS], err;
	pid_t pids[SHMAR_MAX_RANKS] = { 0 };
	struct rank_slot *slots;
	struct check_row *row;
	struct plan p;

	make_plan(&p, opt, &rep->facts);
	t->ranks = p.ranks;
	for (int k = 0; k < CHECK_TIME_COUNT; k++)
		t->seconds[k] = -1;
	slots = mmap(NULL, (size_t)p.ranks * sizeof(*slots), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
				"cannot map %d rank reports: %s", p.ranks, strerror(errno));
		goto out;
	}
	for (int r = 0; r < p.ranks; r++)
		for (int k = 0; k < CHECK_TIME_COUNT; k++)
			slots[r].local[k] = slots[r].reduced[k] = -1;
	err = fork_ranks(&p, slots, pids);
	wait_all(pids, status, p.ranks);
	if (err < 0) {
		row = check_add(rep, CHECK_SECTION_SELFTEST, "processes", CHECK_BROKEN,
				"cannot fork %d ranks: %s", p.ranks, strerror(-err));
		check_set_fix(row, "raise the process limit (ulimit -u) or use fewer --ranks");
	} else {
		summarise_ranks(rep, &p, slots);
		summarise_timings(rep, &p, slots);
		summarise_processes(rep, &p, status, slots);
	}
	check_cleanup(rep, p.dir);
out:
	t->status = selftest_rows_status(rep, first_row);
	if (slots != MAP_FAILED)
		munmap(slots, (size_t)p.ranks * sizeof(*slots));
}

/* ================================================================ all */

void check_run(struct check_report *rep, const struct check_options *opt)
{
	struct check_row *row;

	memset(rep, 0, sizeof(*rep));
	rep->library_version = shmar_version();
	rep->utf8 = opt->utf8;
	rep->selftest.status = CHECK_SKIPPED;
	rep->selftest.ranks = opt->ranks;
	for (int k = 0; k < CHECK_TIME_COUNT; k++)
		rep->selftest.seconds[k] = -1;

	/* First, so that every probe sees what an unprivileged rank would. */
	check_capabilities(rep);

	check_cpu(rep);
	check_isa(rep);
	check_cpus(rep, opt->ranks);
	check_numa(rep);

	check_kernel(rep);
	check_memfd(rep);
	check_hugepages(rep);
	check_futex(rep, opt->utf8);
	check_pidfd(rep);
	check_io_uring(rep);

	check_limits(rep, opt->ranks);

	check_seccomp(rep);
	check_rendezvous_dir(rep);
	check_environment(rep);

	snprintf(rep->selftest.isa, sizeof(rep->selftest.isa), "%s",
		 rep->facts.isa ? rep->facts.isa : "none");
	if (!opt->selftest)
		return;
	if (rep->facts.init_err == 0) {
		check_selftest(rep, opt);
		return;
	}
	/* N ranks would fail the same way, some only after the init deadline. */
	row = check_add(rep, CHECK_SECTION_SELFTEST, "join", CHECK_BROKEN,
			"not tried: shmar_comm_init fails already for 1 rank (see init)");
	check_set_fix(row, "fix the broken rows above, then re-run");
	rep->selftest.status = CHECK_BROKEN;
}

/* ================================================================ text output */

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
		snprintf(out, len, "%.1f %s", seconds * 1e6, us_unit(utf8));
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
			fprintf(f, " (%d rank%s, %s kernels)", t->ranks, t->ranks == 1 ? "" : "s", t->isa);
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

/* ================================================================ JSON output */

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

static void json_number(FILE *f, double v)
{
	if (v < 0 || !isfinite(v))
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

static void json_micro(FILE *f, double seconds)
{
	json_number(f, seconds < 0 ? -1 : seconds * 1e6);
}

static void json_gbps(FILE *f, double seconds, size_t bytes)
{
	json_number(f, seconds <= 0 ? -1 : (double)bytes / seconds / 1e9);
}

static const char *section_key(enum check_section sec)
{
	static const char *const keys[CHECK_SECTION_COUNT] = {
		"machine", "kernel", "limits", "security", "selftest",
	};

	return keys[sec];
}

static void json_checks(FILE *f, const struct check_report *rep)
{
	bool first = true;

	fputs("  \"checks\": [", f);
	for (int i = 0; i < CHECK_SECTION_COUNT * rep->nrows; i++) {
		const struct check_row *row = &rep->rows[i % rep->nrows];

		/* Section by section, as on the screen. */
		if ((int)row->section != i / rep->nrows)
			continue;
		fputs(first ? "\n    {" : ",\n    {", f);
		first = false;
		fputs("\"section\": ", f);
		check_json_string(f, section_key(row->section));
		fputs(", \"name\": ", f);
		check_json_string(f, row->name);
		fputs(", \"status\": ", f);
		check_json_string(f, check_status_name(row->status));
		fputs(", \"value\": ", f);
		check_json_string(f, row->value);
		fputs(", \"detail\": ", f);
		check_json_string(f, row->detail);
		fputs(", \"fix\": ", f);
		check_json_string(f, row->fix);
		fputc('}', f);
	}
	fputs("\n  ],\n", f);
}

static void json_results(FILE *f, const struct check_selftest *t)
{
	bool first = true;

	fputs("    \"results\": [", f);
	for (int d = 0; d < CHECK_NDTYPES; d++) {
		for (int z = 0; z < CHECK_NSIZES; z++) {
			if (!t->ran[d][z])
				continue;
			fputs(first ? "\n      {" : ",\n      {", f);
			first = false;
			fputs("\"dtype\": ", f);
			check_json_string(f, check_dtype_name(d));
			fprintf(f, ", \"count\": %zu, \"ok\": %s}", check_selftest_counts[z],
				t->ok[d][z] ? "true" : "false");
		}
	}
	fputs(first ? "],\n" : "\n    ],\n", f);
}

static void json_selftest(FILE *f, const struct check_selftest *t)
{
	fprintf(f, "  \"selftest\": {\n    \"ranks\": %d,\n    \"status\": ", t->ranks);
	check_json_string(f, check_status_name(t->status));
	fputs(",\n    \"isa\": ", f);
	check_json_string(f, t->isa);
	fputs(",\n", f);
	json_results(f, t);
	fputs("    \"latency_us\": {\"barrier\": ", f);
	json_micro(f, t->seconds[CHECK_TIME_BARRIER]);
	fputs(", \"allreduce_4B\": ", f);
	json_micro(f, t->seconds[CHECK_TIME_AR_4B]);
	fputs(", \"allreduce_16KiB\": ", f);
	json_micro(f, t->seconds[CHECK_TIME_AR_16KIB]);
	fputs("},\n    \"bandwidth_GBps\": {\"allreduce_1MiB\": ", f);
	json_gbps(f, t->seconds[CHECK_TIME_AR_1MIB], t->bytes[CHECK_TIME_AR_1MIB]);
	fputs(", \"allreduce_16MiB\": ", f);
	json_gbps(f, t->seconds[CHECK_TIME_AR_16MIB], t->bytes[CHECK_TIME_AR_16MIB]);
	fputs("}\n  }\n", f);
}

void check_print_json(FILE *f, const struct check_report *rep)
{
	enum check_status st = check_overall(rep);

	fputs("{\n  \"version\": ", f);
	check_json_string(f, rep->library_version);
	fputs(",\n  \"status\": ", f);
	check_json_string(f, st == CHECK_OK || st == CHECK_SKIPPED ? "healthy" : check_status_name(st));
	fputs(",\n", f);
	json_checks(f, rep);
	json_selftest(f, &rep->selftest);
	fputs("}\n", f);
}
