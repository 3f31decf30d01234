/* fork-job.c: two forked ranks form a job named after the parent's pid */
#include <shmar.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int
rank_main(const char *job, int rank)
{
    float              v[4] = { 1, 2, 3, 4 };
    int                err;
    struct shmar_comm  *comm;

    err = shmar_comm_init(&comm, job, 2, rank, NULL);
    if (err < 0) {
        /* e.g. "job example-4711 rank 1: rank 0 (pid 4712) died or
           left while the job formed" */
        fprintf(stderr, "rank %d: %s: %s\n", rank,
                shmar_strerror(err), shmar_comm_last_error(NULL));
        return 1;
    }
    err = shmar_allreduce(comm, v, v, 4, SHMAR_FLOAT32, SHMAR_SUM);
    if (err < 0)
        fprintf(stderr, "rank %d: %s: %s\n", rank,
                shmar_strerror(err), shmar_comm_last_error(comm));
    else if (v[0] != 2 || v[3] != 8)
        err = -1;
    shmar_comm_destroy(comm);
    return err < 0;
}

int
main(void)
{
    char   job[64];
    int    status, fails = 0;
    pid_t  pid;

    snprintf(job, sizeof(job), "example-%ld", (long) getpid());
    for (int r = 0; r < 2; r++) {
        pid = fork();
        if (pid == -1) {
            perror("fork");
            exit(EXIT_FAILURE);
        }
        if (pid == 0)
            _exit(rank_main(job, r));
    }
    while (wait(&status) > 0)
        fails += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (fails == 0)
        printf("2 ranks of job %s: sum of the vectors OK\n", job);
    exit(fails ? EXIT_FAILURE : EXIT_SUCCESS);
}
