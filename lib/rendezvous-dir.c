/* SPDX-License-Identifier: MIT */
/*
 * rendezvous-dir.c - the rendezvous directory and the socket files in it.
 *
 * Trust model: the directory is private to the user (0700, owned by the
 * euid, not a symlink); rank 0 checks each peer's uid with SO_PEERCRED and,
 * when a token is set, the token (rendezvous-root.c).
 *
 * Nothing of a job may stay in the directory.  Rank 0 unlinks its socket
 * when every rank connected or the job failed; a rank 0 that is killed
 * cannot, so every init sweeps the socket files nobody listens on.  That is
 * safe because rank 0 binds *and* listens while it holds the directory's
 * lock, and the sweep holds it too: under the lock, a socket that refuses a
 * connection has no live owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rendezvous.h"

/* Socket files looked at per sweep: a bound on the time one init spends. */
#define SWEEP_MAX 256

int shmar__rdv_dir_resolve(const char *setting, char *out, size_t len, const char **source)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (setting && *setting) {
		/* ranks in different working directories must still meet */
		if (setting[0] != '/')
			return -EINVAL;
		n = snprintf(out, len, "%s", setting);
		*source = "setting";
	} else if (xdg && xdg[0] == '/') {
		n = snprintf(out, len, "%s/shmar", xdg);
		*source = "XDG_RUNTIME_DIR";
	} else {
		n = snprintf(out, len, "/tmp/shmar-%u", (unsigned)geteuid());
		*source = "default";
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void shmar__rdv_init(struct shmar__rdv *r, int nranks, int rank, uint64_t deadline_ns,
		     struct shmar__report *rep)
{
	memset(r, 0, sizeof(*r));
	r->dirfd = -1;
	r->listen_fd = -1;
	r->spare_fd = -1;
	r->nranks = nranks;
	r->rank = rank;
	r->deadline_ns = deadline_ns;
	r->rep = rep;
	for (int i = 0; i < SHMAR_MAX_RANKS; i++) {
		r->socks[i] = -1;
		r->pidfds[i] = -1;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void shmar__rdv_stop_listening(struct shmar__rdv *r)
{
	if (r->listen_fd < 0)
		return;
	/* Unlink first: a client that connects in between gets ECONNREFUSED, not a hang. */
	unlinkat(r->dirfd, r->sock_name, 0);
	close_fd(&r->listen_fd);
}

void shmar__rdv_fini(struct shmar__rdv *r)
{
	shmar__rdv_stop_listening(r);
	for (int i = 0; i < SHMAR_MAX_RANKS; i++) {
		close_fd(&r->socks[i]);
		close_fd(&r->pidfds[i]);
	}
	close_fd(&r->spare_fd);
	close_fd(&r->dirfd);
}

/* Serialise binding and sweeping in one directory: 0, -ETIMEDOUT or -errno. */
static int lock_dir(struct shmar__rdv *r)
{
	while (flock(r->dirfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (shmar__rdv_remaining_ms(r) == 0)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return 0;
}

static void unlock_dir(struct shmar__rdv *r)
{
	flock(r->dirfd, LOCK_UN);
}

/* The address of socket file name in the directory; false if it is too long. */
static bool addr_of(const struct shmar__rdv *r, const char *name, struct sockaddr_un *addr)
{
	size_t dir_len = strlen(r->sock_path) - strlen(r->sock_name);
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%.*s%s", (int)dir_len, r->sock_path,
		     name);
	return n > 0 && (size_t)n < sizeof(addr->sun_path);
}

/* 1 if a process listens on the socket file, 0 if it is stale, -errno otherwise. */
static int socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		ret = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		ret = 1; /* listening, backlog full */
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else if (errno == EPROTOTYPE)
		ret = 1; /* not a libshmar socket: leave it alone */
	else
		ret = -errno;
	close(fd);
	return ret;
}

/* Under the lock: unlink name if it is a socket nobody listens on. */
static bool sweep_one(struct shmar__rdv *r, const char *name)
{
	struct sockaddr_un addr;
	struct stat st;

	if (fstatat(r->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (!addr_of(r, name, &addr) || socket_is_live(&addr) != 0)
		return false;
	return unlinkat(r->dirfd, name, 0) == 0;
}

static bool is_sock_name(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".sock") == 0;
}

/*
 * The names of the sockets listening in the directory (of dir_len bytes of
 * r->sock_path), from /proc/net/unix, as one "\n"-separated string; NULL
 * when it cannot be read.  A sweep connects only to the others, so a job
 * that is forming is not disturbed by a probe.  (A socket of another network
 * namespace is not listed: it gets the probe, which is still safe.)
 */
static char *listening_names(const struct shmar__rdv *r, size_t dir_len)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512], *names = NULL, *path;
	size_t used = 0, cap = 0, n;
	unsigned long flags;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		path = strchr(line, '/');
		if (!path || sscanf(line, "%*s %*s %*s %lx", &flags) != 1 || !(flags & 0x10000))
			continue; /* not a path, or not listening (__SO_ACCEPTCON) */
		if (strncmp(path, r->sock_path, dir_len) != 0 || strchr(path + dir_len, '/'))
			continue; /* elsewhere */
		n = strcspn(path + dir_len, "\n");
		if (used + n + 2 > cap) {
			char *grown = realloc(names, cap = 2 * cap + n + 256);

			if (!grown)
				break;
			names = grown;
		}
		memcpy(names + used, path + dir_len, n);
		used += n;
		names[used++] = '\n';
		names[used] = '\0';
	}
	fclose(f);
	return names ? names : strdup("");
}

static bool listed(const char *names, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = names; p && (p = strstr(p, name)); p += n)
		if ((p == names || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* Remove the socket files of dead jobs; what cannot be looked at is left. */
static void sweep_dir(struct shmar__rdv *r)
{
	size_t dir_len = strlen(r->sock_path) - strlen(r->sock_name);
	int fd = dup(r->dirfd), seen = 0, removed = 0;
	char *live = NULL;
	struct dirent *e;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	if (lock_dir(r) == 0) {
		while ((e = readdir(d)) && seen < SWEEP_MAX) {
			if (!is_sock_name(e->d_name))
				continue;
			if (seen++ == 0)
				live = listening_names(r, dir_len);
			if (!listed(live, e->d_name))
				removed += sweep_one(r, e->d_name);
		}
		unlock_dir(r);
	}
	free(live);
	closedir(d);
	if (removed)
		shmar__log(r->rep, SHMAR_DEBUG_INFO, "removed %d stale socket file%s of dead jobs",
			   removed, removed == 1 ? "" : "s");
}

bool shmar__rdv_sweep_own(struct shmar__rdv *r)
{
	bool removed = false;

	if (lock_dir(r) == 0) {
		removed = sweep_one(r, r->sock_name);
		unlock_dir(r);
	}
	if (removed) {
		r->swept_own = true;
		shmar__log(r->rep, SHMAR_DEBUG_INFO, "removed the stale socket file %s", r->sock_path);
	}
	return removed;
}

int shmar__rdv_open_dir(struct shmar__rdv *r, const char *dir, const char *job)
{
	struct stat st;
	int n;

	n = snprintf(r->sock_name, sizeof(r->sock_name), "%s.sock", job);
	if (n < 0 || (size_t)n >= sizeof(r->sock_name))
		return shmar__fail(r->rep, -EINVAL, "job name too long");
	n = snprintf(r->sock_path, sizeof(r->sock_path), "%s/%s", dir, r->sock_name);
	if (n < 0 || (size_t)n >= sizeof(r->sock_path))
		return shmar__fail(r->rep, -ENAMETOOLONG,
				   "socket path %s/%s is longer than %zu bytes", dir, r->sock_name,
				   sizeof(r->sock_path) - 1);

	/* Ranks start in any order: whoever comes first makes the directory. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return shmar__fail(r->rep, -errno, "cannot create rendezvous directory %s: %s", dir,
				   strerror(errno));
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->dirfd < 0) {
		int err = errno;

		if (err == ELOOP || err == ENOTDIR)
			return shmar__fail(r->rep, -EACCES,
					   "rendezvous directory %s is a symlink or not a directory", dir);
		if (err == EMFILE || err == ENFILE)
			return shmar__rdv_fail_fds(r, -err, "cannot open the rendezvous directory");
		return shmar__fail(r->rep, -err, "cannot open rendezvous directory %s: %s", dir,
				   strerror(err));
	}
	if (fstat(r->dirfd, &st) < 0)
		return shmar__fail(r->rep, -errno, "cannot stat %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid())
		return shmar__fail(r->rep, -EACCES,
				   "rendezvous directory %s belongs to uid %u, not to uid %u", dir,
				   (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return shmar__fail(r->rep, -EACCES,
				   "rendezvous directory %s has mode %03o: group and others must have no access (chmod 700)",
				   dir, (unsigned)(st.st_mode & 0777));
	sweep_dir(r);
	return 0;
}

static int bind_and_listen(struct shmar__rdv *r, int fd)
{
	struct sockaddr_un addr;

	if (!addr_of(r, r->sock_name, &addr))
		return shmar__fail(r->rep, -ENAMETOOLONG, "socket path %s too long", r->sock_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno != EADDRINUSE)
			return shmar__fail(r->rep, -errno, "cannot bind %s: %s", r->sock_path,
					   strerror(errno));
		/* still there under the lock after the sweep: its owner lives */
		if (!sweep_one(r, r->sock_name))
			return shmar__fail(r->rep, -EADDRINUSE, "a live job is already forming at %s",
					   r->sock_path);
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return shmar__fail(r->rep, -errno, "cannot bind %s: %s", r->sock_path,
					   strerror(errno));
	}
	if (listen(fd, SOMAXCONN) < 0) {
		int err = -errno;

		unlinkat(r->dirfd, r->sock_name, 0);
		return shmar__fail(r->rep, err, "listen: %s", strerror(-err));
	}
	return 0;
}

int shmar__rdv_listen(struct shmar__rdv *r)
{
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE
			       ? shmar__rdv_fail_fds(r, -errno, "cannot make the listening socket")
			       : shmar__fail(r->rep, -errno, "socket: %s", strerror(errno));
	/* kept to tell a peer why when accept() finds no descriptor left */
	r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	err = lock_dir(r);
	if (err < 0) {
		err = shmar__fail(r->rep, err, "cannot lock the rendezvous directory: %s",
				  strerror(-err));
	} else {
		err = bind_and_listen(r, fd);
		unlock_dir(r);
	}
	if (err < 0) {
		close(fd);
		return err;
	}
	r->listen_fd = fd;
	return 0;
}
