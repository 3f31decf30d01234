/* SPDX-License-Identifier: MIT */
/*
 * run-rendezvous.c - removing what a job left in the rendezvous directory.
 *
 * Rank 0 listens on <dir>/<job>.sock until every rank has joined, then
 * removes it.  A rank 0 that ends before (shmar-run's SIGTERM after another
 * rank failed, a SIGKILL, a crash) leaves the file behind, and shmar-run's
 * job names are unique, so such files would pile up.  Once every process
 * of the job has ended, shmar-run removes it, if it is a socket of ours
 * that no process listens on: a live one belongs to another job that was
 * given the same name, which is not ours to break.
 *
 * The directory is the library's own answer (shmar_probe_dir()), from the
 * environment the ranks inherited.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shmar-probe.h"
#include "run-internal.h"

/* How long to wait for a rank 0 of another job that holds the directory's lock. */
#define LOCK_WAIT_MS 1000

/* 1 if a process listens on path, 0 if none does, -errno when that cannot be told. */
static int socket_is_live(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0)
		ret = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		ret = 1;        /* listening, its backlog full */
	else if (errno == ECONNREFUSED)
		ret = 0;
	else
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Rank-0 candidates of the library hold the directory's flock while they
 * claim a name (check, replace a stale file, bind): holding it too, we
 * never remove a socket between another job's check and its bind.
 */
static bool lock_dir(int dirfd)
{
	for (int waited = 0; waited < LOCK_WAIT_MS; waited++) {
		if (flock(dirfd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

/* Whether name in dirfd is a socket of ours that nobody listens on. */
static bool stale_socket(int dirfd, const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return false;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return socket_is_live(path) == 0;
}

void run_rendezvous_cleanup(const char *job)
{
	char dir[PATH_MAX];
	char name[RUN_JOB_NAME_MAX + sizeof(".sock")];
	struct stat st;
	int dirfd;

	/* a setting the library refuses (a relative SHMAR_DIR) made no job start */
	if (shmar_probe_dir(NULL, dir, sizeof(dir), NULL) < 0)
		return;
	snprintf(name, sizeof(name), "%s.sock", job);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return;
	/* the library uses only a directory of ours; so do we */
	if (fstat(dirfd, &st) == 0 && st.st_uid == geteuid() && lock_dir(dirfd)) {
		if (stale_socket(dirfd, dir, name) && unlinkat(dirfd, name, 0) < 0 &&
		    errno != ENOENT)
			fprintf(stderr, "shmar-run: cannot remove %s/%s, left by the job: %s\n",
				dir, name, strerror(errno));
		flock(dirfd, LOCK_UN);
	}
	close(dirfd);
}
