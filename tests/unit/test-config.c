/* SPDX-License-Identifier: MIT */
/*
 * test-config.c - defaults, environment, validation, error texts, version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "settings.h"

static const char *const vars[] = { "SHMAR_DIR", "SHMAR_TOKEN", "SHMAR_TIMEOUT_MS",
				    "SHMAR_INIT_TIMEOUT_MS", "SHMAR_SPIN_US", "SHMAR_SMALL_MAX",
				    "SHMAR_SLOT_BYTES", "SHMAR_ISA", "SHMAR_THREADS",
				    "SHMAR_IO_URING", "SHMAR_DEBUG" };

static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < SHMAR_ARRAY_SIZE(vars); i++)
		unsetenv(vars[i]);
	return 0;
}

static void test_defaults(void **state)
{
	struct shmar_config c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	shmar_config_init(&c);
	assert_int_equal(c.size, sizeof(c));
	assert_null(c.dir);
	assert_null(c.token);
	assert_int_equal(c.timeout_ms, 600000);
	assert_int_equal(c.init_timeout_ms, 60000);
	assert_int_equal(c.spin_us, 100);
	assert_true(c.small_max == SHMAR_SMALL_MAX_AUTO);
	assert_int_equal(c.slot_bytes, 1 << 20);
	assert_int_equal(c.isa, SHMAR_ISA_AUTO);
	assert_int_equal(c.threads, 0);
	assert_int_equal(c.io_uring, -1);
	assert_int_equal(c.debug, SHMAR_DEBUG_OFF);
	shmar_config_init(NULL); /* no crash */
}

static void test_environment(void **state)
{
	struct shmar_config c;
	struct shmar__settings s;
	struct shmar__report why = { .rank = -1 };

	(void)state;
	setenv("SHMAR_DIR", "/run/x", 1);
	setenv("SHMAR_TOKEN", "secret", 1);
	setenv("SHMAR_TIMEOUT_MS", "0", 1);
	setenv("SHMAR_INIT_TIMEOUT_MS", "1500", 1);
	setenv("SHMAR_SPIN_US", "7", 1);
	setenv("SHMAR_SMALL_MAX", "16k", 1);
	setenv("SHMAR_SLOT_BYTES", "4M", 1);
	setenv("SHMAR_ISA", "scalar", 1);
	setenv("SHMAR_THREADS", "3", 1);
	setenv("SHMAR_IO_URING", "0", 1);
	setenv("SHMAR_DEBUG", "trace", 1);
	shmar_config_init(&c);
	assert_string_equal(c.dir, "/run/x");
	assert_string_equal(c.token, "secret");
	assert_int_equal(c.timeout_ms, 0);
	assert_int_equal(c.init_timeout_ms, 1500);
	assert_int_equal(c.spin_us, 7);
	assert_int_equal(c.small_max, 16384);
	assert_int_equal(c.slot_bytes, 4 << 20);
	assert_int_equal(c.isa, SHMAR_ISA_SCALAR);
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.io_uring, 0);
	assert_int_equal(c.debug, SHMAR_DEBUG_TRACE);
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), 0);
	assert_string_equal(s.dir, "/run/x");
	assert_string_equal(s.token, "secret");
	assert_int_equal(s.small_max, 16384);
	clean_env(NULL);
}

/* Each malformed variable makes the settings invalid, naming the variable. */
static void test_bad_environment(void **state)
{
	static const struct { const char *var, *value; } bad[] = {
		{ "SHMAR_TIMEOUT_MS", "soon" },   { "SHMAR_TIMEOUT_MS", "-1" },
		{ "SHMAR_INIT_TIMEOUT_MS", "1x" }, { "SHMAR_SPIN_US", "abc" },
		{ "SHMAR_SPIN_US", "2000000" },   { "SHMAR_SMALL_MAX", "12Q" },
		{ "SHMAR_SMALL_MAX", "-5" },       { "SHMAR_SLOT_BYTES", "100" },
		{ "SHMAR_SLOT_BYTES", "2G" },      { "SHMAR_ISA", "neon" },
		{ "SHMAR_THREADS", "many" },       { "SHMAR_THREADS", "1000" },
		{ "SHMAR_IO_URING", "maybe" },     { "SHMAR_DEBUG", "loud" },
	};
	struct shmar__settings s;
	struct shmar_config c;
	struct shmar__report why = { .rank = -1 };

	(void)state;
	for (size_t i = 0; i < SHMAR_ARRAY_SIZE(bad); i++) {
		clean_env(NULL);
		setenv(bad[i].var, bad[i].value, 1);
		shmar_config_init(&c);
		why.text[0] = '\0';
		assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
		if (!strstr(why.text, bad[i].var))
			fail_msg("%s=%s: message \"%s\" does not name the variable", bad[i].var,
				 bad[i].value, why.text);
		/* and shmar_comm_init refuses it before touching anything */
		struct shmar_comm *comm = (void *)1;
		assert_int_equal(shmar_comm_init(&comm, "cfg", 1, 0, NULL), -EINVAL);
		assert_null(comm);
		assert_non_null(strstr(shmar_comm_last_error(NULL), bad[i].var));
	}
	clean_env(NULL);
}

static void test_bad_struct(void **state)
{
	struct shmar__settings s;
	struct shmar_config c;
	struct shmar__report why = { .rank = -1 };

	(void)state;
	memset(&c, 0, sizeof(c)); /* never initialised */
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	shmar_config_init(&c);
	c.size = 1 << 20;
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	shmar_config_init(&c);
	c.spin_us = -3;
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	shmar_config_init(&c);
	c.isa = 9;
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	shmar_config_init(&c);
	c.dir = "";
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	shmar_config_init(&c);
	char token[SHMAR_TOKEN_MAX + 2];
	memset(token, 'x', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	c.token = token;
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), -EINVAL);
	/* small_max is capped at the slot size */
	shmar_config_init(&c);
	c.small_max = 1 << 30;
	c.slot_bytes = 8192;
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), 0);
	assert_int_equal(s.small_max, 8192);
	/* "auto" is the default, spelled out, and survives the slot cap */
	setenv("SHMAR_SMALL_MAX", "auto", 1);
	shmar_config_init(&c);
	unsetenv("SHMAR_SMALL_MAX");
	assert_true(c.small_max == SHMAR_SMALL_MAX_AUTO);
	assert_int_equal(shmar__settings_resolve(&c, &s, &why), 0);
	assert_true(s.small_max == SHMAR_SMALL_MAX_AUTO);
	/* NULL config: defaults */
	assert_int_equal(shmar__settings_resolve(NULL, &s, &why), 0);
	assert_int_equal(s.spin_us, 100);
}

/* Arguments shmar_comm_init refuses before it touches anything. */
static void test_init_bad_arguments(void **state)
{
	static const char *const bad_jobs[] = {
		"", "a/b", "..", ".", "x y", "tab\t", "semi;colon", "ünï",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	struct shmar_comm *comm = (void *)1;

	(void)state;
	assert_int_equal(shmar_comm_init(NULL, "j", 1, 0, NULL), -EINVAL);
	assert_int_equal(shmar_comm_init(&comm, NULL, 1, 0, NULL), -EINVAL);
	assert_null(comm);
	assert_int_equal(shmar_comm_init(&comm, "j", 0, 0, NULL), -EINVAL);
	assert_int_equal(shmar_comm_init(&comm, "j", -1, 0, NULL), -EINVAL);
	assert_int_equal(shmar_comm_init(&comm, "j", 257, 0, NULL), -EINVAL);
	assert_int_equal(shmar_comm_init(&comm, "j", 4, 4, NULL), -EINVAL);
	assert_int_equal(shmar_comm_init(&comm, "j", 4, -1, NULL), -EINVAL);
	assert_non_null(strstr(shmar_comm_last_error(NULL), "rank -1"));
	for (size_t i = 0; i < SHMAR_ARRAY_SIZE(bad_jobs); i++) {
		comm = (void *)1;
		assert_int_equal(shmar_comm_init(&comm, bad_jobs[i], 1, 0, NULL), -EINVAL);
		assert_null(comm);
	}
	/* 64 characters is the longest valid name */
	char job64[65];
	memset(job64, 'j', 64);
	job64[64] = '\0';
	assert_int_equal(shmar_comm_init(&comm, job64, 1, 0, NULL), 0);
	assert_int_equal(shmar_comm_destroy(comm), 0);
	assert_int_equal(shmar_comm_destroy(NULL), 0);
	assert_int_equal(shmar_comm_rank(NULL), -EINVAL);
	assert_int_equal(shmar_comm_size(NULL), -EINVAL);
	assert_int_equal(shmar_comm_abort(NULL), -EINVAL);
}

static void test_strerror(void **state)
{
	static const int codes[] = { EINVAL, EACCES, EADDRINUSE, ETIMEDOUT, EOWNERDEAD, EPROTO,
				     ECANCELED, EBUSY, ECHILD, ENOTSUP, ENOSYS, ENOMEM, EMFILE };

	(void)state;
	for (size_t i = 0; i < SHMAR_ARRAY_SIZE(codes); i++) {
		const char *s = shmar_strerror(-codes[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 4);
		assert_string_equal(s, shmar_strerror(codes[i]));
	}
	assert_string_equal(shmar_strerror(0), "Success");
	assert_non_null(shmar_strerror(-99999));
	assert_non_null(shmar_strerror(-2147483647));
}

static void test_version(void **state)
{
	char want[32];

	(void)state;
	snprintf(want, sizeof(want), "%d.%d.", SHMAR_VERSION_MAJOR, SHMAR_VERSION_MINOR);
	assert_non_null(shmar_version());
	assert_int_equal(strncmp(shmar_version(), want, strlen(want)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_environment, clean_env),
		cmocka_unit_test_setup(test_bad_environment, clean_env),
		cmocka_unit_test_setup(test_bad_struct, clean_env),
		cmocka_unit_test_setup(test_init_bad_arguments, clean_env),
		cmocka_unit_test_setup(test_strerror, clean_env),
		cmocka_unit_test_setup(test_version, clean_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
