/* SPDX-License-Identifier: MIT */
/*
 * reduce-avx2.c - AVX2 + F16C kernels: reduce-body.h on 32-byte vectors.
 * Built with -mavx2 -mfma -mf16c; called only after the dispatcher saw the
 * CPU support them.  Its own code: the primitives vec.h declares.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define VB 32
#include "kernels/vec.h"

/* 8 binary16 to fp32 (exact, subnormals included) and back (nearest even) */
static inline vf32 f16_widen(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(p)); }

static inline void f16_narrow(void *p, vf32 v)
{
	_mm_storeu_si128(p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline int any_unordered(vf32 a, vf32 b)
{
	return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q)) != 0;
}

static inline vi32 unord_f32(vf32 a, vf32 b) { return (vi32)_mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
static inline vi64 unord_f64(vf64 a, vf64 b) { return (vi64)_mm256_cmp_pd(a, b, _CMP_UNORD_Q); }
static inline vf32 x86_max_f32(vf32 a, vf32 b) { return _mm256_max_ps(a, b); }
static inline vf32 x86_min_f32(vf32 a, vf32 b) { return _mm256_min_ps(a, b); }
static inline vf64 x86_max_f64(vf64 a, vf64 b) { return _mm256_max_pd(a, b); }
static inline vf64 x86_min_f64(vf64 a, vf64 b) { return _mm256_min_pd(a, b); }

#include "kernels/reduce-body.h"

VEC_KERNELS(avx2, "avx2", SHMAR_ISA_AVX2)
