#!/usr/bin/env bats
# The C unit tests (tests/unit/*.c): naive references, error paths and
# round trips that are easier to reach from C than from the shell.

load helpers

@test "unit: tensor stream reader and writer" {
	run unit-tensor
	assert_success
	refute_output --partial "not ok"
}

@test "unit: image decoding, resampling and patch layout" {
	run unit-image
	assert_success
	refute_output --partial "not ok"
}

@test "unit: archive, directory and IDX inputs" {
	run unit-input
	assert_success
	refute_output --partial "not ok"
}
