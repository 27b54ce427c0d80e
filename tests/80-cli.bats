#!/usr/bin/env bats
# Conventions every tool keeps: --help, --version, exit 2 on usage errors,
# no binary stream on a terminal.

load helpers

tools() {
	for f in "$TOP"/tools/*.c; do basename "$f" .c; done
}

@test "cli: --help prints the usage line on stdout and exits 0" {
	for t in $(tools); do
		run --separate-stderr "$t" --help
		[ "$status" -eq 0 ] || fail "$t --help: status $status"
		[[ $output == "usage: $t "* ]] || fail "$t --help: $output"
		[ -z "$stderr" ] || fail "$t --help wrote to stderr: $stderr"
	done
}

@test "cli: an unknown option exits 2 with the usage line on stderr" {
	for t in $(tools); do
		run --separate-stderr "$t" --no-such-option
		[ "$status" -eq 2 ] || fail "$t: status $status"
		[[ $stderr == *"usage: $t "* ]] || fail "$t: $stderr"
		[ -z "$output" ] || fail "$t wrote to stdout: $output"
	done
}

@test "cli: --version names the tool" {
	for t in $(tools); do
		run "$t" --version
		assert_success
		[[ $output == "$t "[0-9]* ]] || fail "$t --version: $output"
	done
}

@test "cli: patchify refuses to write a binary stream to a terminal" {
	run script -qec "$MIM_BIN/patchify -p 4 -n 1 $FMNIST/t10k-images-idx3-ubyte.gz" /dev/null
	assert_failure
	assert_output --partial "refusing to write binary tensor stream to a terminal"
}

@test "cli: a failed run with -o leaves no output file" {
	cd "$BATS_TEST_TMPDIR"
	printf 'not an image archive' > junk
	run -1 patchify -p 4 -o out.tsr junk
	[ ! -e out.tsr ] && [ ! -e out.tsr.tmp ]
}
