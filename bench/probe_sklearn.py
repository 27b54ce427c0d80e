#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""probe_sklearn.py: the peer of the probe-vs-sklearn benchmark.

usage: probe_sklearn.py train-x.npy train-y.npy test-x.npy test-y.npy C
                        threads acc-out

What probe's linear probe does, in scikit-learn 1.2: standardise each
feature with the training set's mean and biased standard deviation
(eps 1e-6, as probe), fit LogisticRegression(C, solver='lbfgs',
multinomial, max_iter=1000 as probe's -i default, tol its default
1e-4) on the training set, predict the test set and write one line to
acc-out: the test accuracy in percent (%.4f), the L-BFGS iterations
(n_iter_) and the objective at the solution in probe's scale (%.6f,
as probe's linear.loss), so that the line shows both solvers stopped
at the same point.  BLAS threads are limited to `threads' with
threadpoolctl.  Import (about 1 s) and the objective (one product of
the training set with the weights, a few hundredths of a second) are
inside the time.

The stopping rules: scikit-learn 1.2 minimises the *sum* of the log
losses + |W|^2 / (2C), n times probe's mean objective, and gives tol to
scipy's L-BFGS-B as gtol on that sum's gradient: 1e-4 there is 1e-4/n
(1.7e-9 for n = 60000) on probe's scale, which it does not reach; it
stops on L-BFGS-B's other test, a relative decrease of the objective
below factr * eps = 2.2e-9.  probe's default -t 1e-5 on the mean
objective's gradient ends at about the same iteration and loss (974
and 964 iterations, loss 0.640865 both, on the benchmark's features).
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


def main(trx, tr_y, tex, te_y, c, threads, out):
    with threadpool_limits(limits=threads):
        xtr = np.load(trx).astype(np.float32)
        ytr = np.load(tr_y).astype(np.int64)
        xte = np.load(tex).astype(np.float32)
        yte = np.load(te_y).astype(np.int64)
        mu = xtr.mean(axis=0, dtype=np.float64)
        sd = np.sqrt(xtr.var(axis=0, dtype=np.float64) + 1e-6)
        xtr = ((xtr - mu) / sd).astype(np.float32)
        xte = ((xte - mu) / sd).astype(np.float32)
        clf = LogisticRegression(C=c, solver="lbfgs", multi_class="multinomial",
                                 max_iter=1000)
        clf.fit(xtr, ytr)
        acc = 100.0 * float((clf.predict(xte) == yte).mean())
        # probe's objective: mean log loss + lambda/2 |W|^2, lambda = 1/(C n)
        x = xtr.astype(np.float64)
        z = x @ clf.coef_.T + clf.intercept_
        z -= z.max(axis=1, keepdims=True)
        n = len(ytr)
        loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), ytr]))
        loss += 0.5 / (c * n) * float((clf.coef_ ** 2).sum())
    with open(out, "w") as f:
        f.write("%.4f %d %.6f\n" % (acc, int(clf.n_iter_[0]), loss))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4],
                  float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]))
