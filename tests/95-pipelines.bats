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
# test images, and the probe trained on 300; no fine-tuning unless a
# test asks (FINETUNE=1), then 600 images of it
fm_args() {
	echo OUT="$BATS_TEST_TMPDIR/r" JOBS=1 BATCH=64 MAIN_EPOCHS=0.01 \
	    SWEEP_EPOCHS=0.005 TEST_SEL=-n500 PROBE_TRAIN=300 \
	    KMEANS_IMAGES=300 FEATURE_IMAGES=100 KMEANS_EPOCHS=1 FEATURE_K=8 K=8 \
	    WARMUP_EPOCHS= BLR_MAE=1e-3 BLR_MAE_NORMPIX=1e-3 BLR_CM=1e-3 \
	    FINETUNE=0 FT_EPOCHS=0.01
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
	run awk -F '\t' '!/^#/ { print $1 "|" $2 "|" $3 "|" ($5 ~ /^[0-9.]+$/) ($6 ~ /^[0-9.]+$/) "|" $7 }' r/main.tsv
	assert_output "$(printf '%s\n' 'method|tokenizer|blr|00|tcas' \
	    'untrained encoder|-|-|11|-' 'MAE (norm-pix)|-|1.5e-4|11|-' \
	    'ClusterMIM-Pixel|pixel-k4|1e-3|11|'"$(awk '$1 == "tcas" { printf "%.3f", $2 }' r/work/tok/pixel-k4.tcas)")"
	# the paper's geometry was replaced as asked: 8x8 RGB patches of 32x32
	run tensorinfo r/work/data/test.tsr
	assert_line --partial "patches f32 [n=24,l=16,d=192]"
	# the settings are in the table's header, the run's in its checkpoint
	run head -5 r/main.tsv
	assert_output --partial "TRAIN_FILE=$D/in100.tar TRAIN_SEL='-P train'"
	assert_output --partial "PRESET=tiny MODEL_FLAGS='$MINI_MODEL' P=8 BATCH=16 WARMUP_EPOCHS=1 AUGMENT=1"
	run bash -c "tensorinfo r/work/e2/s0/1.5e-4/mae-normpix.ckpt | head -1"
	assert_output --regexp "norm_pix=1 .*batch_size=16 steps=10 warmup=5 "
	# the curves: a PNG
	run od -An -c -N4 r/curves.png
	assert_output --partial "P   N   G"
}

@test "pipelines: main.mk writes the main table with every run; a second make has nothing to do, unless a setting changed" {
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL"
	assert_success
	run awk -F '\t' '!/^#/ { print $1 "|" $2 }' r/main.tsv
	assert_output "$(printf '%s\n' 'method|tokenizer' 'untrained encoder|-' \
	    'MAE|-' 'MAE (norm-pix)|-' 'ClusterMIM-Pixel|pixel-k8' \
	    'ClusterMIM-Feature|feature-k8')"
	# numbers where numbers belong: accuracies in [0, 100], TCAS in [0, 1]
	run awk -F '\t' '!/^#/ && $1 != "method" {
	    ok = $5 >= 0 && $5 <= 100 && $6 >= 0 && $6 <= 100
	    if ($2 != "-") ok = ok && $7 >= 0 && $7 <= 1 && $8 > 0 && $9 > 0
	    print ok }' r/main.tsv
	assert_output "$(printf '1\n1\n1\n1\n1')"
	[ -s r/main.md ] && grep -q '^| ClusterMIM-Feature | feature-k8 | 1e-3 | 0 |' r/main.md
	# the feature tokenizer's teacher is the MAE of the same budget
	run bash -c "tensorinfo r/work/data/features-feature.tsr | grep -m1 ' features '"
	assert_output --partial "model=$PWD/r/work/e0.01/s0/1e-3/mae.ckpt"
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
	run bash -c "tensorinfo r/work/e0.02/s0/1e-3/mae.ckpt | head -1"
	assert_output --regexp " steps=19 .*seen=1200"
	# and a changed learning rate is another run beside the first
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_EPOCHS=0.02 \
	    MAIN_RUNS=mae BLR_MAE=2e-3
	assert_success
	[ -e r/work/e0.02/s0/2e-3/mae.ckpt ] && [ -e r/work/e0.02/s0/1e-3/mae.ckpt ]
	run bash -c "tensorinfo r/work/e0.02/s0/2e-3/mae.ckpt | head -1"
	assert_output --regexp " blr=0?.002 "
}

@test "pipelines: FINETUNE=1 adds fine-tuning to the main table and the ablations, and the fine-tuned MAE teaches ftfeature" {
	local mae=r/work/e0.01/s0/1e-3/mae
	# (cm-pixel-k8 for the ablation's second teacher)
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" FINETUNE=1 \
	    SEEDS='0 1' MAIN_RUNS='untrained mae cm-pixel-k8 cm-ftfeature-k8'
	assert_success
	# every run of every seed fine-tuned: a column of accuracies
	run awk -F '\t' '!/^#/ { print $1 "|" $4 "|" $11 }' r/main.tsv
	assert_line --index 0 'method|seed|finetune'
	assert_equal "${#lines[@]}" 9
	run awk -F '\t' '!/^#/ && $1 != "method" { print ($11 >= 0 && $11 <= 100 && $11 ~ /^[0-9.]+$/) }' r/main.tsv
	assert_output "$(printf '1\n1\n1\n1\n1\n1\n1\n1')"
	run awk '$1 == "test.acc" { print $2 }' $mae.ft
	[[ $output =~ ^[0-9.]+$ ]]
	[ "$(awk -F '\t' '$1 == "MAE" && $4 == 1 { print $11 }' r/main.tsv)" = \
	  "$(awk '$1 == "test.acc" { printf "%.2f", $2 }' r/work/e0.01/s1/1e-3/mae.ft)" ]
	# the mean over the seeds has finetune and finetune_sd; the header
	# records the settings
	grep -q '^| method | tokenizer | blr | seeds | linear | linear_sd | knn | knn_sd | tcas | finetune | finetune_sd |$' r/main.md
	grep -q "^# FINETUNE=1 FT_EPOCHS=0.01 FT_AUGMENT=1 FT_FLAGS=''$" r/main.tsv
	# 600 augmented images of fine-tuning, from the run's checkpoint;
	# ftfeature's teacher is the fine-tuned MAE of the main budget
	run bash -c "tensorinfo $mae.ft.tsr | head -1"
	assert_output --regexp " tool=finetune/.* pretrained=$PWD/$mae.ckpt .* seen=600 "
	run bash -c "tensorinfo r/work/data/features-ftfeature.tsr | grep -m1 ' features '"
	assert_output --partial "model=$PWD/$mae.ft.tsr"
	[ "$(awk -F '\t' '$2 == "ftfeature-k8" { print $1 }' r/main.tsv | sort -u)" = 'ClusterMIM-Feature (fine-tuned teacher)' ]
	# cached; a changed FT_FLAGS fine-tunes again, and pretrains nothing
	# but the runs on the new teacher's tokens
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" FINETUNE=1 \
	    SEEDS='0 1' MAIN_RUNS='untrained mae cm-pixel-k8 cm-ftfeature-k8'
	assert_success
	refute_output --partial "$MIM_BIN/"
	cp $mae.ckpt mae.ckpt
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" FINETUNE=1 \
	    SEEDS='0 1' MAIN_RUNS='untrained mae cm-pixel-k8 cm-ftfeature-k8' FT_FLAGS='--mixup 0'
	assert_success
	assert_output --partial "$MIM_BIN/finetune"
	[ "$mae.ckpt" -ot "$mae.ft" ] && cmp mae.ckpt $mae.ckpt
	run bash -c "tensorinfo $mae.ft.tsr | head -1"
	assert_output --regexp " mixup=0 "
	# FINETUNE=0: the table as before, without the column
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" SEEDS='0 1' \
	    MAIN_RUNS='untrained mae cm-pixel-k8 cm-ftfeature-k8' FT_FLAGS='--mixup 0'
	assert_success
	refute_output --partial "$MIM_BIN/finetune"
	run awk -F '\t' '$1 == "method" { print NF, $NF }' r/main.tsv
	assert_output "10 peak_mib"
	# the ablations: finetune and finetune_sd beside the linear probe
	run pmake ablation.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" FINETUNE=1 \
	    TCAS_KS=8 FEATURE_KS=8 KMEANS_EPOCHS_LIST='1 2'
	assert_success
	run awk -F '\t' '!/^#/ { print $1, $8, $9, $10, $11, $12, $13 }' r/ablation-k.tsv
	assert_line --index 0 "tokenizer linear linear_sd knn finetune finetune_sd seeds"
	assert_line --regexp "^untrained [0-9.]+ - [0-9.]+ [0-9.]+ - 1$"
	assert_line --regexp "^cmfeature-k8 [0-9.]+ - [0-9.]+ [0-9.]+ - 1$"
	run awk -F '\t' '!/^#/ { print $1, $3, $13 }' r/ablation-epochs.tsv
	assert_output --regexp "^epochs tokenizer finetune
- untrained [0-9.]+
1 pixel-k8 [0-9.]+
2 pixel-k8-e2 [0-9.]+$"
	for p in ablation-k ablation-epochs; do
		[ "$(od -An -c -N4 r/$p.png | xargs)" = "211 P N G" ] || fail "$p.png"
	done
	# the TCAS sweep gains the supervised teacher's tokenizers
	run pmake tcas.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" FINETUNE=1 \
	    TCAS_KS=8 FEATURE_KS=8
	assert_success
	assert_line "tcas.n 7"
	run awk -F '\t' '!/^#/ { print $1 }' r/tcas-vs-lp.tsv
	assert_output "$(printf '%s\n' tokenizer untrained pixel-k8 feature-k8 \
	    cmfeature-k8 ftfeature-k8 random class position)"
}

@test "pipelines: LR_SWEEP chooses each method's learning rate on the validation split, never the test set" {
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" SEEDS='0 1' \
	    MAIN_RUNS='untrained mae cm-pixel-k8' LR_SWEEP='1e-3 3e-2'
	assert_success
	# the validation split: the first PROBE_TRAIN training images, every
	# sixth held out, the probe trained on the rest
	run bash -c "tensorinfo r/work/data/val.tsr | awk '\$2 == \"patches\" { n += substr(\$4, 4) + 0 } END { print n }'"
	assert_output 50
	run bash -c "tensorinfo r/work/data/val-train.tsr | awk '\$2 == \"patches\" { n += substr(\$4, 4) + 0 } END { print n }'"
	assert_output 250
	# each method's choice is the better of its two validation accuracies
	for r in mae mae-normpix cm-pixel-k8; do
		a=$(awk '$1 == "linear.test.acc" { print $2 }' r/work/e0.01/s0/1e-3/$r.val)
		b=$(awk '$1 == "linear.test.acc" { print $2 }' r/work/e0.01/s0/3e-2/$r.val)
		want=$(awk -v a="$a" -v b="$b" 'BEGIN { print (b + 0 > a + 0 ? "3e-2" : "1e-3") }')
		run awk -F '\t' -v r=$r '$1 == r && $5 == "yes" { print $2 }' r/lr.tsv
		assert_output "$want"
		eval "want_$(echo $r | tr -c 'a-z0-9\n' _)=$want"
	done
	grep -q "^override BLR_MAE = $want_mae$" r/work/blr.mk
	# the main table's runs, every seed, are at the chosen rates
	run awk -F '\t' '!/^#/ && $1 != "method" { print $1 "|" $3 "|" $4 }' r/main.tsv
	assert_output "$(printf '%s\n' 'untrained encoder|-|0' "MAE|$want_mae|0" \
	    "ClusterMIM-Pixel|$want_cm_pixel_k8|0" 'untrained encoder|-|1' \
	    "MAE|$want_mae|1" "ClusterMIM-Pixel|$want_cm_pixel_k8|1")"
	# the test set was read by no run of the sweep
	run bash -c "ls r/work/e0.01/s0/*/*.probe | sort"
	assert_output "$(printf '%s\n' r/work/e0.01/s0/$want_mae/mae.probe \
	    r/work/e0.01/s0/$want_cm_pixel_k8/cm-pixel-k8.probe | sort)"
	grep -q '^| mae-normpix | 3e-2 | ' r/lr.md
}

@test "pipelines: main.mk and ablation.mk run unchanged on labelled zip archives of JPEGs, any channels and size" {
	(cd "$D/in/train" && bsdtar --format zip -cf "$PWD/../../train.zip" .)
	(cd "$D/in/val" && bsdtar --format zip -cf "$PWD/../../test.zip" .)
	args="OUT=$PWD/r TRAIN_FILE=$D/train.zip TEST_FILE=$D/test.zip TRAIN_N=72 \
	    IMAGE_FLAGS='-c 1 -N 0.5/0.25' AUG_FLAGS='-s 16' EVAL_FLAGS='-s 16' \
	    DATASET=zipped MODEL_FLAGS='$MINI_MODEL' P=4 MAIN_EPOCHS=2 SWEEP_EPOCHS=1 \
	    BATCH=16 K=4 FEATURE_K=4 FEATURE_KS=4 TCAS_KS='2 4' KMEANS_EPOCHS=2 \
	    FEATURE_IMAGES=24 JOBS=1 LR_SWEEP='1e-3 3e-3' SEEDS='0 1'"
	run eval pmake main.mk $args
	assert_success
	assert_output --partial "## Main comparison: zipped test accuracy"
	assert_output --partial "ClusterMIM-Pixel minus MAE (norm-pix), linear probe, paired over 2 seeds"
	assert_output --partial "ClusterMIM-Pixel minus MAE, linear probe, paired over 2 seeds"
	run eval pmake ablation.mk $args
	assert_success
	run awk -F '\t' '!/^#/ { print $1 }' r/ablation-k.tsv
	assert_output "$(printf '%s\n' tokenizer untrained pixel-k2 pixel-k4 feature-k4 cmfeature-k4)"
	# 16x16 grey in 4x4 patches: 16 patches of 16 values; 3 classes
	run tensorinfo r/work/data/test.tsr
	assert_line --partial "patches f32 [n=24,l=16,d=16]"
	assert_line --partial "nclasses=3"
	run bash -c "tensorinfo r/work/data/val.tsr | grep -c ' patches '"
	assert_output 1
	run awk '$1 == "test.images" { print $2 }' r/work/e0/s0/0/untrained.probe
	assert_output 24
}

@test "pipelines: make demo's fragment prints the table and the verdict on the paper's ordering" {
	run pmake demo.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" SPREAD=/nonexistent
	assert_success
	assert_output --partial "## Main comparison: Fashion-MNIST"
	assert_output --regexp "untrained encoder [0-9.]+ (<|>=) MAE \(norm-pix\) [0-9.]+ (<|>=) ClusterMIM-Pixel [0-9.]+: gaps"
	assert_output --regexp "the paper's main ordering: (holds|does not hold)"
	run awk -F '\t' '!/^#/ && $1 != "method" { print $1 }' r/main.tsv
	assert_output "$(printf '%s\n' 'untrained encoder' 'MAE (norm-pix)' ClusterMIM-Pixel)"
}

@test "pipelines: a run stopped by a signal leaves no checkpoint under its name, and the next make resumes it to the same bytes" {
	# the uninterrupted run
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS=mae OUT="$PWD/a" \
	    MAIN_EPOCHS=0.05 CKPT_EVERY=5 >/dev/null
	# the same, its trainer stopped by SIGTERM once a part is written
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS=mae OUT="$PWD/b" \
	    MAIN_EPOCHS=0.05 CKPT_EVERY=5 > log 2>&1 &
	local pid=$! i
	for i in $(seq 200); do
		[ -e b/work/e0.05/s0/1e-3/mae.ckpt.part ] && break
		sleep 0.1
	done
	[ -e b/work/e0.05/s0/1e-3/mae.ckpt.part ] || fail "no part written"
	pkill -TERM -f "mim-train .*b/work/e0.05/s0/1e-3/mae" || true
	run wait $pid
	assert_failure
	[ ! -e b/work/e0.05/s0/1e-3/mae.ckpt ] && [ -e b/work/e0.05/s0/1e-3/mae.ckpt.part ]
	[ ! -e b/main.tsv ]
	# the next make continues from the part
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS=mae OUT="$PWD/b" \
	    MAIN_EPOCHS=0.05 CKPT_EVERY=5
	assert_success
	assert_line "resuming $PWD/b/work/e0.05/s0/1e-3/mae.ckpt from its part"
	[ ! -e b/work/e0.05/s0/1e-3/mae.ckpt.part ]
	cmp a/work/e0.05/s0/1e-3/mae.ckpt b/work/e0.05/s0/1e-3/mae.ckpt
	# a part older than what the run depends on is not resumed
	cp b/work/e0.05/s0/1e-3/mae.ckpt b/work/e0.05/s0/1e-3/mae.ckpt.part
	touch -d '2000-01-01' b/work/e0.05/s0/1e-3/mae.ckpt.part
	rm b/work/e0.05/s0/1e-3/mae.ckpt b/work/e0.05/s0/1e-3/mae.probe
	run pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS=mae OUT="$PWD/b" \
	    MAIN_EPOCHS=0.05 CKPT_EVERY=5
	assert_success
	refute_line --regexp "^resuming "
	cmp a/work/e0.05/s0/1e-3/mae.ckpt b/work/e0.05/s0/1e-3/mae.ckpt
}

@test "pipelines: a fine-tuning stopped by a signal is resumed by the next make to the same results" {
	local ft=e0.01/s0/1e-3/mae.ft pid i
	set -- $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS=mae FINETUNE=1 \
	    FT_EPOCHS=0.05 CKPT_EVERY=5
	pmake main.mk "$@" OUT="$PWD/a" >/dev/null
	pmake main.mk "$@" OUT="$PWD/b" > log 2>&1 &
	pid=$!
	for i in $(seq 300); do
		[ -e b/work/$ft.tsr.part ] && break
		sleep 0.1
	done
	[ -e b/work/$ft.tsr.part ] || fail "no part written"
	kill -TERM $(pgrep -f "finetune .*$PWD/b/work/$ft") || true
	run wait $pid
	assert_failure
	[ ! -e b/work/$ft ] && [ ! -e b/work/$ft.tsr ] && [ ! -e b/main.tsv ]
	run pmake main.mk "$@" OUT="$PWD/b"
	assert_success
	assert_line "resuming $PWD/b/work/$ft.tsr from its part"
	[ ! -e b/work/$ft.tsr.part ]
	cmp a/work/$ft b/work/$ft
	# the same model (its meta names another pretrained file)
	run tensorinfo -c a/work/$ft.tsr b/work/$ft.tsr
	assert_success
}

@test "pipelines: make -j2 gives the same runs, byte for byte, as make -j1" {
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS='mae cm-pixel-k8' OUT="$PWD/a" -j1 >/dev/null
	pmake main.mk $(fm_args) MODEL_FLAGS="$MINI_MODEL" MAIN_RUNS='mae cm-pixel-k8' OUT="$PWD/b" -j2 >/dev/null
	for f in e0.01/s0/1e-3/mae.ckpt e0.01/s0/1e-3/cm-pixel-k8.ckpt e0.01/s0/1e-3/mae.probe tok/pixel-k8.tcas; do
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
	assert_line --regexp "^tcas.pearson -?[01]\.[0-9]{3}$"
	assert_line --regexp "^tcas.spearman -?[01]\.[0-9]{3}$"
	assert_line "tcas.n 9"
	assert_line "bound.n 9"
	assert_line --regexp "^tcas.spearman.lo -?[01]\.[0-9]{3}$"
	assert_line --regexp "^bound.spearman.hi -?[01]\.[0-9]{3}$"
	assert_line --regexp "^untrained.linear [0-9.]+$"
	run awk -F '\t' '!/^#/ { print $1, $2, $3, $11 }' r/tcas-vs-lp.tsv
	assert_line "untrained - - 1"
	assert_line "class 10 0.0000 1"
	assert_line "position 49 1.0000 1"
	assert_line --regexp "^random 64 0\.9[0-9]+ 1$"
	assert_line --regexp "^pixel-k4 4 0\.[0-9]+ 1$"
	assert_line --regexp "^feature-k8 8 0\.[0-9]+ 1$"
	assert_line --regexp "^cmfeature-k8 8 0\.[0-9]+ 1$"
	# the second teacher is the main budget's ClusterMIM-Pixel
	run bash -c "tensorinfo r/work/data/features-cmfeature.tsr | grep -m1 ' features '"
	assert_output --partial "model=$PWD/r/work/e0.01/s0/1e-3/cm-pixel-k8.ckpt"
	# the bound of the augmentation graph: the oracle's alpha is 0, the
	# cross-class tokenizer's graph has lambda_{C+1} 1 (it is complete)
	run awk -F '\t' '$1 == "class" || $1 == "position" { print $1, $5, $6, $7 }' r/tcas-vs-lp.tsv
	assert_line --regexp "^class 0(\.0+)? [0-9.]+ 0(\.0+)?$"
	assert_line --regexp "^position 0\.[0-9]+ 1(\.0+)? 0\.[0-9]+$"
	run awk -F '\t' '!/^#/ { print $1 }' r/ablation-k.tsv
	assert_output "$(printf '%s\n' tokenizer untrained pixel-k4 pixel-k8 \
	    feature-k4 feature-k8 cmfeature-k4 cmfeature-k8)"
	# epochs 1 is its own codebook; 1 the default one (KMEANS_EPOCHS=1)
	run awk -F '\t' '!/^#/ { print $1, $3 }' r/ablation-epochs.tsv
	assert_output "$(printf '%s\n' 'epochs tokenizer' '- untrained' \
	    '1 pixel-k8' '2 pixel-k8-e2')"
	[ -e r/work/tok/pixel-k8-e2.tsr ] && [ ! -e r/work/tok/pixel-k8-e1.tsr ]
	for p in tcas-vs-lp bound-vs-lp ablation-k ablation-epochs; do
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
	rm -rf r/work/data
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
	# '-' rows are left out; -b adds a bootstrap interval around rho
	printf 'x\ty\n-\t9\n1\t2\n2\t4\n3\t5\n4\t3\n5\t9\n' > d.tsv
	run "$TOP/pipelines/corr" -b 500 x y d.tsv
	assert_success
	assert_line "spearman 0.700"
	assert_line "n 5"
	assert_line "resamples 500"
	lo=$(awk '$1 == "spearman.lo" { print $2 }' <<< "$output")
	hi=$(awk '$1 == "spearman.hi" { print $2 }' <<< "$output")
	awk -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(lo >= -1 && lo <= 0.7 && hi >= 0.7 && hi <= 1 && lo < hi) }'
	# the same table gives the same interval
	run "$TOP/pipelines/corr" -b 500 x y d.tsv
	assert_line "spearman.lo $lo"
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

@test "pipelines: seedmean gives each method's mean and standard deviation over the seeds, in table order" {
	printf '# x\nmethod\ttokenizer\tblr\tseed\tlinear\tknn\ttcas\ttrain_s\n' > m.tsv
	printf 'MAE\t-\t1e-3\t0\t79.89\t69.49\t-\t283\nCM\tpixel-k64\t1e-3\t0\t79.67\t72.30\t0.886\t215\n' >> m.tsv
	printf 'MAE\t-\t1e-3\t1\t79.12\t68.42\t-\t166\nCM\tpixel-k64\t1e-3\t1\t80.48\t73.75\t0.886\t205\n' >> m.tsv
	printf 'MAE\t-\t1e-3\t2\t80.02\t69.00\t-\t170\n' >> m.tsv
	# a finetune column, found by name: its mean and sd last
	awk -F '\t' -v OFS='\t' '/^#/ { print; next } { print $0, $1 == "method" ? "finetune" : $5 + 10 }' m.tsv > f.tsv
	run "$TOP/pipelines/seedmean" f.tsv
	assert_line --index 0 "$(printf 'method\ttokenizer\tblr\tseeds\tlinear\tlinear_sd\tknn\tknn_sd\ttcas\tfinetune\tfinetune_sd')"
	assert_line --index 2 "$(printf 'CM\tpixel-k64\t1e-3\t2\t80.08\t0.57\t73.03\t1.03\t0.886\t90.08\t0.57')"
	run "$TOP/pipelines/seedmean" m.tsv
	want=$(python3 -c '
import statistics as s
print("MAE\t-\t1e-3\t3\t%.2f\t%.2f\t%.2f\t%.2f\t-" % (s.mean([79.89, 79.12, 80.02]), s.stdev([79.89, 79.12, 80.02]), s.mean([69.49, 68.42, 69.00]), s.stdev([69.49, 68.42, 69.00])))
print("CM\tpixel-k64\t1e-3\t2\t%.2f\t%.2f\t%.2f\t%.2f\t0.886" % (s.mean([79.67, 80.48]), s.stdev([79.67, 80.48]), s.mean([72.30, 73.75]), s.stdev([72.30, 73.75])))')
	assert_output "$(printf 'method\ttokenizer\tblr\tseeds\tlinear\tlinear_sd\tknn\tknn_sd\ttcas\n')
$want"
}

@test "pipelines: seedstat folds a sweep's seeds into one row; a missing value fails" {
	run "$TOP/pipelines/seedstat" <<< "$(printf 'pixel-k4 4 0.5 0.25 inf 80 70\npixel-k4 4 0.5 0.25 inf 82 72\n')"
	assert_output "$(printf 'pixel-k4\t4\t0.5000\t0.2500\tinf\t81.00\t1.41\t71.00\t2')"
	run "$TOP/pipelines/seedstat" <<< 'untrained - - - 78.3 60.1'
	assert_output "$(printf 'untrained\t-\t-\t-\t78.30\t-\t60.10\t1')"
	run "$TOP/pipelines/seedstat" <<< 'x 4 0.5 0.1 missing:linear.test.acc:f 70'
	assert_failure
	assert_output --partial "x linear: not a number: missing:linear.test.acc:f"
	# -f: a fine-tuning accuracy after k-NN's, its mean and sd
	run "$TOP/pipelines/seedstat" -f <<< "$(printf 'pixel-k4 4 0.5 80 70 85\npixel-k4 4 0.5 82 72 88\n')"
	assert_output "$(printf 'pixel-k4\t4\t0.5000\t81.00\t1.41\t71.00\t86.50\t2.12\t2')"
	run "$TOP/pipelines/seedstat" -f <<< 'x 4 0.5 80 70 missing:test.acc:f'
	assert_failure
	assert_output --partial "x finetune: not a number: missing:test.acc:f"
}

@test "pipelines: paired gives the paired difference, its t-interval and p-value as SciPy does" {
	printf '# x\nmethod\ttokenizer\tblr\tseed\tlinear\tknn\n' > m.tsv
	printf 'A\t-\t1\t0\t85.1\t70\nB\t-\t1\t0\t83.9\t69\nA\t-\t1\t1\t85.5\t71\n' >> m.tsv
	printf 'B\t-\t1\t1\t83.7\t69.5\nA\t-\t1\t2\t85.0\t70.2\nB\t-\t1\t2\t84.0\t69.1\nB\t-\t1\t3\t90\t90\n' >> m.tsv
	run "$TOP/pipelines/paired" A B m.tsv
	assert_success
	want=$(python3 -c '
from scipy import stats
import numpy as np
for name, a, b in (("linear probe", [85.1, 85.5, 85.0], [83.9, 83.7, 84.0]), ("k-NN", [70, 71, 70.2], [69, 69.5, 69.1])):
    d = np.array(a) - np.array(b); m, sd = d.mean(), d.std(ddof=1)
    h = stats.t.ppf(0.975, 2) * sd / np.sqrt(3); r = stats.ttest_rel(a, b)
    print("A minus B, %s, paired over 3 seeds: mean %+.2f, sd %.2f, 95%% interval [%+.2f, %+.2f], t %.2f, p %.3g" % (name, m, sd, m - h, m + h, r.statistic, r.pvalue))')
	assert_output "$want"
	run "$TOP/pipelines/paired" A C m.tsv
	assert_failure
	assert_output --partial "fewer than 2 seeds with both A and C"
	# a finetune column (main.mk with FINETUNE=1): a third line, by name
	awk -F '\t' -v OFS='\t' '/^#/ { print; next } { print $0, $1 == "method" ? "x" : 0, $1 == "method" ? "finetune" : $5 + 5 }' m.tsv > f.tsv
	run "$TOP/pipelines/paired" A B f.tsv
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 2 "${lines[0]/linear probe/fine-tuning}"
}

@test "pipelines: ordering judges the paper's ordering against the seed spread" {
	printf 'method\ttokenizer\tblr\tseed\tlinear\nuntrained encoder\t-\t-\t0\t78.8\nMAE (norm-pix)\t-\t1e-3\t0\t83.9\nClusterMIM-Pixel\tpixel-k64\t1e-3\t0\t85.4\n' > d.tsv
	printf 'method\ttokenizer\tblr\tseed\tlinear\nMAE (norm-pix)\t-\t1e-3\t0\t83.9\nMAE (norm-pix)\t-\t1e-3\t1\t84.9\n' > s.tsv
	run "$TOP/pipelines/ordering" d.tsv
	assert_output "$(printf '%s\n' 'untrained encoder 78.80 < MAE (norm-pix) 83.90 < ClusterMIM-Pixel 85.40: gaps +5.10 and +1.50' "the paper's main ordering: holds")"
	# a spread of 0.71 (83.9 and 84.9) is smaller than both gaps
	run "$TOP/pipelines/ordering" d.tsv s.tsv
	assert_line --partial "against a seed-to-seed standard deviation of at most 0.71"
	assert_line "the paper's main ordering: holds"
	printf 'MAE (norm-pix)\t-\t1e-3\t2\t81.9\n' >> s.tsv
	run "$TOP/pipelines/ordering" d.tsv s.tsv
	assert_line "the paper's main ordering: holds, within the seed spread"
	sed -i 's/85.4/83.0/' d.tsv
	run "$TOP/pipelines/ordering" d.tsv
	assert_line --partial "MAE (norm-pix) 83.90 >= ClusterMIM-Pixel 83.00"
	assert_line "the paper's main ordering: does not hold"
}
