/* SPDX-License-Identifier: MIT */
/*
 * settings.c - defaults, environment overrides and validation of the settings.
 *
 * shmar_config_init() cannot fail, so a malformed environment value is stored
 * as an out-of-range marker that shmar__settings_resolve() turns into -EINVAL
 * naming the variable: a typo in SHMAR_SPIN_US must never be silently ignored.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "settings.h"
#include "macro.h"
#include "segment.h"

#define DEFAULT_TIMEOUT_MS 600000
#define DEFAULT_INIT_TIMEOUT_MS 60000
#define DEFAULT_SPIN_US 100
#define MAX_SPIN_US 1000000

#define BAD_I64 INT64_MIN
#define BAD_SIZE (SIZE_MAX - 1) /* SIZE_MAX is SHMAR_SMALL_MAX_AUTO */
#define BAD_ENUM INT_MIN

/* "123", "64k", "4M", "1G" (binary multiples); BAD_SIZE when malformed. */
static size_t parse_size(const char *s)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!*s || *s == '-')
		return BAD_SIZE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return BAD_SIZE;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end || v > SIZE_MAX / mul)
		return BAD_SIZE;
	return (size_t)(v * mul);
}

static int64_t parse_i64(const char *s)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return BAD_I64;
	return v;
}

static int parse_word(const char *s, const char *const *words, int nwords, int first)
{
	for (int i = 0; i < nwords; i++)
		if (strcasecmp(s, words[i]) == 0)
			return first + i;
	return BAD_ENUM;
}

static const char *const isa_words[] = { "auto", "scalar", "avx2", "avx512" };
static const char *const debug_words[] = { "off", "error", "info", "trace" };

static int parse_isa(const char *s)
{
	return parse_word(s, isa_words, SHMAR_ARRAY_SIZE(isa_words), SHMAR_ISA_AUTO);
}

/* SHMAR_DEBUG, or BAD_ENUM when malformed */
static int parse_debug(const char *s)
{
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	return parse_word(s, debug_words, SHMAR_ARRAY_SIZE(debug_words), SHMAR_DEBUG_OFF);
}

static int parse_io_uring(const char *s)
{
	if (strcmp(s, "0") == 0 || strcasecmp(s, "never") == 0 || strcasecmp(s, "off") == 0)
		return 0;
	if (strcmp(s, "1") == 0 || strcasecmp(s, "on") == 0)
		return 1;
	if (strcasecmp(s, "auto") == 0)
		return -1;
	return BAD_ENUM;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

SHMAR_EXPORT void shmar_config_init(struct shmar_config *cfg)
{
	const char *v;

	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->dir = env("SHMAR_DIR");
	cfg->token = env("SHMAR_TOKEN");
	cfg->timeout_ms = (v = env("SHMAR_TIMEOUT_MS")) ? parse_i64(v) : DEFAULT_TIMEOUT_MS;
	cfg->init_timeout_ms = (v = env("SHMAR_INIT_TIMEOUT_MS")) ? parse_i64(v)
								   : DEFAULT_INIT_TIMEOUT_MS;
	cfg->spin_us = (v = env("SHMAR_SPIN_US")) ? parse_i64(v) : DEFAULT_SPIN_US;
	cfg->small_max = SHMAR_SMALL_MAX_AUTO;
	if ((v = env("SHMAR_SMALL_MAX")))
		cfg->small_max = strcasecmp(v, "auto") == 0 ? SHMAR_SMALL_MAX_AUTO : parse_size(v);
	cfg->slot_bytes = (v = env("SHMAR_SLOT_BYTES")) ? parse_size(v) : SHMAR_SLOT_DEFAULT;
	cfg->mem_bytes = (v = env("SHMAR_MEM_BYTES")) ? parse_size(v) : SHMAR_HEAP_DEFAULT;
	cfg->chunk_bytes = (v = env("SHMAR_CHUNK_BYTES")) ? parse_size(v) : SHMAR_CHUNK_DEFAULT;
	cfg->isa = (v = env("SHMAR_ISA")) ? parse_isa(v) : SHMAR_ISA_AUTO;
	cfg->threads = 0;
	if ((v = env("SHMAR_THREADS"))) {
		int64_t t = parse_i64(v);

		cfg->threads = t == BAD_I64 || t > SHMAR_MAX_RANKS ? BAD_ENUM : (int)t;
	}
	cfg->io_uring = (v = env("SHMAR_IO_URING")) ? parse_io_uring(v) : -1;
	cfg->debug = (v = env("SHMAR_DEBUG")) ? parse_debug(v) : SHMAR_DEBUG_OFF;
}

int shmar__debug_level_from_env(void)
{
	const char *v = env("SHMAR_DEBUG");
	int level = v ? parse_debug(v) : SHMAR_DEBUG_OFF;

	return level == BAD_ENUM ? SHMAR_DEBUG_OFF : level;
}

static int check_values(const struct shmar_config *c, struct shmar__report *rep)
{
	if (c->timeout_ms < 0)
		return shmar__fail(rep, -EINVAL, "invalid collective timeout (timeout_ms, SHMAR_TIMEOUT_MS)");
	if (c->init_timeout_ms < 0)
		return shmar__fail(rep, -EINVAL, "invalid init timeout (init_timeout_ms, SHMAR_INIT_TIMEOUT_MS)");
	if (c->spin_us < 0 || c->spin_us > MAX_SPIN_US)
		return shmar__fail(rep, -EINVAL, "invalid spin time (spin_us, SHMAR_SPIN_US): 0..%d", MAX_SPIN_US);
	if (c->small_max == BAD_SIZE)
		return shmar__fail(rep, -EINVAL, "invalid small_max (SHMAR_SMALL_MAX)");
	if (c->slot_bytes < SHMAR_SLOT_MIN || c->slot_bytes > SHMAR_SLOT_MAX)
		return shmar__fail(rep, -EINVAL, "invalid slot_bytes (SHMAR_SLOT_BYTES): %u..%zu", SHMAR_SLOT_MIN,
			       (size_t)SHMAR_SLOT_MAX);
	if (c->mem_bytes > SHMAR_HEAP_MAX)
		return shmar__fail(rep, -EINVAL, "invalid mem_bytes (SHMAR_MEM_BYTES): 0..%zu",
				   (size_t)SHMAR_HEAP_MAX);
	if (c->chunk_bytes < SHMAR_CHUNK_MIN || c->chunk_bytes > SHMAR_CHUNK_MAX)
		return shmar__fail(rep, -EINVAL, "invalid chunk_bytes (SHMAR_CHUNK_BYTES): %u..%zu",
				   SHMAR_CHUNK_MIN, (size_t)SHMAR_CHUNK_MAX);
	if (c->isa < SHMAR_ISA_AUTO || c->isa > SHMAR_ISA_AVX512)
		return shmar__fail(rep, -EINVAL, "invalid isa (SHMAR_ISA): auto, scalar, avx2 or avx512");
	if (c->threads < 0 || c->threads > SHMAR_MAX_RANKS)
		return shmar__fail(rep, -EINVAL, "invalid threads (SHMAR_THREADS): 0..%d", SHMAR_MAX_RANKS);
	if (c->io_uring < -1 || c->io_uring > 1)
		return shmar__fail(rep, -EINVAL, "invalid io_uring (SHMAR_IO_URING): 0, 1 or auto");
	if (c->debug < SHMAR_DEBUG_OFF || c->debug > SHMAR_DEBUG_TRACE)
		return shmar__fail(rep, -EINVAL, "invalid debug (SHMAR_DEBUG): off, error, info or trace");
	if (c->dir && (!*c->dir || strlen(c->dir) >= sizeof(((struct shmar__settings *)0)->dir)))
		return shmar__fail(rep, -EINVAL, "invalid rendezvous directory (dir, SHMAR_DIR)");
	/* resolved once here would still differ between ranks in other directories */
	if (c->dir && c->dir[0] != '/')
		return shmar__fail(rep, -EINVAL, "the rendezvous directory (dir, SHMAR_DIR) must be an absolute path, not %.64s",
			       c->dir);
	if (c->token && strlen(c->token) > SHMAR_TOKEN_MAX)
		return shmar__fail(rep, -EINVAL, "token longer than %d bytes (SHMAR_TOKEN)", SHMAR_TOKEN_MAX);
	return 0;
}

int shmar__settings_resolve(const struct shmar_config *cfg, struct shmar__settings *set,
			    struct shmar__report *rep)
{
	struct shmar_config c;
	int err;

	/* Start from defaults so a caller built against a shorter struct gets them. */
	shmar_config_init(&c);
	if (cfg) {
		if (cfg->size < offsetof(struct shmar_config, debug) + sizeof(cfg->debug) ||
		    cfg->size > 65536)
			return shmar__fail(rep, -EINVAL, "struct shmar_config not set up by shmar_config_init (size %zu)",
				       cfg->size);
		memcpy(&c, cfg, cfg->size < sizeof(c) ? cfg->size : sizeof(c));
	}
	err = check_values(&c, rep);
	if (err < 0)
		return err;

	memset(set, 0, sizeof(*set));
	if (c.dir)
		snprintf(set->dir, sizeof(set->dir), "%s", c.dir);
	if (c.token)
		snprintf(set->token, sizeof(set->token), "%s", c.token);
	set->timeout_ms = c.timeout_ms;
	set->init_timeout_ms = c.init_timeout_ms;
	set->spin_us = c.spin_us;
	set->slot_bytes = c.slot_bytes;
	/* The small algorithm keeps a whole message in one slot. */
	set->small_max = c.small_max == SHMAR_SMALL_MAX_AUTO ? SHMAR_SMALL_MAX_AUTO
			 : c.small_max < c.slot_bytes ? c.small_max : c.slot_bytes;
	set->mem_bytes = c.mem_bytes;
	set->chunk_bytes = c.chunk_bytes;
	set->isa = c.isa;
	set->threads = c.threads;
	set->io_uring = c.io_uring;
	set->debug = c.debug;
	return 0;
}
