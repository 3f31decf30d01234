/* SPDX-License-Identifier: MIT */
/*
 * check-values.c - the self-test's data: the dtypes, the input of each rank
 * and the exact sum they must add up to, in every dtype.
 */
#include <string.h>

#include "shmar.h"
#include "check.h"

const size_t check_selftest_counts[CHECK_NSIZES] = { 1, 1000, 65536 + 7, 1 << 20 };

size_t check_dtype_size(int dtype)
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
	float f = (float)v; /* exact: |v| < 2^24 */
	uint16_t h = 0;

	switch (dtype) {
	case SHMAR_FLOAT32:
		memcpy(out, &f, sizeof(f));
		break;
	case SHMAR_BFLOAT16:
		shmar_float_to_bf16(&h, &f, 1); /* rounded as the library rounds */
		memcpy(out, &h, sizeof(h));
		break;
	case SHMAR_FLOAT16:
		shmar_float_to_fp16(&h, &f, 1);
		memcpy(out, &h, sizeof(h));
		break;
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
