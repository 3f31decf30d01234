/* SPDX-License-Identifier: MIT */
/*
 * check-rendezvous.c - where ranks meet, the SHMAR_* environment, and what
 * the library says to a first shmar_comm_init of one rank.
 *
 * The directory is the library's answer (shmar_probe_dir), and so is the
 * verdict on it: the one-rank shmar_comm_init creates and opens it as every
 * job does.  What shmar-check sees in the directory only explains that
 * verdict and finds the command that fixes it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmar.h"
#include "check.h"
#include "check-util.h"

/* A unix socket path holds 107 bytes; the library names sockets <dir>/<job>.sock. */
#define SUN_PATH_MAX 107
#define SOCK_SUFFIX_LEN 5

/* What shmar-check sees in the directory, before shmar_comm_init creates it. */
enum dir_state {
	DIR_FINE,        /* a directory of the euid, 0700 */
	DIR_MISSING,     /* its parent exists: the library creates it */
	DIR_NO_PARENT,
	DIR_LINK,
	DIR_NOT_DIR,
	DIR_OTHER_UID,
	DIR_OPEN_MODE,   /* group or others have access */
	DIR_OWNER_MODE,  /* the owner cannot create sockets in it */
	DIR_UNREADABLE,  /* lstat failed otherwise */
};

struct dir_view {
	enum dir_state state;
	unsigned mode, uid;
	int err;               /* DIR_UNREADABLE: -errno */
	char parent[4096];     /* DIR_MISSING, DIR_NO_PARENT */
};

static void look_at_parent(const char *dir, struct dir_view *v)
{
	struct stat st;
	char *slash;

	snprintf(v->parent, sizeof(v->parent), "%s", dir);
	slash = strrchr(v->parent, '/');
	slash[slash == v->parent] = '\0'; /* "/a/b" -> "/a", "/a" -> "/" */
	v->state = stat(v->parent, &st) == 0 && S_ISDIR(st.st_mode) ? DIR_MISSING : DIR_NO_PARENT;
}

static void look_at_dir(const char *dir, struct dir_view *v)
{
	struct stat st;

	memset(v, 0, sizeof(*v));
	if (lstat(dir, &st) < 0) {
		v->err = -errno;
		if (errno == ENOENT)
			look_at_parent(dir, v);
		else
			v->state = DIR_UNREADABLE;
		return;
	}
	v->mode = (unsigned)(st.st_mode & 07777);
	v->uid = (unsigned)st.st_uid;
	if (S_ISLNK(st.st_mode))
		v->state = DIR_LINK;
	else if (!S_ISDIR(st.st_mode))
		v->state = DIR_NOT_DIR;
	else if (st.st_uid != geteuid())
		v->state = DIR_OTHER_UID;
	else if (st.st_mode & 077)
		v->state = DIR_OPEN_MODE;
	else if ((st.st_mode & 0700) != 0700)
		v->state = DIR_OWNER_MODE;
	else
		v->state = DIR_FINE;
}

/* The row's value and, for a problem, its fix, from what shmar-check saw. */
static void describe_dir(struct check_row *row, const struct check_facts *f, const struct dir_view *v)
{
	const char *dir = f->dir;
	unsigned euid = (unsigned)geteuid();

	switch (v->state) {
	case DIR_FINE:
		check_set_value(row, "%s (%s; 0700, uid %u)", dir, f->dir_source, euid);
		return;
	case DIR_MISSING:
		check_set_value(row, "%s (%s) missing: %s", dir, f->dir_source,
			 f->init_err == 0 ? "shmar_comm_init created it 0700" : "the library creates it 0700");
		return;
	case DIR_NO_PARENT:
		check_set_value(row, "%s missing and its parent %s too", dir, v->parent);
		check_set_fix(row, "mkdir -p %s, or point SHMAR_DIR at an existing private directory", v->parent);
		return;
	case DIR_LINK:
		check_set_value(row, "%s is a symbolic link", dir);
		check_set_fix(row, "rm %s (the library recreates it 0700), or point SHMAR_DIR at a real directory", dir);
		return;
	case DIR_NOT_DIR:
		check_set_value(row, "%s is not a directory", dir);
		check_set_fix(row, "remove %s, or point SHMAR_DIR elsewhere", dir);
		return;
	case DIR_OTHER_UID:
		check_set_value(row, "%s belongs to uid %u, not to uid %u", dir, v->uid, euid);
		check_set_fix(row, "chown %u %s (as root), or point SHMAR_DIR at a directory of uid %u", euid,
			      dir, euid);
		return;
	case DIR_OPEN_MODE:
	case DIR_OWNER_MODE:
		check_set_value(row, "%s has mode %04o", dir, v->mode);
		check_set_fix(row, "chmod 700 %s", dir);
		return;
	case DIR_UNREADABLE:
		break;
	}
	check_set_value(row, "%s: %s", dir, strerror(-v->err));
	check_set_fix(row, "point SHMAR_DIR at a directory of this user with mode 0700");
}

/* Whether <dir>/<job>.sock fits a unix socket address for every job name. */
static void check_socket_path_room(struct check_row *row, const char *dir)
{
	long room = SUN_PATH_MAX - (long)strlen(dir) - 1 - SOCK_SUFFIX_LEN;

	if (room >= SHMAR_JOB_MAX)
		return;
	if (room < 1) {
		row->status = CHECK_BROKEN;
		check_set_detail(row, "the path is too long for a unix socket (<dir>/<job>.sock must fit in %d bytes): every shmar_comm_init fails",
				 SUN_PATH_MAX);
	} else {
		row->status = CHECK_DEGRADED;
		check_set_detail(row, "job names longer than %ld characters will not fit in a unix socket path (%d bytes)",
				 room, SUN_PATH_MAX);
	}
	check_set_fix(row, "use a shorter SHMAR_DIR");
}

/* One rank, the library's own defaults and environment: what a user's first call does. */
static void probe_init(struct check_facts *f)
{
	struct shmar_comm *comm = NULL;
	char job[SHMAR_JOB_MAX + 1];

	snprintf(job, sizeof(job), "shmar-check-%ld-probe", (long)getpid());
	f->init_err = shmar_comm_init(&comm, job, 1, 0, NULL);
	snprintf(f->init_msg, sizeof(f->init_msg), "%s",
		 f->init_err < 0 ? shmar_comm_last_error(NULL) : "");
	shmar_comm_destroy(comm);
}

/* The library refused the setting itself: a relative SHMAR_DIR, a path too long. */
static void add_unresolved_row(struct check_report *rep)
{
	const struct check_facts *f = &rep->facts;
	const char *setting = check_env("SHMAR_DIR");
	struct check_row *row;

	if (f->dir_err == -EINVAL) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN,
				"%s=%s is not an absolute path", f->dir_source, setting ? setting : "");
		check_set_detail(row, "the library refuses it (-EINVAL): ranks started in different working directories would never meet");
		check_set_fix(row, "set SHMAR_DIR to an absolute path");
		return;
	}
	row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_BROKEN, "path too long (%s)",
			f->dir_source);
	check_set_detail(row, "the library refuses it (%s)", shmar_strerror(f->dir_err));
	check_set_fix(row, "use a shorter SHMAR_DIR");
}

void check_rendezvous_dir(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	struct dir_view v = { .state = DIR_FINE };
	enum check_status st;
	struct check_row *row;

	f->dir_err = shmar_probe_dir(NULL, f->dir, sizeof(f->dir), &f->dir_source);
	if (f->dir_err == 0)
		look_at_dir(f->dir, &v); /* before shmar_comm_init creates it */
	probe_init(f);
	if (f->dir_err < 0) {
		f->dir[0] = '\0';
		f->dir_refused = f->init_err == f->dir_err;
		add_unresolved_row(rep);
		return;
	}
	/* The library names the directory when it is what failed. */
	f->dir_refused = f->init_err < 0 && strstr(f->init_msg, f->dir);
	row = check_add(rep, CHECK_SECTION_SECURITY, "rendezvous dir", CHECK_OK, "%s", f->dir);
	describe_dir(row, f, &v);
	if (f->dir_refused) {
		st = CHECK_BROKEN;
		check_set_detail(row, "shmar_comm_init: %s", f->init_msg);
		if (!row->fix[0])
			check_set_fix(row, "point SHMAR_DIR at a directory of this user with mode 0700");
	} else if (f->init_err == 0) {
		/* Accepted; but one rank binds no socket, so the owner's own access is ours to see. */
		st = v.state == DIR_OWNER_MODE ? CHECK_BROKEN : CHECK_OK;
		if (st == CHECK_BROKEN)
			check_set_detail(row, "the owner cannot create the job's socket in it: rank 0 of every job of 2 or more ranks fails");
	} else {
		st = v.state == DIR_FINE || v.state == DIR_MISSING ? CHECK_OK : CHECK_BROKEN;
		check_set_detail(row, "as shmar-check sees it: shmar_comm_init failed before it looked at the directory");
	}
	row->status = st;
	if (st != CHECK_OK)
		return;
	row->fix[0] = '\0';
	check_socket_path_room(row, f->dir);
}

/* ---------------------------------------------------------------- environment */

static void list_shmar_env(char *out, size_t len)
{
	out[0] = '\0';
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SHMAR_", 6) != 0)
			continue;
		/* A token is a secret: say that it is set, never what it is. */
		if (strncmp(*e, "SHMAR_TOKEN=", 12) == 0)
			check_append_word(out, len, (*e)[12] ? "SHMAR_TOKEN=(set)" : "SHMAR_TOKEN=");
		else
			check_append_word(out, len, *e);
	}
}

/* The broken row that already says why shmar_comm_init failed with err, or NULL. */
static const char *explaining_row(struct check_report *rep, int err)
{
	const struct check_row *kernels = check_find_row(rep, "kernels");

	if (rep->facts.dir_refused)
		return "rendezvous dir";
	if (err == -EINVAL)
		return "environment";
	if (err == -ENOTSUP && kernels && kernels->status == CHECK_BROKEN)
		return "kernels";
	return NULL;
}

void check_environment(struct check_report *rep)
{
	struct check_facts *f = &rep->facts;
	char vars[CHECK_VALUE_MAX];
	const char *explained;
	struct check_row *row;

	list_shmar_env(vars, sizeof(vars));
	if (f->init_err == -EINVAL && !f->dir_refused) {
		row = check_add(rep, CHECK_SECTION_SECURITY, "environment", CHECK_BROKEN, "%s",
				vars[0] ? vars : "no SHMAR_* variables");
		check_set_detail(row, "shmar_comm_init: %s", f->init_msg);
		check_set_fix(row, "correct or unset the variable (valid values: shmar(7))");
	} else {
		check_add(rep, CHECK_SECTION_SECURITY, "environment", CHECK_OK, "%s",
			  vars[0] ? vars : "no SHMAR_* variables (defaults)");
	}
	if (f->init_err == 0) {
		check_add(rep, CHECK_SECTION_SELFTEST, "init", CHECK_OK, "shmar_comm_init of 1 rank");
		return;
	}
	explained = explaining_row(rep, f->init_err);
	row = check_add(rep, CHECK_SECTION_SELFTEST, "init", CHECK_BROKEN, "shmar_comm_init of 1 rank: %s",
			shmar_strerror(f->init_err));
	if (explained) {
		check_set_detail(row, "explained above: %s", explained);
		return;
	}
	check_set_detail(row, "%s", f->init_msg);
	check_set_fix(row, "if no row above explains it, report this output as a libshmar bug");
}
