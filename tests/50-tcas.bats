#!/usr/bin/env bats
# tcas: token-class alignment scores from tokens and labels, on hand-made
# streams whose scores are known, and on Fashion-MNIST tokens against
# NumPy (TCAS straight from shared/docs/tcas.md) and scikit-learn (NMI).

load helpers

setup_file() {
	local d=$BATS_FILE_TMPDIR
	# 2000 Fashion-MNIST test images as 4x4 patches, 32 centroids from
	# 10 Lloyd steps in NumPy, and their tokens
	"$MIM_BIN/patchify" -p 4 -n 2000 -o "$d/fm.tsr" \
		"$FMNIST/t10k-images-idx3-ubyte.gz" || return 1
	"$MIM_BIN/tensorinfo" -x patches -o "$d/fm.npy" "$d/fm.tsr" || return 1
	(cd "$d" && /usr/bin/python3 - <<-'EOF'
		import struct, zlib
		import numpy as np
		x = np.load("fm.npy").reshape(-1, 16).astype(np.float64)
		rng = np.random.default_rng(0)
		c = x[rng.choice(len(x), 32, replace=False)]
		for _ in range(10):
		    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
		    a = d.argmin(1)
		    for j in range(32):
		        if (a == j).any():
		            c[j] = x[a == j].mean(0)
		# one f32 record and the end record, from formats/tensor-stream.md
		def record(name, a, dtype):
		    data = a.tobytes()
		    hdr = (40 + 8 * a.ndim + len(name) + 63) // 64 * 64
		    h = b"\x93TSR" + struct.pack("<BBBBIIQIHHII", 1, 0, dtype, a.ndim,
		        0, hdr, len(data), zlib.crc32(data), len(name), 0, 0, 0)
		    h += b"".join(struct.pack("<Q", n) for n in a.shape) + name
		    return h + bytes(hdr - len(h)) + data + bytes(-len(data) % 64)
		with open("fmc.tsr", "wb") as f:
		    f.write(record(b"centroids", c.astype("<f4"), 10))
		    f.write(record(b"end", np.array(1, "<u8"), 7))
	EOF
	) || return 1
	"$MIM_BIN/tokenize" -c "$d/fmc.tsr" -o "$d/tok.tsr" "$d/fm.tsr" || return 1
	"$MIM_BIN/tensorinfo" -x tokens -o "$d/tokens.npy" "$d/tok.tsr" || return 1
	"$MIM_BIN/tensorinfo" -x labels -o "$d/labels.npy" "$d/tok.tsr" || return 1
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	TOK=$BATS_FILE_TMPDIR/tok.tsr
}

# the 2x2 example of tcas.md, n = [[3,1],[1,3]], as image 0 (class 0)
# with tokens 0 0 0 1 and image 1 (class 1) with tokens 0 1 1 1
two_by_two() {
	mktsr "$1" tokens:i32:2,4:vals=0,0,0,1,0,1,1,1 batch=0 dims=n,l \
		labels:i32:2:vals=0,1 batch=0 "${@:2}"
}

@test "tcas: the 2x2 example n=[[3,1],[1,3]] gives tcas 0.6 and known scores" {
	two_by_two t.tsr
	run --separate-stderr tcas t.tsr
	assert_success
	assert_output "tcas 0.6
collision 0.375
nmi 0.188721876
purity 0.75
used 2
perplexity 2
k 2
classes 2
patches 8"
	# and from standard input
	run tcas < t.tsr
	[ "${lines[0]}" = "tcas 0.6" ] || fail "$output"
}

@test "tcas: class-wise tokens give tcas 0, collision 0, purity 1" {
	# class 0 uses tokens 0 and 1, class 1 token 2, class 2 token 3
	mktsr t.tsr tokens:i32:4,3:vals=0,1,1,2,2,2,3,3,3,0,0,1 batch=0 \
		labels:i32:4:vals=0,1,2,0 batch=0
	run tcas t.tsr
	assert_success
	[ "${lines[0]}" = "tcas 0" ] || fail "$output"
	[ "${lines[1]}" = "collision 0" ] || fail "$output"
	[ "${lines[3]}" = "purity 1" ] || fail "$output"
	[ "${lines[4]}" = "used 4" ] || fail "$output"
}

@test "tcas: class-independent tokens give tcas 1 and nmi 0" {
	# both classes use tokens 0, 1, 2 in proportions 1:1:2
	mktsr t.tsr tokens:i32:3,4:vals=0,1,2,2 batch=0 \
		labels:i32:3:vals=0,1,1 batch=0
	run tcas t.tsr
	assert_success
	[ "${lines[0]}" = "tcas 1" ] || fail "$output"
	[ "${lines[1]}" = "collision 0.444444444" ] || fail "$output"
	[ "${lines[2]}" = "nmi 0" ] || fail "$output"
	[ "${lines[5]}" = "perplexity 2.82842712" ] || fail "$output"
}

@test "tcas: --json prints one JSON object with the same keys, order and values" {
	two_by_two t.tsr
	tcas t.tsr > text
	run tcas --json t.tsr
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	tcas -J t.tsr > json
	run python3 -c '
import json
j = json.load(open("json"))
t = [l.split() for l in open("text")]
assert list(j) == [k for k, v in t], list(j)
assert all(float(v) == j[k] for k, v in t)
assert isinstance(j["used"], int) and j["tcas"] == 0.6
print("same")'
	assert_output same
}

@test "tcas: scores do not depend on how the patches are split into groups" {
	two_by_two one.tsr
	mktsr two.tsr tokens:i32:1,4:vals=0,0,0,1 batch=0 labels:i32:1:vals=0 batch=0 \
		tokens:i32:1,4:vals=0,1,1,1 batch=1 labels:i32:1:vals=1 batch=1 \
		tokens:i32:0,4 batch=2 labels:i32:0 batch=2
	run tcas two.tsr
	assert_output "$(tcas one.tsr)"
	# flat tokens [n] with one patch per image
	mktsr flat.tsr tokens:i32:8:vals=0,0,0,1,0,1,1,1 labels:i32:8:vals=0,0,0,0,1,1,1,1
	run tcas flat.tsr
	assert_output "$(tcas one.tsr)"
}

@test "tcas: classes with no patches are dropped" {
	# the 2x2 example with its classes renamed 1 and 3 of nclasses=5
	mktsr t.tsr tokens:i32:2,4:vals=0,0,0,1,0,1,1,1 labels:i32:2:vals=3,1 nclasses=5
	run tcas t.tsr
	assert_success
	assert_output "$(two_by_two ref.tsr && tcas ref.tsr)"
}

@test "tcas: k is the tokens' meta k, else the largest token plus 1" {
	two_by_two t.tsr
	mktsr k.tsr tokens:i32:2,4:vals=0,0,0,1,0,1,1,1 k=50 labels:i32:2:vals=0,1
	run tcas k.tsr
	[ "${lines[6]}" = "k 50" ] || fail "$output"
	[ "${lines[4]}" = "used 2" ]
	[ "${lines[0]}" = "tcas 0.6" ]
	mktsr m.tsr tokens:i32:2,4:vals=0,0,0,7,0,7,7,7 labels:i32:2:vals=0,1
	run tcas m.tsr
	[ "${lines[6]}" = "k 8" ] || fail "$output"
	[ "${lines[0]}" = "tcas 0.6" ] || fail "$output"
}

@test "tcas: tokens as u8 and labels as i64 are read; float tokens are refused" {
	mktsr t.tsr tokens:u8:2,4:vals=0,0,0,1,0,1,1,1 labels:i64:2:vals=0,1
	run tcas t.tsr
	assert_output "$(two_by_two ref.tsr && tcas ref.tsr)"
	mktsr f.tsr tokens:f32:2,4 labels:i32:2:vals=0,1
	run -1 tcas f.tsr
	assert_output "tcas: f.tsr: record 0 'tokens': dtype f32, expected integers (i32)"
}

@test "tcas: -t and -l name the tokens and labels records" {
	mktsr t.tsr codes:i32:2,4:vals=0,0,0,1,0,1,1,1 y:i32:2:vals=0,1
	run tcas -t codes -l y t.tsr
	assert_output "$(two_by_two ref.tsr && tcas ref.tsr)"
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: no tokens (no tokens record in the stream)"
}

@test "tcas: a token outside [0,k) fails naming the record and the value" {
	mktsr t.tsr labels:i32:1:vals=0 batch=0 tokens:i32:1,4 batch=0 \
		tokens:i32:2,2:vals=0,1,2,0 batch=1 k=2 labels:i32:2:vals=0,1 batch=1
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 2 'tokens': element 2 [1,0] is 2, outside [0,2) (meta k=2)"
	mktsr t.tsr tokens:i32:2,2:vals=0,1,-1,0 labels:i32:2:vals=0,1
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 0 'tokens': element 2 [1,0] is -1, tokens must be from 0 to 2147483647"
	mktsr t.tsr tokens:i64:1,2:vals=0,2147483648 labels:i32:1
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 0 'tokens': element 1 [0,1] is 2147483648, tokens must be from 0 to 2147483647"
	# a meta k that only a later group carries
	mktsr t.tsr tokens:i32:1,2:vals=0,5 batch=0 labels:i32:1 batch=0 \
		tokens:i32:1,2 batch=1 k=4 labels:i32:1:vals=1 batch=1
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: a token is 5, but the tokens meta says k=4"
}

@test "tcas: a negative label or one not below nclasses fails" {
	mktsr t.tsr tokens:i32:2,2 labels:i32:2:vals=0,-3
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 1 'labels': element 1 is -3, labels must be from 0 to 2147483647"
	mktsr t.tsr tokens:i32:2,2 labels:i32:2:vals=0,10 nclasses=10
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 1 'labels': element 1 is 10, outside [0,10) (meta nclasses=10)"
}

@test "tcas: labels missing in a group that has tokens fail" {
	mktsr t.tsr tokens:i32:2,2 batch=0 labels:i32:2:vals=0,1 batch=0 \
		tokens:i32:2,2 batch=1 patches:f32:2,2,1 batch=1
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 2 'tokens': no 'labels' record in its group (each group needs the labels of its images)"
	mktsr t.tsr labels:i32:2:vals=0,1 batch=0
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 0 'labels': no 'tokens' record in its group (tokenize the stream first?)"
}

@test "tcas: tokens [n, ...] and labels [m] with n != m fail" {
	mktsr t.tsr tokens:i32:3,2 dims=n,l labels:i32:2:vals=0,1 dims=n
	run -1 tcas t.tsr
	assert_output "tcas: t.tsr: record 0 'tokens': shape [n=3,l=2] does not match record 1 'labels' [n=2] (expected tokens [n, ...] and labels [n])"
	mktsr t.tsr tokens:i32:2,2 labels:i32:2,1
	run -1 tcas t.tsr
	assert_output --partial "does not match record 1 'labels' [2,1]"
}

@test "tcas: records with different k or nclasses fail" {
	mktsr t.tsr tokens:i32:1,2 k=4 batch=0 labels:i32:1 batch=0 \
		tokens:i32:1,2 k=8 batch=1 labels:i32:1 batch=1
	run -1 tcas t.tsr
	assert_output --partial "record 2 'tokens': meta k=8, but earlier records have k=4"
	mktsr t.tsr tokens:i32:1,2 k=x labels:i32:1
	run -1 tcas t.tsr
	assert_output --partial "meta k=x, expected an integer from 1"
}

@test "tcas: fewer than two classes fail" {
	mktsr t.tsr tokens:i32:2,4:vals=0,1,2,3 labels:i32:2:vals=4,4 nclasses=10
	run -1 --separate-stderr tcas t.tsr
	assert_equal "$stderr" "tcas: t.tsr: need at least two classes, the labels have 1"
	[ -z "$output" ]
}

@test "tcas: an empty stream fails with no tokens; an input of 0 bytes fails" {
	mktsr e.tsr
	run -1 tcas e.tsr
	assert_output "tcas: e.tsr: no tokens (no tokens record in the stream)"
	mktsr z.tsr tokens:i32:0,4 labels:i32:0
	run -1 tcas z.tsr
	assert_output "tcas: z.tsr: no tokens (the tokens records are empty)"
	: > zero.tsr
	run -1 tcas < zero.tsr
	assert_output --partial "<stdin>: empty input"
}

@test "tcas: usage errors exit 2" {
	run -2 tcas -l x -t x t.tsr
	assert_output --partial "-l and -t name the same record 'x'"
	run -2 tcas -t Bad t.tsr
	run -2 tcas a.tsr b.tsr
	assert_output --partial "usage: tcas"
}

@test "tcas: scores of Fashion-MNIST tokens match NumPy straight from tcas.md" {
	tcas "$TOK" > out
	run python3 - "$BATS_FILE_TMPDIR" <<-'EOF'
		import sys, numpy as np
		d = sys.argv[1]
		t = np.load(d + "/tokens.npy").astype(np.int64)
		y = np.load(d + "/labels.npy").astype(np.int64)
		got = dict(l.split() for l in open("out"))
		yy = np.repeat(y, t.shape[1])
		t = t.ravel()
		K, C = t.max() + 1, y.max() + 1
		n = np.zeros((K, C))
		np.add.at(n, (t, yy), 1)
		n = n[:, n.sum(0) > 0]
		C = n.shape[1]
		q = n / n.sum(0)
		D = np.array([[sum(q[u, i] * q[u, j] for u in range(K))
		               for j in range(C)] for i in range(C)])
		tcas = (D.sum() - np.trace(D)) / ((C - 1) * np.trace(D))
		N = n.sum()
		nt = n.sum(1)
		m = nt > 0
		want = {
		    "tcas": tcas,
		    "collision": 1 - ((n[m] ** 2).sum(1) / (nt[m] * N)).sum(),
		    "purity": n.max(1).sum() / N,
		    "perplexity": np.exp(-(nt[m] / N * np.log(nt[m] / N)).sum()),
		    "used": m.sum(), "k": 32, "classes": 10, "patches": 98000,
		}
		for key, v in want.items():
		    assert abs(float(got[key]) - v) <= 5e-9 * abs(v), (key, got[key], v)
		assert 0 < tcas < 1
		print("same", list(got))
	EOF
	assert_success
	assert_output "same ['tcas', 'collision', 'nmi', 'purity', 'used', 'perplexity', 'k', 'classes', 'patches']"
}

@test "tcas: nmi of Fashion-MNIST tokens matches scikit-learn's normalized_mutual_info_score" {
	# not a skip: CI installs python3-sklearn, and without it this must fail
	python3 -c "import sklearn" || fail "python3-sklearn is not installed (make deps)"
	tcas -J "$TOK" > out.json
	run python3 - "$BATS_FILE_TMPDIR" <<-'EOF'
		import json, sys, numpy as np
		from sklearn.metrics import normalized_mutual_info_score as nmi
		d = sys.argv[1]
		t = np.load(d + "/tokens.npy")
		y = np.repeat(np.load(d + "/labels.npy"), t.shape[1])
		want = nmi(y, t.ravel())
		got = json.load(open("out.json"))["nmi"]
		assert abs(got - want) <= 1e-8 * want, (got, want)
		# and on the hand-made examples
		assert abs(nmi([0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 0, 1, 1, 1]) - 0.188721876) < 1e-9
		print("same")
	EOF
	assert_success
	assert_output same
}
