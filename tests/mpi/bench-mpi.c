/* SPDX-License-Identifier: MIT */
/*
 * bench-mpi.c - shmar_mpi_allreduce() against MPI_Allreduce() on the same
 * ranks, fp32 SUM, 4 B to 16 MiB (not a test: run it by hand).
 *
 *   SHMAR_MPI_NODE_SIZE=2 mpirun -n 4 tests/mpi/bench-mpi [max_bytes]
 *
 * For each size and each side: a few warm-up calls, then iterations of
 * "MPI_Barrier, time one call"; an iteration's time is the slowest rank's;
 * the table shows the median over iterations, in microseconds, and the
 * ratio.  Both sides run in the same process, size by size, alternating.
 * On one machine both only move memory: this measures what the hierarchy
 * costs or saves there, not a network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmar-mpi.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum side { SHMAR_SIDE, MPI_SIDE };

/* Median over iterations of the slowest rank's time of one call, in µs. */
static double measure(enum side side, struct shmar_mpi_comm *c, float *in, float *out, size_t count,
		      int iters)
{
	double *t = malloc((size_t)iters * sizeof(double)), median;

	for (int i = -3; i < iters; i++) {
		double t0, dt, slowest;
		int err;

		MPI_Barrier(MPI_COMM_WORLD);
		t0 = now();
		if (side == SHMAR_SIDE)
			err = shmar_mpi_allreduce(c, in, out, count, SHMAR_FLOAT32, SHMAR_SUM);
		else
			err = MPI_Allreduce(in, out, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) ==
					      MPI_SUCCESS
				      ? 0
				      : -1;
		dt = now() - t0;
		if (err) {
			fprintf(stderr, "allreduce failed: %d %s\n", err, shmar_mpi_comm_last_error(c));
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
		MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
		if (i >= 0)
			t[i] = slowest;
	}
	qsort(t, (size_t)iters, sizeof(double), cmp_double);
	median = t[iters / 2] * 1e6;
	free(t);
	return median;
}

int main(int argc, char **argv)
{
	size_t max_bytes = argc > 1 ? strtoul(argv[1], NULL, 0) : 16u << 20;
	struct shmar_mpi_comm *c;
	float *in, *out;
	int rank, size, err;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	err = shmar_mpi_comm_init(&c, MPI_COMM_WORLD);
	if (err < 0) {
		fprintf(stderr, "shmar_mpi_comm_init: %s\n", shmar_mpi_comm_last_error(NULL));
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	in = malloc(max_bytes);
	out = malloc(max_bytes);
	for (size_t i = 0; i < max_bytes / 4; i++)
		in[i] = (float)((i * 7 + (size_t)rank) % 1000) * 0.001f;
	if (rank == 0)
		printf("%d ranks, SHMAR_MPI_NODE_SIZE=%s, fp32 sum, median of the slowest rank\n"
		       "%10s %14s %14s %8s\n",
		       size, getenv("SHMAR_MPI_NODE_SIZE") ? getenv("SHMAR_MPI_NODE_SIZE") : "(real)",
		       "bytes", "shmar_mpi us", "MPI us", "ratio");
	for (size_t bytes = 4; bytes <= max_bytes; bytes *= 4) {
		size_t count = bytes / 4;
		int iters = bytes <= 65536 ? 200 : bytes <= (1u << 20) ? 50 : 15;
		double a = measure(SHMAR_SIDE, c, in, out, count, iters);
		double b = measure(MPI_SIDE, c, in, out, count, iters);

		if (rank == 0)
			printf("%10zu %14.1f %14.1f %8.2f\n", bytes, a, b, a / b);
	}
	shmar_mpi_comm_destroy(c);
	free(in);
	free(out);
	MPI_Finalize();
	return 0;
}
