/* SPDX-License-Identifier: MIT */
/*
 * reduce-avx2.c - AVX2 + F16C kernels: 8 fp32 lanes, tails through the scalar
 * loops.  Built with -mavx2 -mfma -mf16c; called only after the dispatcher
 * saw the CPU support them.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/scalar.h"

#define W 8
typedef __m256 VF;
typedef __m256 MASK; /* all-ones lanes */

static inline MASK m_none(void) { return _mm256_setzero_ps(); }
static inline MASK m_or(MASK a, MASK b) { return _mm256_or_ps(a, b); }
static inline MASK m_unord(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }

static inline VF vf_set1(float f) { return _mm256_set1_ps(f); }
static inline VF vf_add(VF a, VF b) { return _mm256_add_ps(a, b); }
static inline VF vf_mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
static inline VF vf_div(VF a, VF b) { return _mm256_div_ps(a, b); }

/* -0 and +0 settled on the bits (AND for max, OR for min); NaN tracked apart */
static inline VF vf_max(VF a, VF b)
{
	return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_and_ps(a, b),
				_mm256_cmp_ps(a, b, _CMP_EQ_OQ));
}

static inline VF vf_min(VF a, VF b)
{
	return _mm256_blendv_ps(_mm256_min_ps(a, b), _mm256_or_ps(a, b),
				_mm256_cmp_ps(a, b, _CMP_EQ_OQ));
}

static inline VF vf_ld_f32(const void *p) { return _mm256_loadu_ps(p); }
static inline VF vf_ld_bf16(const void *p)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}
static inline VF vf_ld_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(p)); }

/* 8 x 32-bit lane masks to 8 x 16-bit ones */
static inline __m128i mask16(MASK m)
{
	__m256i w = _mm256_castps_si256(m);

	return _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

static inline void vf_st_f32(void *p, VF v, MASK nan)
{
	_mm256_storeu_ps(p, _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)), nan));
}

static inline void vf_st_bf16(void *p, VF v, MASK nan)
{
	__m256i u = _mm256_castps_si256(v);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);

	r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), _mm256_castps_si256(nan));
	/* pack within 128-bit lanes, then bring the two halves together */
	r = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xd8);
	_mm_storeu_si128(p, _mm256_castsi256_si128(r));
}

static inline void vf_st_f16(void *p, VF v, MASK nan)
{
	__m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

	_mm_storeu_si128(p, _mm_blendv_epi8(h, _mm_set1_epi16(0x7e00), mask16(nan)));
}

/* The tail through the scalar loop: no partial vector is ever read. */
#define VEC_TAIL(t, dst, srcs, nsrc, i, count, VSTEP, VFIN, SC_RANGE) \
	SC_RANGE(dst, srcs, nsrc, i, count)

#include "kernels/reduce-body.h"

VEC_KERNELS(avx2, "avx2", SHMAR_ISA_AVX2)
