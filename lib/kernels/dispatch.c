/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - choosing the kernels once, at init, from what the CPU has.
 *
 * The vector kernels are built only for x86 (configure sets
 * HAVE_X86_KERNELS); elsewhere only the scalar table exists and is
 * referenced, and asking for avx2 or avx512 gives -ENOTSUP.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels/kernels.h"

int shmar__isa_supported(int isa)
{
#if HAVE_X86_KERNELS
	__builtin_cpu_init();
	switch (isa) {
	case SHMAR_ISA_SCALAR:
		return 1;
	case SHMAR_ISA_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		       __builtin_cpu_supports("f16c");
	case SHMAR_ISA_AVX512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl") && shmar__isa_supported(SHMAR_ISA_AVX2);
	default:
		return 0;
	}
#else
	return isa == SHMAR_ISA_SCALAR;
#endif
}

const char *shmar__isa_needs(int isa)
{
	switch (isa) {
	case SHMAR_ISA_SCALAR: return "nothing";
	case SHMAR_ISA_AVX2: return "avx2, fma and f16c";
	case SHMAR_ISA_AVX512: return "avx512f, avx512bw, avx512vl, avx2, fma and f16c";
	case SHMAR_ISA_AUTO: return "nothing (the best kernels this CPU runs)";
	default: return "?";
	}
}

int shmar__kernels_select(int isa, const struct shmar__kernels **out)
{
	static const struct shmar__kernels *const by_isa[] = {
		[SHMAR_ISA_SCALAR] = &shmar__kernels_scalar,
#if HAVE_X86_KERNELS
		[SHMAR_ISA_AVX2] = &shmar__kernels_avx2,
		[SHMAR_ISA_AVX512] = &shmar__kernels_avx512,
#endif
	};

	if (isa == SHMAR_ISA_AUTO) {
		for (isa = SHMAR_ISA_AVX512; isa > SHMAR_ISA_SCALAR; isa--)
			if (shmar__isa_supported(isa))
				break;
	}
	if (isa < SHMAR_ISA_SCALAR || isa > SHMAR_ISA_AVX512)
		return -EINVAL;
	if (!shmar__isa_supported(isa) || !by_isa[isa])
		return -ENOTSUP;
	*out = by_isa[isa];
	return 0;
}

const struct shmar__kernels *shmar__kernels_best(void)
{
	/* every thread that races here stores the same pointer */
	static const struct shmar__kernels *best;
	const struct shmar__kernels *k = __atomic_load_n(&best, __ATOMIC_RELAXED);

	if (!k) {
		if (shmar__kernels_select(SHMAR_ISA_AUTO, &k) < 0)
			k = &shmar__kernels_scalar;
		__atomic_store_n(&best, k, __ATOMIC_RELAXED);
	}
	return k;
}

size_t shmar__dtype_size(int dtype)
{
	static const size_t sizes[SHMAR_NDTYPES] = {
		[SHMAR_FLOAT32] = 4, [SHMAR_BFLOAT16] = 2, [SHMAR_FLOAT16] = 2, [SHMAR_FLOAT64] = 8,
		[SHMAR_INT32] = 4,   [SHMAR_INT64] = 8,    [SHMAR_UINT8] = 1,
	};

	return dtype >= 0 && dtype < SHMAR_NDTYPES ? sizes[dtype] : 0;
}

const char *shmar__dtype_name(int dtype)
{
	static const char *const names[SHMAR_NDTYPES] = {
		"fp32", "bf16", "fp16", "fp64", "int32", "int64", "uint8",
	};

	return dtype >= 0 && dtype < SHMAR_NDTYPES ? names[dtype] : "?";
}

const char *shmar__op_name(int op)
{
	static const char *const names[SHMAR_NOPS] = { "sum", "prod", "max", "min", "avg" };

	return op >= 0 && op < SHMAR_NOPS ? names[op] : "?";
}

const char *shmar__isa_name(int isa)
{
	static const char *const names[] = { "auto", "scalar", "avx2", "avx512" };

	return isa >= SHMAR_ISA_AUTO && isa <= SHMAR_ISA_AVX512 ? names[isa] : "?";
}
