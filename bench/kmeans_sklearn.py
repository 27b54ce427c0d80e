# See LICENSE file for copyright and license details.
"""kmeans_sklearn: the scikit-learn 1.2 peer of the kmeans-* benchmarks.

    kmeans_sklearn.py lloyd ROWS.npy INIT.npy ITERS THREADS OUT.npy
    kmeans_sklearn.py minibatch ROWS.npy INIT.npy EPOCHS BATCH THREADS OUT.npy
    kmeans_sklearn.py inertia ROWS.npy CENTROIDS.npy OUT.txt

ROWS.npy is f32 of any rank (the last dimension is D, the others are
flattened into rows, as kmeans-fit does); INIT.npy the initial centroids,
f32 [K, D].  lloyd runs KMeans(algorithm="lloyd", init=INIT, n_init=1,
max_iter=ITERS, tol=0); minibatch runs MiniBatchKMeans(init=INIT,
n_init=1, batch_size=BATCH, max_iter=EPOCHS, tol=0,
max_no_improvement=None) so that it runs every epoch (otherwise
scikit-learn's defaults, the ClusterMIM settings).  Both use THREADS
threads (threadpoolctl; the bench also sets OMP_NUM_THREADS) and write
the final centroids to OUT.npy.

inertia, run outside the timed command, writes to OUT.txt (%.17g) the
inertia at CENTROIDS computed as kmeans-fit computes its `inertia' meta:
each row's nearest centroid, then its squared distance to it directly,
as a float32 sum of (x - c)^2, added up in float64.
"""
import sys

import numpy as np


def rows(path):
    x = np.load(path, mmap_mode="r")
    return np.ascontiguousarray(x.reshape(-1, x.shape[-1]), dtype=np.float32)


def fit(argv):
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    mode = argv[0]
    x = rows(argv[1])
    init = np.ascontiguousarray(np.load(argv[2]), dtype=np.float32)
    if mode == "lloyd":
        iters, threads, out = int(argv[3]), int(argv[4]), argv[5]
        km = KMeans(n_clusters=init.shape[0], init=init, n_init=1,
                    max_iter=iters, tol=0, algorithm="lloyd")
    else:
        epochs, batch, threads, out = (int(argv[3]), int(argv[4]),
                                       int(argv[5]), argv[6])
        km = MiniBatchKMeans(n_clusters=init.shape[0], init=init, n_init=1,
                             batch_size=batch, max_iter=epochs, tol=0,
                             max_no_improvement=None, random_state=0)
    with threadpool_limits(limits=threads):
        km.fit(x)
    np.save(out, km.cluster_centers_.astype(np.float32))


def inertia(argv):
    x = rows(argv[0])
    c = np.ascontiguousarray(np.load(argv[1]), dtype=np.float32)
    cn = (c.astype(np.float64) ** 2).sum(1).astype(np.float32)
    total = 0.0
    for i in range(0, x.shape[0], 65536):
        xb = x[i:i + 65536]
        lab = np.argmin(cn[None, :] - 2 * (xb @ c.T), axis=1)
        diff = xb - c[lab]
        total += (diff * diff).sum(1, dtype=np.float32).astype(np.float64).sum()
    with open(argv[2], "w") as f:
        f.write("%.17g\n" % total)


def main():
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "lloyd" or len(a) == 7 and a[0] == "minibatch":
        fit(a)
    elif len(a) == 4 and a[0] == "inertia":
        inertia(a[1:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
