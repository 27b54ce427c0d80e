#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""probe_sklearn.py: the peer of the probe-vs-sklearn benchmark.

usage: probe_sklearn.py train-x.npy train-y.npy test-x.npy test-y.npy C
                        threads acc-out

What probe's linear probe does, in scikit-learn 1.2: standardise each
feature with the training set's mean and biased standard deviation
(eps 1e-6, as probe), fit LogisticRegression(C, solver='lbfgs',
multinomial, max_iter=1000 as probe's -i default, tol its default
1e-4) on the training set, predict the test set and write the test
accuracy in percent (%.4f) to acc-out.  BLAS threads are limited to
`threads' with threadpoolctl.  Import (about 1 s) is inside the time.
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
    with open(out, "w") as f:
        f.write("%.4f\n" % acc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4],
                  float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]))
