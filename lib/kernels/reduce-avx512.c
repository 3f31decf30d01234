/* SPDX-License-Identifier: MIT */
/*
 * reduce-avx512.c - AVX-512 (F, BW, VL) kernels: reduce-body.h on 64-byte
 * vectors, the same source as the AVX2 kernels compiled with
 * -mavx512f -mavx512bw -mavx512vl; called only after the dispatcher saw the
 * CPU support them.  Its own code: the primitives vec.h declares.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define VB 64
#include "kernels/vec.h"

/* 16 binary16 to fp32 (exact, subnormals included) and back (nearest even) */
static inline vf32 f16_widen(const void *p) { return _mm512_cvtph_ps(_mm256_loadu_si256(p)); }

static inline void f16_narrow(void *p, vf32 v)
{
	_mm256_storeu_si256(p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline int any_unordered(vf32 a, vf32 b)
{
	return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) != 0;
}

/* compare masks as vectors (AVX512F has no vpmovm2d; that is DQ) */
static inline vi32 unord_f32(vf32 a, vf32 b)
{
	return (vi32)_mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), _mm512_set1_epi32(-1));
}

static inline vi64 unord_f64(vf64 a, vf64 b)
{
	return (vi64)_mm512_maskz_mov_epi64(_mm512_cmp_pd_mask(a, b, _CMP_UNORD_Q), _mm512_set1_epi64(-1));
}

static inline vf32 x86_max_f32(vf32 a, vf32 b) { return _mm512_max_ps(a, b); }
static inline vf32 x86_min_f32(vf32 a, vf32 b) { return _mm512_min_ps(a, b); }
static inline vf64 x86_max_f64(vf64 a, vf64 b) { return _mm512_max_pd(a, b); }
static inline vf64 x86_min_f64(vf64 a, vf64 b) { return _mm512_min_pd(a, b); }

#include "kernels/reduce-body.h"

VEC_KERNELS(avx512, "avx512", SHMAR_ISA_AVX512)
