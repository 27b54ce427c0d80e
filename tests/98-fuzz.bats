load helpers
# The fuzz harnesses of tests/fuzz/ (run under libFuzzer by make fuzz)
# replay their committed corpus here, built with tests/fuzz/replay.c on
# the build under test: make check runs it on the normal and the
# ASan+UBSan builds.  The corpus holds seeds (tests/fuzz/mkcorpus) and
# the inputs of past findings (regress-*), which must stay fixed.

# replay NAME: every file of tests/fuzz/corpus/NAME through fuzz-NAME
replay() {
	local dir=$TOP/tests/fuzz/corpus/$1 n
	n=$(find "$dir" -maxdepth 1 -type f ! -name '.*' | wc -l)
	[ "$n" -ge 1 ]
	run --separate-stderr "fuzz-$1" "$dir"
	assert_success
	assert_equal "$stderr" ""
	assert_output "$n inputs"
}

@test "fuzz: the stream reader replays its corpus without a finding" {
	replay tsr
}

@test "fuzz: the IDX reader replays its corpus without a finding" {
	replay idx
}

@test "fuzz: the PNG, JPEG and PNM decoders replay their corpus without a finding" {
	replay image
}

@test "fuzz: archive input replays its corpus without a finding" {
	replay archive
}

@test "fuzz: the safetensors reader replays its corpus without a finding" {
	replay safetensors
}

@test "fuzz: the checkpoint loader replays its corpus without a finding" {
	replay ckpt
}

@test "fuzz: the stream corpus holds valid streams of both versions" {
	local f
	for f in "$TOP"/tests/fuzz/corpus/tsr/seed-*; do
		tensorinfo "$f" > /dev/null
	done
	ls "$TOP"/tests/fuzz/corpus/tsr/seed-v1.0-*.tsr > /dev/null
}
