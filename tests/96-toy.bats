#!/usr/bin/env bats
# pipelines/toy.mk: the toy model of the paper's Figure 2 end to end
# (the generator pipelines/toy, augraph on its three tokenizations, the
# table and the plot), at the default size and a smaller one.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# make -f pipelines/toy.mk from the top, with the tools under test
tmake() {
	make --no-print-directory -C "$TOP" -f pipelines/toy.mk BIN="$MIM_BIN" \
	    OUT="$BATS_TEST_TMPDIR/r" "$@"
}

# the table's rows as "name k alpha lambda bound"
rows() {
	awk -F '\t' '!/^#/ && $1 != "tokenization" { print $1, $2, $3, $4, $5 }' r/toy.tsv
}

@test "toy: toy.mk reproduces the paper's ordering of the bounds, class-wise < MAE-like < cross-class" {
	run tmake
	assert_success
	assert_output --partial "(classwise < mae < crossclass): reproduced."
	run rows
	assert_line --regexp "^mae 64 0\.[0-9]{4} 0\.[0-9]{4} 0\.[0-9]{4}$"
	assert_line --regexp "^classwise 2 0\.[0-9]{4} 1\.0000 0\.[0-9]{4}$"
	assert_line --regexp "^crossclass 32 0\.[0-9]{4} 0\.[0-9]{4} [0-9.]+$"
	# the ordering, from the numbers: bounds; and the mechanism the
	# caption of Figure 2 names: class-wise tokens connect each class
	# better (lambda) at the same labelling error (alpha), cross-class
	# tokens put far more weight between the classes
	run awk '{ a[$1] = $3; l[$1] = $4; b[$1] = $5 } END {
	    print (b["classwise"] < b["mae"] && b["mae"] < b["crossclass"]),
	        (l["classwise"] > l["mae"]), (a["crossclass"] > 4 * a["mae"]),
	        (a["classwise"] - a["mae"] < 0.01) }' <(rows)
	assert_output "1 1 1 1"
	# the header names the settings; the plot is a PNG with the spectra
	grep -q '^# pipelines/toy -n 2000 -c 2 -g 4 -v 8 -l 16 -f 0.05 -r 0.2 -S 0' r/toy.tsv
	[ "$(od -An -c -N4 r/toy.png | xargs)" = "211 P N G" ]
	run head -1 r/work/toy/spectra.tsv
	assert_output --regexp "^i	mae \(bound 0\.[0-9]{3}\)	classwise \(bound 0\.[0-9]{3}\)	crossclass \(bound [0-9.]+\)$"
	[ "$(wc -l < r/work/toy/spectra.tsv)" -eq 25 ]
	# cached: nothing to redo; a changed setting redoes the data
	run tmake
	assert_success
	refute_output --partial "$MIM_BIN/"
	run tmake TOY_SEED=1 TOY_IMAGES=500
	assert_success
	assert_output --partial "pipelines/toy -n 500 "
	assert_output --partial "reproduced."
}

@test "toy: without foreign views no tokenization mixes the classes, and the check says the ordering is not reproduced" {
	# alpha is then 0 for MAE-like and class-wise alike: bounds 0 and 0
	run tmake TOY_FOREIGN=0 TOY_IMAGES=400
	assert_success
	assert_output --partial "NOT reproduced."
	run rows
	assert_line "mae 64 0.0000 $(awk '$1 == "lambda" { printf "%.4f", $2 }' r/work/toy/mae.augraph) 0.0000"
	assert_line "classwise 2 0.0000 1.0000 0.0000"
}

@test "toy: the generator gives the same bytes for a seed, a stream tsr.py reads, and refuses bad options" {
	"$TOP/pipelines/toy" -n 300 -b 100 -S 3 > a.tsr
	"$TOP/pipelines/toy" -n 300 -b 100 -S 3 -o b.tsr
	cmp a.tsr b.tsr
	[ ! -e b.tsr.tmp ]
	"$TOP/pipelines/toy" -n 300 -b 100 -S 4 > c.tsr
	! cmp -s a.tsr c.tsr
	run python3 "$TOP/tests/tsr.py" a.tsr
	assert_success
	assert_line --regexp "^0 labels i32 \[n=100\] [0-9a-f]{8} - tool=toy seed=3 images=300 batch=0 dims=n nclasses=2$"
	assert_line --regexp "^11 crossclass i32 \[n=100,l=16\] [0-9a-f]{8} - batch=2 dims=n,l k=32$"
	# every class-wise token is the class of a view: the image's own
	# class, but for the foreign views (about 5%)
	run augraph -t classwise -n 0 -e 0 a.tsr
	assert_line --regexp "^alpha 0\.[01][0-9]*$"
	run -2 "$TOP/pipelines/toy" -f 0.9 -r 0.2
	assert_output "toy: -f 0.9 plus -r 0.2 is above 1"
	run -2 "$TOP/pipelines/toy" -c 1
	assert_output "toy: -c 1: outside [2, 1000]"
	run -2 "$TOP/pipelines/toy" -x
	assert_output --partial "usage: pipelines/toy"
	run -1 script -qec "$TOP/pipelines/toy -n 1" /dev/null
	assert_output --partial "refusing to write binary tensor stream to a terminal"
}

@test "toy: a stage that fails stops make and leaves no partial output" {
	run tmake TOY_FOREIGN=0.9
	assert_failure
	assert_output --partial "toy: -f 0.9 plus -r 0.2 is above 1"
	[ ! -e r/work/toy/toy.tsr ] && [ ! -e r/toy.tsv ]
}
