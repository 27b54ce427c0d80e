# Common setup for every .bats file: load this with `load helpers`.
# The tools come from $MIM_BIN (tests/run sets it), test-only programs
# from $MIM_TESTBIN; fixtures built once by setup_suite.bash live in
# $FIX.  OPENBLAS_NUM_THREADS=1 keeps numerical output reproducible.
bats_require_minimum_version 1.5.0

if ! bats_load_library bats-support 2>/dev/null ||
   ! bats_load_library bats-assert 2>/dev/null; then
	# minimal stand-ins for the Debian bats-assert package
	assert_success() { [ "$status" -eq 0 ] || { echo "status $status: $output" >&2; return 1; }; }
	assert_failure() { [ "$status" -ne 0 ] || { echo "succeeded: $output" >&2; return 1; }; }
	assert_output() {
		if [ "$1" = --partial ]; then [[ $output == *"$2"* ]] || { echo "no '$2' in: $output" >&2; return 1; }
		elif [ "$1" = --regexp ]; then [[ $output =~ $2 ]] || { echo "no /$2/ in: $output" >&2; return 1; }
		else [ "$output" = "$1" ] || { echo "expected '$1', got: $output" >&2; return 1; }; fi
	}
	assert_equal() { [ "$1" = "$2" ] || { echo "expected '$2', got '$1'" >&2; return 1; }; }
	refute_output() { [[ $output != *"$2"* ]] || { echo "unexpected '$2' in: $output" >&2; return 1; }; }
fi

: "${MIM_BIN:?run the tests through tests/run or make check}"
: "${MIM_TESTBIN:?run the tests through tests/run or make check}"
export PATH="$MIM_BIN:$MIM_TESTBIN:$PATH"
export OPENBLAS_NUM_THREADS=1
# OpenMP threads sleep rather than spin between regions (2 cores, shared)
export OMP_WAIT_POLICY=PASSIVE
export LC_ALL=C
TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
EXAMPLES=$TOP/formats/examples
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
FIX=$BATS_SUITE_TMPDIR/fix

# a tensorinfo field of record N (0-based) named by column: name dtype shape crc
tsr_field() {
	tensorinfo "$1" | awk -v n="$2" -v f="$3" '$1 == n { print $f }'
}

# Debian's python3, which has python3-numpy, even where another python3
# comes first in PATH
python3() {
	/usr/bin/python3 "$@"
}

# poke FILE OFFSET HEX...: overwrite bytes at a decimal offset
poke() {
	local f=$1 off=$2 s="" b
	shift 2
	for b; do s+="\\x$b"; done
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# reseal FILE: give each version 1.1 header of FILE the header CRC (and
# a zlib record the CRC of its stored bytes) that its bytes now call
# for, as a writer of the altered fields would; stops at a header whose
# hdr_len cannot be followed
reseal() {
	python3 - "$1" <<-'EOF'
	import struct, sys, zlib
	f = sys.argv[1]
	b = bytearray(open(f, "rb").read())
	o = 0
	while o + 40 <= len(b):
	    flags, hlen, plen = struct.unpack_from("<IIQ", b, o + 8)
	    if hlen < 64 or hlen % 64 or o + hlen > len(b):
	        break
	    if b[o + 5] >= 1:
	        if flags & 1:
	            z = zlib.crc32(b[o + hlen:o + hlen + plen])
	            struct.pack_into("<I", b, o + hlen - 4, z)
	        b[o + 36:o + 40] = bytes(4)
	        struct.pack_into("<I", b, o + 36, zlib.crc32(b[o:o + hlen]))
	    o += hlen + (plen + 63) // 64 * 64
	open(f, "wb").write(b)
	EOF
}

# same_steps A.tsv B.tsv: two mim-train logs (-L) have the same steps,
# losses (to 1e-5) and gradient norms (to 1e-4 relative), step by step
same_steps() {
	run awk -F '\t' 'NR == FNR { l[FNR] = $2; g[FNR] = $5; next }
	    FNR > 1 { d = $2 - l[FNR]; e = ($5 - g[FNR]) / g[FNR]
	    if (d * d > 1e-10 || e * e > 1e-8) print "step " $1 ": " $2 " " $5 " vs " l[FNR] " " g[FNR] }
	    END { print FNR - 1 " steps" }' "$1" "$2"
	assert_output "$(($(wc -l < "$1") - 1)) steps"
}
