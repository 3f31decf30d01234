/*
 * bf16-allreduce.c: a bfloat16 all-reduce over every rank of a job,
 * checked bit for bit against a sum computed in float.
 *
 * Every rank makes up the inputs of all ranks from the same formula, so it
 * can compute the expected result alone: convert each rank's input to
 * float (shmar_bf16_to_float), add them in rank order in float, round once
 * (shmar_float_to_bf16).  That is the library's own rule (shm_allreduce(3),
 * "Numerics"), so the bits must agree on every rank, for every size, with
 * infinities, NaNs, negative zeros, subnormals and rounding ties.
 *
 * Build and run with 2 to 256 ranks:
 *   cc -o bf16-allreduce bf16-allreduce.c $(pkg-config --cflags --libs libshmar)
 *   shmar-run -n 3 ./bf16-allreduce
 */
#include <inttypes.h>
#include <shmar.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One message the one-step algorithm takes, one that goes in chunks. */
static const size_t sizes[] = { 100, 3 * 1024 * 1024 + 7 };

/* A hash of the element's index and rank: the same on every rank. */
static uint32_t
mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Element i of rank r's input, as a bfloat16 bit pattern. */
static uint16_t
input(int r, int nranks, size_t i)
{
    uint32_t h = mix((uint32_t) i * 0x9e3779b9U ^ mix((uint32_t) r + 1));

    switch (i % 1000) {
    case 0:                     /* +Inf plus finite values: +Inf */
        return r == 0 ? 0x7f80 : 0x3f80;
    case 1:                     /* a NaN with a payload: 0x7fc0 */
        return r == nranks - 1 ? 0xffa5 : 0x4000;
    case 2:                     /* -0 from every rank: -0 */
        return 0x8000;
    case 3:                     /* subnormals */
        return (uint16_t) (0x0001 + r);
    }
    /* A random sign and mantissa and an exponent from 2^-24 to 2^23:
       sums that round in float, so the order of the ranks matters, and
       many that fall exactly halfway between two bfloat16 (ties). */
    return (uint16_t) ((h & 0x8000) | ((103 + (h >> 16) % 48) << 7) | (h & 0x7f));
}

/* The expected result: in float, in rank order, rounded once. */
static int
reference(uint16_t *want, float *acc, float *f, uint16_t *in,
          int nranks, size_t n)
{
    for (int r = 0; r < nranks; r++) {
        for (size_t i = 0; i < n; i++)
            in[i] = input(r, nranks, i);
        if (shmar_bf16_to_float(f, in, n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            acc[i] = r == 0 ? f[i] : acc[i] + f[i];
    }
    return shmar_float_to_bf16(want, acc, n);
}

static int
check(struct shmar_comm *comm, size_t n)
{
    int       err, rank = shmar_comm_rank(comm), nranks = shmar_comm_size(comm);
    uint16_t  *x = malloc(n * sizeof(*x)), *want = malloc(n * sizeof(*want));
    uint16_t  *in = malloc(n * sizeof(*in));
    float     *acc = malloc(n * sizeof(*acc)), *f = malloc(n * sizeof(*f));

    err = -1;
    if (!x || !want || !in || !acc || !f) {
        perror("malloc");
        shmar_comm_abort(comm);     /* the peers get -ECANCELED */
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = input(rank, nranks, i);
    err = shmar_allreduce(comm, x, x, n, SHMAR_BFLOAT16, SHMAR_SUM);
    if (err < 0) {
        fprintf(stderr, "rank %d: shmar_allreduce(%zu): %s: %s\n", rank, n,
                shmar_strerror(err), shmar_comm_last_error(comm));
        goto out;
    }
    err = reference(want, acc, f, in, nranks, n);
    if (err < 0) {
        fprintf(stderr, "rank %d: conversion: %s\n", rank, shmar_strerror(err));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (x[i] != want[i]) {
            fprintf(stderr, "rank %d: element %zu of %zu is 0x%04" PRIx16
                    ", the float reference says 0x%04" PRIx16 "\n",
                    rank, i, n, x[i], want[i]);
            err = -1;
            goto out;
        }
    }
out:
    free(x);
    free(want);
    free(in);
    free(acc);
    free(f);
    return err;
}

int
main(void)
{
    struct shmar_comm  *comm;
    int                err;

    err = shmar_comm_init_env(&comm);
    if (err < 0) {
        fprintf(stderr, "shmar_comm_init_env: %s: %s\n",
                shmar_strerror(err), shmar_comm_last_error(NULL));
        return EXIT_FAILURE;
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        err = check(comm, sizes[k]);
        if (err < 0)
            break;
    }
    if (err == 0 && shmar_comm_rank(comm) == 0)
        printf("%d ranks: bf16 sums of %zu and %zu elements have the bits "
               "of the float reference\n", shmar_comm_size(comm),
               sizes[0], sizes[1]);
    shmar_comm_destroy(comm);
    return err < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
