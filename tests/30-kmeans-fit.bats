#!/usr/bin/env bats
# kmeans-fit: K-means centroids of the rows of a tensor stream.

load helpers

setup_file() {
	# a small tensor stream writer (numpy arrays to records), for the
	# generators below; written from formats/tensor-stream.md
	cat > "$BATS_FILE_TMPDIR/tsrw.py" <<-'EOF'
		import struct, zlib
		import numpy as np
		CODES = {np.dtype("uint8"): 1, np.dtype("int32"): 6,
		         np.dtype("uint64"): 7, np.dtype("float32"): 10}
		def pad(n):
		    return (n + 63) // 64 * 64
		def record(name, a, meta=""):
		    a = np.asarray(a)
		    payload = a.tobytes(order="C")
		    if meta and not meta.endswith("\n"):
		        meta += "\n"
		    name, meta = name.encode(), meta.encode()
		    hdr = pad(40 + 8 * a.ndim + len(name) + len(meta))
		    h = b"\x93TSR" + struct.pack("<BBBBIIQIHHII", 1, 0, CODES[a.dtype],
		        a.ndim, 0, hdr, len(payload), zlib.crc32(payload), len(name), 0,
		        len(meta), 0)
		    h += b"".join(struct.pack("<Q", d) for d in a.shape) + name + meta
		    h += b"\0" * (hdr - len(h))
		    return h + payload + b"\0" * (pad(len(payload)) - len(payload))
		def write(path, records):
		    """records: (name, array, meta) tuples; adds the end record"""
		    with open(path, "wb") as f:
		        for r in records:
		            f.write(record(*r))
		        f.write(record("end", np.array(len(records), np.uint64)))
	EOF
	export TSRW=$BATS_FILE_TMPDIR
	# Fashion-MNIST test patches, 2000 images of 49 patches of 16 values
	patchify -p 4 -n 2000 -o "$BATS_FILE_TMPDIR/fm.tsr" \
		"${FMNIST:-/usr/share/datasets/fashion-mnist}/t10k-images-idx3-ubyte.gz"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	FM=$BATS_FILE_TMPDIR/fm.tsr
}

# the value of meta key $3 on the record named $2 in stream $1
meta() {
	tensorinfo "$1" | awk -v name="$2" -v key="$3" '$2 == name {
		for (i = 7; i <= NF; i++)
			if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
	}'
}

# blobs.tsr: 5 blobs of 60 points in D=8 around centres.npy, in 3 groups;
# truth.npy holds each point's blob
make_blobs() {
	python3 - <<-'EOF'
		import os, sys
		sys.path.insert(0, os.environ["TSRW"])
		import numpy as np, tsrw
		rng = np.random.default_rng(5)
		c = rng.uniform(-50, 50, (5, 8)).astype(np.float32)
		truth = np.repeat(np.arange(5), 60)
		rng.shuffle(truth)
		x = (c[truth] + rng.normal(0, 0.5, (300, 8))).astype(np.float32)
		np.save("centres.npy", c)
		np.save("truth.npy", truth)
		np.save("x.npy", x)
		tsrw.write("blobs.tsr", [
		    ("patches", x[:100].reshape(10, 10, 8), "batch=0"),
		    ("labels", np.zeros(10, np.int32), "batch=0"),
		    ("patches", x[100:250].reshape(15, 10, 8), "batch=1"),
		    ("patches", x[250:].reshape(5, 10, 8), "batch=2")])
	EOF
}

@test "kmeans-fit: well-separated blobs give back the true centres and every point's cluster" {
	make_blobs
	kmeans-fit -k 5 -j 1 -o c.tsr blobs.tsr
	tensorinfo -x centroids -o c.npy c.tsr
	tensorinfo -x counts -o n.npy c.tsr
	run python3 - <<-'EOF'
		import numpy as np
		c, n = np.load("c.npy"), np.load("n.npy")
		true, truth, x = np.load("centres.npy"), np.load("truth.npy"), np.load("x.npy")
		assert c.shape == (5, 8) and c.dtype == np.float32, c.shape
		# match each true centre to its nearest fitted centroid: a permutation
		m = ((true[:, None, :] - c[None, :, :]) ** 2).sum(-1).argmin(1)
		assert sorted(m) == list(range(5)), m
		err = np.abs(c[m] - true).max()
		assert err < 0.3, err
		lab = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1).argmin(1)
		assert (lab == m[truth]).all(), "a point is in the wrong cluster"
		assert (n[m] == 60).all(), n
		print("recovered", round(float(err), 3))
	EOF
	assert_success
	assert_output --partial recovered
}

@test "kmeans-fit: every kernel this CPU runs gives the same centroids" {
	make_blobs
	kmeans-fit -k 5 -j 1 -o auto.tsr blobs.tsr
	n=0
	for k in blas avx2 avx512; do
		if MIM_KMEANS_KERNEL=$k kmeans-fit -k 5 -j 2 -o $k.tsr blobs.tsr 2> err; then
			tensorinfo -c auto.tsr -t 1e-6 $k.tsr || fail "$k differs"
			n=$((n + 1))
		else
			grep -q "one this CPU runs" err || fail "$k: $(cat err)"
		fi
	done
	[ "$n" -ge 1 ]
	run -1 env MIM_KMEANS_KERNEL=sse kmeans-fit -k 5 -o x.tsr blobs.tsr
	assert_output --partial "expected auto, blas, avx2 or avx512"
}

@test "kmeans-fit: Lloyd's inertia never increases from one pass to the next" {
	run --separate-stderr kmeans-fit -v -k 16 -n 40 -t 0 -j 1 -o c.tsr "$FM"
	assert_success
	echo "$stderr" | grep -c 'iteration [0-9]*: inertia' > n
	[ "$(cat n)" -ge 5 ]
	run awk '/iteration [0-9]+: inertia/ {
		v = $5; sub(/,$/, "", v)
		if (seen && v > prev * (1 + 1e-9)) { print "rose: " prev " -> " v; bad = 1 }
		prev = v; seen = 1
	} END { exit bad }' <<< "$stderr"
	assert_success
	# the final inertia (at the final centroids) is no worse than the last pass
	last=$(grep 'iteration [0-9]*: inertia' <<< "$stderr" | tail -1 | awk '{ v = $5; sub(/,$/, "", v); print v }')
	final=$(meta c.tsr centroids inertia)
	awk -v a="$final" -v b="$last" 'BEGIN { exit !(a <= b * (1 + 1e-9)) }'
}

@test "kmeans-fit: the same seed gives identical bytes, whatever -j" {
	kmeans-fit -k 16 -S 7 -j 1 -o a.tsr "$FM"
	kmeans-fit -k 16 -S 7 -j 1 -o b.tsr "$FM"
	kmeans-fit -k 16 -S 7 -j 2 -o c.tsr "$FM"
	cmp a.tsr b.tsr
	cmp a.tsr c.tsr
	kmeans-fit -k 16 -S 8 -j 1 -o d.tsr "$FM"
	! cmp -s a.tsr d.tsr
	kmeans-fit -a minibatch -b 5000 -e 2 -k 16 -S 7 -j 1 -o m1.tsr "$FM"
	kmeans-fit -a minibatch -b 5000 -e 2 -k 16 -S 7 -j 2 -o m2.tsr "$FM"
	cmp m1.tsr m2.tsr
}

@test "kmeans-fit: a file, a pipe, -s and a small -m give the same centroids" {
	kmeans-fit -k 16 -j 1 -o file.tsr "$FM"
	cat "$FM" | kmeans-fit -k 16 -j 1 > pipe.tsr
	kmeans-fit -k 16 -j 1 -s -o stream.tsr "$FM"
	kmeans-fit -k 16 -j 1 -m 1 -o small.tsr "$FM"
	kmeans-fit -k 16 -j 1 -s < "$FM" > redirect.tsr
	for f in pipe stream small redirect; do
		tensorinfo -c file.tsr $f.tsr || fail "$f differs"
	done
	run meta pipe.tsr centroids source
	assert_output "<stdin>"
}

@test "kmeans-fit: a pipe larger than -m fails clearly and writes nothing" {
	run -1 bash -c "cat '$FM' | kmeans-fit -k 4 -m 1 -o out.tsr"
	assert_output "kmeans-fit: <stdin>: more than 1 MiB of rows: give a file, or raise -m"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
	run -1 bash -c "cat '$FM' | kmeans-fit -k 4 -s -o out.tsr"
	assert_output --partial "-s needs a regular file"
}

@test "kmeans-fit: -i FILE with -n 0 returns the given centroids unchanged" {
	mktsr init.tsr centroids:f32:16,16:rand=3
	kmeans-fit -i init.tsr -n 0 -j 1 -o out.tsr "$FM"
	[ "$(tsr_field out.tsr 0 5)" = "$(tsr_field init.tsr 0 5)" ]
	run meta out.tsr centroids iters
	assert_output 0
	run meta out.tsr centroids init
	assert_output init.tsr
	# -k agrees with the file or is refused
	run -1 kmeans-fit -k 8 -i init.tsr -n 0 -o bad.tsr "$FM"
	assert_output --partial "16 centroids, but -k 8"
	[ ! -e bad.tsr ]
}

@test "kmeans-fit: -i FILE with -n 1 makes exactly one Lloyd step" {
	python3 - <<-'EOF'
		import os, sys
		sys.path.insert(0, os.environ["TSRW"])
		import numpy as np, tsrw
		rng = np.random.default_rng(1)
		x = rng.normal(0, 1, (500, 6)).astype(np.float32)
		c = rng.normal(0, 1, (7, 6)).astype(np.float32)
		np.save("x.npy", x); np.save("c0.npy", c)
		tsrw.write("x.tsr", [("patches", x, "")])
		tsrw.write("c0.tsr", [("centroids", c, "")])
	EOF
	kmeans-fit -i c0.tsr -n 1 -j 1 -o c1.tsr x.tsr
	tensorinfo -x centroids -o c1.npy c1.tsr
	tensorinfo -x counts -o n1.npy c1.tsr
	run python3 - <<-'EOF'
		import numpy as np
		x, c0 = np.load("x.npy").astype(np.float64), np.load("c0.npy").astype(np.float64)
		c1, n1 = np.load("c1.npy"), np.load("n1.npy")
		lab = ((x[:, None] - c0[None]) ** 2).sum(-1).argmin(1)
		want = np.stack([x[lab == j].mean(0) for j in range(7)])
		assert np.abs(c1 - want).max() < 1e-5, np.abs(c1 - want).max()
		lab1 = ((x[:, None] - c1[None].astype(np.float64)) ** 2).sum(-1).argmin(1)
		assert (n1 == np.bincount(lab1, minlength=7)).all(), (n1, np.bincount(lab1))
		print("one step")
	EOF
	assert_success
	assert_output "one step"
}

@test "kmeans-fit: mini-batch reaches an inertia close to Lloyd's on blobs" {
	make_blobs
	kmeans-fit -k 5 -j 1 -o l.tsr blobs.tsr
	kmeans-fit -a minibatch -b 64 -e 5 -k 5 -j 1 -o m.tsr blobs.tsr
	kmeans-fit -a minibatch -b 64 -e 5 -k 5 -j 1 -s -o ms.tsr blobs.tsr
	l=$(meta l.tsr centroids inertia)
	for f in m ms; do
		m=$(meta $f.tsr centroids inertia)
		awk -v l="$l" -v m="$m" 'BEGIN { exit !(m <= l * 1.02) }' ||
			fail "$f: mini-batch $m vs Lloyd $l"
	done
	run meta m.tsr centroids algorithm
	assert_output minibatch
	run meta m.tsr centroids epochs
	assert_output 5
}

@test "kmeans-fit: -p clusters rows by direction and writes unit centroids" {
	python3 - <<-'EOF'
		import os, sys
		sys.path.insert(0, os.environ["TSRW"])
		import numpy as np, tsrw
		rng = np.random.default_rng(2)
		d = np.eye(4, dtype=np.float32)[:3]
		truth = rng.integers(0, 3, 400)
		# any length, a little off the axis
		x = d[truth] * rng.uniform(0.1, 100, (400, 1)) + rng.normal(0, 0.01, (400, 4))
		np.save("truth.npy", truth)
		tsrw.write("dirs.tsr", [("feat", x.astype(np.float32), "")])
	EOF
	kmeans-fit -p -f feat -k 3 -j 1 -o s.tsr dirs.tsr
	tensorinfo -x centroids -o s.npy s.tsr
	tensorinfo -x counts -o n.npy s.tsr
	run python3 - <<-'EOF'
		import numpy as np
		c, n, truth = np.load("s.npy"), np.load("n.npy"), np.load("truth.npy")
		assert np.abs(np.linalg.norm(c, axis=1) - 1).max() < 1e-5
		axis = np.abs(c).argmax(1)
		assert sorted(axis) == [0, 1, 2], c
		assert (np.abs(c).max(1) > 0.99).all(), c
		assert sorted(n) == sorted(np.bincount(truth)), n
		print("directions")
	EOF
	assert_output directions
	run meta s.tsr centroids spherical
	assert_output 1
	run meta s.tsr centroids tensor
	assert_output feat
}

@test "kmeans-fit: u8 rows give the same centroids as the same values in f32" {
	python3 - <<-'EOF'
		import os, sys
		sys.path.insert(0, os.environ["TSRW"])
		import numpy as np, tsrw
		x = np.random.default_rng(3).integers(0, 256, (300, 5)).astype(np.uint8)
		tsrw.write("u8.tsr", [("patches", x, "")])
		tsrw.write("f32.tsr", [("patches", x.astype(np.float32), "")])
	EOF
	kmeans-fit -k 4 -j 1 -o a.tsr u8.tsr
	kmeans-fit -k 4 -j 1 -o b.tsr f32.tsr
	tensorinfo -c a.tsr b.tsr
}

@test "kmeans-fit: empty clusters are re-seeded with far rows and reported with -v" {
	make_blobs
	# two centroids far from every point: nothing is nearest to them
	python3 - <<-'EOF'
		import os, sys
		sys.path.insert(0, os.environ["TSRW"])
		import numpy as np, tsrw
		c = np.load("centres.npy")[:3].copy()
		far = np.full((2, 8), 1e4, np.float32)
		tsrw.write("c0.tsr", [("centroids", np.vstack([c, far]), "")])
	EOF
	run --separate-stderr kmeans-fit -v -i c0.tsr -j 1 -o c.tsr blobs.tsr
	assert_success
	[[ $stderr == *"iteration 1: 2 empty clusters re-seeded"* ]] || fail "$stderr"
	tensorinfo -x counts -o n.npy c.tsr
	run python3 -c 'import numpy as np; n = np.load("n.npy"); assert sorted(n) == [60] * 5, n; print("ok")'
	assert_output ok
}

@test "kmeans-fit: -k larger than the number of rows is refused, no output file" {
	mktsr in.tsr patches:f32:10,20,3:rand=1
	run -1 kmeans-fit -k 300 -o out.tsr in.tsr
	assert_output "kmeans-fit: -k 300: more than the 200 rows of 'patches'"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "kmeans-fit: a missing tensor is refused by its name" {
	mktsr in.tsr images:f32:10,3:rand=1
	run -1 kmeans-fit -k 2 -o out.tsr in.tsr
	assert_output --partial "in.tsr: no record named 'patches'"
	[ ! -e out.tsr ]
	kmeans-fit -k 2 -f images -j 1 -o out.tsr in.tsr
	[ "$(tsr_field out.tsr 0 4)" = "[k=2,d=3]" ]
}

@test "kmeans-fit: NaN or Inf in the input is refused with its record index" {
	mktsr nan.tsr patches:f32:4,2:vals=1,2,3,4 batch=0 labels:i32:4 batch=0 \
		patches:f32:4,2:vals=1,2,nan,4 batch=1
	run -1 kmeans-fit -k 2 -o out.tsr nan.tsr
	assert_output "kmeans-fit: nan.tsr: record 2 'patches': NaN at row 1, column 0 (K-means needs finite values)"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
	mktsr inf.tsr patches:f32:3,2:vals=1,-inf,3
	run -1 kmeans-fit -k 2 -s -o out.tsr inf.tsr
	assert_output --partial "record 0 'patches': -Inf at row 0, column 1"
	[ ! -e out.tsr ]
}

@test "kmeans-fit: rows of different D in different groups are refused" {
	mktsr in.tsr patches:f32:4,3:rand=1 batch=0 patches:f32:4,2:rand=2 batch=1
	run -1 kmeans-fit -k 2 -o out.tsr in.tsr
	assert_output "kmeans-fit: in.tsr: record 1 'patches': rows of D=2, but earlier rows have D=3"
	[ ! -e out.tsr ]
	mktsr c.tsr centroids:f32:2,5:rand=1
	mktsr ok.tsr patches:f32:4,3:rand=1
	run -1 kmeans-fit -i c.tsr -o out.tsr ok.tsr
	assert_output --partial "centroids of D=5, but the rows of 'patches' have D=3"
}

@test "kmeans-fit: an empty stream is refused, and so is no input at all" {
	mktsr empty.tsr
	run -1 kmeans-fit -k 2 -o out.tsr empty.tsr
	assert_output "kmeans-fit: empty.tsr: empty stream: no rows to cluster"
	[ ! -e out.tsr ]
	run -1 kmeans-fit -k 2 -o out.tsr < /dev/null
	assert_output --partial "<stdin>"
	[ ! -e out.tsr ]
	mktsr zero.tsr patches:f32:0,16
	run -1 kmeans-fit -k 2 -o out.tsr zero.tsr
	assert_output --partial "no rows: every 'patches' record is empty"
}

@test "kmeans-fit: a bad dtype is refused" {
	mktsr in.tsr patches:i32:4,2
	run -1 kmeans-fit -k 2 -o out.tsr in.tsr
	assert_output "kmeans-fit: in.tsr: record 0 'patches': dtype i32, expected u8 or f32"
}

@test "kmeans-fit: usage errors exit 2 with the usage line" {
	run -2 kmeans-fit "$FM"
	assert_output --partial "-k: the number of clusters is required"
	run -2 kmeans-fit -k 0 "$FM"
	assert_output --partial "-k 0: too small (min 1)"
	run -2 kmeans-fit -k 2 -a kmedians "$FM"
	assert_output --partial "-a kmedians: expected lloyd or minibatch"
	run -2 kmeans-fit -k 2 -e 3 "$FM"
	assert_output --partial "-b and -e are for -a minibatch"
	run -2 kmeans-fit -k 2 -a minibatch -n 3 "$FM"
	assert_output --partial "-n and -t are for -a lloyd"
	run -2 kmeans-fit -k 2 -t 2 "$FM"
	assert_output --partial "-t 2: too large"
}

@test "kmeans-fit: Fashion-MNIST patches run end to end with K=16" {
	[ -e "$FMNIST/t10k-images-idx3-ubyte.gz" ] || fail "dataset-fashion-mnist is not installed (make deps)"
	run bash -c "set -o pipefail; patchify -p 4 -n 2000 '$FMNIST/t10k-images-idx3-ubyte.gz' |
		kmeans-fit -k 16 -j 1 > c.tsr"
	assert_success
	run tsr_field c.tsr 0 4
	assert_output '[k=16,d=16]'
	run tsr_field c.tsr 1 4
	assert_output '[k=16]'
	tensorinfo -x counts -o n.npy c.tsr
	run python3 -c 'import numpy as np; n = np.load("n.npy"); print(n.sum(), (n > 0).all())'
	assert_output "98000 True"
	for kv in k=16 d=16 rows=98000 algorithm=lloyd seed=0 init=plusplus \
		spherical=0 tensor=patches source='<stdin>' converged=1; do
		run meta c.tsr centroids "${kv%%=*}"
		assert_output "${kv#*=}"
	done
	run meta c.tsr centroids inertia
	assert_output --regexp '^[0-9]+\.[0-9]+'
}
