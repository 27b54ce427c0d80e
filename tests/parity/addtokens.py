#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""addtokens.py: a stand-in for tokenize in the tests.

usage: addtokens.py K in.tsr out.tsr

Appends to every group with 'patches' [n, L, P] a record 'tokens' i32
[n, L] (meta k=K, batch): the mean of each patch quantised into K equal
bins of [0, 1], so the tokens follow the pixels, as k-means tokens do.
"""
import sys

import numpy as np

import tsrio

k = int(sys.argv[1])
recs = tsrio.read(sys.argv[2])
out, n = [], 0
for name, meta, a in recs:
    out.append(tsrio.record(name, a, meta))
    n += 1
    if name == "patches":
        m = a.astype(np.float64).mean(-1)
        if a.dtype == np.uint8:
            m = m / 255
        t = np.clip((m * k).astype(np.int64), 0, k - 1).astype(np.int32)
        out.append(tsrio.record("tokens", t, {"batch": meta.get("batch", "0"),
                                              "k": str(k)}))
        n += 1
with open(sys.argv[3], "wb") as f:
    f.write(b"".join(out) + tsrio.end(n))
