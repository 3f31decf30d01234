/* SPDX-License-Identifier: MIT */
/*
 * test-allreduce.c - shmar_allreduce against an independent reference, on
 * every rank count, dtype, op, count, placement and alignment; the same bits
 * on every rank and for every algorithm; canaries; mismatches and bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "reference.h"

#define CANARY 0xa5
#define PAD 64

/* Counts of the matrix; the large one crosses many chunks of a 64 KiB slot. */
static const size_t counts[] = { 0, 1, 7, 15, 16, 17, 31, 33, 1023, 4097, 65535,
				 (1u << 20) + 3 };
#define TEST_SLOT (64 * 1024)

/* Which ranks take their buffers from shmar_mem_alloc (registered). */
enum reg_mode {
	REG_NONE,      /* nobody: every rank copies in */
	REG_ALL,       /* every rank: nobody copies in */
	REG_SOME,      /* even ranks only */
	REG_TURNS,     /* changing from call to call, rank by rank */
};

struct matrix {
	char name[80];
	size_t slot_bytes;
	size_t small_max;          /* SIZE_MAX: default */
	size_t chunk_bytes;        /* 0: default */
	int threads;
	enum reg_mode reg;
	int first_dtype, last_dtype;
	size_t max_count;
	uint64_t *hashes;          /* shared: [combo][rank] */
	int combos;
};

static int init_comm(struct shmar_comm **comm, const struct matrix *m, int rank, int nranks)
{
	struct shmar_config cfg;

	th_config(&cfg);
	cfg.slot_bytes = m->slot_bytes;
	if (m->small_max != SIZE_MAX)
		cfg.small_max = m->small_max;
	if (m->chunk_bytes)
		cfg.chunk_bytes = m->chunk_bytes;
	cfg.threads = m->threads;
	cfg.mem_bytes = 64u << 20;
	return shmar_comm_init(comm, m->name, nranks, rank, &cfg);
}

static bool all_canary(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != CANARY)
			return false;
	return true;
}

/*
 * One call: input at a random misalignment, canaries around the output, the
 * input unchanged afterwards (out of place), and the output against the
 * reference (rank 0 checks every element; every rank publishes a hash).
 */
static int one_call(struct shmar_comm *comm, const struct matrix *m, int rank, int nranks,
		    int dtype, int op, size_t count, bool in_place, unsigned misalign, int combo,
		    unsigned char *sendmem, unsigned char *recvmem, unsigned char *want)
{
	size_t es = ref_dtype_size(dtype), bytes = count * es;
	uint64_t seed = ((uint64_t)combo << 20) ^ 0x5eed;
	unsigned char *send = sendmem + PAD + misalign;
	unsigned char *recv = in_place ? send : recvmem + PAD + (misalign * 7) % 64;
	size_t bad = 0;
	int err;

	memset(recvmem, CANARY, bytes + 3 * PAD);
	memset(sendmem, CANARY, bytes + 3 * PAD);
	ref_fill(send, dtype, seed, rank, count);
	err = shmar_allreduce(comm, send, recv, count, dtype, op);
	if (err < 0) {
		fprintf(stderr, "rank %d: allreduce %s %s count %zu: %s (%s)\n", rank,
			ref_dtype_name(dtype), ref_op_name(op), count, shmar_strerror(err),
			shmar_comm_last_error(comm));
		return 1;
	}
	/* nothing written before or after the output */
	TH_CHECK(all_canary(in_place ? sendmem : recvmem, (size_t)(recv - (in_place ? sendmem : recvmem))));
	TH_CHECK(all_canary(recv + bytes, PAD));
	if (!in_place) {
		ref_fill(want, dtype, seed, rank, count);
		TH_CHECK(memcmp(want, send, bytes) == 0); /* sendbuf untouched */
	}
	if (rank == 0) {
		for (size_t i = 0; i < count; i++) {
			ref_reduce_elem(want + i * es, dtype, op, seed, nranks, i);
			if (memcmp(want + i * es, recv + i * es, es) && bad++ < 3) {
				unsigned long long w = 0, g = 0;

				memcpy(&w, want + i * es, es);
				memcpy(&g, recv + i * es, es);
				fprintf(stderr,
					"n=%d %s %s count %zu %s: element %zu is 0x%llx, want 0x%llx\n",
					nranks, ref_dtype_name(dtype), ref_op_name(op), count,
					in_place ? "in place" : "out of place", i, g, w);
			}
		}
		TH_CHECK_EQ(bad, 0);
	}
	m->hashes[(size_t)combo * SHMAR_MAX_RANKS + (size_t)rank] = ref_hash(recv, bytes);
	return 0;
}

static bool registered_call(const struct matrix *m, int rank, int combo)
{
	switch (m->reg) {
	case REG_ALL: return true;
	case REG_SOME: return rank % 2 == 0;
	case REG_TURNS: return (combo / 2 + rank) % 3 != 0;
	default: return false;
	}
}

/* Registered buffers, freed and allocated again between dtypes: reused blocks. */
static int heap_buffers(struct shmar_comm *comm, size_t bytes, unsigned char **send,
			unsigned char **recv)
{
	if (*send) {
		TH_CHECK_EQ(shmar_mem_free(comm, *send), 0);
		TH_CHECK_EQ(shmar_mem_free(comm, *recv), 0);
	}
	TH_CHECK_EQ(shmar_mem_alloc(comm, bytes, (void **)send), 0);
	TH_CHECK_EQ(shmar_mem_alloc(comm, bytes, (void **)recv), 0);
	TH_CHECK((uintptr_t)*send % 64 == 0 && (uintptr_t)*recv % 64 == 0);
	return 0;
}

static int rank_matrix(int rank, int nranks, void *arg)
{
	const struct matrix *m = arg;
	size_t max_bytes = m->max_count * 8 + 4 * PAD;
	unsigned char *sendmem = malloc(max_bytes), *recvmem = malloc(max_bytes);
	unsigned char *hsend = NULL, *hrecv = NULL;
	unsigned char *want = malloc(max_bytes);
	struct shmar_comm *comm = NULL;
	int combo = 0, fds = th_count_fds();

	TH_CHECK(sendmem && recvmem && want);
	TH_CHECK_EQ(init_comm(&comm, m, rank, nranks), 0);
	for (int dtype = m->first_dtype; dtype <= m->last_dtype; dtype++) {
		if (m->reg != REG_NONE && heap_buffers(comm, max_bytes, &hsend, &hrecv))
			return 1;
		for (int op = SHMAR_SUM; op <= SHMAR_AVG; op++)
			for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
				if (counts[c] > m->max_count)
					continue;
				for (int place = 0; place < 2; place++, combo++) {
					unsigned misalign = (unsigned)(combo * 13 + 1) % 64;
					bool reg = registered_call(m, rank, combo);

					if (one_call(comm, m, rank, nranks, dtype, op, counts[c],
						     place == 0, misalign, combo,
						     reg ? hsend : sendmem, reg ? hrecv : recvmem,
						     want))
						return 1;
				}
			}
	}
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	TH_CHECK_EQ(th_count_fds(), fds);
	free(sendmem);
	free(recvmem);
	free(want);
	return 0;
}

static struct matrix *new_matrix(const char *what, int first_dtype, int last_dtype,
				 size_t max_count)
{
	struct matrix *m = th_shared(sizeof(*m));

	memset(m, 0, sizeof(*m));
	th_job_name(m->name, sizeof(m->name), what);
	m->slot_bytes = TEST_SLOT;
	m->small_max = SIZE_MAX;
	m->first_dtype = first_dtype;
	m->last_dtype = last_dtype;
	m->max_count = max_count;
	m->combos = 7 * 5 * (int)(sizeof(counts) / sizeof(counts[0])) * 2;
	m->hashes = th_shared((size_t)m->combos * SHMAR_MAX_RANKS * sizeof(uint64_t));
	return m;
}

/* Every rank's output hashes equal rank 0's, which was checked element-wise. */
static void assert_same_everywhere(const struct matrix *m, int nranks)
{
	for (int c = 0; c < m->combos; c++)
		for (int r = 1; r < nranks; r++)
			assert_true(m->hashes[(size_t)c * SHMAR_MAX_RANKS + r] ==
				    m->hashes[(size_t)c * SHMAR_MAX_RANKS]);
}

static void run_matrix(int nranks, size_t max_count)
{
	struct matrix *m = new_matrix("matrix", SHMAR_FLOAT32, SHMAR_UINT8, max_count);

	assert_int_equal(th_run_ranks(nranks, rank_matrix, m, 900, NULL), 0);
	assert_same_everywhere(m, nranks);
}

#define BIG ((1u << 20) + 3)
static void test_matrix_1(void **state) { (void)state; run_matrix(1, BIG); }
static void test_matrix_2(void **state) { (void)state; run_matrix(2, BIG); }
static void test_matrix_3(void **state) { (void)state; run_matrix(3, BIG); }
static void test_matrix_4(void **state) { (void)state; run_matrix(4, BIG); }
static void test_matrix_5(void **state) { (void)state; run_matrix(5, 65535); }
static void test_matrix_8(void **state) { (void)state; run_matrix(8, 65535); }

/*
 * The same inputs through the small algorithm only, the large one only, and
 * the large one with a tiny slot (many chunks): identical bits.
 */
static void test_algorithms_agree(void **state)
{
	struct matrix *m[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		m[i] = new_matrix("algo", SHMAR_FLOAT32, SHMAR_UINT8, 65535);
		th_job_name(m[i]->name, sizeof(m[i]->name), "algo");
	}
	m[0]->slot_bytes = 1 << 20;
	m[0]->small_max = 1 << 20;        /* everything in one synchronisation */
	m[1]->small_max = 0;              /* everything reduce-scatter + all-gather */
	m[2]->slot_bytes = 4096;
	m[2]->small_max = 0;              /* and in 4 KiB chunks */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(th_run_ranks(3, rank_matrix, m[i], 600, NULL), 0);
		assert_same_everywhere(m[i], 3);
	}
	for (int c = 0; c < m[0]->combos; c++) {
		assert_true(m[1]->hashes[(size_t)c * SHMAR_MAX_RANKS] ==
			    m[0]->hashes[(size_t)c * SHMAR_MAX_RANKS]);
		assert_true(m[2]->hashes[(size_t)c * SHMAR_MAX_RANKS] ==
			    m[0]->hashes[(size_t)c * SHMAR_MAX_RANKS]);
	}
}

/*
 * Registered send buffers (read in place by the peers) on every rank, on
 * some, and changing from call to call; helper threads 1, 2, 3 and 8; and
 * sub-chunks from one page to four times the default: the bits of the
 * plain run, on every rank.
 */
static void compare_with_plain(struct matrix *v, int nranks, size_t max_count)
{
	struct matrix *plain = new_matrix("plain", SHMAR_FLOAT32, SHMAR_FLOAT16, max_count);

	assert_int_equal(th_run_ranks(nranks, rank_matrix, plain, 900, NULL), 0);
	assert_int_equal(th_run_ranks(nranks, rank_matrix, v, 900, NULL), 0);
	assert_same_everywhere(v, nranks);
	for (int c = 0; c < plain->combos; c++)
		assert_true(v->hashes[(size_t)c * SHMAR_MAX_RANKS] ==
			    plain->hashes[(size_t)c * SHMAR_MAX_RANKS]);
}

static struct matrix *variant(const char *what, enum reg_mode reg, int threads, size_t chunk,
			      size_t max_count)
{
	struct matrix *m = new_matrix(what, SHMAR_FLOAT32, SHMAR_FLOAT16, max_count);

	m->reg = reg;
	m->threads = threads;
	m->chunk_bytes = chunk;
	return m;
}

static void test_registered(void **state)
{
	(void)state;
	compare_with_plain(variant("regall", REG_ALL, 0, 0, BIG), 2, BIG);
	compare_with_plain(variant("regsome", REG_SOME, 0, 0, 65535), 3, 65535);
	compare_with_plain(variant("regturns", REG_TURNS, 0, 4096, 65535), 4, 65535);
}

static void test_threads(void **state)
{
	static const int threads[] = { 1, 2, 3, 8 };

	(void)state;
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		compare_with_plain(variant("threads", i % 2 ? REG_SOME : REG_NONE, threads[i],
					   (size_t)256 << 10, BIG), 2, BIG);
	compare_with_plain(variant("threads3", REG_TURNS, 2, 0, 65535), 3, 65535);
}

static void test_chunks(void **state)
{
	static const size_t chunks[] = { 4096, 12288, 256 << 10 };

	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		compare_with_plain(variant("chunks", REG_NONE, 0, chunks[i], 65535), 3, 65535);
}

/* Each forced kernel gives the bits of the scalar one (through the whole stack). */
static void test_isas_agree(void **state)
{
	static const char *const isas[] = { "scalar", "avx2", "avx512" };
	struct matrix *m[3];
	int ran = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct shmar_config cfg;
		struct shmar_comm *probe = NULL;
		int err;

		m[i] = new_matrix("isa", SHMAR_FLOAT32, SHMAR_UINT8, 4097);
		setenv("SHMAR_ISA", isas[i], 1);
		th_config(&cfg);
		err = shmar_comm_init(&probe, "isa-probe", 1, 0, &cfg);
		if (err == -ENOTSUP) {
			print_message("SHMAR_ISA=%s: not on this CPU, skipped\n", isas[i]);
			m[i] = NULL;
			continue;
		}
		assert_int_equal(err, 0);
		shmar_comm_destroy(probe);
		assert_int_equal(th_run_ranks(2, rank_matrix, m[i], 600, NULL), 0);
		ran++;
	}
	unsetenv("SHMAR_ISA");
	assert_true(ran >= 1);
	for (int i = 1; i < 3; i++)
		if (m[i])
			for (int c = 0; c < m[0]->combos; c++)
				assert_true(m[i]->hashes[(size_t)c * SHMAR_MAX_RANKS] ==
					    m[0]->hashes[(size_t)c * SHMAR_MAX_RANKS]);
}

/* ---------------------------------------------------------------- misuse */

struct mismatch {
	char name[80];
	int what; /* 0 count, 1 dtype, 2 op, 3 kind */
};

static int rank_mismatch(int rank, int nranks, void *arg)
{
	const struct mismatch *mm = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	float buf[64];
	int err;

	th_config(&cfg);
	for (int i = 0; i < 64; i++)
		buf[i] = (float)(i + rank);
	TH_CHECK_EQ(shmar_comm_init(&comm, mm->name, nranks, rank, &cfg), 0);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 64, SHMAR_FLOAT32, SHMAR_SUM), 0);
	if (rank == nranks - 1) {
		switch (mm->what) {
		case 0: err = shmar_allreduce(comm, buf, buf, 63, SHMAR_FLOAT32, SHMAR_SUM); break;
		case 1: err = shmar_allreduce(comm, buf, buf, 64, SHMAR_INT32, SHMAR_SUM); break;
		case 2: err = shmar_allreduce(comm, buf, buf, 64, SHMAR_FLOAT32, SHMAR_MAX); break;
		default: err = shmar_barrier(comm); break;
		}
	} else {
		err = shmar_allreduce(comm, buf, buf, 64, SHMAR_FLOAT32, SHMAR_SUM);
	}
	TH_CHECK_EQ(err, -EPROTO);
	TH_CHECK(strlen(shmar_comm_last_error(comm)) > 10);
	/* revoked: every later call fails the same way at once */
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 64, SHMAR_FLOAT32, SHMAR_SUM), -EPROTO);
	TH_CHECK_EQ(shmar_barrier(comm), -EPROTO);
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_mismatch(void **state)
{
	struct mismatch mm;

	(void)state;
	for (mm.what = 0; mm.what < 4; mm.what++) {
		th_job_name(mm.name, sizeof(mm.name), "mismatch");
		assert_int_equal(th_run_ranks(3, rank_mismatch, &mm, 60, NULL), 0);
	}
}

/* Bad arguments: -EINVAL before anything shared is touched; the comm stays usable. */
static int rank_bad_args(int rank, int nranks, void *arg)
{
	const char *name = arg;
	struct shmar_config cfg;
	struct shmar_comm *comm = NULL;
	float buf[32];

	th_config(&cfg);
	for (int i = 0; i < 32; i++)
		buf[i] = (float)(i * (rank + 1));
	TH_CHECK_EQ(shmar_comm_init(&comm, name, nranks, rank, &cfg), 0);
	TH_CHECK_EQ(shmar_allreduce(NULL, buf, buf, 8, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 8, (enum shmar_dtype)7, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 8, (enum shmar_dtype)-1, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 8, SHMAR_FLOAT32, (enum shmar_op)5), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 8, SHMAR_FLOAT32, (enum shmar_op)-1), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, NULL, buf, 8, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, NULL, 8, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, SIZE_MAX / 2, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, SIZE_MAX / 8 + 1, SHMAR_FLOAT64, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf + 1, 8, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK(strstr(shmar_comm_last_error(comm), "overlap") != NULL);
	/* the overlaps that are not one of the in-place forms (reduce_scatter: recvbuf at
	 * sendbuf or at sendbuf + rank * recvcount; allgather: sendbuf at recvbuf + rank * n) */
	TH_CHECK_EQ(shmar_reduce_scatter(comm, buf, buf + 1, 2, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, buf, buf + 2 * rank + 1, 2, SHMAR_FLOAT32, SHMAR_SUM),
		    -EINVAL);
	TH_CHECK_EQ(shmar_reduce_scatter(comm, buf + 1, buf, 2, SHMAR_FLOAT32, SHMAR_SUM), -EINVAL);
	TH_CHECK_EQ(shmar_allgather(comm, buf + 2 * rank + 1, buf, 2, SHMAR_FLOAT32), -EINVAL);
	TH_CHECK(strstr(shmar_comm_last_error(comm), "in-place") != NULL);
	/* NULL buffers with count 0 are fine, and the comm still works */
	TH_CHECK_EQ(shmar_allreduce(comm, NULL, NULL, 0, SHMAR_FLOAT32, SHMAR_SUM), 0);
	TH_CHECK_EQ(shmar_allreduce(comm, buf, buf, 32, SHMAR_FLOAT32, SHMAR_SUM), 0);
	for (int i = 0; i < 32; i++)
		TH_CHECK(buf[i] == (float)(i * nranks * (nranks + 1) / 2));
	TH_CHECK_EQ(shmar_comm_destroy(comm), 0);
	return 0;
}

static void test_bad_arguments(void **state)
{
	char name[80];

	(void)state;
	th_job_name(name, sizeof(name), "badargs");
	assert_int_equal(th_run_ranks(2, rank_bad_args, name, 60, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_arguments, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_mismatch, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_1, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_2, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_3, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_4, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_5, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_matrix_8, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_algorithms_agree, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_isas_agree, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_registered, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_threads, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_chunks, th_setup, th_teardown),
	};

	th_seed((uint64_t)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
