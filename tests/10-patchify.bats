#!/usr/bin/env bats
# patchify: IDX, archives and directories to patch streams.

load helpers

setup() {
	TRAIN=$FMNIST/train-images-idx3-ubyte.gz
	TEST=$FMNIST/t10k-images-idx3-ubyte.gz
	cd "$BATS_TEST_TMPDIR"
}

# the sum over groups of dim 0 of the records called $2 in stream $1
count_images() {
	tensorinfo "$1" | awk -v name="$2" '$2 == name {
		s = $4; sub(/^\[(n=)?/, "", s); sub(/[,\]].*/, "", s); n += s
	} END { print n + 0 }'
}

# the value of meta key $3 on the first record named $2 in stream $1
meta() {
	tensorinfo "$1" | awk -v name="$2" -v key="$3" '$2 == name {
		for (i = 7; i <= NF; i++)
			if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
	}'
}

@test "patchify: Fashion-MNIST train gives 60000 images, 10 classes, 49 patches of 16 values" {
	[ -e "$TRAIN" ] || fail "dataset-fashion-mnist is not installed (make deps)"
	patchify -p 4 -o train.tsr "$TRAIN"
	run count_images train.tsr patches
	assert_output 60000
	run count_images train.tsr labels
	assert_output 60000
	run meta train.tsr labels nclasses
	assert_output 10
	run tsr_field train.tsr 0 4
	assert_output '[n=256,l=49,d=16]'
	run tsr_field train.tsr 0 3
	assert_output f32
	run meta train.tsr patches grid
	assert_output 7x7
}

@test "patchify: a known Fashion-MNIST image's patches match its pixels" {
	patchify -p 4 -N none -n 3 -o first.tsr "$TEST"
	tensorinfo -x patches -o p.npy first.tsr
	tensorinfo -x labels -o l.npy first.tsr
	run python3 - "$TEST" "${TEST/images-idx3/labels-idx1}" <<-'EOF'
		import gzip, sys, numpy as np
		raw = gzip.open(sys.argv[1]).read()
		lab = gzip.open(sys.argv[2]).read()
		img = np.frombuffer(raw, np.uint8, 3 * 784, 16).reshape(3, 28, 28)
		p = np.load("p.npy")
		assert p.dtype == np.uint8 and p.shape == (3, 49, 16), p.shape
		# patch (i, j) of image n is rows 4i..4i+3, columns 4j..4j+3, row-major
		want = img.reshape(3, 7, 4, 7, 4).transpose(0, 1, 3, 2, 4).reshape(3, 49, 16)
		assert (p == want).all(), "patch layout differs"
		assert p[1, 7 * 3 + 2, 5] == img[1, 13, 9]
		assert list(np.load("l.npy")) == list(lab[8:11])
		print("same")
	EOF
	assert_success
	assert_output same
}

@test "patchify: unit normalisation is the pixels divided by 255" {
	patchify -p 7 -n 2 "$TEST" > u.tsr
	patchify -p 7 -n 2 -N none "$TEST" > n.tsr
	tensorinfo -x patches -o u.npy u.tsr
	tensorinfo -x patches -o n.npy n.tsr
	run python3 -c '
import numpy as np
u, n = np.load("u.npy"), np.load("n.npy")
assert u.dtype == np.float32 and u.shape == (2, 16, 49)
assert np.array_equal(u, (n / np.float32(255)).astype(np.float32)) or np.abs(u - n / 255.0).max() < 1e-7
print("ok")'
	assert_output ok
}

@test "patchify: -N mean/std and imagenet normalise per channel and record it" {
	patchify -p 7 -n 2 -N 0.5/0.25 "$TEST" > c.tsr
	patchify -p 7 -n 2 -N none "$TEST" > n.tsr
	tensorinfo -x patches -o c.npy c.tsr
	tensorinfo -x patches -o n.npy n.tsr
	run python3 -c '
import numpy as np
c, n = np.load("c.npy"), np.load("n.npy")
assert np.abs(c - (n / 255.0 - 0.5) / 0.25).max() < 1e-5
print("ok")'
	assert_output ok
	run meta c.tsr patches std
	assert_output 0.25
	patchify -p 7 -n 2 -c 3 -N imagenet "$TEST" > i.tsr
	run meta i.tsr patches mean
	assert_output 0.485,0.456,0.406
	run tsr_field i.tsr 0 4
	assert_output '[n=2,l=16,d=147]'
}

@test "patchify: an IDX file whose label count differs is refused" {
	run -1 patchify -p 4 -l "$FMNIST/train-labels-idx1-ubyte.gz" -o out.tsr "$TEST"
	assert_output --partial "label count 60000 differs from image count 10000"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "patchify: a truncated IDX file is an error, not a short data set" {
	zcat "$TEST" | head -c 100000 > t10k-images-idx3-ubyte
	zcat "$FMNIST/t10k-labels-idx1-ubyte.gz" > t10k-labels-idx1-ubyte
	run -1 patchify -p 4 -o out.tsr t10k-images-idx3-ubyte
	assert_output --partial "t10k-images-idx3-ubyte"
	assert_output --partial "truncated"
	[ ! -e out.tsr ]
}

@test "patchify: tar, tar.gz, tar.xz, zip and a directory give the same stream" {
	patchify -p 8 -N none -P train -o dir.tsr "$FIX/tree"
	for a in tree.tar tree.tar.gz tree.tar.xz tree.zip; do
		patchify -p 8 -N none -P train -o "$a.tsr" "$FIX/$a"
		tensorinfo -c dir.tsr "$a.tsr" || fail "$a differs"
	done
}

@test "patchify: class folders become sorted labels and non-images are ignored" {
	patchify -p 8 -N none -P train -o t.tsr "$FIX/tree.tar"
	run count_images t.tsr patches
	assert_output 12
	run meta t.tsr labels classes
	assert_output cat,dog,emu
	tensorinfo -x labels -o l.npy t.tsr
	run python3 -c 'import numpy as np; print(" ".join(map(str, np.load("l.npy"))))'
	assert_output "0 0 0 0 1 1 1 1 2 2 2 2"
	run tsr_field t.tsr 0 4
	assert_output '[n=12,l=12,d=192]'
	run meta t.tsr patches image_size
	assert_output 24x32
}

@test "patchify: a known PNG in an archive keeps its pixels in (row, column, channel) order" {
	patchify -p 8 -N none -P train -n 1 -o one.tsr "$FIX/tree.tar.gz"
	tensorinfo -x patches -o one.npy one.tsr
	run python3 -c '
import numpy as np
p = np.load("one.npy")
r, c, k = np.meshgrid(np.arange(24), np.arange(32), np.arange(3), indexing="ij")
img = ((r * 7 + c * 3 + k * 50) % 256).astype(np.uint8)
want = img.reshape(3, 8, 4, 8, 3).transpose(0, 2, 1, 3, 4).reshape(1, 12, 192)
assert (p == want).all()
print("ok")'
	assert_output ok
}

@test "patchify: an archive on standard input reads like the file" {
	patchify -p 8 -P train -o f.tsr "$FIX/tree.tar"
	patchify -p 8 -P train -o s.tsr < "$FIX/tree.tar"
	tensorinfo -c f.tsr s.tsr
}

@test "patchify: a corrupt PNG inside an archive names the archive and the entry" {
	run -1 patchify -p 8 -P bad -o out.tsr "$FIX/tree.tar"
	assert_output --regexp "^patchify: .*tree\.tar: bad/broken/x\.png: libpng"
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}

@test "patchify: a truncated JPEG inside an archive names the archive and the entry" {
	mkdir -p j/bad/broken && cp "$FIX/tree/bad/broken/y.jpg" j/bad/broken/
	tar -C j -cf j.tar bad
	run -1 patchify -p 8 -o out.tsr j.tar
	assert_output --regexp "^patchify: j\.tar: bad/broken/y\.jpg: libjpeg"
	[ ! -e out.tsr ]
}

@test "patchify: an archive without images in class folders is an error" {
	mkdir -p e && echo hello > e/readme.txt && tar -C e -cf e.tar .
	run -1 patchify -p 8 e.tar
	assert_output --partial "no images in class folders"
}

@test "patchify: -s resizes the shorter side and centre-crops" {
	patchify -p 4 -s 16 -P train -o s.tsr "$FIX/tree"
	run meta s.tsr patches image_size
	assert_output 16x16
	run tsr_field s.tsr 0 4
	assert_output '[n=12,l=16,d=48]'
	patchify -p 4 -r 20 -s 16 -P train -o r.tsr "$FIX/tree"
	run tensorinfo -c s.tsr r.tsr
	assert_failure
}

@test "patchify: images of different sizes without -s are refused" {
	mkdir -p m/x && cp "$FIX"/tree/train/cat/*.png m/x/
	# a 28x28 grey PNM beside the 32x24 PNGs
	{ printf 'P5\n28 28\n255\n'; head -c 784 /dev/zero; } > m/x/zz.pgm
	run -1 patchify -p 4 m
	assert_output --partial "give -s"
}

@test "patchify: the same seed gives the same bytes, another seed other bytes" {
	patchify -a -u -S 7 -p 4 -n 500 -b 100 "$TEST" > a.tsr
	patchify -a -u -S 7 -p 4 -n 500 -b 100 "$TEST" > b.tsr
	cmp a.tsr b.tsr
	patchify -a -u -S 8 -p 4 -n 500 -b 100 "$TEST" > c.tsr
	run ! cmp -s a.tsr c.tsr
}

@test "patchify: shuffling permutes the images and reshuffles every epoch" {
	patchify -p 4 -n 200 "$TEST" > plain.tsr
	patchify -u -e 2 -S 1 -p 4 -n 200 "$TEST" > shuf.tsr
	run count_images shuf.tsr labels
	assert_output 400
	tensorinfo -x labels -o plain.npy plain.tsr
	tensorinfo -x labels -o shuf.npy shuf.tsr
	run python3 -c '
import numpy as np
p, s = np.load("plain.npy"), np.load("shuf.npy")
e0, e1 = s[:200], s[200:]
assert sorted(e0) == sorted(p) and sorted(e1) == sorted(p)
assert list(e0) != list(p) and list(e0) != list(e1)
print("ok")'
	assert_output ok
	run meta shuf.tsr patches epochs
	assert_output 2
}

@test "patchify: an archive shuffled through a small buffer is still a permutation" {
	patchify -u -B 3 -S 2 -p 8 -P train "$FIX/tree.tar" > s.tsr
	tensorinfo -x labels -o s.npy s.tsr
	run python3 -c 'import numpy as np; print(sorted(np.load("s.npy").tolist()))'
	assert_output "[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]"
}

@test "patchify: shards of a limited input partition it" {
	patchify -p 4 -n 101 -k 0/2 "$TEST" > s0.tsr
	patchify -p 4 -n 101 -k 1/2 "$TEST" > s1.tsr
	run count_images s0.tsr patches
	assert_output 51
	run count_images s1.tsr patches
	assert_output 50
	run meta s1.tsr patches images
	assert_output 50
	patchify -p 4 -n 101 -b 1 "$TEST" | tensorinfo | awk '$2 == "patches" { print $5 }' > all
	patchify -p 4 -n 101 -k 1/2 -b 1 "$TEST" | tensorinfo | awk '$2 == "patches" { print $5 }' > odd
	run bash -c "awk 'NR % 2 == 0' all | diff - odd"
	assert_success
}

@test "patchify: -x i/n takes every image but shard i of n, on files and archives" {
	patchify -p 4 -n 101 -b 1 "$TEST" | tensorinfo | awk '$2 == "patches" { print $5 }' > all
	patchify -p 4 -n 101 -b 1 -x 1/3 "$TEST" | tensorinfo | awk '$2 == "patches" { print $5 }' > rest
	run bash -c "awk 'NR % 3 != 2' all | diff - rest"
	assert_success
	patchify -p 4 -n 101 -x 1/3 "$TEST" > x.tsr
	run meta x.tsr patches images
	assert_output 67
	run meta x.tsr patches exclude
	assert_output 1/3
	# shuffled, the same images in another order
	patchify -p 4 -n 101 -b 1 -u -S 4 -x 1/3 "$TEST" | tensorinfo | awk '$2 == "patches" { print $5 }' > shuf
	run bash -c "sort rest | diff - <(sort shuf)"
	assert_success
	cmp -s rest shuf && fail "-u did not reorder"
	# an archive read in one pass: the complement of -k there too
	patchify -p 8 -P train -b 1 -k 0/4 "$FIX/tree.tar" | tensorinfo | awk '$2 == "patches" { print $5 }' > k0
	patchify -p 8 -P train -b 1 -x 0/4 "$FIX/tree.tar" | tensorinfo | awk '$2 == "patches" { print $5 }' > x0
	patchify -p 8 -P train -b 1 "$FIX/tree.tar" | tensorinfo | awk '$2 == "patches" { print $5 }' > t
	run bash -c "sort k0 x0 | diff - <(sort t)"
	assert_success
	[ -s k0 ] && [ -s x0 ]
	run patchify -p 4 -k 0/2 -x 1/2 "$TEST"
	assert_failure 2
	assert_output --partial "only one of -k and -x"
	run patchify -p 4 -x 0/1 "$TEST"
	assert_failure 2
}

@test "patchify: augmentation keeps the geometry and changes the pixels" {
	patchify -p 4 -n 64 "$TEST" > plain.tsr
	patchify -a -p 4 -n 64 "$TEST" > aug.tsr
	run tsr_field aug.tsr 0 4
	assert_output '[n=64,l=49,d=16]'
	run tensorinfo -c plain.tsr aug.tsr
	assert_failure
	run meta aug.tsr patches augment
	assert_output 1
}

@test "patchify: -c 3 replicates grey and -c 1 makes RGB grey" {
	patchify -p 4 -c 3 -n 2 -N none "$TEST" > rgb.tsr
	tensorinfo -x patches -o rgb.npy rgb.tsr
	patchify -p 8 -c 1 -N none -P train "$FIX/tree" > grey.tsr
	run tsr_field grey.tsr 0 4
	assert_output '[n=12,l=12,d=64]'
	run python3 -c '
import numpy as np
p = np.load("rgb.npy").reshape(2, 49, 16, 3)
assert (p[..., 0] == p[..., 1]).all() and (p[..., 1] == p[..., 2]).all()
print("ok")'
	assert_output ok
}

@test "patchify: bad options are usage errors with exit 2" {
	run -2 patchify -p 0 "$TEST"
	assert_output --partial "-p 0: too small (min 1)"
	run -2 patchify -N bogus "$TEST"
	assert_output --partial "expected none, unit, imagenet or MEAN/STD"
	run -2 patchify -k 2/2 "$TEST"
	run -2 patchify -s 30 -p 4 "$TEST"
	run -2 patchify --no-such-option
	assert_output --partial "usage: patchify"
	run -2 patchify a b
}

@test "patchify: a patch size that does not divide the image is an error" {
	run -1 patchify -p 5 "$TEST"
	assert_output --partial "not a multiple of the patch size 5"
}

@test "patchify: a missing input file is an error naming it" {
	run -1 patchify -p 4 no-such-file.gz
	assert_output --partial "no-such-file.gz: No such file or directory"
}

@test "patchify: -z compresses and the content is unchanged" {
	patchify -p 4 -n 300 "$TEST" > plain.tsr
	patchify -z -p 4 -n 300 "$TEST" > z.tsr
	tensorinfo -c plain.tsr z.tsr
	run tsr_field z.tsr 0 6
	assert_output z
	[ "$(stat -c %s z.tsr)" -lt "$(stat -c %s plain.tsr)" ]
}
