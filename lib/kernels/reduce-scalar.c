/* SPDX-License-Identifier: MIT */
/*
 * reduce-scalar.c - the portable kernels, and the definition every vector
 * kernel is tested against bit for bit.  Element by element: accumulate in
 * source order in the accumulator type, finish (AVG), convert once.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/numerics.h"
#include "kernels/scalar.h"

#define SCALAR_ROW(T) \
	{ T##_sum, T##_prod, T##_max, T##_min, T##_avg }

SHMAR_SCALAR_KERNELS(scalar)
SHMAR_SCALAR_CONVERSIONS(scalar)

const struct shmar__kernels shmar__kernels_scalar = {
	.name = "scalar",
	.isa = SHMAR_ISA_SCALAR,
	.reduce = {
		[SHMAR_FLOAT32] = SCALAR_ROW(scalar_f32),
		[SHMAR_BFLOAT16] = SCALAR_ROW(scalar_bf16),
		[SHMAR_FLOAT16] = SCALAR_ROW(scalar_f16),
		[SHMAR_FLOAT64] = SCALAR_ROW(scalar_f64),
		[SHMAR_INT32] = SCALAR_ROW(scalar_i32),
		[SHMAR_INT64] = SCALAR_ROW(scalar_i64),
		[SHMAR_UINT8] = SCALAR_ROW(scalar_u8),
	},
	.f32_to_bf16 = scalar_f32_to_bf16,
	.bf16_to_f32 = scalar_bf16_to_f32,
	.f32_to_f16 = scalar_f32_to_f16,
	.f16_to_f32 = scalar_f16_to_f32,
	.copy = shmar__copy,
};
