/* See LICENSE file for copyright and license details. */
/*
 * probe: the two classifiers of the evaluation protocols that judge an
 * encoder's features (encoder.h loads and runs the encoder): a linear
 * probe (features standardised with the training set's mean and
 * standard deviation, as a BatchNorm without affine; multinomial
 * logistic regression with L2, solved by L-BFGS) and DINO's weighted
 * k-NN.
 *
 * Dimensions: n images, L patches, P patch values, D feature width,
 * K classes.  Labels are int32 in [0, K).
 *
 * Everything is deterministic for a fixed OpenBLAS thread count.
 * Nothing here exits or prints: functions return -1 with a message.
 */
#ifndef MIM_PROBE_H
#define MIM_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* L-BFGS                                                              */

/* f(x) with its gradient in g (both n long) */
typedef double (*lbfgs_fn)(void *ctx, const double *x, double *g);

struct lbfgs_result {
	int iters;      /* iterations done */
	int evals;      /* function evaluations */
	int converged;  /* max |g| <= tol */
	double f;       /* the final value */
	double gmax;    /* the final max |g| */
};

/*
 * Minimises f from x (updated in place) with memory m until max |g| <=
 * tol or maxit iterations; backtracking line search on the Armijo
 * condition, starting at step 1, skipping pairs with s'y <= 0.
 * -1 only for no memory.
 */
int lbfgs_minimize(double *x, size_t n, lbfgs_fn f, void *ctx, int m,
                   double tol, int maxit, struct lbfgs_result *res);

/* ------------------------------------------------------------------ */
/* the linear probe                                                    */

/*
 * Standardisation: mean (D) and sd (D) of x (n,D) with the biased
 * variance and eps 1e-6, as BatchNorm1d(affine=False, eps=1e-6); apply
 * writes (x - mean) / sd, computed in double, as floats into out (n,D).
 */
void probe_std_fit(const float *x, size_t n, int D, double *mean,
                   double *sd);
void probe_std_apply(const float *x, size_t n, int D, const double *mean,
                     const double *sd, float *out);

/*
 * Multinomial logistic regression: W (K,D) and b (K) minimising
 *
 *	(1/n) sum_i -log softmax(W x_i + b)[y_i] + (lambda/2) |W|^2
 *
 * (b is not penalised), which is scikit-learn's LogisticRegression
 * (multinomial, lbfgs) with C = 1 / (lambda n).  x (n,D) floats, the
 * rest in double: W, b, the logits, the loss and the gradient.
 * probe_lr_fit evaluates the objective on `threads' threads (1 to 64),
 * each a fixed range of rows, AVX2+FMA where the CPU has it; the fit is
 * deterministic for a given thread count on a given machine.
 */
struct probe_lr {
	int K, D;
	double *W;      /* (K,D) */
	double *b;      /* (K) */
	struct lbfgs_result res;
};

int probe_lr_fit(struct probe_lr *, const float *x, const int32_t *y,
                 size_t n, int D, int K, double lambda, double tol,
                 int maxit, int threads, char *msg, size_t msglen);
/* pred (n): the class of greatest logit, ties to the lowest; -1 if out
 * of memory */
int probe_lr_predict(const struct probe_lr *, const float *x, size_t n,
                     int32_t *pred);
void probe_lr_free(struct probe_lr *);

/* ------------------------------------------------------------------ */
/* k-NN                                                                */

/*
 * DINO's weighted k-NN: train (n,D) and test (m,D) are L2-normalised
 * (rows of norm 0 stay 0), the k most similar training rows of each
 * test row by cosine similarity (ties to the lower index; k is cut to
 * n) vote for their class with weight exp(sim / T); pred (m) is the
 * class of most weight, ties to the lowest.  -1 if out of memory.
 */
int probe_knn(const float *train, const int32_t *ytrain, size_t n,
              const float *test, size_t m, int D, int K, int k, double T,
              int32_t *pred);

#endif
