/* SPDX-License-Identifier: MIT */
/*
 * reduce-body.h - the vector reduce kernel, written once for every ISA.
 *
 * An ISA file defines its primitives, then includes this file:
 *   VF, MASK, W                     fp32 vector, lane mask, lanes per vector
 *   vf_ld_{f32,bf16,f16}(p)         W elements widened to fp32
 *   vf_st_{f32,bf16,f16}(p, v, m)   W results, canonical NaN where m is set
 *   vf_add vf_mul vf_div vf_max vf_min vf_set1
 *   m_none() m_or(a, b) m_unord(a, b)
 *   VEC_TAIL(t, dst, srcs, n, i, count, STEP, DIV)   the last count - i < W elements
 *                                   (masked vectors, or the scalar loop)
 * Accumulation is in fp32, in source order, one rounding at the store:
 * exactly scalar.h's loops, so every ISA gives the same bits.
 */

/* bytes per element of each storage type */
#define ES_f32 4
#define ES_bf16 2
#define ES_f16 2

#define AT(p, i, t) ((const char *)(p) + (size_t)(i) * ES_##t)

/* combining steps on vectors; MAX/MIN also remember where a NaN was seen */
#define VSTEP_SUM(acc, x, m) vf_add(acc, x)
#define VSTEP_PROD(acc, x, m) vf_mul(acc, x)
#define VSTEP_MAX(acc, x, m) ((m) = m_or(m, m_unord(acc, x)), vf_max(acc, x))
#define VSTEP_MIN(acc, x, m) ((m) = m_or(m, m_unord(acc, x)), vf_min(acc, x))
#define VFIN_KEEP(acc, n) (acc)
#define VFIN_DIV(acc, n) vf_div(acc, vf_set1((float)(n)))

/* Two vectors per step per source: enough loads in flight to stay bound by memory. */
#define VEC_KERNEL(name, t, VSTEP, VFIN, SC_RANGE)                                          \
	static void name(void *dst, const void *const *srcs, unsigned nsrc, size_t count)    \
	{                                                                                    \
		size_t i = 0;                                                                \
		for (; i + 2 * W <= count; i += 2 * W) {                                     \
			VF a0 = vf_ld_##t(AT(srcs[0], i, t));                                \
			VF a1 = vf_ld_##t(AT(srcs[0], i + W, t));                            \
			MASK m0 = m_none(), m1 = m_none();                                   \
			for (unsigned k = 1; k < nsrc; k++) {                                \
				VF x0 = vf_ld_##t(AT(srcs[k], i, t));                        \
				VF x1 = vf_ld_##t(AT(srcs[k], i + W, t));                    \
				a0 = VSTEP(a0, x0, m0);                                      \
				a1 = VSTEP(a1, x1, m1);                                      \
			}                                                                    \
			a0 = VFIN(a0, nsrc);                                                 \
			a1 = VFIN(a1, nsrc);                                                 \
			vf_st_##t((char *)dst + i * ES_##t, a0, m_or(m0, m_unord(a0, a0)));  \
			vf_st_##t((char *)dst + (i + W) * ES_##t, a1, m_or(m1, m_unord(a1, a1))); \
		}                                                                            \
		for (; i + W <= count; i += W) {                                             \
			VF a = vf_ld_##t(AT(srcs[0], i, t));                                 \
			MASK m = m_none();                                                   \
			for (unsigned k = 1; k < nsrc; k++)                                  \
				a = VSTEP(a, vf_ld_##t(AT(srcs[k], i, t)), m);               \
			a = VFIN(a, nsrc);                                                   \
			vf_st_##t((char *)dst + i * ES_##t, a, m_or(m, m_unord(a, a)));      \
		}                                                                            \
		if (i < count)                                                               \
			VEC_TAIL(t, dst, srcs, nsrc, i, count, VSTEP, VFIN, SC_RANGE);       \
	}

#define VEC_TYPE(pfx, t)                                                                   \
	VEC_KERNEL(pfx##_v##t##_sum, t, VSTEP_SUM, VFIN_KEEP, pfx##_##t##_sum_range)       \
	VEC_KERNEL(pfx##_v##t##_prod, t, VSTEP_PROD, VFIN_KEEP, pfx##_##t##_prod_range)    \
	VEC_KERNEL(pfx##_v##t##_max, t, VSTEP_MAX, VFIN_KEEP, pfx##_##t##_max_range)       \
	VEC_KERNEL(pfx##_v##t##_min, t, VSTEP_MIN, VFIN_KEEP, pfx##_##t##_min_range)       \
	VEC_KERNEL(pfx##_v##t##_avg, t, VSTEP_SUM, VFIN_DIV, pfx##_##t##_avg_range)

#define VEC_ROW(pfx, t) \
	{ pfx##_v##t##_sum, pfx##_v##t##_prod, pfx##_v##t##_max, pfx##_v##t##_min, pfx##_v##t##_avg }
#define SCALAR_ROW_OF(pfx, t) \
	{ pfx##_##t##_sum, pfx##_##t##_prod, pfx##_##t##_max, pfx##_##t##_min, pfx##_##t##_avg }

/*
 * The kernel table of an ISA: fp32, bf16 and fp16 through the vector body;
 * fp64 and the integers through scalar.h's loops compiled for this ISA (the
 * compiler vectorises what it can without changing a bit).
 */
#define VEC_KERNELS(pfx, NAME, ISA)                                                        \
	SHMAR_SCALAR_KERNELS(pfx)                                                          \
	VEC_TYPE(pfx, f32)                                                                 \
	VEC_TYPE(pfx, bf16)                                                                \
	VEC_TYPE(pfx, f16)                                                                 \
	const struct shmar__kernels shmar__kernels_##pfx = {                               \
		.name = NAME,                                                              \
		.isa = ISA,                                                                \
		.reduce = {                                                                \
			[SHMAR_FLOAT32] = VEC_ROW(pfx, f32),                               \
			[SHMAR_BFLOAT16] = VEC_ROW(pfx, bf16),                             \
			[SHMAR_FLOAT16] = VEC_ROW(pfx, f16),                               \
			[SHMAR_FLOAT64] = SCALAR_ROW_OF(pfx, f64),                         \
			[SHMAR_INT32] = SCALAR_ROW_OF(pfx, i32),                           \
			[SHMAR_INT64] = SCALAR_ROW_OF(pfx, i64),                           \
			[SHMAR_UINT8] = SCALAR_ROW_OF(pfx, u8),                            \
		},                                                                         \
	};
