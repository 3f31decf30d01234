/* SPDX-License-Identifier: MIT */
/*
 * convert.c - bf16 and fp16 to and from float, with the library's rounding:
 * to nearest even, subnormals kept, overflow to infinity, every NaN written
 * as the type's default quiet NaN (kernels/numerics.h, the same code the
 * reduce kernels round with).  For callers that prepare inputs or check
 * results in float and must agree with the library bit for bit.  The loops
 * are the kernels' (vectors where the CPU has them, the same bits).
 */
#include <errno.h>
#include <stdint.h>

#include "macro.h"
#include "shmar.h"
#include "kernels/kernels.h"

/* Arrays of count elements of dsize and ssize bytes: present and apart. */
static int check_arrays(const void *dst, size_t dsize, const void *src, size_t ssize,
			size_t count)
{
	uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
	size_t dbytes, sbytes;

	if (count == 0)
		return 0;
	if (!dst || !src || __builtin_mul_overflow(count, dsize, &dbytes) ||
	    __builtin_mul_overflow(count, ssize, &sbytes) || d > UINTPTR_MAX - dbytes ||
	    s > UINTPTR_MAX - sbytes)
		return -EINVAL;
	return d < s + sbytes && s < d + dbytes ? -EINVAL : 0;
}

SHMAR_EXPORT int shmar_float_to_bf16(uint16_t *dst, const float *src, size_t count)
{
	int err = check_arrays(dst, 2, src, 4, count);

	if (err == 0 && count)
		shmar__kernels_best()->f32_to_bf16(dst, src, count);
	return err;
}

SHMAR_EXPORT int shmar_bf16_to_float(float *dst, const uint16_t *src, size_t count)
{
	int err = check_arrays(dst, 4, src, 2, count);

	if (err == 0 && count)
		shmar__kernels_best()->bf16_to_f32(dst, src, count);
	return err;
}

SHMAR_EXPORT int shmar_float_to_fp16(uint16_t *dst, const float *src, size_t count)
{
	int err = check_arrays(dst, 2, src, 4, count);

	if (err == 0 && count)
		shmar__kernels_best()->f32_to_f16(dst, src, count);
	return err;
}

SHMAR_EXPORT int shmar_fp16_to_float(float *dst, const uint16_t *src, size_t count)
{
	int err = check_arrays(dst, 4, src, 2, count);

	if (err == 0 && count)
		shmar__kernels_best()->f16_to_f32(dst, src, count);
	return err;
}
