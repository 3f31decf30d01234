/* SPDX-License-Identifier: MIT */
/*
 * bench-kernels.c - throughput of the reduce kernels and of the large-copy
 * routine, for tuning, not a test: built with `make check` but never run by
 * it.
 *
 * The machine is shared, so what counts are ratios taken in the same run:
 * for every (ISA, sources, size, cache state) the dtypes are timed round
 * robin, one repetition each in turn, and each is reported against fp32.
 * Sizes are bytes per source, so dtypes are compared at equal bytes.
 * GB/s counts the bytes moved: nsrc sources read and one output written.
 *
 *   bench-kernels [-r REPS] [-i ISA,...] [-d DTYPE,...] [-o OP] [-n N,...]
 *                 [-s BYTES,...] [-m hot|cold|both]
 *   bench-kernels -v [-r REPS] [-i ISA,...] [-s BYTES,...] [-m hot|cold|both]
 *   bench-kernels -c [-r REPS] [-s BYTES,...] [-m hot|cold|both]
 *
 * hot: the same buffers over and over (in cache when they fit); cold: every
 * line of the buffers flushed before each timed call (out of cache).
 * -v times the fp32 <-> bf16/fp16 conversions of each ISA's table instead
 * (BYTES of fp32 each), against the first ISA's; GB/s counts both arrays.
 * -c times copies instead: memcpy, the streaming copy (non-temporal stores)
 * and the library's copy (memcpy below its threshold, streaming above), each
 * against memcpy; GB/s counts the bytes copied, read and written once each.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels/kernels.h"

#define MAX_LIST 16
#define MAX_REPS 101

struct list {
	size_t v[MAX_LIST];
	unsigned n;
};

struct options {
	unsigned reps;
	struct list isas, dtypes, nsrcs, sizes;
	int op;
	int hot, cold;
	int copy;
	int convert;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/* Push every line of [p, p + n) out to memory. */
static void flush(const void *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	for (size_t off = 0; off < n; off += 64)
		_mm_clflush((const char *)p + off);
	_mm_mfence();
#else
	/* elsewhere: overwrite a buffer far larger than any last-level cache */
	static char *sweep;
	static const size_t sweep_bytes = 256u << 20;

	(void)p;
	(void)n;
	if (!sweep && !(sweep = malloc(sweep_bytes)))
		return;
	memset(sweep, (int)n, sweep_bytes);
#endif
}

/* Names to numbers: "fp32" -> SHMAR_FLOAT32 and so on. */
static int parse_name(const char *s, const char *(*name_of)(int), int lo, int hi)
{
	for (int v = lo; v <= hi; v++)
		if (!strcmp(s, name_of(v)))
			return v;
	return -1;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	default: break;
	}
	return *end ? 0 : (size_t)v;
}

static int parse_list(struct list *l, char *arg, const char *(*name_of)(int), int lo, int hi)
{
	l->n = 0;
	for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
		long v = name_of ? parse_name(tok, name_of, lo, hi) : (long)parse_size(tok);

		if (name_of ? v < 0 : v <= 0)
			return -EINVAL;
		if (l->n == MAX_LIST)
			return -E2BIG;
		l->v[l->n++] = (size_t)v;
	}
	return l->n ? 0 : -EINVAL;
}

static void list_set(struct list *l, const size_t *v, unsigned n)
{
	memcpy(l->v, v, n * sizeof(*v));
	l->n = n;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const size_t dtypes[] = { SHMAR_FLOAT32, SHMAR_BFLOAT16, SHMAR_FLOAT16, SHMAR_FLOAT64,
					 SHMAR_INT32, SHMAR_INT64, SHMAR_UINT8 };
	static const size_t nsrcs[] = { 2, 4, 8 };
	static const size_t sizes[] = { 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20 };
	int c, err = 0, sizes_given = 0;

	o->reps = 15;
	o->op = SHMAR_SUM;
	o->hot = o->cold = 1;
	o->copy = o->convert = 0;
	o->isas.n = 0;
	for (int isa = SHMAR_ISA_SCALAR; isa <= SHMAR_ISA_AVX512; isa++)
		if (shmar__isa_supported(isa))
			o->isas.v[o->isas.n++] = (size_t)isa;
	list_set(&o->dtypes, dtypes, sizeof(dtypes) / sizeof(dtypes[0]));
	list_set(&o->nsrcs, nsrcs, sizeof(nsrcs) / sizeof(nsrcs[0]));
	list_set(&o->sizes, sizes, sizeof(sizes) / sizeof(sizes[0]));
	while (!err && (c = getopt(argc, argv, "cvr:i:d:o:n:s:m:")) != -1) {
		switch (c) {
		case 'v':
			o->convert = 1;
			break;
		case 'c':
			o->copy = 1;
			if (!sizes_given) {
				static const size_t copy_sizes[] = { 1 << 20, 4 << 20, 8 << 20, 16 << 20,
								     32 << 20, 64 << 20 };

				list_set(&o->sizes, copy_sizes, sizeof(copy_sizes) / sizeof(copy_sizes[0]));
			}
			break;
		case 'r':
			o->reps = (unsigned)atoi(optarg);
			err = o->reps < 1 || o->reps > MAX_REPS ? -EINVAL : 0;
			break;
		case 'i': err = parse_list(&o->isas, optarg, shmar__isa_name, SHMAR_ISA_SCALAR, SHMAR_ISA_AVX512); break;
		case 'd': err = parse_list(&o->dtypes, optarg, shmar__dtype_name, 0, SHMAR_NDTYPES - 1); break;
		case 'n': err = parse_list(&o->nsrcs, optarg, NULL, 0, 0); break;
		case 's':
			err = parse_list(&o->sizes, optarg, NULL, 0, 0);
			sizes_given = 1;
			break;
		case 'o':
			o->op = parse_name(optarg, shmar__op_name, 0, SHMAR_NOPS - 1);
			err = o->op < 0 ? -EINVAL : 0;
			break;
		case 'm':
			o->hot = strcmp(optarg, "cold") != 0;
			o->cold = strcmp(optarg, "hot") != 0;
			break;
		default: err = -EINVAL; break;
		}
	}
	for (unsigned i = 0; !err && i < o->nsrcs.n; i++)
		if (o->nsrcs.v[i] > SHMAR_MAX_RANKS)
			err = -EINVAL;
	return err;
}

/* Sources and output, every byte written once so no page is left untouched. */
struct buffers {
	unsigned char *src[SHMAR_MAX_RANKS];
	unsigned char *dst;
	size_t bytes;
	unsigned nsrc;
};

static int buffers_alloc(struct buffers *b, unsigned nsrc, size_t bytes)
{
	b->nsrc = nsrc;
	b->bytes = bytes;
	b->dst = aligned_alloc(64, bytes);
	if (!b->dst)
		return -ENOMEM;
	memset(b->dst, 0, bytes);
	for (unsigned s = 0; s < nsrc; s++) {
		if (!(b->src[s] = aligned_alloc(64, bytes)))
			return -ENOMEM;
		/* small positive values in every dtype: no NaN, Inf or overflow */
		for (size_t i = 0; i < bytes; i++)
			b->src[s][i] = (unsigned char)((i * 7 + s) % 61 + 1) & 0x3f;
	}
	return 0;
}

static void buffers_free(struct buffers *b)
{
	for (unsigned s = 0; s < b->nsrc; s++)
		free(b->src[s]);
	free(b->dst);
}

static void buffers_flush(const struct buffers *b)
{
	for (unsigned s = 0; s < b->nsrc; s++)
		flush(b->src[s], b->bytes);
	flush(b->dst, b->bytes);
}

/* Calls per hot repetition: enough for about 200 us of work at 20 GB/s. */
static unsigned calls_per_rep(const struct buffers *b)
{
	size_t moved = (b->nsrc + 1) * b->bytes, per_rep = 4u << 20;

	return moved >= per_rep ? 1 : (unsigned)(per_rep / moved);
}

/* Nanoseconds of one call of fn, one repetition. */
static uint64_t time_once(shmar__reduce_fn fn, const struct buffers *b, size_t count, int cold)
{
	unsigned calls = cold ? 1 : calls_per_rep(b);
	uint64_t t0;

	if (cold)
		buffers_flush(b);
	t0 = now_ns();
	for (unsigned c = 0; c < calls; c++)
		fn(b->dst, (const void *const *)b->src, b->nsrc, count);
	return (now_ns() - t0) / calls;
}

static void bench_point(const struct options *o, const struct shmar__kernels *k,
			const struct buffers *b, int cold)
{
	static uint64_t ns[SHMAR_NDTYPES][MAX_REPS];
	double med[SHMAR_NDTYPES] = { 0 };

	/* one untimed call each, then repetitions round robin over the dtypes */
	for (unsigned d = 0; d < o->dtypes.n; d++)
		k->reduce[o->dtypes.v[d]][o->op](b->dst, (const void *const *)b->src, b->nsrc,
						 b->bytes / shmar__dtype_size((int)o->dtypes.v[d]));
	for (unsigned r = 0; r < o->reps; r++)
		for (unsigned d = 0; d < o->dtypes.n; d++) {
			int dt = (int)o->dtypes.v[d];

			ns[d][r] = time_once(k->reduce[dt][o->op], b, b->bytes / shmar__dtype_size(dt), cold);
		}
	for (unsigned d = 0; d < o->dtypes.n; d++)
		med[d] = median(ns[d], o->reps);
	for (unsigned d = 0; d < o->dtypes.n; d++) {
		int dt = (int)o->dtypes.v[d];
		double gbs = (double)((b->nsrc + 1) * b->bytes) / med[d];

		printf("%-7s %-5s %-4s %3u %9zu %-4s %12.0f %7.2f", k->name, shmar__dtype_name(dt),
		       shmar__op_name(o->op), b->nsrc, b->bytes, cold ? "cold" : "hot", med[d], gbs);
		if (o->dtypes.v[0] == SHMAR_FLOAT32)
			printf(" %6.2f", med[d] / med[0]);
		printf("\n");
	}
}

/* ------------------------------------------------------------ conversions */

static shmar__convert_fn conversion(const struct shmar__kernels *k, int c)
{
	switch (c) {
	case 0: return k->f32_to_bf16;
	case 1: return k->bf16_to_f32;
	case 2: return k->f32_to_f16;
	default: return k->f16_to_f32;
	}
}

static int bench_conversions(const struct options *o)
{
	static const char *const names[] = { "f32>bf16", "bf16>f32", "f32>f16", "f16>f32" };
	static uint64_t ns[MAX_LIST][MAX_REPS];
	const struct shmar__kernels *k[MAX_LIST];

	for (unsigned i = 0; i < o->isas.n; i++)
		if (shmar__kernels_select((int)o->isas.v[i], &k[i]))
			return 1;
	printf("# conv   isa           bytes mode    median_ns    GB/s  x_first\n");
	for (unsigned z = 0; z < o->sizes.n; z++) {
		size_t count = o->sizes.v[z] / 4;
		struct buffers b;

		if (buffers_alloc(&b, 1, count * 4))
			return 1;
		for (int c = 0; c < 4; c++)
			for (int cold = 0; cold < 2; cold++) {
				/* fp32 in (narrowing) or 16 bits in (widening) */
				int widen = c % 2;
				void *dst = widen ? b.dst : b.src[0];
				const void *src = widen ? b.src[0] : b.dst;

				if (!(cold ? o->cold : o->hot))
					continue;
				for (unsigned r = 0; r < o->reps; r++)
					for (unsigned i = 0; i < o->isas.n; i++) {
						unsigned calls = cold ? 1 : calls_per_rep(&b);
						uint64_t t0;

						if (cold)
							buffers_flush(&b);
						else
							conversion(k[i], c)(dst, src, count);
						t0 = now_ns();
						for (unsigned n = 0; n < calls; n++)
							conversion(k[i], c)(dst, src, count);
						ns[i][r] = (now_ns() - t0) / calls;
					}
				for (unsigned i = 0; i < o->isas.n; i++) {
					double med = median(ns[i], o->reps), first = i ? median(ns[0], o->reps) : med;

					printf("%-8s %-7s %9zu %-4s %12.0f %7.2f %6.2f\n", names[c], k[i]->name,
					       count * 4, cold ? "cold" : "hot", med, 6.0 * (double)count / med,
					       med / first);
				}
			}
		buffers_free(&b);
		fflush(stdout);
	}
	return 0;
}

/* ------------------------------------------------------------ copies */

static void copy_memcpy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static int bench_copies(const struct options *o)
{
	static const struct {
		const char *name;
		shmar__copy_fn fn;
	} copies[] = {
		{ "memcpy", copy_memcpy },
		{ "stream", shmar__copy_stream },
		{ "shmar", shmar__copy },
	};
	enum { NCOPIES = sizeof(copies) / sizeof(copies[0]) };
	static uint64_t ns[NCOPIES][MAX_REPS];

	printf("# last-level cache %zu bytes; shmar__copy streams from %zu bytes\n",
	       shmar__llc_bytes(), shmar__copy_nt_min());
	printf("# copy        bytes mode    median_ns    GB/s  x_memcpy\n");
	for (unsigned z = 0; z < o->sizes.n; z++) {
		size_t bytes = o->sizes.v[z];
		struct buffers b;

		if (buffers_alloc(&b, 1, bytes)) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (int cold = 0; cold < 2; cold++) {
			if (!(cold ? o->cold : o->hot))
				continue;
			for (unsigned c = 0; c < NCOPIES; c++)
				copies[c].fn(b.dst, b.src[0], bytes);
			for (unsigned r = 0; r < o->reps; r++)
				for (unsigned c = 0; c < NCOPIES; c++) {
					unsigned calls = cold ? 1 : calls_per_rep(&b);
					uint64_t t0;

					/* each copy from the cache state it leaves itself:
					 * flushed, or after one untimed call of its own */
					if (cold)
						buffers_flush(&b);
					else
						copies[c].fn(b.dst, b.src[0], bytes);
					t0 = now_ns();
					for (unsigned k = 0; k < calls; k++)
						copies[c].fn(b.dst, b.src[0], bytes);
					ns[c][r] = (now_ns() - t0) / calls;
				}
			{
				double med[NCOPIES];

				for (unsigned c = 0; c < NCOPIES; c++)
					med[c] = median(ns[c], o->reps);
				for (unsigned c = 0; c < NCOPIES; c++)
					printf("%-7s %10zu %-4s %12.0f %7.2f %6.2f\n", copies[c].name, bytes,
					       cold ? "cold" : "hot", med[c], 2.0 * (double)bytes / med[c],
					       med[c] / med[0]);
			}
		}
		buffers_free(&b);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;

	if (parse_options(&o, argc, argv)) {
		fprintf(stderr, "usage: %s [-r REPS] [-i ISA,...] [-d DTYPE,...] [-o OP] [-n N,...] "
				"[-s BYTES,...] [-m hot|cold|both]\n"
				"       %s -v [-r REPS] [-i ISA,...] [-s BYTES,...] [-m hot|cold|both]\n"
				"       %s -c [-r REPS] [-s BYTES,...] [-m hot|cold|both]\n",
			argv[0], argv[0], argv[0]);
		return 2;
	}
	if (o.copy)
		return bench_copies(&o);
	if (o.convert)
		return bench_conversions(&o);
	printf("# isa   dtype op  nsrc     bytes mode    median_ns    GB/s  x_fp32\n");
	for (unsigned n = 0; n < o.nsrcs.n; n++)
		for (unsigned s = 0; s < o.sizes.n; s++) {
			struct buffers b;

			if (buffers_alloc(&b, (unsigned)o.nsrcs.v[n], o.sizes.v[s])) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
			for (unsigned i = 0; i < o.isas.n; i++) {
				const struct shmar__kernels *k;

				if (shmar__kernels_select((int)o.isas.v[i], &k)) {
					fprintf(stderr, "%s: not on this CPU\n",
						shmar__isa_name((int)o.isas.v[i]));
					return 1;
				}
				for (int cold = 0; cold < 2; cold++)
					if (cold ? o.cold : o.hot)
						bench_point(&o, k, &b, cold);
			}
			buffers_free(&b);
			fflush(stdout);
		}
	return 0;
}
