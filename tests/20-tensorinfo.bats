#!/usr/bin/env bats
# tensorinfo: listing, statistics, comparison and .npy export, on streams
# made by the test generator mktsr (tests/unit/mktsr.c), so these tests
# depend on no other tool.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	# a python3 that has numpy (a pyenv python3 may not)
	PY=
	for p in python3 /usr/bin/python3; do
		if "$p" -c 'import numpy' 2>/dev/null; then
			PY=$p
			break
		fi
	done
}

need_numpy() {
	[ -n "$PY" ] || { echo "no python3 with numpy (apt python3-numpy)" >&2; return 1; }
}

# the crc32 of packed values, computed independently of the C code
py_crc() {
	python3 -c "import struct, sys, zlib; print('%08x' % zlib.crc32(struct.pack('<%d$1' % (len(sys.argv) - 1), *map(float if '$1' in 'fd' else int, sys.argv[1:]))))" "${@:2}"
}

# ---------------------------------------------------------------- listing

@test "tensorinfo: a stream lists one line per record in the documented format" {
	mktsr a.tsr patches:f32:2,3,4 batch=0 dims=n,l,d patch_size=4 \
		labels:i32:2:vals=3,7 batch=0 s:f64:
	crc_p=$(py_crc f $(seq 0 23))
	crc_l=$(py_crc i 3 7)
	crc_s=$(py_crc d 0)
	run --separate-stderr tensorinfo a.tsr
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	assert_equal "${lines[0]}" "0 patches f32 [n=2,l=3,d=4] $crc_p - batch=0 dims=n,l,d patch_size=4"
	assert_equal "${lines[1]}" "1 labels i32 [2] $crc_l - batch=0"
	assert_equal "${lines[2]}" "2 s f64 [] $crc_s -"
	[ "${#lines[@]}" -eq 3 ]
}

@test "tensorinfo: an empty stream (only the end record) prints nothing and exits 0" {
	mktsr e.tsr
	run --separate-stderr tensorinfo e.tsr
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "tensorinfo: compressed records show flag z and the crc of the uncompressed payload" {
	mktsr -z z.tsr x:u8:300 empty:f32:0,3
	mktsr p.tsr x:u8:300
	run --separate-stderr tensorinfo z.tsr
	[ "$status" -eq 0 ]
	crc=$(tsr_field p.tsr 0 5)
	assert_equal "${lines[0]}" "0 x u8 [300] $crc z"
	assert_equal "${lines[1]}" "1 empty f32 [0,3] 00000000 -"
}

@test "tensorinfo: concatenated streams are listed as one with continuing indexes" {
	mktsr a.tsr x:f32:2
	mktsr b.tsr y:i8:3 z:u16:1
	run --separate-stderr bash -c 'cat a.tsr b.tsr | tensorinfo | cut -d" " -f1,2'
	[ "$status" -eq 0 ]
	assert_output "$(printf '0 x\n1 y\n2 z')"
}

@test "tensorinfo: several files are each preceded by a ==> file <== line" {
	mktsr a.tsr x:f32:2
	mktsr b.tsr y:i8:3
	run --separate-stderr bash -c 'tensorinfo a.tsr - < b.tsr | cut -d" " -f1-3'
	[ "$status" -eq 0 ]
	assert_output "$(printf '==> a.tsr <==\n0 x f32\n==> <stdin> <==\n0 y i8')"
}

@test "tensorinfo: no operand reads standard input" {
	mktsr a.tsr x:f32:2
	run --separate-stderr bash -c 'tensorinfo < a.tsr'
	[ "$status" -eq 0 ]
	assert_output --partial "0 x f32 [2] "
}

# ---------------------------------------------------------------- stats

@test "tensorinfo: -s on iota data prints exact min max mean std" {
	mktsr a.tsr x:f32:10 y:u8:2,2 z:f64:
	run --separate-stderr tensorinfo -s a.tsr
	[ "$status" -eq 0 ]
	# 0..9: mean 4.5, std sqrt(99/12); 0..3: std sqrt(5/4)
	assert_equal "${lines[1]}" "  min=0 max=9 mean=4.5 std=2.87228132 nan=0 inf=0"
	assert_equal "${lines[3]}" "  min=0 max=3 mean=1.5 std=1.11803399 nan=0 inf=0"
	assert_equal "${lines[5]}" "  min=0 max=0 mean=0 std=0 nan=0 inf=0"
}

@test "tensorinfo: -s skips and counts nan, counts inf, and converts f16 and bf16" {
	mktsr a.tsr h:f16:4:vals=0.5,-2,nan,1.5 b:bf16:3:vals=1.5,inf,-3 n:f32:2:nan e:f32:0
	run --separate-stderr tensorinfo -s a.tsr
	[ "$status" -eq 0 ]
	assert_equal "${lines[1]}" "  min=-2 max=1.5 mean=0 std=1.47196014 nan=1 inf=0"
	assert_equal "${lines[3]}" "  min=-3 max=inf mean=inf std=nan nan=0 inf=1"
	assert_equal "${lines[5]}" "  min=nan max=nan mean=nan std=nan nan=2 inf=0"
	assert_equal "${lines[7]}" "  min=nan max=nan mean=nan std=nan nan=0 inf=0"
}

# ---------------------------------------------------------------- compare

@test "tensorinfo: -c on equal streams prints nothing and exits 0, compressed or not" {
	mktsr a.tsr x:f32:4,5:rand=1 k=1 y:i64:3
	mktsr -z b.tsr x:f32:4,5:rand=1 k=2 y:i64:3
	run --separate-stderr tensorinfo -c a.tsr b.tsr
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr bash -c 'tensorinfo -c a.tsr < b.tsr'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "tensorinfo: -c reports the first differing element with its index and exits 1" {
	mktsr ref.tsr a:i32:2 p:f32:2,5,2:vals=0.25
	mktsr out.tsr a:i32:2 p:f32:2,5,2:vals=0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.5
	run -1 --separate-stderr tensorinfo -c ref.tsr -t 1e-5 out.tsr
	assert_output "record 1 'p': element 17 [1,3,1]: 0.5 vs 0.25 (tolerance 1e-05)"
	[ -z "$stderr" ]
	run -1 --separate-stderr tensorinfo --compare ref.tsr out.tsr
	assert_output "record 1 'p': element 17 [1,3,1]: 0.5 vs 0.25 (tolerance 0)"
}

@test "tensorinfo: -c -t accepts relative differences within the tolerance only" {
	mktsr ref.tsr x:f64:3:vals=1,100,-1000
	mktsr out.tsr x:f64:3:vals=1.00001,100.001,-1000.01
	run -0 tensorinfo -c ref.tsr -t 1e-5 out.tsr
	run -1 --separate-stderr tensorinfo -c ref.tsr -t 1e-6 out.tsr
	assert_output --partial "record 0 'x': element 0 [0]: 1.00001"
	run -1 --separate-stderr tensorinfo -c ref.tsr out.tsr
}

@test "tensorinfo: -c treats NaN as equal to NaN and integers exactly" {
	mktsr a.tsr x:f32:3:vals=1,nan,2 y:u64:2:vals=5,9
	mktsr b.tsr x:f32:3:vals=1,nan,2 y:u64:2:vals=5,10
	run -1 --separate-stderr tensorinfo -c a.tsr b.tsr
	assert_output "record 1 'y': element 1 [1]: 10 vs 9 (tolerance 0)"
}

@test "tensorinfo: -c reports a record count mismatch as input vs ref" {
	mktsr a.tsr x:f32:2 y:f32:2 z:f32:2 w:f32:2 v:f32:2
	mktsr b.tsr x:f32:2 y:f32:2 z:f32:2 w:f32:2
	run -1 --separate-stderr tensorinfo -c b.tsr a.tsr
	assert_output "record count: 5 vs 4"
	run -1 --separate-stderr tensorinfo -c a.tsr b.tsr
	assert_output "record count: 4 vs 5"
}

@test "tensorinfo: -c reports name, dtype and shape mismatches" {
	mktsr ref.tsr a:f32:2,3
	mktsr n.tsr b:f32:2,3
	mktsr d.tsr a:f64:2,3
	mktsr s.tsr a:f32:3,2
	run -1 --separate-stderr tensorinfo -c ref.tsr n.tsr
	assert_output "record 0: name 'b' vs 'a'"
	run -1 --separate-stderr tensorinfo -c ref.tsr d.tsr
	assert_output "record 0 'a': dtype f64 vs f32"
	run -1 --separate-stderr tensorinfo -c ref.tsr s.tsr
	assert_output "record 0 'a': shape [3,2] vs [2,3]"
}

@test "tensorinfo: -c ignores meta unless -m" {
	mktsr a.tsr x:f32:2 batch=0 seed=1
	mktsr b.tsr x:f32:2 seed=1 batch=1
	mktsr c.tsr x:f32:2 batch=0
	run -0 tensorinfo -c a.tsr b.tsr
	run -1 --separate-stderr tensorinfo -m -c a.tsr b.tsr
	assert_output "record 0 'x': meta batch=1 vs batch=0"
	run -1 --separate-stderr tensorinfo -m -c a.tsr c.tsr
	assert_output "record 0 'x': meta (none) vs seed=1"
	run -0 tensorinfo --meta -c a.tsr a.tsr
}

@test "tensorinfo: -c with a bad stream exits 1 with the error on stderr" {
	mktsr a.tsr x:f32:100 y:f32:2
	head -c 200 a.tsr > t.tsr
	run -1 --separate-stderr tensorinfo -c a.tsr t.tsr
	[ -z "$output" ]
	[[ $stderr == "tensorinfo: t.tsr: record 0 'x': truncated record"* ]]
	run -1 --separate-stderr tensorinfo -c t.tsr a.tsr
	[[ $stderr == *"truncated record"* ]]
}

# ---------------------------------------------------------------- export

@test "tensorinfo: -x writes an .npy that numpy reads with the same values" {
	need_numpy
	mktsr a.tsr p:f32:2,3,4:rand=3 u:u8:5 i:i16:2,2:vals=-3,7 h:f16:3:vals=0.5,-2,65504 d:f64:2:vals=1e300,-1e-300 l:u64:2:vals=0,18446744073709549568
	for n in p u i h d l; do
		run -0 tensorinfo -x $n -o $n.npy a.tsr
		[ -z "$output" ]
	done
	run -0 "$PY" -c '
import numpy as np, struct, zlib
want = {"p": ("<f4", (2, 3, 4)), "u": ("|u1", (5,)), "i": ("<i2", (2, 2)),
        "h": ("<f2", (3,)), "d": ("<f8", (2,)), "l": ("<u8", (2,))}
for n, (dt, shape) in want.items():
    a = np.load(n + ".npy")
    assert a.dtype == np.dtype(dt), (n, a.dtype)
    assert a.shape == shape, (n, a.shape)
assert (np.load("u.npy") == np.arange(5)).all()
assert (np.load("i.npy") == [[-3, 7], [-3, 7]]).all()
assert (np.load("h.npy") == [0.5, -2, 65504]).all()
assert (np.load("d.npy") == [1e300, -1e-300]).all()
assert np.load("l.npy")[1] == 18446744073709549568
print("%08x" % zlib.crc32(np.load("p.npy").tobytes()))
'
	assert_output "$(tsr_field a.tsr 0 5)"
}

@test "tensorinfo: -x concatenates all records of that name along dim 0" {
	need_numpy
	mktsr a.tsr patches:f32:2,3 batch=0 labels:i32:2 patches:f32:1,3:const=-1 batch=1 labels:i32:1
	run -0 tensorinfo --export patches --output p.npy a.tsr
	run -0 "$PY" -c '
import numpy as np
a = np.load("p.npy")
assert a.shape == (3, 3), a.shape
assert (a == [[0, 1, 2], [3, 4, 5], [-1, -1, -1]]).all(), a
'
}

@test "tensorinfo: -x header is NPY 1.0, padded so the data starts at 64 bytes" {
	mktsr a.tsr x:f32:2,3
	run -0 tensorinfo -x x -o x.npy a.tsr
	run -0 bash -c 'head -c 10 x.npy | od -An -tx1 | tr -s " "'
	assert_output " 93 4e 55 4d 50 59 01 00 76 00"
	run -0 bash -c 'head -c 128 x.npy | tail -c 1 | od -An -c | tr -d " "'
	assert_output '\n'
	[ "$(stat -c %s x.npy)" -eq $((128 + 24)) ]
}

@test "tensorinfo: -i exports the record at that index, of any name" {
	need_numpy
	mktsr a.tsr x:f32:2 y:i32:3:vals=4,5,6 x:f32:1
	run -0 bash -c 'tensorinfo -i 1 -o y.npy < a.tsr'
	run -0 "$PY" -c 'import numpy as np; a = np.load("y.npy"); assert a.dtype == np.int32 and list(a) == [4, 5, 6], a'
	run -0 tensorinfo -i 2 -x x -o x.npy a.tsr
	run -0 "$PY" -c 'import numpy as np; a = np.load("x.npy"); assert a.shape == (1,), a.shape'
	run -1 --separate-stderr tensorinfo -i 1 -x x -o z.npy a.tsr
	assert_equal "$stderr" "tensorinfo: a.tsr: record 1 is 'y', not 'x'"
	run -1 --separate-stderr tensorinfo -i 3 -o z.npy a.tsr
	assert_equal "$stderr" "tensorinfo: a.tsr: no record 3 (the input has 3)"
	[ ! -e z.npy ] && [ ! -e z.npy.tmp ]
}

@test "tensorinfo: -x gives shape () for one scalar and (k,) for k scalars" {
	need_numpy
	mktsr a.tsr step:i64::const=7 loss:f32::const=2.5 loss:f32::const=1.5
	run -0 tensorinfo -x step -o s.npy a.tsr
	run -0 tensorinfo -x loss -o l.npy a.tsr
	run -0 "$PY" -c '
import numpy as np
s = np.load("s.npy"); l = np.load("l.npy")
assert s.shape == () and s == 7, s
assert l.shape == (2,) and list(l) == [2.5, 1.5], l
'
}

@test "tensorinfo: -x of records with different trailing dims or dtype exits 1 and leaves no file" {
	mktsr a.tsr p:f32:2,3 p:f32:2,4 q:f32:1 q:f64:1
	run -1 --separate-stderr tensorinfo -x p -o p.npy a.tsr
	assert_equal "$stderr" "tensorinfo: a.tsr: record 1 'p': shape [2,4] differs from [2,3] of the first 'p' record (only dim 0 may differ)"
	run -1 --separate-stderr tensorinfo -x q -o q.npy a.tsr
	assert_equal "$stderr" "tensorinfo: a.tsr: record 3 'q': dtype f64 differs from f32 of the first 'q' record"
	[ -z "$(ls *.npy* 2>/dev/null)" ]
}

@test "tensorinfo: -x of bf16 or of a missing name exits 1" {
	mktsr a.tsr b:bf16:2
	run -1 --separate-stderr tensorinfo -x b -o b.npy a.tsr
	[[ $stderr == *"record 0 'b': dtype bf16 has no NumPy equivalent"* ]]
	run -1 --separate-stderr tensorinfo -x nope -o n.npy a.tsr
	assert_equal "$stderr" "tensorinfo: a.tsr: no record named 'nope'"
	[ -z "$(ls *.npy* 2>/dev/null)" ]
}

# ---------------------------------------------------------------- errors

@test "tensorinfo: a truncated file lists the good records, then exits 1 with truncated record" {
	mktsr a.tsr x:f32:2 y:f32:100
	head -c 300 a.tsr > t.tsr
	run -1 --separate-stderr tensorinfo t.tsr
	assert_output --partial "0 x f32 [2] "
	[ "${#lines[@]}" -eq 1 ]
	[[ $stderr == "tensorinfo: t.tsr: record 1 'y': truncated record"* ]]
}

@test "tensorinfo: a stream without end record exits 1" {
	mktsr -n a.tsr x:f32:2
	run -1 --separate-stderr tensorinfo a.tsr
	[ "${#lines[@]}" -eq 1 ]
	[[ $stderr == *"stream ended without end record"* ]]
	: > empty.tsr
	run -1 --separate-stderr tensorinfo empty.tsr
	[[ $stderr == *"empty input"* ]]
}

@test "tensorinfo: a bad file among several is reported and the others are still listed" {
	mktsr a.tsr x:f32:2
	head -c 100 a.tsr > t.tsr
	run -1 --separate-stderr tensorinfo t.tsr missing.tsr a.tsr
	assert_equal "${lines[*]: -2:1}" "==> a.tsr <=="
	[[ ${lines[-1]} == "0 x f32 [2] "* ]]
	[[ $stderr == *"t.tsr: record 0 'x': truncated record"* ]]
	[[ $stderr == *"missing.tsr: No such file or directory"* ]]
}

@test "tensorinfo: usage errors exit 2 with the usage line on stderr" {
	mktsr a.tsr x:f32:2
	for args in "-q" "--nope" "-c" "-x x a.tsr" "-o x.npy a.tsr" "-x x -o - a.tsr" \
		"-t 1 a.tsr" "-m a.tsr" "-s -c a.tsr a.tsr" "-c a.tsr a.tsr a.tsr" "-c a.tsr -x x -o y.npy"; do
		run -2 --separate-stderr tensorinfo $args
		[ -z "$output" ]
		[[ $stderr == *"usage: tensorinfo "* ]] || { echo "args: $args" >&2; false; }
	done
}

@test "tensorinfo: -h prints the usage on stdout and -V the version, both exit 0" {
	run -0 --separate-stderr tensorinfo -h
	[[ $output == "usage: tensorinfo "* ]]
	run -0 --separate-stderr tensorinfo --help
	[[ $output == "usage: tensorinfo "* ]]
	run -0 --separate-stderr tensorinfo -V
	[[ $output =~ ^tensorinfo\ [0-9] ]]
}

@test "tensorinfo: the man page lints clean and its SYNOPSIS matches usage" {
	command -v mandoc >/dev/null || { echo "no mandoc" >&2; false; }
	run -0 mandoc -Tlint -W warning "$TOP/man/man1/tensorinfo.1"
	syn=$(MANWIDTH=200 mandoc -Tascii -O width=200 "$TOP/man/man1/tensorinfo.1" | col -b |
		awk '/^SYNOPSIS/ { getline; sub(/^ +/, ""); print; exit }')
	run -0 --separate-stderr tensorinfo -h
	assert_equal "usage: $syn" "$output"
}
