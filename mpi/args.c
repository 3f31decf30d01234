/* SPDX-License-Identifier: MIT */
/*
 * args.c - argument checks shared by the collectives.  They run before any
 * message is sent, so a bad argument leaves the communicator usable.
 */
#include <errno.h>
#include <limits.h>

#include "mpi-private.h"

size_t shmar_mpi__dtype_size(int dtype)
{
	static const size_t sizes[] = {
		[SHMAR_FLOAT32] = 4, [SHMAR_BFLOAT16] = 2, [SHMAR_FLOAT16] = 2, [SHMAR_FLOAT64] = 8,
		[SHMAR_INT32] = 4,   [SHMAR_INT64] = 8,    [SHMAR_UINT8] = 1,
	};

	return dtype >= 0 && dtype < (int)(sizeof(sizes) / sizeof(sizes[0])) ? sizes[dtype] : 0;
}

bool shmar_mpi__valid_op(int op)
{
	return op >= SHMAR_SUM && op <= SHMAR_AVG;
}

size_t shmar_mpi__mul(size_t a, size_t b)
{
	size_t r;

	return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

int shmar_mpi__check_buf(struct shmar_mpi_comm *c, const void *p, size_t bytes, const char *name)
{
	if (bytes == 0)
		return 0;
	if (!p)
		return shmar_mpi__invalid(c, "%s is NULL", name);
	if ((uintptr_t)p + bytes < (uintptr_t)p)
		return shmar_mpi__invalid(c, "%s wraps around the address space", name);
	return 0;
}

bool shmar_mpi__overlap(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return an && bn && x < y + bn && y < x + an;
}

size_t shmar_mpi__max_block(void)
{
	/* a header and the data in units of SHMAR_MPI__UNIT, counted in int */
	return (size_t)INT_MAX * SHMAR_MPI__UNIT - 2 * SHMAR_MPI__HDR;
}
