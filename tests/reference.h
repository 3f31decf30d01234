/* SPDX-License-Identifier: MIT */
/*
 * reference.h - an independent model of doc/design.md "Numerics" (section 7), for tests.
 *
 * Written apart from lib/kernels on purpose: conversions go through libgcc's
 * _Float16 and an exact nearest-candidate rounding for bf16, so a shared
 * mistake is unlikely.  Slow and simple: one element at a time.
 */
#ifndef SHMAR_TEST_REFERENCE_H
#define SHMAR_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "shmar.h"

size_t ref_dtype_size(int dtype);
const char *ref_dtype_name(int dtype);
const char *ref_op_name(int op);

/* Element i of the test input of rank r (seeded, with special values mixed
 * in for the float types), written to out (one element). */
void ref_input(void *out, int dtype, uint64_t seed, int rank, size_t i);
/* Fill buf with count elements of rank's input. */
void ref_fill(void *buf, int dtype, uint64_t seed, int rank, size_t count);

/* The canonical reduction of element i over nranks inputs, written to out. */
void ref_reduce_elem(void *out, int dtype, int op, uint64_t seed, int nranks, size_t i);

/* Reduce srcs[0..n) element-wise (for kernel tests with explicit inputs). */
void ref_reduce(void *dst, const void *const *srcs, unsigned n, size_t count, int dtype, int op);

/* Conversions, written apart from the library's: value of a bf16/fp16, and
 * a float rounded to nearest even (NaN to the default quiet NaN). */
float ref_bf16_value(uint16_t h);
uint16_t ref_bf16_round(float f);
float ref_fp16_value(uint16_t h);
uint16_t ref_fp16_round(float f);
/* One of the special fp32 bit patterns (NaNs, Inf, zeros, subnormals, max). */
uint32_t ref_special_f32(uint64_t r);

/* 64-bit FNV-1a of bytes, to compare outputs across ranks. */
uint64_t ref_hash(const void *p, size_t n);

#endif /* SHMAR_TEST_REFERENCE_H */
