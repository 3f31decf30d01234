/* SPDX-License-Identifier: MIT */
/*
 * kernels.h - element-wise reduce kernels and their run-time dispatch.
 *
 * One kernel shape: dst[i] = x0[i] (+) x1[i] (+) ... (+) x[n-1][i], accumulated in
 * source order exactly as doc/design.md "Numerics" (section 7) says (fp32 accumulator for the
 * 16-bit floats, one round-to-nearest-even at the end, canonical NaN, -0 below
 * +0, wrapping integers, AVG = sum / nsrc).  Every ISA variant gives the same
 * bits as the scalar one.
 */
#ifndef LIBSHMAR_KERNELS_H
#define LIBSHMAR_KERNELS_H

#include <stddef.h>

#include "shmar.h"

#define SHMAR_NDTYPES 7
#define SHMAR_NOPS 5

/*
 * Reduce nsrc (1..SHMAR_MAX_RANKS) arrays of count elements into dst.
 * dst may be the very same address as one of srcs (in-place reduction into a
 * source), never a partial overlap.  No pointer needs any alignment; nothing is
 * read or written outside [p, p + count * size).
 */
typedef void (*shmar__reduce_fn)(void *dst, const void *const *srcs, unsigned nsrc, size_t count);

/*
 * Convert count elements between fp32 and bf16/fp16 (src and dst apart, no
 * alignment needed): narrowing rounds as the reduce kernels do, widening is
 * exact and keeps a NaN's payload.
 */
typedef void (*shmar__convert_fn)(void *dst, const void *src, size_t count);

/*
 * Copy bytes from src to dst (apart, any alignment) as the collectives move
 * large blocks: memcpy while source and destination fit in the last-level
 * cache, non-temporal stores beyond (shmar__copy_nt_min: half the LLC).  Every byte written is
 * visible to other threads and processes in order with the caller's later
 * stores (the non-temporal stores are fenced before it returns).
 */
typedef void (*shmar__copy_fn)(void *dst, const void *src, size_t bytes);

struct shmar__kernels {
	const char *name;  /* "scalar", "avx2", "avx512" */
	int isa;           /* enum shmar_isa */
	shmar__reduce_fn reduce[SHMAR_NDTYPES][SHMAR_NOPS];
	shmar__convert_fn f32_to_bf16, bf16_to_f32, f32_to_f16, f16_to_f32;
	shmar__copy_fn copy;
};

/* The kernel tables; the vector ones exist only in builds for x86 (HAVE_X86_KERNELS). */
extern const struct shmar__kernels shmar__kernels_scalar;
extern const struct shmar__kernels shmar__kernels_avx2;
extern const struct shmar__kernels shmar__kernels_avx512;

/* The copy every table points to, and the size from which it streams. */
void shmar__copy(void *dst, const void *src, size_t bytes);
size_t shmar__copy_nt_min(void);

/* The streaming copy at any size (x86: non-temporal stores, then sfence;
 * elsewhere memcpy), and the cached one (memcpy), for a caller that decided
 * once per call which it needs. */
void shmar__copy_stream(void *dst, const void *src, size_t bytes);
void shmar__copy_cached(void *dst, const void *src, size_t bytes);

/* The size of the last-level cache in bytes, 0 if the system does not say. */
size_t shmar__llc_bytes(void);

/* Whether this CPU can run the kernels of isa (enum shmar_isa, not AUTO). */
int shmar__isa_supported(int isa);

/* The CPU features the kernels of isa need, for messages. */
const char *shmar__isa_needs(int isa);

/*
 * Pick the kernels for isa: SHMAR_ISA_AUTO gives the best the CPU runs.
 * Returns 0, -EINVAL for an unknown isa, -ENOTSUP when the CPU lacks it.
 */
int shmar__kernels_select(int isa, const struct shmar__kernels **out);

/* The best kernels this CPU runs, chosen on the first call (for the
 * conversion helpers, which have no comm and no SHMAR_ISA). */
const struct shmar__kernels *shmar__kernels_best(void);

/* Size of one element of dtype, or 0 for an unknown dtype. */
size_t shmar__dtype_size(int dtype);

/* Name of a dtype / op / isa for messages ("bf16", "sum", "avx512"), "?" if unknown. */
const char *shmar__dtype_name(int dtype);
const char *shmar__op_name(int op);
const char *shmar__isa_name(int isa);

#endif /* LIBSHMAR_KERNELS_H */
