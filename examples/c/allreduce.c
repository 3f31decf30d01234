/* allreduce.c: an in-place float32 all-reduce over every rank of a job */
#include <shmar.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1024 * 1024)

int
main(void)
{
    int                err, rank, size;
    float              *x, want;
    size_t             i;
    struct shmar_comm  *comm;

    /* SHMAR_JOB, SHMAR_NRANKS and SHMAR_RANK come from shmar-run(1). */
    err = shmar_comm_init_env(&comm);
    if (err < 0) {
        fprintf(stderr, "shmar_comm_init_env: %s: %s\n",
                shmar_strerror(err), shmar_comm_last_error(NULL));
        exit(EXIT_FAILURE);
    }
    rank = shmar_comm_rank(comm);
    size = shmar_comm_size(comm);

    x = malloc(COUNT * sizeof(*x));
    if (x == NULL) {
        perror("malloc");
        shmar_comm_abort(comm);     /* the peers get -ECANCELED */
        shmar_comm_destroy(comm);
        exit(EXIT_FAILURE);
    }
    for (i = 0; i < COUNT; i++)
        x[i] = (float) (rank + 1);

    /* In place: sendbuf == recvbuf. */
    err = shmar_allreduce(comm, x, x, COUNT, SHMAR_FLOAT32, SHMAR_SUM);
    if (err < 0) {
        /* e.g. "rank 3 (pid 4711) died or left the job" */
        fprintf(stderr, "rank %d: shmar_allreduce: %s: %s\n", rank,
                shmar_strerror(err), shmar_comm_last_error(comm));
        shmar_comm_destroy(comm);
        exit(EXIT_FAILURE);
    }

    want = (float) (size * (size + 1) / 2);   /* exact: small integers */
    for (i = 0; i < COUNT; i++) {
        if (x[i] != want) {
            fprintf(stderr, "rank %d: x[%zu] = %g, want %g\n",
                    rank, i, x[i], want);
            exit(EXIT_FAILURE);
        }
    }
    if (rank == 0)
        printf("rank 0 of %d: %d floats, every element %g\n",
               size, COUNT, want);

    free(x);
    shmar_comm_destroy(comm);
    exit(EXIT_SUCCESS);
}
