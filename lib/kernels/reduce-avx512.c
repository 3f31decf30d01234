/* SPDX-License-Identifier: MIT */
/*
 * reduce-avx512.c - AVX-512 (F, BW, VL) kernels: 16 fp32 lanes, masked tails.
 * Built with -mavx512f -mavx512bw -mavx512vl; called only after the
 * dispatcher saw the CPU support them.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/scalar.h"

#define W 16
typedef __m512 VF;
typedef __mmask16 MASK;

static inline MASK m_none(void) { return 0; }
static inline MASK m_or(MASK a, MASK b) { return (MASK)(a | b); }
static inline MASK m_unord(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
static inline MASK m_first(size_t n) { return (MASK)((1u << n) - 1); }

static inline VF vf_set1(float f) { return _mm512_set1_ps(f); }
static inline VF vf_add(VF a, VF b) { return _mm512_add_ps(a, b); }
static inline VF vf_mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
static inline VF vf_div(VF a, VF b) { return _mm512_div_ps(a, b); }

/* x86 max/min return the second operand for equal inputs: -0 and +0 are
 * settled on the bits instead (AND for max, OR for min). NaN lanes are
 * tracked by the caller. */
static inline VF vf_max(VF a, VF b)
{
	MASK eq = _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ);
	__m512i both = _mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b));

	return _mm512_mask_blend_ps(eq, _mm512_max_ps(a, b), _mm512_castsi512_ps(both));
}

static inline VF vf_min(VF a, VF b)
{
	MASK eq = _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ);
	__m512i either = _mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b));

	return _mm512_mask_blend_ps(eq, _mm512_min_ps(a, b), _mm512_castsi512_ps(either));
}

/* loads: whole vectors, and the first n lanes (the rest are zero, never read) */
static inline VF widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
static inline VF vf_ld_f32(const void *p) { return _mm512_loadu_ps(p); }
static inline VF vf_ld_bf16(const void *p) { return widen_bf16(_mm256_loadu_si256(p)); }
static inline VF vf_ld_f16(const void *p) { return _mm512_cvtph_ps(_mm256_loadu_si256(p)); }
static inline VF vf_ldn_f32(const void *p, MASK k) { return _mm512_maskz_loadu_ps(k, p); }
static inline VF vf_ldn_bf16(const void *p, MASK k) { return widen_bf16(_mm256_maskz_loadu_epi16(k, p)); }
static inline VF vf_ldn_f16(const void *p, MASK k) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p)); }

/* stores: one rounding, canonical NaN in the lanes of nan */
static inline __m256i narrow_bf16(VF v, MASK nan)
{
	__m512i u = _mm512_castps_si512(v);
	__m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	__m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);

	r = _mm512_mask_blend_epi32(nan, r, _mm512_set1_epi32(0x7fc0));
	return _mm512_cvtepi32_epi16(r);
}

static inline __m256i narrow_f16(VF v, MASK nan)
{
	__m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

	return _mm256_mask_blend_epi16(nan, h, _mm256_set1_epi16(0x7e00));
}

static inline __m512 canon_f32(VF v, MASK nan)
{
	return _mm512_mask_blend_ps(nan, v, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));
}

static inline void vf_st_f32(void *p, VF v, MASK nan) { _mm512_storeu_ps(p, canon_f32(v, nan)); }
static inline void vf_st_bf16(void *p, VF v, MASK nan) { _mm256_storeu_si256(p, narrow_bf16(v, nan)); }
static inline void vf_st_f16(void *p, VF v, MASK nan) { _mm256_storeu_si256(p, narrow_f16(v, nan)); }
static inline void vf_stn_f32(void *p, VF v, MASK nan, MASK k) { _mm512_mask_storeu_ps(p, k, canon_f32(v, nan)); }
static inline void vf_stn_bf16(void *p, VF v, MASK nan, MASK k) { _mm256_mask_storeu_epi16(p, k, narrow_bf16(v, nan)); }
static inline void vf_stn_f16(void *p, VF v, MASK nan, MASK k) { _mm256_mask_storeu_epi16(p, k, narrow_f16(v, nan)); }

/* The tail as one masked vector: nothing outside [0, count) is touched. */
#define VEC_TAIL(t, dst, srcs, nsrc, i, count, VSTEP, VFIN, SC_RANGE)                   \
	do {                                                                             \
		MASK k = m_first((count) - (i)), m = m_none();                           \
		VF a = vf_ldn_##t(AT(srcs[0], i, t), k);                                 \
		for (unsigned s = 1; s < (nsrc); s++)                                    \
			a = VSTEP(a, vf_ldn_##t(AT(srcs[s], i, t), k), m);               \
		a = VFIN(a, nsrc);                                                       \
		vf_stn_##t((char *)(dst) + (i) * ES_##t, a, m_or(m, m_unord(a, a)), k);   \
	} while (0)

#include "kernels/reduce-body.h"

VEC_KERNELS(avx512, "avx512", SHMAR_ISA_AVX512)
