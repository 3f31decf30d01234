/* SPDX-License-Identifier: MIT */
/*
 * check-machine.c - the CPU, the reduce kernels, the CPUs a rank may use,
 * NUMA.  The kernels and the CPU count are the library's answers
 * (shmar_probe_isa, shmar_probe_cpus); the rest is read for the screen.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shmar.h"
#include "check.h"
#include "check-util.h"

/* ---------------------------------------------------------------- CPU */

static const struct {
	unsigned bit;
	const char *name;
} cpu_features[CHECK_CPU_NFEATURES] = {
	{ CHECK_CPU_AVX512F, "avx512f" },       { CHECK_CPU_AVX512BW, "avx512bw" },
	{ CHECK_CPU_AVX512VL, "avx512vl" },     { CHECK_CPU_AVX512BF16, "avx512bf16" },
	{ CHECK_CPU_AVX512FP16, "avx512fp16" }, { CHECK_CPU_AVX2, "avx2" },
	{ CHECK_CPU_F16C, "f16c" },             { CHECK_CPU_FMA, "fma" },
};

const char *check_cpu_feature_name(unsigned i)
{
	return i < CHECK_CPU_NFEATURES ? cpu_features[i].name : "?";
}

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

void check_cpu(struct check_report *rep)
{
	char *model = rep->facts.cpu_model;

	if (check_read_field("/proc/cpuinfo", "model name", model, sizeof(rep->facts.cpu_model)) < 0)
		model[0] = '\0';
	check_add(rep, CHECK_SECTION_MACHINE, "cpu", CHECK_OK, "%s",
		  model[0] ? model : "unknown (no \"model name\" in /proc/cpuinfo)");
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

/* The kernels shmar_comm_init would pick, asked of the library itself. */
static void probe_kernels(struct check_facts *f)
{
	struct shmar_config cfg;
	int isa;

	shmar_config_init(&cfg); /* SHMAR_ISA parsed as the library parses it */
	f->isa_setting = check_env("SHMAR_ISA");
	f->isa = NULL;
	isa = shmar_probe_isa(cfg.isa, &f->isa, &f->isa_needs);
	f->isa_err = isa < 0 ? isa : 0;
	if (isa > 0 && cfg.isa == SHMAR_ISA_AUTO) /* what the kernels picked need */
		shmar_probe_isa(isa, NULL, &f->isa_needs);
	if (shmar_probe_isa(SHMAR_ISA_AUTO, &f->isa_auto, NULL) < 0)
		f->isa_auto = NULL; /* cannot happen: scalar always runs */
}

void check_isa(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	char have[256] = "", lack[256] = "";
	struct check_row *row;

	f->cpu_features = check_cpu_features();
	for (unsigned i = 0; i < CHECK_CPU_NFEATURES; i++)
		check_append_word((f->cpu_features & cpu_features[i].bit) ? have : lack, sizeof(have),
				  cpu_features[i].name);
	row = check_add(rep, CHECK_SECTION_MACHINE, "isa", CHECK_OK, "%s%s%s", have[0] ? have : "none of",
			lack[0] ? "; lacks " : "", lack);
	shorten_isa(row->brief, sizeof(row->brief), row->value);

	probe_kernels(f);
	if (f->isa_err == 0) {
		row = check_add(rep, CHECK_SECTION_MACHINE, "kernels", CHECK_OK, "%s (%s%s)", f->isa,
				f->isa_setting ? "SHMAR_ISA=" : "auto",
				f->isa_setting ? f->isa_setting : "");
		check_set_detail(row, "these kernels need %s", f->isa_needs);
		return;
	}
	row = check_add(rep, CHECK_SECTION_MACHINE, "kernels", CHECK_BROKEN, "SHMAR_ISA=%s",
			f->isa_setting);
	if (f->isa_err == -ENOTSUP)
		check_set_detail(row, "SHMAR_ISA=%s but this CPU lacks what those kernels need (%s): shmar_comm_init fails with -ENOTSUP",
				 f->isa_setting, f->isa_needs);
	else
		check_set_detail(row, "SHMAR_ISA=%s is not auto, scalar, avx2 or avx512: shmar_comm_init fails with -EINVAL",
				 f->isa_setting);
	check_set_fix(row, "unset SHMAR_ISA (auto picks %s on this CPU) or set it to scalar",
		      f->isa_auto ? f->isa_auto : "?");
}

/* ---------------------------------------------------------------- CPUs */

/*
 * The cpu.max files with a limit on the way from the own cgroup v2 up to the
 * root, "path: quota period; ...", for the reader: the count is the library's.
 */
static void cgroup_cpu_max_text(char *out, size_t len)
{
	char cg[1024], path[1100], buf[128];

	out[0] = '\0';
	if (check_read_field("/proc/self/cgroup", "0:", cg, sizeof(cg)) < 0 || cg[0] != '/')
		return; /* "0::/a/b": the field after "0:" is "/a/b" */
	for (;;) {
		char *slash;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", strcmp(cg, "/") ? cg : "");
		if (check_read_line(path, buf, sizeof(buf)) == 0 && strncmp(buf, "max", 3) != 0) {
			size_t used = strlen(out);

			snprintf(out + used, len - used, "%s%s: %s", used ? "; " : "", path, buf);
		}
		if (strcmp(cg, "/") == 0)
			break;
		slash = strrchr(cg, '/');
		slash[slash == cg] = '\0'; /* "/a/b" -> "/a" -> "/" */
	}
}

int check_default_ranks(void)
{
	struct shmar_probe_cpus cpus;

	if (shmar_probe_cpus(&cpus) < 0 || cpus.usable < 1)
		return 1;
	return cpus.usable < 4 ? cpus.usable : 4;
}

static void add_cpus_row(struct check_report *rep)
{
	const struct check_facts *f = &rep->facts;
	struct check_row *row;
	char quota[64];

	if (f->cpus.quota > 0)
		snprintf(quota, sizeof(quota), "cgroup quota %d CPU%s", f->cpus.quota,
			 f->cpus.quota == 1 ? "" : "s");
	else
		snprintf(quota, sizeof(quota), "no cgroup CPU quota");
	row = check_add(rep, CHECK_SECTION_MACHINE, "cpus", CHECK_OK, "%d allowed of %d online; %s",
			f->cpus.affinity, f->cpus.online, quota);
	if (f->cgroup_cpu_max[0])
		check_set_detail(row, "%s (libshmar counts %s)", f->cgroup_cpu_max,
				 f->cpus.quota > 0 ? quota : "no quota");
}

void check_cpus(struct check_report *rep, int ranks)
{
	struct check_facts *f = &rep->facts;
	int usable;
	struct check_row *row;

	f->ranks = ranks;
	if (shmar_probe_cpus(&f->cpus) < 0)
		memset(&f->cpus, 0, sizeof(f->cpus));
	cgroup_cpu_max_text(f->cgroup_cpu_max, sizeof(f->cgroup_cpu_max));
	add_cpus_row(rep);

	usable = f->cpus.usable;
	f->oversubscribed = ranks > usable;
	if (!f->oversubscribed) {
		check_add(rep, CHECK_SECTION_MACHINE, "ranks", CHECK_OK, "%d on %d usable CPU%s", ranks,
			  usable, usable == 1 ? "" : "s");
		return;
	}
	row = check_add(rep, CHECK_SECTION_MACHINE, "ranks", CHECK_DEGRADED,
			"%d on %d usable CPU%s: oversubscribed", ranks, usable, usable == 1 ? "" : "s");
	check_set_detail(row, "oversubscribed: waits will yield/sleep; expect tens of microseconds per collective");
	check_set_fix(row, "run at most %d ranks, or give the job more CPUs (taskset, cpuset, cgroup cpu.max)",
		      usable);
}

/* ---------------------------------------------------------------- NUMA */

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
	struct check_facts *f = &rep->facts;
	DIR *d = opendir("/sys/devices/system/node");
	struct dirent *e;
	int max_id = -1;
	struct check_row *row;

	f->numa_nodes = f->numa_nodes_with_cpus = 1;
	if (!d) {
		check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "1 node (no /sys/devices/system/node)");
		return;
	}
	f->numa_nodes = 0;
	while ((e = readdir(d))) {
		int id;
		char rest;

		if (sscanf(e->d_name, "node%d%c", &id, &rest) == 1) {
			f->numa_nodes++;
			max_id = id > max_id ? id : max_id;
		}
	}
	closedir(d);
	if (f->numa_nodes <= 1) {
		f->numa_nodes = 1;
		check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "1 node");
		return;
	}
	f->numa_nodes_with_cpus = nodes_spanned(max_id + 1);
	row = check_add(rep, CHECK_SECTION_MACHINE, "numa", CHECK_OK, "%d nodes; allowed CPUs on %d",
			f->numa_nodes, f->numa_nodes_with_cpus);
	if (f->numa_nodes_with_cpus > 1)
		check_set_detail(row, "ranks of one job on different nodes pay remote-memory latency; each rank's slots live on its own node");
}
