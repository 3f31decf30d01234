/* SPDX-License-Identifier: MIT */
/*
 * bench-floor.c - the least data movement a 2-rank fp32 all-reduce through
 * shared memory can do, written out without the library, to tell what is
 * the machine's and what is libshmar's.  Not a test: built with `make
 * check`, never run by it.
 *
 * peers/xcore times one core pulling S bytes another core wrote, the
 * writer idle and untimed.  In an all-reduce both cores write and both pull
 * at once, and what a core writes are lines its peer read in the previous
 * call: every store of the next call must first take them back.  This
 * program times exactly that and nothing else, per round:
 *
 *   copy     every rank copies its S-byte input into its own shared buffer
 *            (two, used in turn), one flag, then out = input + the peer's
 *            buffer: S bytes pulled, S written to shared lines the peer
 *            read.  libshmar's copying paths do this much at least.
 *   inplace  the inputs already are in shared memory (registered buffers):
 *            tmp = own + the peer's (S pulled), a barrier, own = tmp (S
 *            written to lines the peer just read), a barrier.
 *   halves   libshmar's stream without the library: per sub-chunk of -c
 *            bytes (a ring of 8 per rank), copy in the half the peer
 *            reduces, a flag; reduce the own half into a second region and
 *            the input, a flag; copy the peer's reduced half out, a flag.
 *            The fastest of the designs tried (doc/design.md).
 *
 * No synchronisation beyond those, no checks, no pipelining of sub-chunks:
 * what a design costs on this machine, not an implementation of it.
 * Every round starts after a barrier and is timed alone, as shmar-bench
 * times a call; a size's figure is the larger of the two ranks' medians.
 *
 *   bench-floor [-m copy|inplace|halves] [-c CHUNK] [-s BYTES,...] [-t SECONDS]
 *
 * Output, one line per size: mode size_B rounds med_us p10_us GBps, where
 * GBps counts the S bytes a rank pulls per round.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 32
#define MAX_ROUNDS 100000
#define MIN_ROUNDS 20
#define RING 8 /* halves: sub-chunk regions per rank and kind */

enum mode { COPY, INPLACE, HALVES };
static const char *const mode_names[] = { "copy", "inplace", "halves" };

struct flags {
	_Alignas(64) _Atomic uint64_t posted;  /* copy: the round whose input is in; halves: sub-chunks in */
	_Alignas(64) _Atomic uint64_t reduced; /* halves: sub-chunks whose own half is reduced */
	_Alignas(64) _Atomic uint64_t done;    /* halves: sub-chunks gathered */
	_Alignas(64) _Atomic uint64_t arrived; /* the barriers this rank reached */
	_Alignas(64) double median_ns, p10_ns;
	int rounds;
};

struct shared {
	struct flags rank[2];
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#define VECTOR_CLONES
#endif

static void wait_for(_Atomic uint64_t *word, uint64_t value)
{
	while (atomic_load_explicit(word, memory_order_acquire) < value)
		cpu_relax();
}

static void barrier(struct shared *sh, int me, uint64_t *count)
{
	++*count;
	atomic_store_explicit(&sh->rank[me].arrived, *count, memory_order_release);
	wait_for(&sh->rank[1 - me].arrived, *count);
}

typedef float f32x8 __attribute__((vector_size(32)));

/* Eight floats at a time, as AVX2 where the CPU has it (libshmar's kernels
 * are vectorised too); the arithmetic is not what is measured. */
VECTOR_CLONES
static void add(float *out, const float *a, const float *b, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		f32x8 x, y;

		memcpy(&x, a + i, sizeof x);
		memcpy(&y, b + i, sizeof y);
		x += y;
		memcpy(out + i, &x, sizeof x);
	}
	for (; i < n; i++)
		out[i] = a[i] + b[i];
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct run {
	struct shared *sh;
	char *buffers;          /* per rank: copy 2 x max_size, inplace 1 x, halves 2 x RING x chunk */
	size_t max_size, chunk;
	int me;
	enum mode mode;
	float *input, *output;  /* private */
	uint64_t barriers, round, sub_chunks;
};

static size_t buffer_bytes(const struct run *r)
{
	switch (r->mode) {
	case COPY:
		return 2 * r->max_size;
	case INPLACE:
		return r->max_size;
	default:
		return 2 * RING * r->chunk;
	}
}

/* copy, inplace: one of a rank's buffers of max_size */
static float *shared_buffer(const struct run *r, int rank, unsigned which)
{
	return (float *)(r->buffers + (size_t)rank * buffer_bytes(r) + which * r->max_size);
}

/* halves: region q of a rank's inputs (kind 0) or reduced halves (kind 1) */
static float *region(const struct run *r, int rank, unsigned kind, unsigned q)
{
	return (float *)(r->buffers + (size_t)rank * buffer_bytes(r) + (kind * RING + q) * r->chunk);
}

static void round_copy(struct run *r, size_t bytes)
{
	unsigned which = (unsigned)(++r->round & 1);
	int peer = 1 - r->me;

	memcpy(shared_buffer(r, r->me, which), r->input, bytes);
	atomic_store_explicit(&r->sh->rank[r->me].posted, r->round, memory_order_release);
	wait_for(&r->sh->rank[peer].posted, r->round);
	add(r->output, r->input, shared_buffer(r, peer, which), bytes / sizeof(float));
}

static void round_inplace(struct run *r, size_t bytes)
{
	float *own = shared_buffer(r, r->me, 0);

	add(r->output, own, shared_buffer(r, 1 - r->me, 0), bytes / sizeof(float));
	barrier(r->sh, r->me, &r->barriers);
	memcpy(own, r->output, bytes);
	barrier(r->sh, r->me, &r->barriers);
}

static void sub_chunk_halves(struct run *r, float *data, size_t n)
{
	uint64_t g = r->sub_chunks++;
	unsigned q = (unsigned)(g % RING);
	int peer = 1 - r->me;
	struct flags *mine = &r->sh->rank[r->me], *theirs = &r->sh->rank[peer];
	size_t half = n / 2;
	size_t own_lo = r->me ? half : 0, own_hi = r->me ? n : half;
	size_t peer_lo = r->me ? 0 : half, peer_hi = r->me ? half : n;

	if (g >= RING) /* the peer is done with what region q held */
		wait_for(&theirs->done, g - RING + 1);
	memcpy(region(r, r->me, 0, q) + peer_lo, data + peer_lo, (peer_hi - peer_lo) * sizeof(float));
	atomic_store_explicit(&mine->posted, g + 1, memory_order_release);
	wait_for(&theirs->posted, g + 1);
	add(region(r, r->me, 1, q) + own_lo, data + own_lo, region(r, peer, 0, q) + own_lo,
	    own_hi - own_lo);
	memcpy(data + own_lo, region(r, r->me, 1, q) + own_lo, (own_hi - own_lo) * sizeof(float));
	atomic_store_explicit(&mine->reduced, g + 1, memory_order_release);
	wait_for(&theirs->reduced, g + 1);
	memcpy(data + peer_lo, region(r, peer, 1, q) + peer_lo, (peer_hi - peer_lo) * sizeof(float));
	atomic_store_explicit(&mine->done, g + 1, memory_order_release);
}

/* In place, in the private input: it only doubles, and is refilled now and
 * then so that it never overflows into slower special values. */
static void round_halves(struct run *r, size_t bytes)
{
	size_t count = bytes / sizeof(float), per = r->chunk / sizeof(float);

	for (size_t lo = 0; lo < count; lo += per)
		sub_chunk_halves(r, r->input + lo, count - lo < per ? count - lo : per);
	if (++r->round % 64 == 0)
		for (size_t i = 0; i < count; i++)
			r->input[i] = (float)(i % 1021);
}

static void run_round(struct run *r, size_t bytes)
{
	switch (r->mode) {
	case COPY:
		round_copy(r, bytes);
		break;
	case INPLACE:
		round_inplace(r, bytes);
		break;
	case HALVES:
		round_halves(r, bytes);
		break;
	}
}

/* Rounds of one size for about `seconds`; this rank's median and p10 land
 * in its flags (rank 0 decides the count and rank 1 follows it). */
static void time_size(struct run *r, size_t bytes, double seconds, double *samples)
{
	struct flags *mine = &r->sh->rank[r->me];
	double t0, start;
	int n;

	/* warm up for a tenth of the time; rank 0 alone decides when it ends
	 * (and so how many rounds to time), both see it after the barrier */
	start = now_ns();
	for (n = 1;; n++) {
		barrier(r->sh, r->me, &r->barriers);
		run_round(r, bytes);
		if (r->me == 0) {
			bool enough = n >= MIN_ROUNDS && now_ns() - start >= seconds * 1e8;
			r->sh->rank[0].rounds = enough || n >= MAX_ROUNDS / 10 ? n : 0;
		}
		barrier(r->sh, r->me, &r->barriers);
		if (r->sh->rank[0].rounds)
			break;
	}
	n = r->sh->rank[0].rounds * 10;
	for (int i = 0; i < n; i++) {
		barrier(r->sh, r->me, &r->barriers);
		t0 = now_ns();
		run_round(r, bytes);
		samples[i] = now_ns() - t0;
	}
	qsort(samples, (size_t)n, sizeof *samples, by_value);
	mine->median_ns = samples[n / 2];
	mine->p10_ns = samples[n / 10];
	mine->rounds = n;
	barrier(r->sh, r->me, &r->barriers);
	barrier(r->sh, r->me, &r->barriers); /* rank 0 reads before the next size's counting */
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* Up to max comma-separated sizes into sizes[]; their number, or -1. */
static int parse_sizes(const char *arg, size_t *sizes, int max)
{
	int n = 0;
	char *end;

	for (const char *p = arg; *p; p = *end ? end + 1 : end) {
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (n == max || errno || end == p || (*end && *end != ',') || v == 0 || v % 64 ||
		    v > (1ull << 30))
			return -1;
		sizes[n++] = (size_t)v;
	}
	return n;
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-m copy|inplace|halves] [-c CHUNK] [-s BYTES,...] [-t SECONDS]\n"
		"  sizes and CHUNK are multiples of 64 bytes, at most 1 GiB\n", argv0);
	return 2;
}

int main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = { 16384, 65536, 262144, 1048576, 4194304, 16777216 };
	int nsizes = 6, opt;
	double seconds = 0.5;
	struct run r = { 0 };
	double *samples;
	pid_t child;

	size_t chunk[1];

	r.chunk = 256 * 1024;
	while ((opt = getopt(argc, argv, "m:c:s:t:")) != -1) {
		switch (opt) {
		case 'm':
			for (r.mode = COPY; r.mode <= HALVES && strcmp(optarg, mode_names[r.mode]); r.mode++)
				;
			if (r.mode > HALVES)
				return usage(argv[0]);
			break;
		case 'c':
			if (parse_sizes(optarg, chunk, 1) != 1)
				return usage(argv[0]);
			r.chunk = chunk[0];
			break;
		case 's':
			if ((nsizes = parse_sizes(optarg, sizes, MAX_SIZES)) <= 0)
				return usage(argv[0]);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			if (!(seconds > 0 && seconds <= 60))
				return usage(argv[0]);
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (optind != argc)
		return usage(argv[0]);
	for (int i = 0; i < nsizes; i++)
		r.max_size = sizes[i] > r.max_size ? sizes[i] : r.max_size;

	r.sh = mmap(NULL, sizeof *r.sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	r.buffers = mmap(NULL, 2 * buffer_bytes(&r), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	samples = malloc(MAX_ROUNDS * sizeof *samples);
	r.input = aligned_alloc(64, r.max_size);
	r.output = aligned_alloc(64, r.max_size);
	if (r.sh == MAP_FAILED || r.buffers == MAP_FAILED || !samples || !r.input || !r.output) {
		perror("bench-floor: memory");
		return 1;
	}
	memset(r.sh, 0, sizeof *r.sh);
	for (size_t i = 0; i < r.max_size / sizeof(float); i++) {
		r.input[i] = (float)(i % 1021);
		r.output[i] = 0;
	}
	if (r.mode == INPLACE) {
		memcpy(shared_buffer(&r, 0, 0), r.input, r.max_size);
		memcpy(shared_buffer(&r, 1, 0), r.input, r.max_size);
	}

	child = fork();
	if (child < 0) {
		perror("bench-floor: fork");
		return 1;
	}
	r.me = child == 0;
	if (pin(r.me) < 0)
		fprintf(stderr, "bench-floor: rank %d not pinned to cpu %d: %s\n", r.me, r.me,
			strerror(errno));
	if (r.me == 0)
		printf("# bench-floor mode=%s chunk=%zu ranks on cpu0 and cpu1\n"
		       "# mode size_B rounds med_us p10_us GBps\n", mode_names[r.mode], r.chunk);
	for (int i = 0; i < nsizes; i++) {
		time_size(&r, sizes[i], seconds, samples);
		if (r.me == 0) {
			const struct flags *a = &r.sh->rank[0], *b = &r.sh->rank[1];
			double med = a->median_ns > b->median_ns ? a->median_ns : b->median_ns;
			double p10 = a->p10_ns > b->p10_ns ? a->p10_ns : b->p10_ns;

			printf("%s %zu %d %.3f %.3f %.2f\n", mode_names[r.mode], sizes[i],
			       a->rounds, med / 1e3, p10 / 1e3, (double)sizes[i] / med);
			fflush(stdout);
		}
		barrier(r.sh, r.me, &r.barriers);
	}
	if (r.me == 1)
		_exit(0);
	int status;
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	return 0;
}
