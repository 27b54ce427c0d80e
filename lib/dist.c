/* See LICENSE file for copyright and license details. */
/*
 * dist: the ranks of a job (dist.h), MPI's or one process's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "util.h"

#ifdef MIM_MPI
#include <mpi.h>

/* MPI counts are ints: big buffers go in pieces of this many elements */
enum { PIECE = 1 << 28 };

static int
mpierr(int rc, const char *what, char *msg, size_t msglen)
{
	char s[MPI_MAX_ERROR_STRING];
	int len;

	if (rc == MPI_SUCCESS)
		return 0;
	if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "error code %d", rc);
	errf(msg, msglen, "%s: %s (did another rank fail?)", what, s);
	return -1;
}

int
dist_have_mpi(void)
{
	return 1;
}

int
dist_init(struct dist *d, int *argc, char ***argv, char *msg, size_t msglen)
{
	int rc, provided, flag;

	memset(d, 0, sizeof(*d));
	d->size = 1;
	if ((rc = MPI_Initialized(&flag)) != MPI_SUCCESS)
		return mpierr(rc, "MPI_Initialized", msg, msglen);
	if (!flag) {
		rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
		if (rc != MPI_SUCCESS)
			return mpierr(rc, "MPI_Init_thread", msg, msglen);
		d->mpi = 1;
		if (provided < MPI_THREAD_FUNNELED) {
			errf(msg, msglen, "MPI_Init_thread: the library gives thread "
			     "level %d, below MPI_THREAD_FUNNELED", provided);
			return -1;
		}
	}
	if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) ||
	    (rc = MPI_Comm_rank(MPI_COMM_WORLD, &d->rank)) ||
	    (rc = MPI_Comm_size(MPI_COMM_WORLD, &d->size)))
		return mpierr(rc, "MPI_COMM_WORLD", msg, msglen);
	return 0;
}

int
dist_finalize(struct dist *d)
{
	int rc = MPI_SUCCESS;

	if (d->mpi)
		rc = MPI_Finalize();
	d->mpi = 0;
	return rc == MPI_SUCCESS ? 0 : -1;
}

void
dist_abort(const struct dist *d, int status)
{
	if (d->size > 1)
		MPI_Abort(MPI_COMM_WORLD, status);
}

/* an in-place all-reduce of n elements of type t, in pieces */
static int
allreduce(void *x, size_t n, size_t size, MPI_Datatype t, MPI_Op op,
          const char *what, char *msg, size_t msglen)
{
	char *p = x;
	size_t i, m;
	int rc;

	for (i = 0; i < n; i += m) {
		m = n - i < PIECE ? n - i : PIECE;
		rc = MPI_Allreduce(MPI_IN_PLACE, p + i * size, (int)m, t, op,
		                   MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			return mpierr(rc, what, msg, msglen);
	}
	return 0;
}

int
dist_sum_f32(const struct dist *d, float *x, size_t n, char *msg,
             size_t msglen)
{
	if (d->size == 1)
		return 0;
	return allreduce(x, n, sizeof(*x), MPI_FLOAT, MPI_SUM,
	                 "MPI_Allreduce (sum of floats)", msg, msglen);
}

int
dist_sum_i64(const struct dist *d, int64_t *x, size_t n, char *msg,
             size_t msglen)
{
	if (d->size == 1)
		return 0;
	return allreduce(x, n, sizeof(*x), MPI_INT64_T, MPI_SUM,
	                 "MPI_Allreduce (sum of integers)", msg, msglen);
}

int
dist_min_i64(const struct dist *d, int64_t *x, size_t n, char *msg,
             size_t msglen)
{
	if (d->size == 1)
		return 0;
	return allreduce(x, n, sizeof(*x), MPI_INT64_T, MPI_MIN,
	                 "MPI_Allreduce (minimum)", msg, msglen);
}

int
dist_max_i64(const struct dist *d, int64_t *x, size_t n, char *msg,
             size_t msglen)
{
	if (d->size == 1)
		return 0;
	return allreduce(x, n, sizeof(*x), MPI_INT64_T, MPI_MAX,
	                 "MPI_Allreduce (maximum)", msg, msglen);
}

int
dist_or(const struct dist *d, void *buf, size_t n, char *msg, size_t msglen)
{
	if (d->size == 1)
		return 0;
	return allreduce(buf, n, 1, MPI_BYTE, MPI_BOR,
	                 "MPI_Allreduce (bitwise or)", msg, msglen);
}

int
dist_bcast(const struct dist *d, void *buf, size_t n, int root, char *msg,
           size_t msglen)
{
	char *p = buf;
	size_t i, m;
	int rc;

	if (d->size == 1)
		return 0;
	for (i = 0; i < n; i += m) {
		m = n - i < PIECE ? n - i : PIECE;
		if ((rc = MPI_Bcast(p + i, (int)m, MPI_BYTE, root, MPI_COMM_WORLD)))
			return mpierr(rc, "MPI_Bcast", msg, msglen);
	}
	return 0;
}

int
dist_allgather(const struct dist *d, const void *x, size_t n, void *all,
               char *msg, size_t msglen)
{
	int rc;

	if (d->size == 1) {
		memmove(all, x, n);
		return 0;
	}
	if (n > INT_MAX) {
		errf(msg, msglen, "MPI_Allgather: %zu bytes a rank, over INT_MAX",
		     n);
		return -1;
	}
	rc = MPI_Allgather(x, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE,
	                   MPI_COMM_WORLD);
	return mpierr(rc, "MPI_Allgather", msg, msglen);
}

/*
 * Rank r waits for the sum of ranks 0..r-1, adds its own x to it (in
 * that order) and passes it on; the last rank's total goes back to all.
 * The latency grows with the ranks: for the small blocks of K-means.
 */
int
dist_sum_f64_ordered(const struct dist *d, double *x, size_t n, char *msg,
                     size_t msglen)
{
	double *part;
	size_t i, j, m;
	int rc = MPI_SUCCESS;

	if (d->size == 1)
		return 0;
	if (!(part = malloc((n < PIECE ? n : PIECE) * sizeof(*part) + 1))) {
		errf(msg, msglen, "out of memory for a sum over ranks");
		return -1;
	}
	for (i = 0; i < n && rc == MPI_SUCCESS; i += m) {
		m = n - i < PIECE ? n - i : PIECE;
		if (d->rank > 0) {
			rc = MPI_Recv(part, (int)m, MPI_DOUBLE, d->rank - 1, 0,
			              MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			if (rc != MPI_SUCCESS)
				break;
			for (j = 0; j < m; j++)
				x[i + j] = part[j] + x[i + j];
		}
		if (d->rank < d->size - 1 &&
		    (rc = MPI_Send(x + i, (int)m, MPI_DOUBLE, d->rank + 1, 0,
		                   MPI_COMM_WORLD)) != MPI_SUCCESS)
			break;
		rc = MPI_Bcast(x + i, (int)m, MPI_DOUBLE, d->size - 1,
		               MPI_COMM_WORLD);
	}
	free(part);
	return mpierr(rc, "sum over ranks (MPI_Send, MPI_Recv, MPI_Bcast)", msg,
	              msglen);
}

#else /* one process */

int
dist_have_mpi(void)
{
	return 0;
}

int
dist_init(struct dist *d, int *argc, char ***argv, char *msg, size_t msglen)
{
	(void)argc, (void)argv, (void)msg, (void)msglen;
	memset(d, 0, sizeof(*d));
	d->size = 1;
	return 0;
}

int
dist_finalize(struct dist *d)
{
	(void)d;
	return 0;
}

void
dist_abort(const struct dist *d, int status)
{
	(void)d, (void)status;
}

#define IDENTITY(name, type) \
int \
name(const struct dist *d, type *x, size_t n, char *msg, size_t msglen) \
{ \
	(void)d, (void)x, (void)n, (void)msg, (void)msglen; \
	return 0; \
}
IDENTITY(dist_sum_f32, float)
IDENTITY(dist_sum_f64_ordered, double)
IDENTITY(dist_sum_i64, int64_t)
IDENTITY(dist_min_i64, int64_t)
IDENTITY(dist_max_i64, int64_t)
IDENTITY(dist_or, void)

int
dist_bcast(const struct dist *d, void *buf, size_t n, int root, char *msg,
           size_t msglen)
{
	(void)d, (void)buf, (void)n, (void)root, (void)msg, (void)msglen;
	return 0;
}

int
dist_allgather(const struct dist *d, const void *x, size_t n, void *all,
               char *msg, size_t msglen)
{
	(void)d, (void)msg, (void)msglen;
	memmove(all, x, n);
	return 0;
}

#endif

void
dist_name(const struct dist *d)
{
	static char name[96];

	if (d->size < 2)
		return;
	snprintf(name, sizeof(name), "%s: rank %d of %d", argv0, d->rank,
	         d->size);
	argv0 = name;
}
