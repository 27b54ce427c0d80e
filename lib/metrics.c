/* See LICENSE file for copyright and license details. */
/*
 * metrics: TCAS and the standard partition scores from the joint count
 * matrix n (K, C) of tokens and classes (metrics.h).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "metrics.h"

/* ------------------------------------------------------------------ */
/* marginals                                                           */

/* the column sums n_y (C) of n (K, C); NULL if out of memory */
static double *
class_totals(const double *n, size_t k, size_t c)
{
	double *ny = calloc(c ? c : 1, sizeof(*ny));
	size_t t, y;

	if (!ny)
		return NULL;
	for (t = 0; t < k; t++)
		for (y = 0; y < c; y++)
			ny[y] += n[t * c + y];
	return ny;
}

static double
row_total(const double *n, size_t c, size_t t)
{
	double s = 0;
	size_t y;

	for (y = 0; y < c; y++)
		s += n[t * c + y];
	return s;
}

size_t
metrics_classes(const double *n, size_t k, size_t c)
{
	size_t t, y, m = 0;

	for (y = 0; y < c; y++) {
		for (t = 0; t < k && n[t * c + y] == 0; t++)
			;
		m += t < k;
	}
	return m;
}

size_t
metrics_used(const double *n, size_t k, size_t c)
{
	size_t t, m = 0;

	for (t = 0; t < k; t++)
		m += row_total(n, c, t) > 0;
	return m;
}

double
metrics_total(const double *n, size_t k, size_t c)
{
	double s = 0;
	size_t i;

	for (i = 0; i < k * c; i++)
		s += n[i];
	return s;
}

/* entropy (natural log) of a distribution given by counts v with sum s */
static double
entropy(const double *v, size_t m, double s)
{
	double h = 0, p;
	size_t i;

	for (i = 0; i < m; i++) {
		if (v[i] > 0) {
			p = v[i] / s;
			h -= p * log(p);
		}
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* TCAS (shared/docs/tcas.md): the one definition, and its naive twin   */

double
metrics_tcas(const double *n, size_t k, size_t c)
{
	double *ny, q, s, sq, off = 0, diag = 0;
	size_t t, y, cp;

	if ((cp = metrics_classes(n, k, c)) < 2)
		return NAN;
	if (!(ny = class_totals(n, k, c)))
		return NAN;
	/*
	 * sum_{i,j} D[i][j] = sum_t (sum_i q_i(t))^2, so the off-diagonal
	 * sum is sum_t (s_t^2 - sum_i q_i(t)^2): per token, which keeps
	 * each term >= 0 up to rounding (clamped) and makes a class-wise
	 * tokenizer give exactly 0.
	 */
	for (t = 0; t < k; t++) {
		s = sq = 0;
		for (y = 0; y < c; y++) {
			if (ny[y] == 0)
				continue;
			q = n[t * c + y] / ny[y];
			s += q;
			sq += q * q;
		}
		diag += sq;
		if (s * s - sq > 0)
			off += s * s - sq;
	}
	free(ny);
	return off / ((double)(cp - 1) * diag);
}

double
metrics_tcas_naive(const double *n, size_t k, size_t c)
{
	double *ny, *d, off = 0, diag = 0, s;
	size_t *col, t, i, j, cp = 0;

	ny = class_totals(n, k, c);
	col = malloc((c ? c : 1) * sizeof(*col));
	if (!ny || !col) {
		free(ny);
		free(col);
		return NAN;
	}
	/* the classes present */
	for (i = 0; i < c; i++)
		if (ny[i] > 0)
			col[cp++] = i;
	if (cp < 2 || !(d = calloc(cp * cp, sizeof(*d)))) {
		free(ny);
		free(col);
		return NAN;
	}
	/* D[i][j] = sum_t q_i(t) q_j(t), q_y(t) = n[t][y] / n_y */
	for (i = 0; i < cp; i++)
		for (j = 0; j < cp; j++) {
			s = 0;
			for (t = 0; t < k; t++)
				s += n[t * c + col[i]] / ny[col[i]] *
				     (n[t * c + col[j]] / ny[col[j]]);
			d[i * cp + j] = s;
		}
	for (i = 0; i < cp; i++)
		for (j = 0; j < cp; j++) {
			if (i == j)
				diag += d[i * cp + j];
			else
				off += d[i * cp + j];
		}
	free(d);
	free(ny);
	free(col);
	return off / ((double)(cp - 1) * diag);
}

/* ------------------------------------------------------------------ */
/* partition scores                                                    */

double
metrics_collision(const double *n, size_t k, size_t c)
{
	double tot = metrics_total(n, k, c), nt, s = 0, v;
	size_t t, y;

	if (tot <= 0)
		return NAN;
	for (t = 0; t < k; t++) {
		if ((nt = row_total(n, c, t)) <= 0)
			continue;
		v = 0;
		for (y = 0; y < c; y++)
			v += n[t * c + y] * n[t * c + y];
		s += v / nt;
	}
	return 1 - s / tot;
}

double
metrics_nmi(const double *n, size_t k, size_t c)
{
	double *ny, *nt, tot, mi = 0, ht, hy, v, norm;
	size_t t, y, used, classes;

	tot = metrics_total(n, k, c);
	used = metrics_used(n, k, c);
	classes = metrics_classes(n, k, c);
	/* scikit-learn: no split on either side is a perfect match */
	if (tot <= 0 || (used == 1 && classes == 1))
		return 1;
	ny = class_totals(n, k, c);
	nt = calloc(k ? k : 1, sizeof(*nt));
	if (!ny || !nt) {
		free(ny);
		free(nt);
		return NAN;
	}
	for (t = 0; t < k; t++)
		nt[t] = row_total(n, c, t);
	for (t = 0; t < k; t++)
		for (y = 0; y < c; y++)
			if ((v = n[t * c + y]) > 0)
				mi += v / tot * log(v * tot / (nt[t] * ny[y]));
	ht = entropy(nt, k, tot);
	hy = entropy(ny, c, tot);
	free(ny);
	free(nt);
	if (mi <= 0)
		return 0;
	norm = (ht + hy) / 2;
	return mi / (norm > DBL_EPSILON ? norm : DBL_EPSILON);
}

double
metrics_purity(const double *n, size_t k, size_t c)
{
	double tot = metrics_total(n, k, c), s = 0, m;
	size_t t, y;

	if (tot <= 0)
		return NAN;
	for (t = 0; t < k; t++) {
		m = 0;
		for (y = 0; y < c; y++)
			if (n[t * c + y] > m)
				m = n[t * c + y];
		s += m;
	}
	return s / tot;
}

double
metrics_perplexity(const double *n, size_t k, size_t c)
{
	double tot = metrics_total(n, k, c), h = 0, nt, p;
	size_t t;

	if (tot <= 0)
		return NAN;
	for (t = 0; t < k; t++) {
		if ((nt = row_total(n, c, t)) > 0) {
			p = nt / tot;
			h -= p * log(p);
		}
	}
	return exp(h);
}
