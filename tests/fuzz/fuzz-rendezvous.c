/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rendezvous.c - libFuzzer target: whatever bytes a hostile client or a
 * broken rank 0 sends, the message checks neither crash nor accept garbage.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... (see .ci/run)
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rendezvous-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shmar__msg m;
	struct shmar__report why = { .rank = -1 };
	uint32_t nranks, rank;
	int err;

	/* A receive buffer holds at most one message; the length is what arrived. */
	memset(&m, 0, sizeof(m));
	memcpy(&m, data, size < sizeof(m) ? size : sizeof(m));
	err = shmar__msg_check_frame(&m, size);
	if (err < 0)
		return 0;
	assert(size == sizeof(m));
	/* rank 0's view, with and without a token */
	nranks = 1 + m.rank % SHMAR_MAX_RANKS;
	if (shmar__msg_check_hello(&m, nranks, NULL, &why) == 0)
		assert(m.rank > 0 && m.rank < nranks && m.nranks == nranks && m.token[0] == '\0');
	if (shmar__msg_check_hello(&m, m.nranks, "secret", &why) == 0)
		assert(strcmp(m.token, "secret") == 0);
	/* a rank's view of a welcome */
	nranks = m.nranks;
	rank = m.rank;
	if (nranks > 0 && nranks <= SHMAR_MAX_RANKS && rank < nranks &&
	    shmar__msg_check_welcome(&m, nranks, rank, m.pids[rank], &why) == 0)
		assert(m.seg_bytes > 0 && memchr(why.text, '\0', sizeof(why.text)));
	return 0;
}
