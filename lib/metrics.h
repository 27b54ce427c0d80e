/* See LICENSE file for copyright and license details. */
/*
 * metrics: scores of a tokenizer against image classes, from the joint
 * count matrix of tokens and classes.
 *
 * Dimension legend: K tokens, C classes.
 *   n (K, C), row-major double: n[t * C + y] is the number of patches
 *   with token t whose image has class y.  Counts are exact in double up
 *   to 2^53; nothing needs them to be integers (scaling all counts by a
 *   constant leaves every score unchanged).
 *
 * Classes with no patches (an all-zero column) are dropped: they count
 * in no score, and metrics_classes() does not count them.  Tokens with
 * no patches (an all-zero row) likewise.  All sums are in double.
 *
 * TCAS is defined in docs/tcas.md (shared/docs); metrics_tcas() is the
 * one place that implements it, so that it can be swapped.
 * metrics_tcas_naive() is its test twin, written straight from that
 * definition with the explicit class-to-class matrix D.
 *
 * Nothing here exits or prints.  metrics_tcas() and metrics_nmi()
 * allocate O(K + C) scratch, metrics_tcas_naive() O(C^2); each returns
 * NaN if it cannot.
 */
#ifndef MIM_METRICS_H
#define MIM_METRICS_H

#include <stddef.h>

/* classes with at least one patch (columns of n with a non-zero sum) */
size_t metrics_classes(const double *n, size_t k, size_t c);
/* tokens with at least one patch (non-zero rows) */
size_t metrics_used(const double *n, size_t k, size_t c);
/* N, the sum of all counts */
double metrics_total(const double *n, size_t k, size_t c);

/*
 * Token-class alignment similarity, in [0, 1], lower is better:
 *   q_y(t) = n[t][y] / n_y,  D[i][j] = sum_t q_i(t) q_j(t),
 *   TCAS = sum_{i != j} D[i][j] / ((C - 1) sum_i D[i][i])
 * over the C classes present.  NaN if fewer than two classes are present.
 * O(K C) through sum_{i != j} D[i][j] = sum_t (sum_i q_i(t))^2 - sum_i D[i][i].
 */
double metrics_tcas(const double *n, size_t k, size_t c);
/* the same from the explicit D, O(K C^2) time and O(C^2) memory */
double metrics_tcas_naive(const double *n, size_t k, size_t c);

/*
 * Probability that two patches drawn with the same token (with
 * replacement) come from different classes:
 *   1 - sum_t sum_y n[t][y]^2 / (n_t N)
 */
double metrics_collision(const double *n, size_t k, size_t c);

/*
 * Normalised mutual information between tokens and classes with the
 * arithmetic-mean normalisation, MI / ((H(T) + H(Y)) / 2), natural
 * logarithms, as scikit-learn's normalized_mutual_info_score: 1 when
 * both partitions have a single block (or N = 0), 0 when MI is 0.
 */
double metrics_nmi(const double *n, size_t k, size_t c);

/* sum_t max_y n[t][y] / N; NaN for N = 0 */
double metrics_purity(const double *n, size_t k, size_t c);

/* exp(H(T)) of the token distribution n_t / N, natural log; NaN for N = 0 */
double metrics_perplexity(const double *n, size_t k, size_t c);

#endif
