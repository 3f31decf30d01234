/* SPDX-License-Identifier: MIT */
/*
 * comm.c - communicator lifecycle: init, destroy, failure, last error.
 *
 * Init is collective over the caller's communicator and all or nothing:
 * after every phase the ranks agree (MPI_Allreduce of the worst error), so a
 * rank that fails never leaves the others waiting in the next MPI call.
 *   1. check SHMAR_MPI_NODE_SIZE (same value everywhere);
 *   2. duplicate the communicator: this library's messages never meet the
 *      caller's;
 *   3. split it into nodes, learn every rank's node (topology.c);
 *   4. one communicator per virtual local rank across nodes;
 *   5. local rank 0 of each node draws a job name and a token and sends them
 *      to its node over MPI; the node forms its libshmar job with them.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mpi-private.h"

static _Thread_local char init_error[256];

static int init_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int init_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(init_error, sizeof(init_error), fmt, ap);
	va_end(ap);
	return err;
}

/* ---------------------------------------------------------------- failures */

int shmar_mpi__fail(struct shmar_mpi_comm *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return c->failed;
	c->failed = err;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	/* Node-mates blocked in (or about to enter) a libshmar step with this
	 * rank get -ECANCELED at once: the node agrees without another message. */
	if (c->shm)
		shmar_comm_abort(c->shm);
	return err;
}

int shmar_mpi__fail_shm(struct shmar_mpi_comm *c, int err, const char *what)
{
	return shmar_mpi__fail(c, err, "node %d, %s: %s", c->node, what,
			       shmar_comm_last_error(c->shm));
}

int shmar_mpi__invalid(struct shmar_mpi_comm *c, const char *fmt, ...)
{
	va_list ap;

	if (c && !c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int shmar_mpi__mpi_error(struct shmar_mpi_comm *c, int rc, const char *what)
{
	char text[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
		snprintf(text, sizeof(text), "MPI error %d", rc);
	return shmar_mpi__fail(c, -EIO, "%s: %s", what, text);
}

int shmar_mpi__enter(struct shmar_mpi_comm *c)
{
	if (atomic_flag_test_and_set_explicit(&c->busy, memory_order_acquire))
		return -EBUSY;
	return 0;
}

void shmar_mpi__leave(struct shmar_mpi_comm *c)
{
	atomic_flag_clear_explicit(&c->busy, memory_order_release);
}

SHMAR_MPI_EXPORT const char *shmar_mpi_comm_last_error(const struct shmar_mpi_comm *c)
{
	return c ? c->why : init_error;
}

/* ---------------------------------------------------------------- init */

int shmar_mpi__agree(MPI_Comm comm, int err)
{
	int worst = err;

	if (MPI_Allreduce(&err, &worst, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
		return err ? err : -EIO;
	if (worst < 0 && err == 0)
		init_fail(worst, "another rank failed: %s", shmar_strerror(worst));
	return worst;
}

/* SHMAR_MPI_NODE_SIZE: 0 when unset, else 1..SHMAR_MAX_RANKS; -EINVAL. */
static int node_size_from_env(void)
{
	const char *v = getenv("SHMAR_MPI_NODE_SIZE");
	char *end;
	long k;

	if (!v || !*v)
		return 0;
	errno = 0;
	k = strtol(v, &end, 10);
	if (errno || *end || k < 1 || k > SHMAR_MAX_RANKS)
		return init_fail(-EINVAL, "SHMAR_MPI_NODE_SIZE=%s is not a number in 1..%d", v,
				 SHMAR_MAX_RANKS);
	return (int)k;
}

/* Phase 1, on the caller's communicator: the same valid node size on all
 * ranks, and memory for the communicator on all ranks. */
static int agree_on_start(MPI_Comm mpi, int k, bool have_comm, int *node_size)
{
	/* max of { k, -k, -error }: the largest and smallest k and the worst error */
	int mine[3] = { k < 0 ? 0 : k, k < 0 ? 0 : -k, k < 0 ? -k : (have_comm ? 0 : ENOMEM) };
	int all[3];

	if (MPI_Allreduce(mine, all, 3, MPI_INT, MPI_MAX, mpi) != MPI_SUCCESS)
		return init_fail(-EIO, "MPI_Allreduce failed");
	if (all[2] > 0) {
		if (mine[2] == 0)
			init_fail(-all[2], "another rank failed: %s", shmar_strerror(-all[2]));
		return -all[2];
	}
	if (all[0] != -all[1])
		return init_fail(-EINVAL, "SHMAR_MPI_NODE_SIZE differs between ranks (%d and %d)",
				 -all[1], all[0]);
	*node_size = all[0];
	return 0;
}

/* What local rank 0 sends its node: the libshmar job to form. */
struct job_msg {
	int32_t status;
	char job[SHMAR_JOB_MAX + 1];
	char token[65];
};

static int random_hex(char *out, size_t nbytes)
{
	unsigned char raw[32];
	ssize_t got;

	if (nbytes > sizeof(raw))
		return -EINVAL;
	do
		got = getrandom(raw, nbytes, 0);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if ((size_t)got != nbytes)
		return -EIO;
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
	return 0;
}

static void draw_job(struct job_msg *m)
{
	char hex[2 * 16 + 1];
	int err;

	memset(m, 0, sizeof(*m));
	err = random_hex(hex, 16);
	if (err == 0)
		err = random_hex(m->token, 32);
	if (err < 0) {
		m->status = err;
		return;
	}
	snprintf(m->job, sizeof(m->job), "mpi-%s", hex);
}

/*
 * libshmar spins before it sleeps unless its own job outnumbers the CPUs.
 * Pretend nodes put several jobs on one machine: when the machine's ranks
 * outnumber the CPUs this process may use, a spinning rank only keeps a
 * rank of another node from running, so sleep at once (unless
 * SHMAR_SPIN_US says otherwise).
 */
static void spin_policy(const struct shmar_mpi_comm *c, struct shmar_config *cfg)
{
	cpu_set_t cpus;

	if (getenv("SHMAR_SPIN_US") || c->host_size <= c->nlocal)
		return;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && c->host_size > CPU_COUNT(&cpus))
		cfg->spin_us = 0;
}

/* Phase 5: form this node's libshmar job under a name and token that only
 * the MPI job knows. */
static int form_node_job(struct shmar_mpi_comm *c, MPI_Comm node_comm)
{
	struct shmar_config cfg;
	struct job_msg m;
	int err;

	if (c->local == 0)
		draw_job(&m);
	if (MPI_Bcast(&m, sizeof(m), MPI_BYTE, 0, node_comm) != MPI_SUCCESS)
		return init_fail(-EIO, "MPI_Bcast of the job name failed");
	if (m.status < 0)
		return init_fail(m.status, "node %d: no random job name: %s", c->node,
				 strerror(-m.status));
	shmar_config_init(&cfg);
	cfg.token = m.token;
	spin_policy(c, &cfg);
	err = shmar_comm_init(&c->shm, m.job, c->nlocal, c->local, &cfg);
	explicit_bzero(m.token, sizeof(m.token));
	if (err < 0)
		return init_fail(err, "node %d: shmar_comm_init: %s", c->node,
				 shmar_comm_last_error(NULL));
	return 0;
}

static void comm_free(struct shmar_mpi_comm *c)
{
	int finalized = 0;

	if (!c)
		return;
	shmar_comm_destroy(c->shm);
	MPI_Finalized(&finalized);
	if (!finalized) {
		if (c->vcomm)
			for (int v = 0; v < c->vmax; v++)
				if (c->vcomm[v] != MPI_COMM_NULL)
					MPI_Comm_free(&c->vcomm[v]);
		if (c->unit != MPI_DATATYPE_NULL)
			MPI_Type_free(&c->unit);
		if (c->world != MPI_COMM_NULL)
			MPI_Comm_free(&c->world);
	}
	shmar_mpi__topology_free(c);
	shmar_mpi__scratch_free(c);
	free(c);
}

static int init_checks(struct shmar_mpi_comm **out, MPI_Comm mpi)
{
	int flag = 0;

	if (!out)
		return init_fail(-EINVAL, "comm is NULL");
	*out = NULL;
	if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag)
		return init_fail(-EINVAL, "MPI is not initialized");
	if (MPI_Finalized(&flag) != MPI_SUCCESS || flag)
		return init_fail(-EINVAL, "MPI is finalized");
	if (mpi == MPI_COMM_NULL)
		return init_fail(-EINVAL, "the communicator is MPI_COMM_NULL");
	if (MPI_Comm_test_inter(mpi, &flag) != MPI_SUCCESS || flag)
		return init_fail(-EINVAL, "intercommunicators are not supported");
	return 0;
}

SHMAR_MPI_EXPORT int shmar_mpi_comm_init(struct shmar_mpi_comm **out, MPI_Comm mpi)
{
	struct shmar_mpi_comm *c;
	MPI_Comm node_comm = MPI_COMM_NULL;
	int err, k;

	err = init_checks(out, mpi);
	if (err < 0)
		return err;
	init_error[0] = '\0';
	k = node_size_from_env();
	c = calloc(1, sizeof(*c));
	err = agree_on_start(mpi, k, c != NULL, &k);
	if (err < 0) {
		free(c);
		return err;
	}
	c->world = MPI_COMM_NULL;
	c->unit = MPI_DATATYPE_NULL;
	atomic_flag_clear(&c->busy);
	if (MPI_Comm_dup(mpi, &c->world) != MPI_SUCCESS) {
		free(c);
		return init_fail(-EIO, "MPI_Comm_dup failed");
	}
	MPI_Comm_rank(c->world, &c->rank);
	MPI_Comm_size(c->world, &c->size);

	err = shmar_mpi__topology(c, k, &node_comm, init_error, sizeof(init_error));
	err = shmar_mpi__agree(c->world, err);
	if (err == 0)
		err = shmar_mpi__agree(c->world, shmar_mpi__vcomms(c));
	if (err == 0 && (MPI_Type_contiguous(SHMAR_MPI__UNIT, MPI_BYTE, &c->unit) != MPI_SUCCESS ||
			 MPI_Type_commit(&c->unit) != MPI_SUCCESS))
		err = init_fail(-EIO, "cannot make an MPI datatype");
	if (err == 0)
		err = shmar_mpi__agree(c->world, form_node_job(c, node_comm));
	if (node_comm != MPI_COMM_NULL)
		MPI_Comm_free(&node_comm);
	if (err < 0) {
		comm_free(c);
		return err;
	}
	*out = c;
	return 0;
}

SHMAR_MPI_EXPORT int shmar_mpi_comm_destroy(struct shmar_mpi_comm *c)
{
	comm_free(c);
	return 0;
}
