#!/usr/bin/env bats
# tokenize: nearest-centroid tokens added to each group, the rest passed
# through.  Streams come from mktsr, patchify, or a small Python writer
# written here from formats/tensor-stream.md (independent of lib/).

load helpers

# tsrw.py: write(path, [(name, numpy array, {meta}), ...]) + end record
write_tsrw() {
	cat > "$1/tsrw.py" <<-'EOF'
		import struct, zlib
		import numpy as np
		CODES = {"|u1": 1, "|i1": 2, "<u2": 3, "<i2": 4, "<u4": 5, "<i4": 6,
		         "<u8": 7, "<i8": 8, "<f4": 10, "<f8": 11}
		def record(name, a, meta=None):
		    a = np.asarray(a)
		    data = a.tobytes(order="C")
		    name = name.encode()
		    meta = "".join("%s=%s\n" % kv for kv in (meta or {}).items()).encode()
		    need = 40 + 8 * a.ndim + len(name) + len(meta)
		    hdr = (need + 63) // 64 * 64
		    h = b"\x93TSR" + struct.pack("<BBBBIIQIHHII", 1, 0, CODES[a.dtype.str],
		        a.ndim, 0, hdr, len(data), zlib.crc32(data), len(name), 0,
		        len(meta), 0)
		    h += b"".join(struct.pack("<Q", d) for d in a.shape) + name + meta
		    return h + bytes(hdr - len(h)) + data + bytes(-len(data) % 64)
		def write(path, recs):
		    with open(path, "wb") as f:
		        for r in recs:
		            f.write(record(*r))
		        f.write(record("end", np.array(len(recs), dtype="<u8")))
	EOF
}

setup_file() {
	local d=$BATS_FILE_TMPDIR
	write_tsrw "$d"
	# the real data: 2000 Fashion-MNIST test images as 4x4 patches, and
	# 32 centroids from 10 Lloyd steps in NumPy (float64), for now
	"$MIM_BIN/patchify" -p 4 -n 2000 -o "$d/fm.tsr" \
		"$FMNIST/t10k-images-idx3-ubyte.gz" || return 1
	"$MIM_BIN/tensorinfo" -x patches -o "$d/fm.npy" "$d/fm.tsr" || return 1
	(cd "$d" && /usr/bin/python3 - <<-'EOF'
		import numpy as np, tsrw
		x = np.load("fm.npy").reshape(-1, 16).astype(np.float64)
		rng = np.random.default_rng(0)
		c = x[rng.choice(len(x), 32, replace=False)]
		for _ in range(10):
		    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
		    a = d.argmin(1)
		    for j in range(32):
		        if (a == j).any():
		            c[j] = x[a == j].mean(0)
		tsrw.write("fmc.tsr", [("centroids", c.astype("<f4"), {"k": 32})])
	EOF
	) || return 1
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH=$BATS_FILE_TMPDIR
	FM=$BATS_FILE_TMPDIR/fm.tsr
	FMC=$BATS_FILE_TMPDIR/fmc.tsr
}

# the listing of stream $1 without the records named tokens, and without
# the index and flags columns
others() {
	tensorinfo "$1" | awk '$2 != "tokens" { $1 = ""; $6 = ""; print }'
}

@test "tokenize: the patches themselves as centroids give each patch its own index" {
	mktsr p.tsr patches:f32:2,3,4:rand=7 batch=0 dims=n,l,d \
		labels:i32:2:vals=0,1 batch=0
	mktsr c.tsr centroids:f32:6,4:rand=7
	tokenize -c c.tsr p.tsr > t.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	run python3 -c 'import numpy as np; t = np.load("t.npy"); print(t.dtype, t.shape, t.ravel().tolist())'
	assert_output "int32 (2, 3) [0, 1, 2, 3, 4, 5]"
}

@test "tokenize: u8 Fashion-MNIST patches as their own centroids give the first index of each distinct patch" {
	patchify -p 4 -N none -n 3 -o p.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	tensorinfo -x patches -o p.npy p.tsr
	python3 -c '
import numpy as np, tsrw
p = np.load("p.npy").reshape(-1, 16)
tsrw.write("c.tsr", [("centroids", p.astype("<f4"), {})])'
	tokenize -c c.tsr p.tsr > t.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	run python3 -c '
import numpy as np
p = np.load("p.npy").reshape(-1, 16)
t = np.load("t.npy")
assert t.shape == (3, 49), t.shape
_, first, inv = np.unique(p, axis=0, return_index=True, return_inverse=True)
want = first[inv.ravel()]
assert (t.ravel() == want).all(), (t.ravel()[:20], want[:20])
print(len(first), "distinct")'
	assert_success
	assert_output --regexp '^[0-9]+ distinct$'
}

@test "tokenize: tokens match a NumPy nearest-centroid search on 2000 Fashion-MNIST images" {
	tokenize -c "$FMC" "$FM" > t.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	tensorinfo -x centroids -o c.npy "$FMC"
	run python3 -c '
import numpy as np
x = np.load("'"$BATS_FILE_TMPDIR"'/fm.npy").reshape(-1, 16).astype(np.float64)
c = np.load("c.npy").astype(np.float64)
t = np.load("t.npy").ravel()
assert t.shape == (2000 * 49,), t.shape
d = ((x[:, None, :] - c[None]) ** 2).sum(2)
best = d.min(1)
got = d[np.arange(len(x)), t]
bad = got > best + 1e-4 * (1 + best)
assert not bad.any(), (bad.sum(), np.flatnonzero(bad)[:5])
print("same", (t == d.argmin(1)).mean() > 0.999)'
	assert_success
	assert_output "same True"
}

@test "tokenize: records other than tokens pass through byte for byte" {
	mktsr c.tsr centroids:f32:5,4:rand=3
	mktsr -z in.tsr patches:f32:2,3,4:rand=1 batch=0 dims=n,l,d \
		labels:i32:2:vals=1,0 batch=0 nclasses=2 extra:u16:5 batch=0 note=x \
		patches:f32:1,3,4:rand=2 batch=1 dims=n,l,d labels:i32:1 batch=1
	tokenize -c c.tsr in.tsr > out.tsr
	run others out.tsr
	assert_output "$(others in.tsr)"
	# tokens right after each group's last record
	run bash -c "tensorinfo out.tsr | awk '{ print \$2 }' | xargs"
	assert_output "patches labels extra tokens patches labels tokens"
	# the payloads themselves, not only their CRCs
	for n in patches labels extra; do
		tensorinfo -x $n -o a.npy in.tsr
		tensorinfo -x $n -o b.npy out.tsr
		cmp a.npy b.npy
	done
	# and again compressed
	tokenize -z -c c.tsr in.tsr > outz.tsr
	run others outz.tsr
	assert_output "$(others in.tsr)"
	run bash -c "tensorinfo outz.tsr | awk '{ print \$6 }' | sort -u"
	assert_output z
}

@test "tokenize: the tokens record has the shape without the last dim and meta batch, dims, k and centroids" {
	mktsr p.tsr patches:u8:3,5,2:rand=4 batch=12 dims=n,l,d
	mktsr c.tsr centroids:f32:7,2:rand=5
	tokenize -c c.tsr p.tsr > t.tsr
	run tsr_field t.tsr 1 4
	assert_output "[n=3,l=5]"
	run tsr_field t.tsr 1 3
	assert_output i32
	run bash -c "tensorinfo t.tsr | awk '\$2 == \"tokens\"' | cut -d' ' -f7-"
	assert_output "tool=tokenize/0.1.0 batch=12 dims=n,l k=7 centroids=c.tsr spherical=0"
}

@test "tokenize: u8 and f32 copies of the same patches give the same tokens" {
	patchify -p 4 -N none -n 20 -o u.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	tensorinfo -x patches -o u.npy u.tsr
	python3 -c '
import numpy as np, tsrw
u = np.load("u.npy")
tsrw.write("f.tsr", [("patches", u.astype("<f4"), {"batch": 0})])
rng = np.random.default_rng(1)
tsrw.write("c.tsr", [("centroids", (rng.random((24, 16)) * 255).astype("<f4"), {})])'
	tokenize -c c.tsr u.tsr | tensorinfo -x tokens -o a.npy
	tokenize -c c.tsr f.tsr | tensorinfo -x tokens -o b.npy
	cmp a.npy b.npy
}

@test "tokenize: -f features tokenizes [n, D] feature records into tokens [n]" {
	mktsr f.tsr features:f32:6,3:rand=9 dims=n,d labels:i32:6
	mktsr c.tsr centroids:f32:6,3:rand=9
	tokenize -f features -c c.tsr f.tsr > t.tsr
	run tsr_field t.tsr 2 4
	assert_output "[n=6]"
	tensorinfo -x tokens -o t.npy t.tsr
	run python3 -c 'import numpy as np; print(np.load("t.npy").tolist())'
	assert_output "[0, 1, 2, 3, 4, 5]"
	run -1 tokenize -c c.tsr f.tsr
	assert_output --partial "no 'patches' record in the group"
}

@test "tokenize: -p assigns by cosine similarity, not by distance" {
	mktsr p.tsr patches:f32:1,1,2:vals=3,2.9 batch=0
	mktsr c.tsr centroids:f32:2,2:vals=1,0,10,10
	tokenize -c c.tsr p.tsr | tensorinfo -x tokens -o l2.npy
	tokenize -p -c c.tsr p.tsr | tensorinfo -x tokens -o cos.npy
	tokenize --spherical -c c.tsr p.tsr > t.tsr
	run python3 -c 'import numpy as np; print(np.load("l2.npy").item(), np.load("cos.npy").item())'
	assert_output "0 1"
	run bash -c "tensorinfo t.tsr | grep -o 'spherical=[01]'"
	assert_output spherical=1
}

@test "tokenize: centroids with spherical=1 make -p the default; -p on spherical=0 centroids warns" {
	mktsr p.tsr patches:f32:1,1,2:vals=3,2.9 batch=0
	mktsr s.tsr centroids:f32:2,2:vals=1,0,10,10 spherical=1
	mktsr e.tsr centroids:f32:2,2:vals=1,0,10,10 spherical=0
	tokenize -c s.tsr p.tsr | tensorinfo -x tokens -o s.npy
	run python3 -c 'import numpy as np; print(np.load("s.npy").item())'
	assert_output 1
	run --separate-stderr tokenize -p -c e.tsr -o out.tsr p.tsr
	assert_success
	[[ $stderr == "tokenize: e.tsr: the centroids were fitted with L2 (spherical=0)"* ]]
	tokenize -c e.tsr p.tsr 2> err | tensorinfo -x tokens -o e.npy
	[ ! -s err ]
	run python3 -c 'import numpy as np; print(np.load("e.npy").item())'
	assert_output 0
}

@test "tokenize: centroids of another dimension fail naming both D" {
	patchify -p 4 -n 2 -o p.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	mktsr c.tsr centroids:f32:8,48:rand=1
	run -1 --separate-stderr tokenize -c c.tsr -o out.tsr p.tsr
	assert_equal "$stderr" "tokenize: p.tsr: record 0 'patches': centroids D=48 but patches D=16 (different -p?)"
	[ -z "$output" ]
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "tokenize: a NaN or an infinity in the patches fails naming the record and element" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	mktsr p.tsr patches:f32:1,2,3:rand=1 batch=0 labels:i32:1 batch=0 \
		patches:f32:2,2,3:vals=0,1,2,3,4,nan,6 batch=1
	run -1 tokenize -c c.tsr -o out.tsr p.tsr
	assert_output "tokenize: p.tsr: record 2 'patches': element 5 [0,1,2] is NaN"
	[ ! -e out.tsr ]
	mktsr p.tsr patches:f32:2,2,3:vals=0,1,2,3,4,5,6,-inf
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "record 0 'patches': element 7 [1,0,1] is -Inf"
	# past the first 4096 values, and in the last one
	python3 -c '
import numpy as np, tsrw
a = np.zeros((3, 49, 64), "<f4"); a[1, 20, 7] = np.inf; a[2, 10, 0] = np.nan
b = np.zeros((3, 49, 64), "<f4"); b[2, 48, 63] = np.nan
tsrw.write("a.tsr", [("patches", a, {})])
tsrw.write("b.tsr", [("patches", b, {})])
tsrw.write("c64.tsr", [("centroids", np.ones((2, 64), "<f4"), {})])'
	run -1 tokenize -c c64.tsr a.tsr
	assert_output "tokenize: a.tsr: record 0 'patches': element 4423 [1,20,7] is Inf"
	run -1 tokenize -c c64.tsr b.tsr
	assert_output "tokenize: b.tsr: record 0 'patches': element 9407 [2,48,63] is NaN"
}

@test "tokenize: a group without the tensor fails naming its records" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	mktsr p.tsr patches:f32:1,2,3:rand=1 batch=0 labels:i32:1 batch=0 \
		labels:i32:1 batch=1 other:u8:1 batch=1
	run -1 tokenize -c c.tsr -o out.tsr p.tsr
	assert_output "tokenize: p.tsr: records 2-3 (batch 1): no 'patches' record in the group"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "tokenize: a group that already has tokens fails without -r and gets new tokens with -r" {
	mktsr p.tsr patches:f32:2,3:rand=1 batch=0 tokens:i32:2:vals=9,9 batch=0 \
		labels:i32:2 batch=0
	mktsr c.tsr centroids:f32:2,3:rand=1
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: p.tsr: record 1 'tokens': the group already has tokens (give -r to replace them)"
	tokenize -r -c c.tsr p.tsr > t.tsr
	run bash -c "tensorinfo t.tsr | awk '{ print \$2 }' | xargs"
	assert_output "patches labels tokens"
	tensorinfo -x tokens -o t.npy t.tsr
	run python3 -c 'import numpy as np; print(np.load("t.npy").tolist())'
	assert_output "[0, 1]"
}

@test "tokenize: a stream with only an end record gives just an end record" {
	mktsr empty.tsr
	mktsr c.tsr centroids:f32:2,3:rand=1
	tokenize -c c.tsr empty.tsr > out.tsr
	cmp empty.tsr out.tsr
	tokenize -c c.tsr < empty.tsr > out2.tsr
	cmp empty.tsr out2.tsr
}

@test "tokenize: an input of 0 bytes or without an end record fails" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	: > zero.tsr
	run -1 tokenize -c c.tsr zero.tsr
	assert_output --partial "zero.tsr: empty input"
	mktsr -n cut.tsr patches:f32:1,2,3 batch=0
	run -1 tokenize -c c.tsr -o out.tsr cut.tsr
	assert_output --partial "stream ended without end record"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "tokenize: a missing or malformed centroids file fails with one line" {
	mktsr p.tsr patches:f32:1,2,3 batch=0
	run -1 tokenize -c nosuch.tsr p.tsr
	assert_output "tokenize: nosuch.tsr: No such file or directory"
	mktsr c.tsr other:f32:2,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: c.tsr: no 'centroids' record (expected a kmeans-fit output)"
	mktsr c.tsr centroids:f64:2,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: c.tsr: record 0 'centroids': f64 [2,3], expected f32 [K, D]"
	mktsr c.tsr centroids:f32:6
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "record 0 'centroids': f32 [6], expected f32 [K, D]"
	mktsr c.tsr centroids:f32:0,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "K and D from 1"
	mktsr c.tsr centroids:f32:2,3:vals=1,2,nan
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: c.tsr: record 0 'centroids': element 2 [0,2] is NaN"
	mktsr c.tsr centroids:f32:2,3 centroids:f32:2,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "a second centroids record"
	printf 'not a tensor stream, but long enough for a record header' > c.tsr
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "c.tsr: record 0: bad magic"
	mktsr -n c.tsr centroids:f32:2,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output --partial "c.tsr: record 1: stream ended without end record"
}

@test "tokenize: patches of another dtype or rank fail" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	mktsr p.tsr patches:f64:1,2,3
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: p.tsr: record 0 'patches': dtype f64, expected u8 or f32"
	mktsr p.tsr patches:f32:3
	run -1 tokenize -c c.tsr p.tsr
	assert_output "tokenize: p.tsr: record 0 'patches': shape [3], expected [n, ..., D]"
}

@test "tokenize: usage errors exit 2" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	run -2 tokenize p.tsr
	assert_output --partial "-c centroids or -R kind is required"
	run -2 tokenize -c c.tsr -j 0 p.tsr
	assert_output --partial "-j 0: too small (min 1)"
	run -2 tokenize -c c.tsr -f tokens p.tsr
	run -2 tokenize -c c.tsr -f Bad p.tsr
	run -2 tokenize -c - < c.tsr
	assert_output --partial "the input is already stdin"
	run -2 tokenize -c c.tsr a.tsr b.tsr
	assert_output --partial "usage: tokenize"
}

@test "tokenize: -R class gives every patch its image's label, K the classes" {
	tokenize -R class "$FM" > t.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	tensorinfo -x labels -o y.npy t.tsr
	run python3 -c '
import numpy as np
t, y = np.load("t.npy"), np.load("y.npy")
print(t.shape, (t == y[:, None]).all())'
	assert_output "(2000, 49) True"
	run bash -c "tensorinfo t.tsr | grep -c ' tokens i32 .* k=10 tokenizer=class$'"
	assert_output 8
	run tcas t.tsr
	assert_line "tcas 0"
	assert_line "purity 1"
}

@test "tokenize: -R random is uniform, seeded, and tells nothing of the class" {
	tokenize -R random -k 8 -S 1 "$FM" > a.tsr
	tokenize -R random -k 8 -S 1 "$FM" > b.tsr
	tokenize -R random -k 8 -S 2 "$FM" > c.tsr
	cmp a.tsr b.tsr
	! cmp -s a.tsr c.tsr
	tensorinfo -x tokens -o a.npy a.tsr
	run python3 -c '
import numpy as np
a = np.load("a.npy").ravel()
n = np.bincount(a, minlength=8)
# 98000 draws in 8 bins: chi-square with 7 dof far below its 0.001 point
chi = ((n - len(a) / 8) ** 2 / (len(a) / 8)).sum()
print(a.min(), a.max(), chi < 24.3)'
	assert_output "0 7 True"
	run bash -c "tcas a.tsr | awk '/^tcas / { print (\$2 > 0.99) }'"
	assert_output 1
	run bash -c "tensorinfo a.tsr | grep -c 'k=8 tokenizer=random seed=1$'"
	assert_output 8
}

@test "tokenize: -R position gives the patch index, modulo -k, and TCAS 1" {
	tokenize -R position "$FM" > t.tsr
	tokenize -R position -k 5 "$FM" > t5.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	tensorinfo -x tokens -o t5.npy t5.tsr
	run python3 -c '
import numpy as np
t, t5 = np.load("t.npy"), np.load("t5.npy")
print((t == np.arange(49)).all(), (t5 == np.arange(49) % 5).all())'
	assert_output "True True"
	run tcas t.tsr
	assert_line "tcas 1"
	assert_line "k 49"
}

@test "tokenize: -R class without labels, or a label outside -k, fails naming the record" {
	tensorinfo -x patches -o p.npy "$FM"
	python3 -c '
import numpy as np, tsrw
p = np.load("p.npy")[:4]
tsrw.write("nolab.tsr", [("patches", p, {})])
tsrw.write("lab.tsr", [("patches", p, {}), ("labels", np.array([0, 1, 9, 2], "<i4"), {})])'
	run -1 tokenize -R class nolab.tsr
	assert_output "tokenize: nolab.tsr: records 0-0: no 'labels' record in the group (-R class needs the image labels)"
	run -1 tokenize -R class lab.tsr
	assert_output "tokenize: lab.tsr: record 1 'labels': no meta nclasses (give -k)"
	run -1 tokenize -R class -k 5 lab.tsr
	assert_output "tokenize: lab.tsr: record 1 'labels': element 2 is 9, expected 0 to 4"
	run -0 bash -c "tokenize -R class -k 10 lab.tsr | tcas"
	assert_line "k 10"
}

@test "tokenize: -R usage errors exit 2" {
	mktsr c.tsr centroids:f32:2,3:rand=1
	run -2 tokenize -R oracle "$FM"
	assert_output --partial "-R oracle: expected class, random or position"
	run -2 tokenize -R class -c c.tsr "$FM"
	assert_output --partial "-c and -R: one tokenizer at a time"
	run -2 tokenize -c c.tsr -k 4 "$FM"
	assert_output --partial "-k: the centroids give K (-k is for -R)"
	run -2 tokenize -R random -p "$FM"
	assert_output --partial "-p: for centroids, not -R"
	run -2 tokenize -R random -k 0 "$FM"
}

@test "tokenize: -j 2 gives the same tokens as -j 1, up to float rounding on near ties" {
	tokenize -c "$FMC" -j 1 "$FM" | tensorinfo -x tokens -o a.npy
	tokenize -c "$FMC" -j 2 "$FM" | tensorinfo -x tokens -o b.npy
	tensorinfo -x centroids -o c.npy "$FMC"
	run python3 -c '
import numpy as np
x = np.load("'"$BATS_FILE_TMPDIR"'/fm.npy").reshape(-1, 16).astype(np.float64)
c = np.load("c.npy").astype(np.float64)
a, b = np.load("a.npy").ravel(), np.load("b.npy").ravel()
i = np.flatnonzero(a != b)
da = ((x[i] - c[a[i]]) ** 2).sum(1)
db = ((x[i] - c[b[i]]) ** 2).sum(1)
assert (abs(da - db) <= 1e-4 * (1 + da)).all(), i[:5]
print(len(i) <= 10)'
	assert_output True
}

@test "tokenize: -o writes the file whole and -v reports the rows" {
	run --separate-stderr tokenize -v -c "$FMC" -o t.tsr "$FM"
	assert_success
	[ -z "$output" ]
	[[ $stderr =~ ^tokenize:\ 8\ groups,\ 98000\ rows,\ K=32\ D=16,\ [0-9]+\ rows/s$ ]] || fail "$stderr"
	[ ! -e t.tsr.tmp ]
	run bash -c "tensorinfo t.tsr | awk '\$2 == \"tokens\"' | wc -l"
	assert_output 8
}

@test "tokenize: kmeans-fit centroids tokenize Fashion-MNIST for tcas" {
	kmeans-fit -k 16 < "$FM" > c.tsr
	tokenize -c c.tsr "$FM" > t.tsr
	tensorinfo -x tokens -o t.npy t.tsr
	tensorinfo -x centroids -o c.npy c.tsr
	run python3 -c '
import numpy as np
x = np.load("'"$BATS_FILE_TMPDIR"'/fm.npy").reshape(-1, 16).astype(np.float64)
c = np.load("c.npy").astype(np.float64)
t = np.load("t.npy").ravel()
assert c.shape == (16, 16), c.shape
d = ((x[:, None, :] - c[None]) ** 2).sum(2)
best = d.min(1)
assert (d[np.arange(len(x)), t] <= best + 1e-4 * (1 + best)).all()
print(len(np.unique(t)) > 1)'
	assert_output True
	run tcas t.tsr
	assert_success
	assert_output --regexp $'^tcas 0\\.[0-9]+\n'
	assert_output --partial $'k 16\nclasses 10\npatches 98000'
}
