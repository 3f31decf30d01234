/* SPDX-License-Identifier: MIT */
/*
 * settings.h - a comm's settings: struct shmar_config after defaults, the
 * environment and validation.
 */
#ifndef LIBSHMAR_SETTINGS_H
#define LIBSHMAR_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "shmar.h"
#include "report.h"

struct shmar__settings {
	char dir[4096];                  /* "" until rendezvous.c resolves the default */
	char token[SHMAR_TOKEN_MAX + 1]; /* zero-padded; "" means none */
	int64_t timeout_ms;              /* 0: none */
	int64_t init_timeout_ms;         /* 0: none */
	int64_t spin_us;
	size_t small_max;                /* SHMAR_SMALL_MAX_AUTO until rank 0 decides */
	size_t slot_bytes;
	size_t mem_bytes;
	size_t chunk_bytes;
	int isa;
	int threads;
	int io_uring;                    /* -1 auto, 0 never, 1 required */
	int debug;
};

/* cfg (NULL: defaults and environment) checked into set; -EINVAL naming the setting. */
int shmar__settings_resolve(const struct shmar_config *cfg, struct shmar__settings *set,
			    struct shmar__report *rep);

/* SHMAR_DEBUG as a level, SHMAR_DEBUG_OFF when unset or malformed. */
int shmar__debug_level_from_env(void);

#endif /* LIBSHMAR_SETTINGS_H */
