/* SPDX-License-Identifier: MIT */
/*
 * report.h - the one way a failure is described: shmar__fail() writes the
 * text into a report and returns the error, so a failing function ends with
 * "return shmar__fail(rep, -EXXX, ...)".  A comm owns one report from the
 * moment shmar_comm_init() allocates it, and every layer below it (channel,
 * rendezvous, segment setup) writes into that; shmar_comm_init() copies the
 * text of a failed init once for shmar_comm_last_error(NULL).
 *
 * The same report says what goes to stderr (SHMAR_DEBUG): nothing by
 * default; failures at "error", the life of a job at "info", every call and
 * every sleep at "trace".  A disabled level costs one comparison.
 */
#ifndef LIBSHMAR_REPORT_H
#define LIBSHMAR_REPORT_H

#define SHMAR_ERRMSG_MAX 256

struct shmar__report {
	char text[SHMAR_ERRMSG_MAX]; /* the last failure; "" when none */
	int debug;                   /* enum shmar_debug: what is written to stderr */
	int rank;                    /* for the log lines; -1 when not known */
};

int shmar__fail(struct shmar__report *rep, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void shmar__log_line(const struct shmar__report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log at level (enum shmar_debug) when the report asks for it. */
#define shmar__log(rep, level, ...)                                          \
	do {                                                                 \
		if (__builtin_expect((rep)->debug >= (level), 0))            \
			shmar__log_line((rep), __VA_ARGS__);                 \
	} while (0)

/*
 * Out of file descriptors (err -EMFILE or -ENFILE) while doing what: the
 * text names the open-files limit and about how many a job of nranks needs
 * (2 nranks + 6 on rank 0, nranks + 5 on the others), or the system table.
 */
int shmar__fail_fds(struct shmar__report *rep, int err, const char *what, int nranks);

/* The failure text of the calling thread's last shmar_comm_init(). */
void shmar__init_error_set(const char *text);
const char *shmar__init_error(void);

#endif /* LIBSHMAR_REPORT_H */
