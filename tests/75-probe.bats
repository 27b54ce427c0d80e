#!/usr/bin/env bats
# probe: linear probe (L-BFGS logistic regression) and weighted k-NN:
# separable data, parity with scikit-learn, the vote by hand, bad input.

load helpers

setup_file() {
	export PR=$BATS_FILE_TMPDIR
	# feats.py N D K SEP SEED OUT [LABELS...]: class means SEP apart on
	# their own axis plus unit noise, in two groups; LABELS overrides y
	cat > "$PR/feats.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[7])
import numpy as np, tsrio
n, D, K = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sep, seed, out = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rng = np.random.RandomState(seed)
mu = np.random.RandomState(99).randn(K, D) * 0.6
mu[:, :K] += np.eye(K, D)[:, :K] * sep
y = (np.arange(n) % K).astype(np.int32)
if len(sys.argv) > 8:
    y = np.array([int(v) for v in sys.argv[8].split(",")], np.int32)
x = (mu[y] + rng.randn(n, D) + 3.0).astype(np.float32)
h = n // 2
with open(out, "wb") as f:
    for b, (lo, hi) in enumerate([(0, h), (h, n)]):
        f.write(tsrio.record("pooled", x[lo:hi], {"batch": b, "dims": "n,d"}))
        f.write(tsrio.record("labels", y[lo:hi], {"batch": b, "dims": "n"}))
    f.write(tsrio.end(4))
EOF
	python3 "$PR/feats.py" 600 8 4 6 1 "$PR/sep-train.tsr" "$TOP/tests/parity"
	python3 "$PR/feats.py" 200 8 4 6 2 "$PR/sep-test.tsr" "$TOP/tests/parity"
	python3 "$PR/feats.py" 3000 24 10 1.2 3 "$PR/fix-train.tsr" "$TOP/tests/parity"
	python3 "$PR/feats.py" 1000 24 10 1.2 4 "$PR/fix-test.tsr" "$TOP/tests/parity"
}

val() { awk -v k="$1" '$1 == k { print $2 }'; }

@test "probe: L-BFGS, logistic regression and k-NN pass their unit tests (unit-probe)" {
	OMP_NUM_THREADS=1 run unit-probe
	assert_success
	refute_output --partial "not ok"
}

@test "probe: linearly separable features give 100% on train and test" {
	run --separate-stderr probe "$PR/sep-train.tsr" "$PR/sep-test.tsr"
	assert_success
	[ "$(val linear.train.acc <<< "$output")" = 100.0000 ]
	[ "$(val linear.test.acc <<< "$output")" = 100.0000 ]
	[ "$(val knn.test.acc <<< "$output")" = 100.0000 ]
	[ "$(val linear.converged <<< "$output")" = 1 ]
	[ -z "$stderr" ]
}

@test "probe: the output keys come in a fixed order" {
	run --separate-stderr probe -c -k 5 "$PR/sep-train.tsr" "$PR/sep-test.tsr"
	assert_success
	run bash -c "awk '{ print \$1 }' <<< '$output' | tr '\n' ' '"
	assert_output "feature dim classes train.images test.images linear.lambda linear.sklearn_c linear.iters linear.converged linear.loss linear.train.acc linear.train.class.0.acc linear.train.class.1.acc linear.train.class.2.acc linear.train.class.3.acc linear.test.acc linear.test.class.0.acc linear.test.class.1.acc linear.test.class.2.acc linear.test.class.3.acc linear.test.confusion.0 linear.test.confusion.1 linear.test.confusion.2 linear.test.confusion.3 knn.k knn.temperature knn.test.acc knn.test.class.0.acc knn.test.class.1.acc knn.test.class.2.acc knn.test.class.3.acc knn.test.confusion.0 knn.test.confusion.1 knn.test.confusion.2 knn.test.confusion.3 "
}

@test "probe: accuracy within 0.3 points of scikit-learn's LogisticRegression (lbfgs, same L2)" {
	run --separate-stderr probe -k 0 -l 1e-3 -t 1e-6 "$PR/fix-train.tsr" "$PR/fix-test.tsr"
	assert_success
	ctr=$(val linear.train.acc <<< "$output")
	cte=$(val linear.test.acc <<< "$output")
	c=$(val linear.sklearn_c <<< "$output")
	# sklearn must be there: a missing module fails this test
	run python3 - "$PR/fix-train.tsr" "$PR/fix-test.tsr" "$c" "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[4])
import numpy as np, tsrio
from sklearn.linear_model import LogisticRegression
def load(p):
    r = tsrio.read(p)
    return (np.concatenate([a for n, m, a in r if n == "pooled"]).astype(np.float64),
            np.concatenate([a for n, m, a in r if n == "labels"]))
xtr, ytr = load(sys.argv[1])
xte, yte = load(sys.argv[2])
m, s = xtr.mean(0), np.sqrt(xtr.var(0) + 1e-6)
xtr, xte = (xtr - m) / s, (xte - m) / s
c = LogisticRegression(C=float(sys.argv[3]), solver="lbfgs", tol=1e-8,
                       max_iter=10000).fit(xtr, ytr)
print("%.4f %.4f" % (100 * (c.predict(xtr) == ytr).mean(),
                     100 * (c.predict(xte) == yte).mean()))
EOF
	assert_success
	read -r str ste <<< "$output"
	echo "probe $ctr $cte, sklearn $str $ste"
	awk -v a="$ctr" -v b="$str" -v c="$cte" -v d="$ste" 'BEGIN {
		x = a - b; y = c - d; exit !(x <= 0.3 && x >= -0.3 && y <= 0.3 && y >= -0.3) }'
	# not a trivial set: neither perfect nor chance
	awk -v c="$cte" 'BEGIN { exit !(c > 30 && c < 95) }'
}

@test "probe: the k-NN vote weighs exp(sim/T), by hand on a tiny case" {
	cd "$BATS_TEST_TMPDIR"
	# train: one class-0 row at cos 1 from the test row, two class-1
	# rows at cos 0.9.  k=3, T=0.07: class 0 weighs e^(1/0.07) = 1.6e6,
	# class 1 2 e^(0.9/0.07) = 7.7e5: class 0.  T=1: e^1 = 2.72 against
	# 2 e^0.9 = 4.92: class 1.  k=1: the nearest, class 0.
	python3 - "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, tsrio
s = np.sqrt(1 - 0.81)
tr = np.array([[1, 0], [0.9, s], [0.9, -s], [-1, 0]], np.float32) * 2
with open("tr.tsr", "wb") as f:
    f.write(tsrio.record("pooled", tr, {"batch": 0}))
    f.write(tsrio.record("labels", np.array([0, 1, 1, 1], np.int32), {"batch": 0}))
    f.write(tsrio.end(2))
with open("te.tsr", "wb") as f:
    f.write(tsrio.record("pooled", np.array([[3, 0]], np.float32), {"batch": 0}))
    f.write(tsrio.record("labels", np.array([0], np.int32), {"batch": 0}))
    f.write(tsrio.end(2))
EOF
	run --separate-stderr probe -k 3 -T 0.07 tr.tsr te.tsr
	assert_success
	[ "$(val knn.test.acc <<< "$output")" = 100.0000 ]
	run --separate-stderr probe -k 3 -T 1 tr.tsr te.tsr
	[ "$(val knn.test.acc <<< "$output")" = 0.0000 ]
	run --separate-stderr probe -k 1 -T 1 tr.tsr te.tsr
	[ "$(val knn.test.acc <<< "$output")" = 100.0000 ]
}

@test "probe: -J writes one JSON object with the same keys and values" {
	run --separate-stderr probe -c "$PR/sep-train.tsr" "$PR/sep-test.tsr"
	text=$output
	run --separate-stderr probe -c -J "$PR/sep-train.tsr" "$PR/sep-test.tsr"
	assert_success
	run python3 -c '
import json, sys
j = json.loads(sys.argv[1])
for line in sys.argv[2].splitlines():
    k, v = line.split(" ", 1)
    w = j[k]
    if isinstance(w, list):
        assert " ".join(map(str, w)) == v, (k, w, v)
    elif isinstance(w, str):
        assert w == v, (k, w, v)
    else:
        assert abs(float(v) - w) < 1e-9, (k, w, v)
assert len(j) == len(sys.argv[2].splitlines())
print("same")' "$output" "$text"
	assert_output same
}

@test "probe: patchify | encode | probe equals probe -m on the patches" {
	cd "$BATS_TEST_TMPDIR"
	patchify -p 4 -n 200 -b 100 -l "$FMNIST/train-labels-idx1-ubyte.gz" -o tr.tsr "$FMNIST/train-images-idx3-ubyte.gz"
	patchify -p 4 -n 100 -b 50 -l "$FMNIST/t10k-labels-idx1-ubyte.gz" -o te.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	mim-train -q -b 50 -s 2 --dim 16 --depth 1 --heads 2 --dec-dim 16 --dec-depth 1 --dec-heads 2 -o ck.tsr tr.tsr
	run --separate-stderr probe -m ck.tsr tr.tsr te.tsr
	assert_success
	direct=$output
	encode -e pooled -m ck.tsr -o etr.tsr tr.tsr
	run --separate-stderr bash -c "encode -e pooled -m ck.tsr te.tsr | probe etr.tsr -"
	assert_success
	assert_equal "$output" "$direct"
	[[ $output == *"linear.test.acc "* ]]
	run --separate-stderr probe -e cls -m ck.tsr tr.tsr te.tsr
	assert_success
	[ "$(val feature <<< "$output")" = cls ]
}

@test "probe: test classes missing from the training stream are named, and it still reports" {
	cd "$BATS_TEST_TMPDIR"
	python3 "$PR/feats.py" 6 4 4 6 5 tr.tsr "$TOP/tests/parity" 0,1,0,1,0,1
	python3 "$PR/feats.py" 4 4 4 6 6 te.tsr "$TOP/tests/parity" 0,1,2,3
	run --separate-stderr probe -k 2 tr.tsr te.tsr
	assert_success
	[ "$stderr" = "probe: te.tsr: classes 2,3 not in the training stream tr.tsr (their test images count as errors)" ]
	[ "$(val test.classes_not_in_train <<< "$output")" = 2,3 ]
	[ "$(val classes <<< "$output")" = 4 ]
	[[ $output == *"linear.test.class.3.acc 0.0000"* ]]
}

@test "probe: empty streams and missing operands are refused" {
	cd "$BATS_TEST_TMPDIR"
	python3 -c "import sys; sys.path.insert(0, '$TOP/tests/parity'); import tsrio; open('empty.tsr', 'wb').write(tsrio.end(0))"
	run -1 probe empty.tsr "$PR/sep-test.tsr"
	assert_output "probe: empty.tsr: no labelled images (an empty stream, or no 'labels' records?)"
	run -1 probe "$PR/sep-train.tsr" empty.tsr
	assert_output --partial "probe: empty.tsr: no labelled images"
	run -2 probe "$PR/sep-train.tsr"
	assert_output --partial "usage: probe "
}

@test "probe: wrong shapes fail with one line naming the record" {
	cd "$BATS_TEST_TMPDIR"
	python3 - "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, tsrio
def w(path, recs):
    with open(path, "wb") as f:
        for n, a in recs:
            f.write(tsrio.record(n, a, {"batch": 0}))
        f.write(tsrio.end(len(recs)))
z = np.zeros
w("r3.tsr", [("pooled", z((2, 3, 4), np.float32)), ("labels", z(2, np.int32))])
w("lab.tsr", [("pooled", z((2, 4), np.float32)), ("labels", z(3, np.int32))])
w("d5.tsr", [("pooled", z((2, 5), np.float32)), ("labels", z(2, np.int32))])
w("d4.tsr", [("pooled", np.eye(2, 4, dtype=np.float32)), ("labels", np.arange(2, dtype=np.int32))])
w("nof.tsr", [("cls", z((2, 4), np.float32)), ("labels", z(2, np.int32))])
EOF
	run -1 probe r3.tsr d4.tsr
	assert_output "probe: r3.tsr: record 0 'pooled': f32 [2,3,4], expected f32 [n, D] (per-patch features: pool them, or -e pooled)"
	run -1 probe lab.tsr d4.tsr
	assert_output "probe: lab.tsr: record 1 'labels': i32 [3], expected i32 [2]"
	run -1 probe d4.tsr d5.tsr
	assert_output "probe: d5.tsr: features of D=5, but the training stream's have D=4"
	run -1 probe nof.tsr d4.tsr
	assert_output "probe: nof.tsr: records 0-1: no 'pooled' record in the group"
	run --separate-stderr probe -e cls nof.tsr nof.tsr
	assert_success
}

@test "probe: -m with patches of another geometry than the checkpoint fails" {
	cd "$BATS_TEST_TMPDIR"
	patchify -p 4 -n 32 -l "$FMNIST/t10k-labels-idx1-ubyte.gz" -o p4.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	patchify -p 7 -n 8 -l "$FMNIST/t10k-labels-idx1-ubyte.gz" -o p7.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	mim-train -q -b 32 -s 1 --dim 16 --depth 1 --heads 2 --dec-dim 16 --dec-depth 1 --dec-heads 2 -o ck.tsr p4.tsr
	run -1 probe -m ck.tsr p4.tsr p7.tsr
	assert_output "probe: p7.tsr: record 0 'patches': patch 7, grid 4x4, 1 channels, but the checkpoint was trained on patch 4, grid 7x7, 1 channels"
	run -1 probe p4.tsr p4.tsr
	assert_output --partial "no 'pooled' record in the group (give -m model to encode the patches)"
}

@test "probe: -m takes a timm .safetensors model as encode does" {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH=$TOP/tests/parity
	python3 "$TOP/tests/parity/timm_vit.py" make vit.safetensors
	python3 "$TOP/tests/parity/timm_vit.py" patches 40 p.tsr
	# labels: 4 classes in turn
	python3 - <<'PY'
import numpy as np, tsrio
recs = tsrio.read("p.tsr")
with open("pl.tsr", "wb") as f:
    for n, m, a in recs:
        f.write(tsrio.record(n, a, m))
        f.write(tsrio.record("labels", (np.arange(len(a)) % 4).astype(np.int32), {"batch": m["batch"]}))
    f.write(tsrio.end(2 * len(recs)))
PY
	run --separate-stderr probe -k 5 -m vit.safetensors pl.tsr pl.tsr
	assert_success
	direct=$output
	encode -e pooled -m vit.safetensors -o e.tsr pl.tsr
	run --separate-stderr probe -k 5 e.tsr e.tsr
	assert_success
	assert_equal "$output" "$direct"
	[ "$(val dim <<< "$output")" = 32 ]
}
