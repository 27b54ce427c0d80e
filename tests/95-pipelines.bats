#!/usr/bin/env bats
# pipelines/: the experiments as make fragments, run end to end at
# miniature budgets (the numbers mean nothing; the plumbing is what is
# tested): tables with every row, plots, caching, failure handling,
# and the helper scripts against known values.

load helpers

setup_file() {
	local d=$BATS_FILE_TMPDIR
	# the miniature ImageNet, as one tar in ImageNet's layout
	mkfixture -i "$d/in" || return 1
	tar -cf "$d/in100.tar" -C "$d/in" train val || return 1
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D=$BATS_FILE_TMPDIR
}

# make -f pipelines/$1 from the top, with the tools under test
pmake() {
	local f=$1
	shift
	make --no-print-directory -C "$TOP" -f "pipelines/$f" BIN="$MIM_BIN" "$@"
}

# a miniature configuration: a 1-block model 32 wide
MINI_MODEL='--dim 32 --depth 1 --heads 2 --dec-dim 32 --dec-depth 1 --dec-heads 2'
# Fashion-MNIST at a budget of seconds: 600 training images per run, 500
# test images, and the probe trained on 300
fm_args() {
	echo OUT="$BATS_TEST_TMPDIR/r" JOBS=1 BATCH=64 MAIN_EPOCHS=0.01 \
	    SWEEP_EPOCHS=0.005 TEST_SEL=-n500 PROBE_TRAIN=300 \
	    KMEANS_IMAGES=300 FEATURE_IMAGES=100 KMEANS_EPOCHS=1 FEATURE_K=8 K=8
}

@test "pipelines: imagenet100.mk runs end to end on a miniature archive in ImageNet's layout" {
	run pmake imagenet100.mk IN100="$D/in100.tar" OUT="$PWD/r" \
	    PRESET=tiny MODEL_FLAGS="$MINI_MODEL" P=8 AUG_FLAGS='-s 32' \
	    EVAL_FLAGS='-r 32 -s 32' TRAIN_N=72 MAIN_EPOCHS=2 BATCH=16 K=4 \
	    KMEANS_IMAGES=72 KMEANS_EPOCHS=2 PROBE_TRAIN=72 JOBS=1 \
	    WARMUP_EPOCHS=1
	assert_success
	assert_output --partial "## Main comparison: ImageNet-100 test accuracy"
	# the three runs, each with accuracies, and TCAS for the tokens
	run awk -F '\t' '!/^#/ && NR > 1 { print $1 "|" $2 "|" ($4 ~ /^[0-9.]+$/) ($5 ~ /^[0-9.]+$/) "|" $6 }' r/main.tsv
	assert_output "$(printf '%s\n' 'method|tokenizer|00|tcas' \
	    'untrained encoder|-|11|-' 'MAE (norm-pix)|-|11|-' \
	    'ClusterMIM-Pixel|pixel-k4|11|'"$(awk '$1 == "tcas" { printf "%.3f", $2 }' r/work/tok/pixel-k4.tcas)")"
	# the paper's geometry was replaced as asked: 8x8 RGB patches of 32x32
	run tensorinfo r/work/data/test.tsr
	assert_line --partial "patches f32 [n=24,l=16,d=192]"
	# the settings are in the table's header, the run's in its checkpoint
	run head -4 r/main.tsv
	assert_output --partial "TRAIN_FILE=$D/in100.tar TRAIN_SEL='-P train'"
	assert_output --partial "PRESET=tiny MODEL_FLAGS='$MINI_MODEL' WARMUP_EPOCHS=1 P=8 BATCH=16"
	run bash -c "tensorinfo r/work/main/s0/mae-normpix.ckpt | head -1"
	assert_output --regexp "norm_pix=1 .*batch_size=16 steps=10 warmup=5 "
	# the curves: a PNG
	run od -An -c -N4 r/curves.png
	assert_output --partial "P   N   G"
}

@test "pipelines: main.mk writes the main table with every run; a second make has nothing to do, unless a setting changed" {
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL"
	assert_success
	run awk -F '\t' '!/^#/ && NR > 1 { print $1 "|" $2 }' r/main.tsv
	assert_output "$(printf '%s\n' 'method|tokenizer' 'untrained encoder|-' \
	    'MAE|-' 'MAE (norm-pix)|-' 'ClusterMIM-Pixel|pixel-k8' \
	    'ClusterMIM-Feature|feature-k8')"
	# numbers where numbers belong: accuracies in [0, 100], TCAS in [0, 1]
	run awk -F '\t' '!/^#/ && $1 != "method" {
	    ok = $4 >= 0 && $4 <= 100 && $5 >= 0 && $5 <= 100
	    if ($2 != "-") ok = ok && $6 >= 0 && $6 <= 1 && $7 > 0 && $8 > 0
	    print ok }' r/main.tsv
	assert_output "$(printf '1\n1\n1\n1\n1')"
	[ -s r/main.md ] && grep -q '^| ClusterMIM-Feature | feature-k8 | 0 |' r/main.md
	# the feature tokenizer's teacher is the MAE of the same budget
	run bash -c "tensorinfo r/work/data/features.tsr | grep -m1 ' features '"
	assert_output --partial "model=$PWD/r/work/main/s0/mae.ckpt"
	# cached: the second make runs no tool, and prints the table again
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL"
	assert_success
	refute_output --partial "$MIM_BIN/"
	assert_output "$(cat r/main.md)"
	# a changed setting redoes the stages: here a longer run
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_EPOCHS=0.02 \
	    MAIN_RUNS=mae
	assert_success
	assert_output --partial "$MIM_BIN/mim-train"
	run bash -c "tensorinfo r/work/main/s0/mae.ckpt | head -1"
	assert_output --regexp " steps=19 .*seen=1200"
}

@test "pipelines: make -j2 gives the same runs, byte for byte, as make -j1" {
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS='mae cm-pixel-k8' OUT="$PWD/a" -j1 >/dev/null
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS='mae cm-pixel-k8' OUT="$PWD/b" -j2 >/dev/null
	for f in main/s0/mae.ckpt main/s0/cm-pixel-k8.ckpt main/s0/mae.probe tok/pixel-k8.tcas; do
		cmp a/work/$f b/work/$f
	done
}

@test "pipelines: tcas.mk and ablation.mk sweep the tokenizers, the oracle and the cross-class at the ends" {
	run pmake ablation.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" \
	    TCAS_KS='4 8' FEATURE_KS='4 8' KMEANS_EPOCHS_LIST='1 2'
	assert_success
	run pmake tcas.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" \
	    TCAS_KS='4 8' FEATURE_KS='4 8' KMEANS_EPOCHS_LIST='1 2'
	assert_success
	assert_output --regexp "pearson -?[01]\.[0-9]{3}"
	assert_output --regexp "spearman -?[01]\.[0-9]{3}"
	assert_output --partial "n 6"
	run awk -F '\t' '!/^#/ { print $1, $2, $3 }' r/tcas-vs-lp.tsv
	assert_line "class 10 0.0000"
	assert_line "position 49 1.0000"
	assert_line --regexp "^random 64 0\.9[0-9]+$"
	assert_line --regexp "^pixel-k4 4 0\.[0-9]+$"
	assert_line --regexp "^feature-k8 8 0\.[0-9]+$"
	run awk -F '\t' '!/^#/ { print $1 }' r/ablation-k.tsv
	assert_output "$(printf '%s\n' tokenizer pixel-k4 pixel-k8 feature-k4 feature-k8)"
	# epochs 1 is its own codebook; 1 the default one (KMEANS_EPOCHS=1)
	run awk -F '\t' '!/^#/ { print $1 }' r/ablation-epochs.tsv
	assert_output "$(printf '%s\n' epochs 1 2)"
	[ -e r/work/tok/pixel-k8-e2.tsr ] && [ ! -e r/work/tok/pixel-k8-e1.tsr ]
	for p in tcas-vs-lp ablation-k ablation-epochs; do
		[ "$(od -An -c -N4 r/$p.png | xargs)" = "211 P N G" ] || fail "$p.png"
	done
}

@test "pipelines: a stage that fails stops make and leaves no partial output" {
	# K larger than the rows K-means gets: kmeans-fit fails
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" KMEANS_IMAGES=1 \
	    K=100 MAIN_RUNS=cm-pixel-k100
	assert_failure
	assert_output --partial "kmeans-fit:"
	[ ! -e r/work/tok/pixel-k100.tsr ] && [ ! -e r/main.tsv ]
	# a data file that is not there: named by make
	run pmake main.mk $(fm_args) TEST_FILE=/nonexistent/t10k.gz
	assert_failure
	assert_output --partial "/nonexistent/t10k.gz"
	[ ! -e r/work/data/test.tsr ]
	# an unknown tokenizer or run is named
	run pmake main.mk $(fm_args) MAIN_RUNS=cm-bogus
	assert_failure
	assert_output --partial "unknown tokenizer 'bogus'"
}

@test "pipelines: corr gives Pearson and Spearman as SciPy does, ties at their mean rank" {
	printf '# a comment\nx\ty\tz\n1\t2\t5\n2\t4\t5\n3\t5\t1\n4\t3\t7\n5\t9\t7\n' > t.tsv
	run "$TOP/pipelines/corr" x y t.tsv
	assert_output "$(printf 'pearson 0.761\nspearman 0.700\nn 5')"
	run "$TOP/pipelines/corr" y z t.tsv
	want=$(python3 -c '
from scipy.stats import pearsonr, spearmanr
y, z = [2, 4, 5, 3, 9], [5, 5, 1, 7, 7]
print("pearson %.3f\nspearman %.3f\nn 5" % (pearsonr(y, z)[0], spearmanr(y, z)[0]))')
	assert_output "$want"
	run "$TOP/pipelines/corr" x w t.tsv
	assert_failure
	assert_output "corr: t.tsv: no column w"
	printf 'x\ty\n1\t1\n2\t1\n3\t1\n' > c.tsv
	run "$TOP/pipelines/corr" x y c.tsv
	assert_failure
	assert_output "corr: c.tsv: a constant column"
}

@test "pipelines: tsv2md turns a table into Markdown, numbers aligned right" {
	printf '# made by x\nmethod\tacc\tnote\nMAE\t71.5\t-\nCM\t-\tfast\n' > t.tsv
	run "$TOP/pipelines/tsv2md" t.tsv
	assert_output "$(printf '%s\n' 'made by x' '' '| method | acc | note |' \
	    '| --- | ---: | --- |' '| MAE | 71.5 | - |' '| CM | - | fast |')"
}

@test "pipelines: seedmean averages each method's accuracies over the seeds, in table order" {
	printf '# x\nmethod\ttokenizer\tseed\tlinear\tknn\ttcas\ttrain_s\n' > m.tsv
	printf 'MAE\t-\t0\t79.89\t69.49\t-\t283\nCM\tpixel-k64\t0\t79.67\t72.30\t0.886\t215\n' >> m.tsv
	printf 'MAE\t-\t1\t79.12\t68.42\t-\t166\nCM\tpixel-k64\t1\t80.48\t73.75\t0.886\t205\n' >> m.tsv
	run "$TOP/pipelines/seedmean" m.tsv
	assert_output "$(printf '%s\n' 'method	tokenizer	seeds	linear	knn	tcas' \
	    'MAE	-	2	79.50	68.95	-' 'CM	pixel-k64	2	80.08	73.03	0.886')"
}
