/* See LICENSE file for copyright and license details. */
/*
 * augraph: the augmentation graph of tokens, its labelling error and
 * the spectrum of its normalised Laplacian (augraph.h).
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augraph.h"
#include "util.h"

/*
 * LAPACK's symmetric eigensolver (MRRR; with jobz "N", range "I" it
 * bisects for eigenvalues il..iu only), from the LAPACK that Debian's
 * OpenBLAS carries; declared here rather than through LAPACKE, which
 * would be one more package for one call.  Fortran passes the lengths
 * of the three strings last.
 */
void dsyevr_(const char *jobz, const char *range, const char *uplo,
             const int *n, double *a, const int *lda, const double *vl,
             const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z,
             const int *ldz, int *isuppz, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info, size_t, size_t,
             size_t);

/* tokens held by at least this share of the images go through dsyrk */
#define HEAVY_SHARE 16
/* tokens per dsyrk call */
#define HEAVY_BLOCK 128

/* ------------------------------------------------------------------ */
/* the graph                                                           */

/* n_t (K) of the bags, and the degrees d_i (N) if d is not NULL */
static void
totals(const struct augraph_bags *b, double *nt, double *d)
{
	size_t i, e;

	memset(nt, 0, b->k * sizeof(*nt));
	for (i = 0; i < b->n; i++) {
		if (d)
			d[i] = 0;
		for (e = b->off[i]; e < b->off[i + 1]; e++) {
			nt[b->tok[e]] += b->cnt[e];
			if (d)
				d[i] += b->cnt[e];
		}
	}
}

double
augraph_alpha(const struct augraph_bags *b, const int32_t *y, size_t c)
{
	double *nt, *s, same = 0, tot = 0;
	size_t i, e, t, cl;

	nt = malloc((b->k ? b->k : 1) * sizeof(*nt));
	s = calloc(b->k ? b->k : 1, sizeof(*s));
	if (!nt || !s) {
		free(nt);
		free(s);
		return NAN;
	}
	totals(b, nt, NULL);
	for (t = 0; t < b->k; t++)
		tot += nt[t];
	/* per class, s_t = n_ty; same-class weight sum_t n_ty^2 / n_t */
	for (cl = 0; cl < c; cl++) {
		for (i = 0; i < b->n; i++)
			if ((size_t)y[i] == cl)
				for (e = b->off[i]; e < b->off[i + 1]; e++)
					s[b->tok[e]] += b->cnt[e];
		for (t = 0; t < b->k; t++) {
			if (s[t] > 0)
				same += s[t] * s[t] / nt[t];
			s[t] = 0;
		}
	}
	free(nt);
	free(s);
	return tot > 0 ? 1 - same / tot : NAN;
}

int
augraph_weights(const struct augraph_bags *b, double *w, char *msg,
                size_t msglen)
{
	size_t n = b->n, k = b->k, nnz = b->off[b->n], i, j, e, t, nh = 0;
	size_t heavy, *poff = NULL, *pos = NULL, *img = NULL, *hv = NULL;
	double *nt = NULL, *val = NULL, *blk = NULL, v;
	int rc = -1;

	poff = calloc(k + 1, sizeof(*poff));
	pos = malloc((k ? k : 1) * sizeof(*pos));
	img = malloc((nnz ? nnz : 1) * sizeof(*img));
	val = malloc((nnz ? nnz : 1) * sizeof(*val));
	nt = malloc((k ? k : 1) * sizeof(*nt));
	hv = malloc((k ? k : 1) * sizeof(*hv));
	if (!poff || !pos || !img || !val || !nt || !hv) {
		errf(msg, msglen, "out of memory for the postings of %zu tokens "
		     "in %zu images", k, n);
		goto out;
	}
	totals(b, nt, NULL);

	/* the postings, by token (CSC): the images of t in increasing order */
	for (e = 0; e < nnz; e++)
		poff[b->tok[e] + 1]++;
	for (t = 0; t < k; t++)
		poff[t + 1] += poff[t];
	memcpy(pos, poff, k * sizeof(*pos));
	for (i = 0; i < n; i++)
		for (e = b->off[i]; e < b->off[i + 1]; e++) {
			j = pos[b->tok[e]]++;
			img[j] = i;
			val[j] = b->cnt[e];
		}

	for (i = 0; i < n; i++)
		memset(w + i * n, 0, (i + 1) * sizeof(*w));
	/*
	 * A token in p images adds p(p+1)/2 products: pair by pair when p
	 * is small, as a column of a dense block through dsyrk (N^2/2 per
	 * token, but at BLAS speed) when p >= N / HEAVY_SHARE.
	 */
	heavy = MAX(n / HEAVY_SHARE, 2);
	for (t = 0; t < k; t++) {
		size_t p0 = poff[t], p = poff[t + 1] - p0, a, c;

		if (p >= heavy) {
			hv[nh++] = t;
			continue;
		}
		for (a = 0; a < p; a++) {
			double *row = w + img[p0 + a] * n;

			v = val[p0 + a] / nt[t];
			for (c = 0; c <= a; c++)
				row[img[p0 + c]] += v * val[p0 + c];
		}
	}
	if (nh && !(blk = malloc(n * HEAVY_BLOCK * sizeof(*blk)))) {
		errf(msg, msglen, "out of memory for %zu x %d weights", n,
		     HEAVY_BLOCK);
		goto out;
	}
	for (j = 0; j < nh; j += HEAVY_BLOCK) {
		size_t nb = MIN(HEAVY_BLOCK, nh - j), q, a;

		/* blk (N, nb): column q is c_i(t) / sqrt(n_t) of token hv[j+q] */
		memset(blk, 0, n * nb * sizeof(*blk));
		for (q = 0; q < nb; q++) {
			t = hv[j + q];
			for (a = poff[t]; a < poff[t + 1]; a++)
				blk[img[a] * nb + q] = val[a] / sqrt(nt[t]);
		}
		cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, nb, 1.0,
		            blk, nb, 1.0, w, n);
	}
	rc = 0;
out:
	free(poff);
	free(pos);
	free(img);
	free(val);
	free(nt);
	free(hv);
	free(blk);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the spectrum                                                        */

/*
 * The m largest eigenvalues of the symmetric a (n, n), row-major with
 * its lower triangle set (LAPACK's column-major upper), into mu (m),
 * descending.  a is destroyed.
 */
static int
top_eigenvalues(double *a, size_t n, size_t m, double *mu, char *msg,
                size_t msglen)
{
	int in = n, il = n - m + 1, iu = n, found = 0, lwork = -1, liwork = -1;
	int info = 0, iwq, one = 1, *iwork = NULL, *isuppz = NULL;
	double vl = 0, vu = 0, abstol = 0, wq, z, *work = NULL, *ev = NULL;
	size_t i;
	int rc = -1;

	/* the workspace query */
	dsyevr_("N", "I", "U", &in, a, &in, &vl, &vu, &il, &iu, &abstol,
	        &found, mu, &z, &one, &iwq, &wq, &lwork, &iwq, &liwork, &info,
	        1, 1, 1);
	if (info != 0) {
		errf(msg, msglen, "LAPACK dsyevr: workspace query failed (info %d)",
		     info);
		return -1;
	}
	lwork = wq;
	liwork = iwq;
	work = malloc((size_t)lwork * sizeof(*work));
	iwork = malloc((size_t)liwork * sizeof(*iwork));
	isuppz = malloc(2 * n * sizeof(*isuppz));
	ev = malloc(n * sizeof(*ev));
	if (!work || !iwork || !isuppz || !ev) {
		errf(msg, msglen, "out of memory for the eigensolver (n %zu)", n);
		goto out;
	}
	dsyevr_("N", "I", "U", &in, a, &in, &vl, &vu, &il, &iu, &abstol,
	        &found, ev, &z, &one, isuppz, work, &lwork, iwork, &liwork,
	        &info, 1, 1, 1);
	if (info != 0 || (size_t)found != m) {
		errf(msg, msglen, "LAPACK dsyevr failed on a %zu x %zu matrix "
		     "(info %d, %d of %zu eigenvalues)", n, n, info, found, m);
		goto out;
	}
	for (i = 0; i < m; i++) /* ascending from dsyevr */
		mu[i] = ev[m - 1 - i];
	rc = 0;
out:
	free(work);
	free(iwork);
	free(isuppz);
	free(ev);
	return rc;
}

/*
 * The matrix whose largest eigenvalues are wanted, lower triangle, from
 * the degrees d (N) and token totals nt (K): A = D^-1/2 W D^-1/2
 * (N x N) or Y^T Y (K x K), whose entry (t, u) is
 * sum_i c_i(t) c_i(u) / (d_i sqrt(n_t n_u)).
 */
static double *
side_matrix(const struct augraph_bags *b, int side, const double *d,
            const double *nt, char *msg, size_t msglen)
{
	size_t n = side == AUGRAPH_TOKENS ? b->k : b->n, i, j, e, f;
	double *a, v;

	if (!(a = calloc(n * n, sizeof(*a)))) {
		errf(msg, msglen, "out of memory for a %zu x %zu %s matrix", n, n,
		     side == AUGRAPH_TOKENS ? "token" : "image");
		return NULL;
	}
	if (side == AUGRAPH_IMAGES) {
		if (augraph_weights(b, a, msg, msglen) < 0) {
			free(a);
			return NULL;
		}
		for (i = 0; i < n; i++)
			for (j = 0; j <= i; j++)
				a[i * n + j] /= sqrt(d[i] * d[j]);
		return a;
	}
	/* tokens increase within an image, so tok[e] >= tok[f] for f <= e */
	for (i = 0; i < b->n; i++)
		for (e = b->off[i]; e < b->off[i + 1]; e++) {
			v = b->cnt[e] / d[i];
			for (f = b->off[i]; f <= e; f++)
				a[b->tok[e] * n + b->tok[f]] += v * b->cnt[f];
		}
	for (i = 0; i < n; i++)
		for (j = 0; j <= i; j++)
			a[i * n + j] /= sqrt(nt[i] * nt[j]);
	return a;
}

int
augraph_spectrum(const struct augraph_bags *b, size_t m, int side,
                 double *lam, char *msg, size_t msglen)
{
	size_t n, top, i;
	double *a, *d, *nt, tol;

	if (m < 1 || m > b->n) {
		errf(msg, msglen, "%zu eigenvalues of a graph of %zu images", m,
		     b->n);
		return -1;
	}
	if (side == AUGRAPH_AUTO)
		side = b->k <= b->n ? AUGRAPH_TOKENS : AUGRAPH_IMAGES;
	n = side == AUGRAPH_TOKENS ? b->k : b->n;
	if (n > AUGRAPH_MAXORDER) {
		errf(msg, msglen, "a %zu x %zu matrix is too large for LAPACK "
		     "(at most %d on the smaller side, images or tokens)", n, n,
		     AUGRAPH_MAXORDER);
		return -1;
	}
	d = malloc((b->n ? b->n : 1) * sizeof(*d));
	nt = malloc((b->k ? b->k : 1) * sizeof(*nt));
	if (!d || !nt) {
		errf(msg, msglen, "out of memory for the degrees of %zu images",
		     b->n);
		free(d);
		free(nt);
		return -1;
	}
	totals(b, nt, d);
	a = side_matrix(b, side, d, nt, msg, msglen);
	free(d);
	free(nt);
	if (!a)
		return -1;
	/* the tokens side lacks the N - K zero eigenvalues of A */
	top = MIN(m, n);
	if (top_eigenvalues(a, n, top, lam, msg, msglen) < 0) {
		free(a);
		return -1;
	}
	free(a);
	for (i = top; i < m; i++)
		lam[i] = 0;
	tol = 8.0 * n * DBL_EPSILON;
	for (i = 0; i < m; i++) {
		lam[i] = 1 - lam[i];
		if (lam[i] < tol)
			lam[i] = 0;
		else if (lam[i] > 1)
			lam[i] = 1;
	}
	return side;
}

/* ------------------------------------------------------------------ */
/* the naive twin                                                      */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * All eigenvalues of the symmetric a (n, n), full, by cyclic Jacobi
 * rotations, into ev (n), ascending; a is destroyed.  Each rotation in
 * the (p, q) plane, tan phi = t, zeroes a[p][q]:
 *   a'pp = app - t apq,  a'qq = aqq + t apq,
 *   a'rp = c arp - s arq,  a'rq = s arp + c arq  (r != p, q).
 */
static int
jacobi(double *a, size_t n, double *ev)
{
	size_t p, q, r, sweep;
	double off, norm, th, t, c, s, apq, arp, arq;

	for (sweep = 0; sweep < 100; sweep++) {
		off = norm = 0;
		for (p = 0; p < n; p++)
			for (q = 0; q < n; q++) {
				norm += a[p * n + q] * a[p * n + q];
				if (p != q)
					off += a[p * n + q] * a[p * n + q];
			}
		if (off <= 1e-30 * norm)
			break;
		for (p = 0; p < n; p++)
			for (q = p + 1; q < n; q++) {
				apq = a[p * n + q];
				if (apq == 0)
					continue;
				th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
				t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
				c = 1 / sqrt(t * t + 1);
				s = t * c;
				a[p * n + p] -= t * apq;
				a[q * n + q] += t * apq;
				a[p * n + q] = a[q * n + p] = 0;
				for (r = 0; r < n; r++) {
					if (r == p || r == q)
						continue;
					arp = a[r * n + p];
					arq = a[r * n + q];
					a[r * n + p] = a[p * n + r] = c * arp - s * arq;
					a[r * n + q] = a[q * n + r] = s * arp + c * arq;
				}
			}
	}
	if (sweep == 100)
		return -1;
	for (p = 0; p < n; p++)
		ev[p] = a[p * n + p];
	qsort(ev, n, sizeof(*ev), cmp_double);
	return 0;
}

int
augraph_naive(const struct augraph_bags *b, const int32_t *y, double *w,
              double *alpha, double *lam)
{
	size_t n = b->n, k = b->k, i, j, t, e;
	double *cnt, *nt, *d, *l, cross = 0, all = 0, s;
	int rc;

	cnt = calloc(n * k, sizeof(*cnt));
	nt = calloc(k, sizeof(*nt));
	d = calloc(n, sizeof(*d));
	l = malloc(n * n * sizeof(*l));
	if (!cnt || !nt || !d || !l) {
		free(cnt);
		free(nt);
		free(d);
		free(l);
		return -1;
	}
	/* dense counts c_i(t) and n_t */
	for (i = 0; i < n; i++)
		for (e = b->off[i]; e < b->off[i + 1]; e++)
			cnt[i * k + b->tok[e]] = b->cnt[e];
	for (t = 0; t < k; t++)
		for (i = 0; i < n; i++)
			nt[t] += cnt[i * k + t];
	/* w(i, j) = sum_t c_i(t) c_j(t) / n_t */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			s = 0;
			for (t = 0; t < k; t++)
				if (nt[t] > 0)
					s += cnt[i * k + t] * cnt[j * k + t] / nt[t];
			w[i * n + j] = s;
		}
	/* alpha: the share of the weight between different classes */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			all += w[i * n + j];
			if (y[i] != y[j])
				cross += w[i * n + j];
			d[i] += w[i * n + j];
		}
	*alpha = cross / all;
	/* L = I - D^-1/2 W D^-1/2 */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			l[i * n + j] = (i == j) - w[i * n + j] / sqrt(d[i] * d[j]);
	rc = jacobi(l, n, lam);
	free(cnt);
	free(nt);
	free(d);
	free(l);
	return rc;
}
