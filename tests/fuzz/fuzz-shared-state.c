/* SPDX-License-Identifier: MIT */
/*
 * fuzz-shared-state.c - libFuzzer target: a segment header written by a
 * broken or hostile rank is either rejected or describes a layout whose every
 * region lies inside the mapping.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmar.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char page[SHMAR_PAGE] __attribute__((aligned(128)));
	struct shmar__layout l;
	size_t small_max, mapped;
	unsigned nranks;

	if (size < 4)
		return 0;
	/* first bytes: the rank count and mapping size this rank believes in */
	nranks = 1 + data[0];
	mapped = (size_t)data[1] << 20 | (size_t)data[2] << 12 | (size_t)data[3] << 4;
	memset(page, 0, sizeof(page));
	memcpy(page, data + 4, size - 4 < sizeof(page) ? size - 4 : sizeof(page));
	if (shmar__segment_header_check(page, mapped, nranks, &l, &small_max) < 0)
		return 0;
	/* accepted: every rank's control block, slots, stream and heap are inside */
	assert(l.nranks == nranks && l.total_bytes == mapped);
	assert(small_max <= l.slot_bytes);
	assert(l.stream_off >= 2 * l.slot_bytes);
	assert(l.stream_off + (size_t)SHMAR_STREAM_REGIONS * l.chunk_bytes <= l.heap_off);
	assert(l.heap_off + l.heap_bytes <= l.region_stride);
	for (unsigned r = 0; r < nranks; r++) {
		assert(l.ctl_off + (size_t)(r + 1) * l.ctl_stride <= l.data_off);
		assert(l.data_off + (size_t)(r + 1) * l.region_stride <= mapped);
	}
	/* and the abort word decodes to a bounded rank */
	uint32_t w = ((const struct shmar__seg_header *)page)->abort_word;
	int who = SHMAR_ABORT_RANK(w);
	assert(who >= -1 && who < 65535);
	return 0;
}
