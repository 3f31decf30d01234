/* SPDX-License-Identifier: MIT */
/*
 * shmar-run-helper - a rank for test-shmar-run.sh that sleeps until it is
 * killed, with a marker on its command line for pgrep -f to find.
 *
 *   shmar-run-helper [--ignore-term] [--fork] [--ready FILE] MARKER
 *
 *   --ignore-term  SIGTERM does not end it (nor its child): only SIGKILL does
 *   --fork         first start a child that does the same, as a process the
 *                  rank started (same process group, same command line)
 *   --ready FILE   create FILE once all that is set up
 *
 * Whatever happens, SIGALRM ends both after 60 s, so that a broken
 * shmar-run cannot leave them behind for long.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define LIFETIME_S 60

static int usage(void)
{
	fprintf(stderr, "usage: shmar-run-helper [--ignore-term] [--fork] [--ready FILE] MARKER\n");
	return 2;
}

static int create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

int main(int argc, char **argv)
{
	const char *ready = NULL;
	bool ignore_term = false;
	bool start_child = false;
	pid_t child = -1;
	int i;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--ignore-term"))
			ignore_term = true;
		else if (!strcmp(argv[i], "--fork"))
			start_child = true;
		else if (!strcmp(argv[i], "--ready") && i + 2 < argc)
			ready = argv[++i];
		else
			return usage();
	}
	if (i != argc - 1)
		return usage();
	/* ignored dispositions survive fork(), so the child ignores SIGTERM too */
	if (ignore_term)
		signal(SIGTERM, SIG_IGN);
	if (start_child) {
		child = fork();
		if (child < 0) {
			perror("shmar-run-helper: fork");
			return 1;
		}
	}
	/* after fork(): a child does not inherit the alarm */
	alarm(LIFETIME_S);
	/* the child (child == 0) says nothing: its parent is ready after fork() */
	if (ready && child != 0 && create_file(ready) < 0) {
		perror("shmar-run-helper: cannot create the ready file");
		return 1;
	}
	for (;;)
		pause();
}
