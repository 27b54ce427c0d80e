#!/usr/bin/env bats
# augraph: the augmentation graph of tokens, on hand-made streams whose
# graphs are known, and on Fashion-MNIST tokens against NumPy (the
# graph, alpha and the Laplacian's eigenvalues straight from the
# definitions in augraph(1)) and against tcas.

load helpers

setup_file() {
	local d=$BATS_FILE_TMPDIR
	# 300 Fashion-MNIST test images as 4x4 patches in groups of 64, with
	# 40 random tokens (fewer than the images: the tokens side) and 3000
	# (more: the images side)
	"$MIM_BIN/patchify" -p 4 -n 300 -b 64 -o "$d/fm.tsr" \
		"$FMNIST/t10k-images-idx3-ubyte.gz" || return 1
	"$MIM_BIN/tokenize" -R random -k 40 -S 1 -o "$d/r40.tsr" "$d/fm.tsr" || return 1
	"$MIM_BIN/tokenize" -R random -k 3000 -S 2 -o "$d/r3000.tsr" "$d/fm.tsr" || return 1
	"$MIM_BIN/tensorinfo" -x labels -o "$d/labels.npy" "$d/fm.tsr" || return 1
	for k in 40 3000; do
		"$MIM_BIN/tensorinfo" -x tokens -o "$d/r$k.npy" "$d/r$k.tsr" || return 1
	done
	# and 16 K-means tokens, which depend on each patch alone
	"$MIM_BIN/kmeans-fit" -k 16 -o "$d/c16.tsr" "$d/fm.tsr" || return 1
	"$MIM_BIN/tokenize" -c "$d/c16.tsr" -o "$d/k16.tsr" "$d/fm.tsr" || return 1
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D=$BATS_FILE_TMPDIR
}

# four images of two classes with tokens (0,0) (0,1) | (1,2) (2,2): a path
path4() {
	mktsr "$1" tokens:i32:4,2:vals=0,0,0,1,1,2,2,2 batch=0 dims=n,l \
		labels:i32:4:vals=0,0,1,1 batch=0 "${@:2}"
}

@test "augraph: a path of four images gives the eigenvalues worked out by hand" {
	# W = [[4/3,2/3,0,0],[2/3,5/6,1/2,0],[0,1/2,5/6,2/3],[0,0,2/3,4/3]],
	# every degree 2; L's eigenvalues 0, 1/6, 2/3, 1; alpha = 2 (1/2) / 8
	path4 t.tsr
	run --separate-stderr augraph t.tsr
	assert_success
	assert_output "alpha 0.125
lambda 0.666666667
bound 0.1875
images 4
classes 2
used 3
patches 8
eig.1 0
eig.2 0.166666667
eig.3 0.666666667
eig.4 1"
	[ -z "$stderr" ]
	run augraph < t.tsr
	[ "${lines[2]}" = "bound 0.1875" ] || fail "$output"
}

@test "augraph: class-wise tokens give alpha 0, C zero eigenvalues, lambda_{C+1} 1, bound 0" {
	< "$D/fm.tsr" tokenize -R class > c.tsr
	run augraph -e 12 c.tsr
	assert_success
	assert_output "alpha 0
lambda 1
bound 0
images 300
classes 10
used 10
patches 14700
$(for i in $(seq 10); do echo "eig.$i 0"; done)
eig.11 1
eig.12 1"
}

@test "augraph: images no token links give bound inf (JSON null) beside alpha > 0" {
	# images 0 and 1 (classes 0, 1) share token 0; 2 and 3 stand alone:
	# 3 components, so lambda_3 = 0 with alpha > 0
	mktsr t.tsr tokens:i32:4,2:vals=0,0,0,0,1,1,2,2 labels:i32:4:vals=0,1,0,1
	run augraph -e 4 t.tsr
	assert_success
	[ "${lines[0]}" = "alpha 0.25" ] || fail "$output"
	[ "${lines[1]}" = "lambda 0" ] || fail "$output"
	[ "${lines[2]}" = "bound inf" ] || fail "$output"
	run augraph -J -e 4 t.tsr
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	augraph -J t.tsr > j
	augraph t.tsr > text
	run python3 -c '
import json
j = json.load(open("j"))
t = [l.split() for l in open("text")]
assert list(j) == [k for k, v in t], list(j)
assert j["bound"] is None and j["alpha"] == 0.25 and j["images"] == 4
assert all(float(v) == j[k] for k, v in t if k != "bound")
print("same")'
	assert_output same
}

@test "augraph: the graph and eigenvalues match NumPy on both sides (K < N and K > N)" {
	for k in 40 3000; do
		augraph -v -n 0 -e 30 "$D/r$k.tsr" > out$k 2> err$k
	done
	grep -q "tokens side, 40 x 40" err40 || fail "$(cat err40)"
	grep -q "images side, 300 x 300" err3000 || fail "$(cat err3000)"
	run python3 - "$D" <<-'EOF'
		import sys, numpy as np
		d = sys.argv[1]
		y = np.load(d + "/labels.npy")
		for k in (40, 3000):
		    t = np.load(d + "/r%d.npy" % k)
		    n = len(t)
		    c = np.zeros((n, t.max() + 1))
		    for i in range(n):
		        np.add.at(c[i], t[i], 1)
		    c = c[:, c.sum(0) > 0]
		    # w(i, j) = sum_t c_i(t) c_j(t) / n_t, self-loops kept
		    w = c @ np.diag(1 / c.sum(0)) @ c.T
		    deg = w.sum(1)
		    lap = np.eye(n) - w / np.sqrt(np.outer(deg, deg))
		    lam = np.linalg.eigvalsh(lap)
		    alpha = w[y[:, None] != y[None, :]].sum() / w.sum()
		    got = dict(l.split() for l in open("out%d" % k))
		    assert abs(float(got["alpha"]) - alpha) <= 1e-8 * alpha, (k, got["alpha"], alpha)
		    assert abs(float(got["lambda"]) - lam[10]) <= 1e-8, (k, got["lambda"], lam[10])
		    assert abs(float(got["bound"]) - alpha / lam[10]) <= 1e-8 * alpha / lam[10]
		    for i in range(30):
		        g = float(got["eig.%d" % (i + 1)])
		        assert abs(g - lam[i]) <= 1e-8, (k, i, g, lam[i])
		    assert int(got["used"]) == c.shape[1] and int(got["patches"]) == 49 * n
		    print(k, "same", "%.3f" % lam[1])
	EOF
	assert_success
	assert_line --regexp "^40 same 0\.[0-9]{3}$"
	assert_line --regexp "^3000 same 0\.[0-9]{3}$"
}

@test "augraph: on the whole stream, alpha equals tcas's collision" {
	for k in 40 3000; do
		a=$(augraph -n 0 -e 0 "$D/r$k.tsr" | awk '$1 == "alpha" { print $2 }')
		c=$(tcas "$D/r$k.tsr" | awk '$1 == "collision" { print $2 }')
		awk -v a="$a" -v c="$c" 'BEGIN { exit !(a - c < 1e-8 && c - a < 1e-8) }' ||
			fail "K=$k: alpha $a, collision $c"
	done
}

@test "augraph: the sample is the same for a seed, another for another seed, and all images past the stream's size" {
	augraph -n 100 -S 1 "$D/k16.tsr" > a
	augraph -n 100 -S 1 "$D/k16.tsr" > b
	cmp a b
	augraph -n 100 -S 2 "$D/k16.tsr" > c
	! cmp -s a c
	grep -qx "images 100" a
	# the sample does not depend on how the images are grouped
	patchify -p 4 -n 300 -b 300 "$FMNIST/t10k-images-idx3-ubyte.gz" |
		tokenize -c "$D/c16.tsr" > one.tsr
	run augraph -n 100 -S 1 one.tsr
	assert_output "$(cat a)"
	# -n above the stream's images, and -n 0: every image
	augraph -n 1000 -S 5 "$D/k16.tsr" > all
	augraph -n 0 "$D/k16.tsr" > zero
	cmp all zero
	grep -qx "images 300" all
}

@test "augraph: -e chooses how many eigenvalues are printed, at most the images" {
	path4 t.tsr
	run augraph -e 0 t.tsr
	assert_success
	[ "${#lines[@]}" -eq 7 ] && [ "${lines[1]}" = "lambda 0.666666667" ] || fail "$output"
	run augraph -e 2 t.tsr
	[ "${#lines[@]}" -eq 9 ] && [ "${lines[8]}" = "eig.2 0.166666667" ] || fail "$output"
	run augraph -e 100 t.tsr
	[ "${#lines[@]}" -eq 11 ] || fail "$output"
}

@test "augraph: -t and -l name the records; other dtypes of integers are read" {
	mktsr t.tsr codes:u8:4,2:vals=0,0,0,1,1,2,2,2 y:i64:4:vals=0,0,1,1
	run augraph -t codes -l y t.tsr
	assert_output "$(path4 ref.tsr && augraph ref.tsr)"
	run -1 augraph t.tsr
	assert_output "augraph: t.tsr: no tokens (no tokens record in the stream)"
}

@test "augraph: bad records fail as in tcas, naming the record" {
	mktsr t.tsr tokens:i32:2,2 batch=0 labels:i32:2:vals=0,1 batch=0 \
		tokens:i32:2,2 batch=1 patches:f32:2,2,1 batch=1
	run -1 augraph t.tsr
	assert_output "augraph: t.tsr: record 2 'tokens': no 'labels' record in its group (each group needs the labels of its images)"
	mktsr t.tsr tokens:i32:2,2:vals=0,1,-1,0 labels:i32:2:vals=0,1
	run -1 augraph t.tsr
	assert_output "augraph: t.tsr: record 0 'tokens': element 2 [1,0] is -1, tokens must be from 0 to 2147483647"
	mktsr t.tsr tokens:f32:2,2 labels:i32:2:vals=0,1
	run -1 augraph t.tsr
	assert_output "augraph: t.tsr: record 0 'tokens': dtype f32, expected integers (i32)"
	path4 t.tsr
	head -c 300 t.tsr > cut.tsr
	run -1 augraph cut.tsr
	assert_output --partial "augraph: cut.tsr: record 1 'labels': truncated record"
}

@test "augraph: one class, or no more images than classes, fail" {
	mktsr t.tsr tokens:i32:3,2 labels:i32:3:vals=4,4,4 nclasses=10
	run -1 --separate-stderr augraph t.tsr
	assert_equal "$stderr" "augraph: t.tsr: need at least two classes, the 3 sampled images have 1"
	[ -z "$output" ]
	mktsr t.tsr tokens:i32:2,2 labels:i32:2:vals=0,1
	run -1 augraph t.tsr
	assert_output "augraph: t.tsr: 2 images and 2 classes: lambda_{C+1} needs more images than classes (-n)"
	mktsr z.tsr tokens:i32:0,4 labels:i32:0
	run -1 augraph z.tsr
	assert_output "augraph: z.tsr: no tokens (the tokens records are empty)"
}

@test "augraph: usage errors exit 2" {
	run -2 augraph -l x -t x t.tsr
	assert_output --partial "-l and -t name the same record 'x'"
	run -2 augraph -n -1 t.tsr
	assert_output "augraph: -n -1: too small (min 0)"
	run -2 augraph -e x t.tsr
	run -2 augraph a.tsr b.tsr
	assert_output --partial "one input file at most"
}
