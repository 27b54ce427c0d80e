load helpers
# The tensor stream format (formats/tensor-stream.md): the C unit tests,
# the example files (version 1.1, and the same streams in 1.0 in
# formats/examples/v1.0) against their annotated hex dumps, tensorinfo on
# broken input (each error with its own message and exit 1), every
# single-bit flip of a 1.1 example, and tests/tsr.py, a second reader
# written from the document alone.

# ------------------------------------------------------------- helpers

# the listing (tensor-stream.md section 17) that a .hex dump describes,
# from the MEANING column (column 60 on) of its field lines
hex_listing() {
	awk '
	function flush(   i, nn, dn, shape, line) {
		if (name == "" || name == "end")
			return
		nn = split(dimnames, dn, ",")
		shape = "["
		for (i = 0; i < rank; i++)
			shape = shape (i ? "," : "") (i < nn ? dn[i + 1] "=" : "") dims[i]
		line = idx " " name " " dtype " " shape "] " crc " " flags
		if (meta != "")
			line = line " " meta
		print line
		idx++
	}
	BEGIN { idx = 0 }
	/^#/ { next }
	{ m = substr($0, 60) }
	m ~ /^magic / { flush(); name = ""; rank = 0; meta = ""; dimnames = ""; flags = "-" }
	m ~ /^dtype = / { dtype = m; sub(/.*\(/, "", dtype); sub(/\).*/, "", dtype) }
	m ~ /^rank = / { rank = substr(m, 8) + 0 }
	m ~ /^flags = / { flags = (m ~ /\(.*zlib.*\)/) ? "z" : "-" }
	m ~ /^crc32 = 0x/ { crc = substr(m, 11) }
	m ~ /^dims\[/ { d = m; sub(/^dims\[/, "", d); k = d + 0; sub(/.*= /, "", d); dims[k] = d }
	m ~ /^name = "/ { name = m; sub(/^name = "/, "", name); sub(/"$/, "", name) }
	m ~ /^meta = "/ {
		s = m; sub(/^meta = "/, "", s); sub(/"$/, "", s); sub(/\\n$/, "", s)
		n = split(s, ml, /\\n/)
		for (i = 1; i <= n; i++) {
			meta = meta (i > 1 ? " " : "") ml[i]
			if (ml[i] ~ /^dims=/)
				dimnames = substr(ml[i], 6)
		}
	}
	END { flush() }
	' "$1"
}

# the bytes of a .hex dump (columns 11-57) as plain lower-case hex
hex_bytes() {
	grep -v '^#' "$1" | cut -c11-57 | tr -d ' \n'
}

# a file as plain lower-case hex
file_hex() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# the decimal offsets where the records of a .hex dump start
hex_starts() {
	local off
	grep -v '^#' "$1" | grep '  magic "' | cut -c1-8 | while read -r off; do
		echo $((16#$off))
	done
}

# a private copy of an example to break (v1.0/x.tsr becomes v1.0-x.tsr)
copy() {
	local f=$BATS_TEST_TMPDIR/${1//\//-}
	cp "$EXAMPLES/$1" "$f"
	chmod u+w "$f"
	echo "$f"
}

# break FILE OFFSET HEX...: poke, then reseal
break_() {
	poke "$@"
	reseal "$1"
}

# tensorinfo on broken input: exit 1, nothing but MESSAGE on stderr
expect_error() {
	local file=$1 message=$2
	run -1 --separate-stderr tensorinfo "$file"
	assert_equal "$stderr" "tensorinfo: $file: $message"
}

EXAMPLE_NAMES="scalar group compressed empty concat emptydim"
# each example in version 1.1, then in version 1.0
EXAMPLE_FILES=""
for n in $EXAMPLE_NAMES; do EXAMPLE_FILES+=" $n"; done
for n in $EXAMPLE_NAMES; do EXAMPLE_FILES+=" v1.0/$n"; done

# ---------------------------------------------------------- unit tests

@test "stream: the C unit tests of lib/tensor pass" {
	run unit-tensor "$EXAMPLES"
	assert_success
	assert_output --partial $'\n1..'
	refute_output --partial "not ok"
}

# ------------------------------------------------------- example files

@test "stream: each example's hex dump rebuilds it byte for byte" {
	local n
	for n in $EXAMPLE_FILES; do
		assert_equal "$(file_hex "$EXAMPLES/$n.tsr")" "$(hex_bytes "$EXAMPLES/$n.hex")"
	done
}

@test "stream: the hex dumps in tensor-stream.md are those of formats/examples" {
	local n doc=$TOP/formats/tensor-stream.md k=0
	for n in $EXAMPLE_FILES; do
		grep -q "^<!-- begin $n.hex -->" "$doc" || continue
		k=$((k + 1))
		run diff <(awk -v b="<!-- begin $n.hex -->" -v e="<!-- end $n.hex -->" \
			'$0 == e { on = 0 } on && !/^```/ { print } $0 == b { on = 1 }' "$doc") \
			"$EXAMPLES/$n.hex"
		assert_success
	done
	assert_equal "$k" 7 # the six of 1.1 and v1.0/scalar
}

@test "stream: make-examples.py writes the same example files again" {
	local n out=$BATS_TEST_TMPDIR/ex
	mkdir "$out"
	python3 "$EXAMPLES/make-examples.py" "$out"
	for n in $EXAMPLE_FILES; do
		cmp "$EXAMPLES/$n.tsr" "$out/$n.tsr"
		cmp "$EXAMPLES/$n.hex" "$out/$n.hex"
	done
}

@test "stream: scalar.tsr lists as its hex dump says" {
	run --separate-stderr tensorinfo "$EXAMPLES/scalar.tsr"
	assert_success
	assert_output "$(hex_listing "$EXAMPLES/scalar.hex")"
	assert_output "0 loss f32 [] c21cba2e - step=100"
}

@test "stream: group.tsr lists one group of patches and labels" {
	run --separate-stderr tensorinfo "$EXAMPLES/group.tsr"
	assert_success
	assert_output "$(hex_listing "$EXAMPLES/group.hex")"
	assert_equal "${lines[0]}" "0 patches u8 [n=2,l=4,d=4] 91267e8a - batch=0 dims=n,l,d"
	assert_equal "${lines[1]}" "1 labels i32 [n=2] 767ae033 - batch=0 dims=n"
	assert_equal "$(tsr_field "$EXAMPLES/group.tsr" 0 5)" 91267e8a
}

@test "stream: compressed.tsr lists with flag z and the crc of the inflated bytes" {
	run --separate-stderr tensorinfo "$EXAMPLES/compressed.tsr"
	assert_success
	assert_output "$(hex_listing "$EXAMPLES/compressed.hex")"
	assert_output "0 eye f32 [8,8] e2433973 z"
}

@test "stream: empty.tsr (only an end record) lists nothing and succeeds" {
	run --separate-stderr tensorinfo "$EXAMPLES/empty.tsr"
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	assert_equal "$(hex_listing "$EXAMPLES/empty.hex")" ""
}

@test "stream: concat.tsr (two streams) lists three records indexed 0 to 2" {
	run --separate-stderr tensorinfo "$EXAMPLES/concat.tsr"
	assert_success
	assert_output "$(hex_listing "$EXAMPLES/concat.hex")"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[2]}" "2 third f64 [] b557d8ef - batch=0"
}

@test "stream: emptydim.tsr lists a [0,4] tensor with crc 00000000" {
	run --separate-stderr tensorinfo "$EXAMPLES/emptydim.tsr"
	assert_success
	assert_output "$(hex_listing "$EXAMPLES/emptydim.hex")"
	assert_output "0 tokens i32 [n=0,l=4] 00000000 - batch=0 dims=n,l"
}

@test "stream: the version 1.0 examples list as their 1.1 twins do" {
	local n
	for n in $EXAMPLE_NAMES; do
		run --separate-stderr tensorinfo "$EXAMPLES/v1.0/$n.tsr"
		assert_success
		assert_equal "$stderr" ""
		assert_output "$(tensorinfo "$EXAMPLES/$n.tsr")"
		assert_output "$(hex_listing "$EXAMPLES/v1.0/$n.hex")"
		cmp <(head -c 5 "$EXAMPLES/v1.0/$n.tsr") <(printf '\x93TSR\x01')
		[ "$(od -An -j5 -N1 -tu1 "$EXAMPLES/v1.0/$n.tsr")" -eq 0 ]
		[ "$(od -An -j5 -N1 -tu1 "$EXAMPLES/$n.tsr")" -eq 1 ]
	done
}

@test "stream: 1.0 and 1.1 streams joined with cat read as one input" {
	run --separate-stderr bash -c 'cat "$1/v1.0/group.tsr" "$1/scalar.tsr" "$1/v1.0/compressed.tsr" | tensorinfo' _ "$EXAMPLES"
	assert_success
	assert_equal "${#lines[@]}" 4
	assert_equal "${lines[3]}" "3 eye f32 [8,8] e2433973 z"
}

@test "stream: files joined with cat read as one input" {
	run --separate-stderr bash -c 'cat "$1/group.tsr" "$1/empty.tsr" "$1/scalar.tsr" | tensorinfo' _ "$EXAMPLES"
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[2]}" "2 loss f32 [] c21cba2e - step=100"
}

@test "stream: a cut right after the first end record of concat.tsr ends cleanly" {
	run --separate-stderr bash -c 'head -c 256 "$1" | tensorinfo' _ "$EXAMPLES/concat.tsr"
	assert_success
	assert_output "0 first i64 [2] b77fc6f1 - batch=0"
}

# ------------------------------------------------------------ bad input

@test "stream: group.tsr cut at every byte offset fails with exit 1" {
	# (no variable "i" here: bats' run sets one)
	local f=$EXAMPLES/group.tsr dir=$BATS_TEST_TMPDIR/cut off n starts files=() want
	n=$(wc -c < "$f")
	starts=" $(hex_starts "$EXAMPLES/group.hex" | tr '\n' ' ')"
	assert_equal "$starts" " 0 192 384 "
	mkdir "$dir"
	for ((off = 0; off < n; off++)); do
		head -c "$off" "$f" > "$dir/$off"
		files+=("$dir/$off")
	done
	# one run over all cuts: tensorinfo goes on past a bad file
	run -1 --separate-stderr tensorinfo "${files[@]}"
	assert_equal "${#stderr_lines[@]}" "$n"
	for ((off = 0; off < n; off++)); do
		if ((off == 0)); then
			want="empty input (no records and no end record)"
		elif [[ $starts == *" $off "* ]]; then
			want="record $((off / 192)): stream ended without end record (did the producer fail?)"
		else
			want="record $((off / 192))*: truncated record (got *"
		fi
		[[ ${stderr_lines[off]} == "tensorinfo: $dir/$off: "$want ]] ||
			{ echo "cut at $off: ${stderr_lines[off]}" >&2; return 1; }
	done
}

@test "stream: a flipped payload bit fails with crc mismatch" {
	local f
	f=$(copy group.tsr)
	poke "$f" 128 01
	expect_error "$f" "record 0 'patches': crc mismatch (stored 91267e8a, computed 60fc7b20)"
	assert_output "" # the bad record is not listed
}

@test "stream: a bad magic fails with bad magic" {
	local f
	f=$(copy group.tsr)
	poke "$f" 0 89 50 4e 47
	expect_error "$f" "record 0: bad magic (expected 93 54 53 52, got 89 50 4e 47)"
}

@test "stream: a bad magic on the second record names record 1" {
	local f
	f=$(copy group.tsr)
	poke "$f" 192 93 54 53 53
	expect_error "$f" "record 1: bad magic (expected 93 54 53 52, got 93 54 53 53)"
	assert_output "0 patches u8 [n=2,l=4,d=4] 91267e8a - batch=0 dims=n,l,d"
}

@test "stream: major version 2 fails with unsupported version" {
	local f
	f=$(copy group.tsr)
	poke "$f" 4 02
	expect_error "$f" "record 0: unsupported version (major 2, this reader knows 1)"
}

@test "stream: a higher minor version is read" {
	local f g
	f=$(copy group.tsr)
	break_ "$f" 5 07
	run --separate-stderr tensorinfo "$f"
	assert_success
	assert_equal "${#lines[@]}" 2
	# a minor above 1 may have header bytes a 1.1 reader does not know
	g=$(copy scalar.tsr)
	python3 -c 'import sys; b = open(sys.argv[1], "rb").read()
b = b[:12] + bytes([128]) + b[13:64] + bytes([7]) * 64 + b[64:]
open(sys.argv[1], "wb").write(b)' "$g"
	break_ "$g" 5 02
	run --separate-stderr tensorinfo "$g"
	assert_success
	assert_output "0 loss f32 [] c21cba2e - step=100"
}

@test "stream: a changed byte under the header crc fails with header crc mismatch" {
	local f
	f=$(copy group.tsr)
	poke "$f" 77 39 # meta batch=0 becomes batch=9
	expect_error "$f" "record 0: header crc mismatch (stored 84bebfb5, computed a9c2cffb)"
	f=$(copy group.tsr)
	poke "$f" 5 07 # a later minor, not resealed
	run -1 --separate-stderr tensorinfo "$f"
	[[ $stderr == "tensorinfo: $f: record 0: header crc mismatch (stored 84bebfb5, computed "*")" ]]
}

@test "stream: minor 1 without the HCRC flag, or 1.0 with it, is an error" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 8 00
	expect_error "$f" "record 0: header crc mismatch (minor 1 without the HCRC flag)"
	f=$(copy scalar.tsr)
	poke "$f" 5 00 # the minor byte of a 1.1 record cleared
	expect_error "$f" "record 0: unknown flags (0x00000002)"
}

@test "stream: non-zero header padding in 1.1 fails with padding not zero" {
	local f g
	f=$(copy scalar.tsr)
	break_ "$f" 60 01
	expect_error "$f" "record 0 'loss': padding not zero (header byte 60)"
	# in 1.0 it is ignored
	g=$(copy v1.0/scalar.tsr)
	poke "$g" 60 01
	run tensorinfo "$g"
	assert_success
}

@test "stream: non-zero payload padding fails with padding not zero, in 1.0 too" {
	local f g
	f=$(copy scalar.tsr)
	poke "$f" 127 80
	expect_error "$f" "record 0 'loss': padding not zero (payload padding byte 59 of 60)"
	g=$(copy v1.0/scalar.tsr)
	poke "$g" 68 01
	expect_error "$g" "record 0 'loss': padding not zero (payload padding byte 0 of 60)"
}

@test "stream: a flip in a zlib stream is caught by the crc of the stored bytes" {
	local f
	f=$(copy compressed.tsr)
	# bit 6 of the last byte of the zlib stream: padding that zlib ignores
	poke "$f" 76 40
	run -1 --separate-stderr tensorinfo "$f"
	assert_equal "$stderr" "tensorinfo: $f: record 0 'eye': crc mismatch (stored 0bfd26d5, computed 530e7e9c over the 17 compressed bytes)"
	# in 1.0 nothing sees it
	f=$(copy v1.0/compressed.tsr)
	poke "$f" 76 40
	run tensorinfo "$f"
	assert_success
}

@test "stream: dtype 13 fails with unknown dtype" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 6 0d
	expect_error "$f" "record 0: unknown dtype (code 13)"
	f=$(copy v1.0/scalar.tsr)
	poke "$f" 6 0d
	expect_error "$f" "record 0: unknown dtype (code 13)"
}

@test "stream: an unknown flag bit fails with unknown flags" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 8 06
	expect_error "$f" "record 0: unknown flags (0x00000006)"
	f=$(copy v1.0/scalar.tsr)
	poke "$f" 8 02
	expect_error "$f" "record 0: unknown flags (0x00000002)"
}

@test "stream: rank 9 fails with rank too large" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 7 09
	expect_error "$f" "record 0: rank too large (9, at most 8)"
}

@test "stream: dims 2^32 x 2^32 x 2 fail with dims overflow" {
	local f
	f=$(copy group.tsr)
	poke "$f" 40 00 00 00 00 01 00 00 00
	poke "$f" 48 00 00 00 00 01 00 00 00
	break_ "$f" 56 02
	expect_error "$f" "record 0 'patches': dims overflow (element count above 2^64)"
}

@test "stream: a header length of 1 GiB fails with bad header length" {
	local f
	f=$(copy group.tsr)
	poke "$f" 12 00 00 00 40
	expect_error "$f" "record 0: bad header length (1073741824, expected a multiple of 64 from 64 to 1048576)"
}

@test "stream: a header length that is no multiple of 64 fails with bad header length" {
	local f
	f=$(copy group.tsr)
	poke "$f" 12 81
	expect_error "$f" "record 0: bad header length (129, expected a multiple of 64 from 64 to 1048576)"
}

@test "stream: a 1.1 header longer than its fields need fails with bad header length" {
	local f
	f=$(copy group.tsr)
	python3 -c 'import sys; b = open(sys.argv[1], "rb").read()
b = b[:12] + bytes([192]) + b[13:128] + bytes(64) + b[128:]
open(sys.argv[1], "wb").write(b)' "$f"
	reseal "$f"
	expect_error "$f" "record 0: bad header length (192, expected 128 for 90 header bytes)"
	# a 1.0 header may be longer
	f=$(copy v1.0/group.tsr)
	python3 -c 'import sys; b = open(sys.argv[1], "rb").read()
b = b[:12] + bytes([192]) + b[13:128] + bytes(64) + b[128:]
open(sys.argv[1], "wb").write(b)' "$f"
	run tensorinfo "$f"
	assert_success
}

@test "stream: a reserved byte set fails with reserved field not zero" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 30 01
	expect_error "$f" "record 0: reserved field not zero (bytes 30-31)"
	f=$(copy v1.0/scalar.tsr)
	poke "$f" 37 01
	expect_error "$f" "record 0: reserved field not zero (bytes 30-31 and 36-39)"
}

@test "stream: an upper-case name fails with bad name" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 40 4c
	expect_error "$f" "record 0: bad name (names are [a-z0-9_] segments joined by '.')"
}

@test "stream: payload_len off by one fails with payload size mismatch" {
	local f
	f=$(copy scalar.tsr)
	break_ "$f" 16 05
	expect_error "$f" "record 0 'loss': payload size mismatch (payload_len 5 for 4 bytes)"
}

@test "stream: a corrupt zlib payload fails with invalid or incomplete zlib data" {
	local f
	f=$(copy compressed.tsr)
	break_ "$f" 64 00 # the crc of the stored bytes follows
	run -1 --separate-stderr tensorinfo "$f"
	[[ $stderr == "tensorinfo: $f: record 0 'eye': invalid or incomplete zlib data ("*")" ]]
	f=$(copy v1.0/compressed.tsr)
	poke "$f" 64 00
	run -1 --separate-stderr tensorinfo "$f"
	[[ $stderr == "tensorinfo: $f: record 0 'eye': invalid or incomplete zlib data ("*")" ]]
}

@test "stream: an end record with a wrong count fails with bad end record" {
	local f
	f=$(copy group.tsr)
	poke "$f" 448 03
	break_ "$f" 408 8a d8 ad eb # the crc32 of the u64 3
	expect_error "$f" "record 2 'end': bad end record (it counts 3 records, the stream had 2)"
}

@test "stream: empty input fails with empty input" {
	: > "$BATS_TEST_TMPDIR/empty"
	run -1 --separate-stderr tensorinfo < "$BATS_TEST_TMPDIR/empty"
	assert_equal "$stderr" "tensorinfo: <stdin>: empty input (no records and no end record)"
	assert_output ""
}

@test "stream: a stream without its end record fails with stream ended without end record" {
	run -1 --separate-stderr bash -c 'head -c 384 "$1" | tensorinfo' _ "$EXAMPLES/group.tsr"
	assert_equal "$stderr" "tensorinfo: <stdin>: record 2: stream ended without end record (did the producer fail?)"
	assert_equal "${#lines[@]}" 2
}

@test "stream: text input fails with exit 1, not a listing" {
	run -1 --separate-stderr bash -c 'printf "P5\n4 4\n255\n%064d\n" 0 | tensorinfo'
	assert_equal "$stderr" "tensorinfo: <stdin>: record 0: bad magic (expected 93 54 53 52, got 50 35 0a 34)"
	assert_output ""
}

# ------------------------------------------------ the independent reader

# flips DIR FILE: every single-bit flip of FILE as DIR/BYTE.BIT
flips() {
	mkdir "$1"
	python3 - "$1" "$2" <<-'EOF'
	import os, sys
	d, data = sys.argv[1], open(sys.argv[2], "rb").read()
	for i in range(8 * len(data)):
	    b = bytearray(data)
	    b[i // 8] ^= 1 << (i % 8)
	    open(os.path.join(d, "%04d.%d" % (i // 8, i % 8)), "wb").write(b)
	EOF
}

@test "stream: every single-bit flip of group.tsr and compressed.tsr is an error" {
	local n d=$BATS_TEST_TMPDIR/flips py
	for n in group compressed; do
		flips "$d.$n" "$EXAMPLES/$n.tsr"
		# one run over all: tensorinfo goes on past a bad file
		run -1 --separate-stderr tensorinfo "$d.$n"/*
		assert_equal "${#stderr_lines[@]}" $((8 * $(wc -c < "$EXAMPLES/$n.tsr")))
		[[ $stderr != *"rror: AddressSanitizer"* ]]
		py=$(python3 "$TOP/tests/tsr.py" "$d.$n"/* 2>&1 >/dev/null) && return 1
		assert_equal "$(sed 's/^tsr.py: //; s/zlib data (.*/zlib data/' <<<"$py")" \
			"$(sed 's/^tensorinfo: //; s/zlib data (.*/zlib data/' <<<"$stderr")"
	done
}

@test "stream: tsr.py lists each example as tensorinfo does" {
	local n files=() want=""
	for n in $EXAMPLE_NAMES; do
		files+=("$EXAMPLES/$n.tsr")
		want+="==> $EXAMPLES/$n.tsr <=="$'\n'
		want+="$(hex_listing "$EXAMPLES/$n.hex")"
		[ -z "$(hex_listing "$EXAMPLES/$n.hex")" ] || want+=$'\n'
	done
	run --separate-stderr python3 "$TOP/tests/tsr.py" "${files[@]}"
	assert_success
	assert_equal "$stderr" ""
	assert_output "$(tensorinfo "${files[@]}")"
	# each listing is also the one its hex dump describes
	assert_output "${want%$'\n'}"
}

@test "stream: tsr.py rejects every cut of concat.tsr as tensorinfo does" {
	local f=$EXAMPLES/concat.tsr dir=$BATS_TEST_TMPDIR/cut off n files=() py esc
	n=$(wc -c < "$f")
	mkdir "$dir"
	# the cuts come from the hex dump, through the printf builtin
	esc=$(hex_bytes "$EXAMPLES/concat.hex" | sed 's/../\\x&/g')
	for ((off = 0; off < n; off++)); do
		printf "${esc:0:4*off}" > "$dir/$off"
		files+=("$dir/$off")
	done
	cmp "$dir/300" <(head -c 300 "$f")
	run -1 --separate-stderr python3 "$TOP/tests/tsr.py" "${files[@]}"
	py=$stderr
	assert_output "$(tensorinfo "${files[@]}" 2>"$BATS_TEST_TMPDIR/err")"
	run -1 --separate-stderr tensorinfo "${files[@]}"
	# n - 1 errors: the cut at 256 is the complete first stream
	assert_equal "${#stderr_lines[@]}" $((n - 1))
	assert_equal "${py//tsr.py: /}" "${stderr//tensorinfo: /}"
}

@test "stream: tsr.py rejects corrupt records with the same errors as tensorinfo" {
	local f k=0 case v d files=() raw=() a b
	# each change to a 1.0 file, to a 1.1 file, and to a 1.1 file
	# resealed (its header crcs made to fit, so that the field is seen)
	for case in "group.tsr 128 01" "group.tsr 0 89" "group.tsr 4 02" "scalar.tsr 6 0d" \
		"scalar.tsr 8 04" "scalar.tsr 8 06" "scalar.tsr 7 09" "group.tsr 12 00 00 00 40" \
		"scalar.tsr 30 01" "scalar.tsr 37 01" "scalar.tsr 40 4c" "scalar.tsr 16 05" \
		"compressed.tsr 64 00" "compressed.tsr 76 40" "group.tsr 448 03" \
		"group.tsr 40 00 00 00 00 01 00 00 00" "group.tsr 12 81" "scalar.tsr 32 01" \
		"scalar.tsr 5 00" "scalar.tsr 5 02" "scalar.tsr 60 01" "scalar.tsr 127 80" \
		"emptydim.tsr 8 03" "group.tsr 83 00"; do
		for v in v1.0 raw sealed; do
			set -- $case
			f=$BATS_TEST_TMPDIR/$((k++)).$v.$1
			d=$EXAMPLES
			[ "$v" != v1.0 ] || d=$EXAMPLES/v1.0
			cp "$d/$1" "$f"
			chmod u+w "$f"
			shift
			poke "$f" "$@"
			[ "$v" != sealed ] || reseal "$f"
			[ "$v" != raw ] || raw+=("$f")
			files+=("$f")
		done
	done
	run --separate-stderr python3 "$TOP/tests/tsr.py" "${files[@]}"
	a=$stderr
	assert_output "$(tensorinfo "${files[@]}" 2>"$BATS_TEST_TMPDIR/err")"
	run --separate-stderr tensorinfo "${files[@]}"
	b=$stderr
	# the messages must agree; zlib's own wording may not
	assert_equal "$(sed 's/^tsr.py: //; s/zlib data (.*/zlib data/' <<<"$a")" \
		"$(sed 's/^tensorinfo: //; s/zlib data (.*/zlib data/' <<<"$b")"
	# each change to a 1.1 file is an error
	run -1 --separate-stderr tensorinfo "${raw[@]}"
	assert_equal "${#stderr_lines[@]}" "${#raw[@]}"
}

@test "stream: 200000 end records in a row read to a clean end, then a record after them" {
	local f=$BATS_TEST_TMPDIR/ends.tsr
	python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); open(sys.argv[2], "wb").write(d * 200000)' \
		"$EXAMPLES/empty.tsr" "$f"
	assert_equal "$(wc -c < "$f")" 25600000
	run --separate-stderr tensorinfo "$f"
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	run --separate-stderr python3 "$TOP/tests/tsr.py" "$f"
	assert_success
	assert_output ""
	cat "$EXAMPLES/scalar.tsr" >> "$f"
	run --separate-stderr tensorinfo "$f"
	assert_success
	assert_output "0 loss f32 [] c21cba2e - step=100"
	run --separate-stderr python3 "$TOP/tests/tsr.py" "$f"
	assert_success
	assert_output "0 loss f32 [] c21cba2e - step=100"
}

# group.tsr with the dims of patches set to D0 D1 D2 (decimal); with
# "empty", also payload_len and crc32 0 and the payload cut out
huge_dims() {
	local f=$1 k d
	shift
	cp "$EXAMPLES/group.tsr" "$f.in"
	chmod u+w "$f.in"
	for k in 0 1 2; do
		d=$(printf '%016x' "$1")
		poke "$f.in" $((40 + 8 * k)) ${d:14:2} ${d:12:2} ${d:10:2} ${d:8:2} \
			${d:6:2} ${d:4:2} ${d:2:2} ${d:0:2}
		shift
	done
	if [ "${1:-}" = empty ]; then
		poke "$f.in" 16 00
		poke "$f.in" 24 00 00 00 00
		cat <(head -c 128 "$f.in") <(tail -c +193 "$f.in") > "$f"
	else
		mv "$f.in" "$f"
	fi
	rm -f "$f.in"
	reseal "$f"
}

@test "stream: a 0 dim makes a tensor empty whatever its other dims, in tsr.py as in tensorinfo" {
	local d=$BATS_TEST_TMPDIR py_out py_err
	huge_dims "$d/a.tsr" 9223372036854775808 4 0 empty
	huge_dims "$d/b.tsr" 0 9223372036854775808 4 empty
	huge_dims "$d/c.tsr" 18446744073709551615 18446744073709551615 0 empty
	run --separate-stderr tensorinfo "$d/a.tsr"
	assert_success
	assert_output "0 patches u8 [n=9223372036854775808,l=4,d=0] 00000000 - batch=0 dims=n,l,d
1 labels i32 [n=2] 767ae033 - batch=0 dims=n"
	run --separate-stderr tensorinfo "$d/b.tsr"
	assert_success
	assert_equal "${lines[0]}" "0 patches u8 [n=0,l=9223372036854775808,d=4] 00000000 - batch=0 dims=n,l,d"
	# a payload where there can be none, and no 0 dim
	huge_dims "$d/d.tsr" 9223372036854775808 4 0
	huge_dims "$d/e.tsr" 9223372036854775808 4 1
	run -1 --separate-stderr python3 "$TOP/tests/tsr.py" "$d"/[a-e].tsr
	py_out=$output py_err=$stderr
	run -1 --separate-stderr tensorinfo "$d"/[a-e].tsr
	assert_equal "$py_out" "$output"
	assert_equal "${py_err//tsr.py: /}" "${stderr//tensorinfo: /}"
	assert_output --partial "0 patches u8 [n=18446744073709551615,l=18446744073709551615,d=0] 00000000 -"
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "tensorinfo: $d/d.tsr: record 0 'patches': payload size mismatch (payload_len 32 for 0 bytes)"
	assert_equal "${stderr_lines[1]}" "tensorinfo: $d/e.tsr: record 0 'patches': dims overflow (element count above 2^64)"
}

@test "stream: zlib on an empty tensor and payloads beyond 1032:1 fail in tsr.py as in tensorinfo" {
	local f g h py_out py_err
	# emptydim.tsr ([0,4], no payload) with the zlib flag
	f=$(copy emptydim.tsr)
	break_ "$f" 8 03
	expect_error "$f" "record 0 'tokens': payload size mismatch (an empty tensor cannot be compressed)"
	# compressed.tsr claiming [8,768]: 24576 bytes from 17 (23 > 17)
	g=$(copy compressed.tsr)
	break_ "$g" 48 00 03
	expect_error "$g" "record 0 'eye': payload size mismatch (payload_len 17 cannot inflate to 24576 bytes)"
	# [8,552]: 17664 bytes, 17664 / 1032 = 17 is allowed: zlib is asked
	h=$BATS_TEST_TMPDIR/h.tsr
	cp "$g" "$h"
	break_ "$h" 48 28 02
	run -1 --separate-stderr tensorinfo "$h"
	[[ $stderr == "tensorinfo: $h: record 0 'eye': invalid or incomplete zlib data ("*")" ]]
	run -1 --separate-stderr python3 "$TOP/tests/tsr.py" "$f" "$g" "$h"
	py_out=$output py_err=$stderr
	run -1 --separate-stderr tensorinfo "$f" "$g" "$h"
	assert_equal "$py_out" "$output"
	assert_equal "$(sed 's/^tsr.py: //; s/zlib data (.*/zlib data/' <<<"$py_err")" \
		"$(sed 's/^tensorinfo: //; s/zlib data (.*/zlib data/' <<<"$stderr")"
}
