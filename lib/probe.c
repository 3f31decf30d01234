/* SPDX-License-Identifier: MIT */
/*
 * probe.c - the library's decisions, asked by its own tools (shmar-probe.h).
 * Each answer comes from the very function that init uses.
 */
#include <errno.h>
#include <stdlib.h>

#include "comm.h"
#include "macro.h"
#include "kernels/kernels.h"
#include "shmar-probe.h"
#include "cpus.h"
#include "futex.h"
#include "rendezvous.h"
#include "ring.h"

SHMAR_EXPORT int shmar_probe_isa(int requested, const char **name, const char **needs)
{
	const struct shmar__kernels *k;
	int err;

	if (needs)
		*needs = shmar__isa_needs(requested);
	err = shmar__kernels_select(requested, &k);
	if (err < 0)
		return err;
	if (name)
		*name = k->name;
	return k->isa;
}

SHMAR_EXPORT int shmar_probe_dir(const char *cfg_dir, char *out, size_t len, const char **source)
{
	const char *env = getenv("SHMAR_DIR");
	const char *setting = cfg_dir ? cfg_dir : env && *env ? env : NULL;
	const char *from;
	int err;

	err = shmar__rdv_dir_resolve(setting, out, len, &from);
	if (source)
		*source = !setting ? from : cfg_dir ? "dir" : "SHMAR_DIR";
	return err;
}

SHMAR_EXPORT int shmar_probe_cpus(struct shmar_probe_cpus *out)
{
	struct shmar__cpu_counts c;

	if (!out)
		return -EINVAL;
	shmar__cpus_counts(&c);
	out->online = c.online;
	out->affinity = c.affinity;
	out->quota = c.quota;
	out->usable = c.usable;
	return 0;
}

SHMAR_EXPORT int shmar_probe_io_uring(bool *futex_wait)
{
	bool op;
	int err = shmar__ring_probe(&op);

	if (futex_wait)
		*futex_wait = op;
	return err;
}

SHMAR_EXPORT bool shmar_probe_futex_waitv(void)
{
	return shmar__futex_waitv_supported();
}

SHMAR_EXPORT int shmar_probe_liveness(int io_uring, const char **name)
{
	int path = shmar__liveness_predict(io_uring);

	if (name)
		*name = path < 0 ? "none" : shmar__sleep_path_name((enum shmar__sleep_path)path);
	return path;
}

SHMAR_EXPORT int shmar_probe_comm(const struct shmar_comm *comm, struct shmar_probe_comm *out)
{
	if (!comm || !out)
		return -EINVAL;
	out->kernels = comm->kern->name;
	out->liveness = comm->nranks > 1 ? shmar__sleep_path_name(shmar__liveness_path(&comm->live))
					 : "none (one rank)";
	out->small_max = comm->set.small_max;
	out->slot_bytes = comm->chan.layout.slot_bytes;
	out->job_cpus = shmar__cpus_of_job(shmar__seg_hdr(comm->chan.base)->job_cpus);
	out->oversubscribed = comm->chan.wait.yield;
	out->threads = comm->set.threads;
	return 0;
}
