#!/usr/bin/env bats
# The C unit tests (tests/unit/unit-*.c): naive references, error paths
# and round trips that are easier to reach from C than from the shell.

load helpers

run_unit() {
	run "$1"
	assert_success
	refute_output --partial "not ok"
	[[ $output == *"ok "* ]] || fail "$1 ran no test"
}

@test "unit: every unit test program is run by the suite" {
	for f in "$TOP"/tests/unit/unit-*.c; do
		u=$(basename "$f" .c)
		grep -qE "run(_unit)? $u\b" "$TOP"/tests/*.bats ||
			fail "$u is not run by any tests/*.bats"
	done
}

@test "unit: zlib-compatible CRC-32, fast and generic paths" {
	run_unit unit-crc
}

@test "unit: image decoding, resampling and patch layout" {
	run_unit unit-image
}

@test "unit: archive, directory and IDX inputs" {
	run_unit unit-input
}

@test "unit: k-means kernels against their naive twins" {
	run_unit unit-kmeans
}

@test "unit: TCAS, NMI and the other token-class metrics" {
	run_unit unit-metrics
}

@test "unit: augmentation graph, alpha and spectrum against the naive twin" {
	run_unit unit-augraph
}

@test "unit: tensor stream reader and writer" {
	run_unit unit-tensor
}

@test "unit: util: argument checks, die, output files, random numbers" {
	run_unit unit-util
	# the in-place output test wrote to /dev/null: it must still be one
	[ -c /dev/null ] || fail "/dev/null is no longer a character device"
}
