/* See LICENSE file for copyright and license details. */
/*
 * dist: the processes of one job, for the tools that spread their work
 * over several (mim-train, kmeans-fit).
 *
 * Built with -DMIM_MPI (make MPI=1) a job is the ranks of an MPI launch
 * (mpirun -n N, srun): dist_init calls MPI_Init_thread, asking for
 * MPI_THREAD_FUNNELED (only the main thread calls MPI; OpenMP and
 * OpenBLAS threads never do), and makes MPI's errors return instead of
 * aborting, so that a tool can say what it was doing when a collective
 * failed.  Built without, a job is one process: rank 0 of 1, and every
 * collective leaves its buffer as it is.  The tools call these functions
 * the same way in both builds.
 *
 * Every collective must be called by every rank, in the same order.
 * Each returns 0, or -1 with a message in msg (msglen bytes); nothing
 * here exits or prints.
 *
 * Which reduction to use:
 *	dist_sum_f32        large float blocks (gradients): MPI_Allreduce,
 *	                    whose algorithm the library picks by size;
 *	                    every rank gets the same bytes from Open MPI and
 *	                    MPICH, but the order of the additions is theirs
 *	dist_sum_f64_ordered small double blocks (K-means sums, losses):
 *	                    ((x0 + x1) + x2) + ... in rank order, passed
 *	                    along a chain and broadcast, so the bits are the
 *	                    same on every rank and in every run whatever the
 *	                    library
 */
#ifndef MIM_DIST_H
#define MIM_DIST_H

#include <stddef.h>
#include <stdint.h>

struct dist {
	int rank, size;
	int mpi;        /* MPI was initialised here (and must be finalised) */
};

/* 1 if this build has MPI (make MPI=1) */
int dist_have_mpi(void);

int dist_init(struct dist *, int *argc, char ***argv, char *msg,
              size_t msglen);
/* after the last collective; a no-op without MPI */
int dist_finalize(struct dist *);
/* end every rank of the job now with status (MPI_Abort); returns only
 * without MPI */
void dist_abort(const struct dist *, int status);

/* x (n) = the sum over ranks of x, in place */
int dist_sum_f32(const struct dist *, float *x, size_t n, char *msg,
                 size_t msglen);
int dist_sum_f64_ordered(const struct dist *, double *x, size_t n,
                         char *msg, size_t msglen);
int dist_sum_i64(const struct dist *, int64_t *x, size_t n, char *msg,
                 size_t msglen);
/* x (n) = the least (greatest) over ranks, element by element */
int dist_min_i64(const struct dist *, int64_t *x, size_t n, char *msg,
                 size_t msglen);
int dist_max_i64(const struct dist *, int64_t *x, size_t n, char *msg,
                 size_t msglen);
/* buf (n bytes) = root's buf on every rank */
int dist_bcast(const struct dist *, void *buf, size_t n, int root,
               char *msg, size_t msglen);
/* every rank gets every rank's n bytes: all (size * n) holds rank r's
 * x at all + r * n */
int dist_allgather(const struct dist *, const void *x, size_t n, void *all,
                   char *msg, size_t msglen);
/*
 * buf (n bytes) = the bitwise OR over ranks: when one rank holds the
 * data of a part and the others zeros there, every rank gets the data,
 * bit for bit (a sum would turn -0.0 into 0.0)
 */
int dist_or(const struct dist *, void *buf, size_t n, char *msg,
            size_t msglen);

/*
 * The name of this process in messages: "tool: rank R of N" when the
 * job has several ranks, so that every line a rank prints says which
 * it was (util.h's argv0).  Leaves argv0 alone for one rank.
 */
void dist_name(const struct dist *);

#endif
