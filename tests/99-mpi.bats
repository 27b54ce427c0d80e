#!/usr/bin/env bats
# MPI: mim-train and kmeans-fit on the ranks of mpirun (make MPI=1; the
# binaries in $MIM_MPIBIN) against one process; empty and uneven
# shards; what a rank that dies or a signal leaves; the cluster recipe.
# Without an MPI build and mpirun the tests that need them are skipped,
# which fails in CI (strict mode): CI installs Open MPI (.ci/packages).

load helpers

setup_file() {
	export FMI=$FMNIST/t10k-images-idx3-ubyte.gz
	export SMALL="--dim 32 --depth 2 --dec-dim 32 --dec-depth 1"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	M=${MIM_MPIBIN:-}
	# Open MPI still holds allocations at exit, which LeakSanitizer
	# would report in the sanitizer build (the one-process build has
	# the leak checks)
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	# shared memory without process_vm_readv, which containers forbid
	export OMPI_MCA_btl_vader_single_copy_mechanism=none
}

need_mpi() {
	[ -x "$M/mim-train" ] && [ -x "$M/kmeans-fit" ] ||
		skip "no MPI build in '$M' (make MPI=1; apt-get install libopenmpi-dev)"
	command -v mpirun >/dev/null || skip "no mpirun (apt-get install openmpi-bin)"
}

# mpi N COMMAND...: COMMAND on N ranks (as root too, more ranks than
# cores, not bound to a core each: the cores are shared)
mpi() {
	local n=$1
	shift
	mpirun -n "$n" --oversubscribe --allow-run-as-root --bind-to none "$@" \
	    < /dev/null
}

# ranks N SCRIPT: a bash script on N ranks, with R its rank
ranks() {
	mpi "$1" bash -c "R=\$OMPI_COMM_WORLD_RANK; $2"
}

# the value of meta key $2 of a checkpoint's 'step' record
ck_meta() {
	tensorinfo "$1" | awk -v k="$2" '$2 == "step" {
	    for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }'
}

# the step of a checkpoint
ck_step() {
	tensorinfo -s "$1" | awk 'NR == 2 { sub("min=", "", $1); print $1 }'
}

@test "mpi: the default build links no MPI; the MPI build alone is one process, byte for byte" {
	run ldd "$MIM_BIN/mim-train"
	refute_output --partial libmpi
	need_mpi
	patchify -p 4 -n 256 -o fm.tsr "$FMI"
	mim-train -q $SMALL -b 64 -s 3 -o a.ckpt fm.tsr
	"$M/mim-train" -q $SMALL -b 64 -s 3 -o b.ckpt fm.tsr
	cmp a.ckpt b.ckpt
	kmeans-fit -k 8 -j 1 -o a.tsr fm.tsr
	"$M/kmeans-fit" -k 8 -j 1 -o b.tsr fm.tsr
	cmp a.tsr b.tsr
}

@test "mpi: mim-train on 2 and 3 ranks, each on its patchify -k shard, takes the steps of one process" {
	need_mpi
	# 500 images, 2 epochs, steps of 96 (the last of an epoch 20): the
	# one process reads the images in the order patchify -k deals them
	patchify -p 4 -n 500 -b 50 -e 2 -o one.tsr "$FMI"
	mim-train -q $SMALL -b 96 -s 1 -w 1 -o g1.ckpt one.tsr
	mim-train -q $SMALL -b 96 -w 2 -L one.tsv -o one.ckpt one.tsr
	for n in 2 3; do
		shard="patchify -p 4 -n 500 -b 32 -e 2 -k \$R/$n $FMI"
		# the first step's gradient: opt.m after a step at rate 0
		ranks $n "$shard | $M/mim-train -q $SMALL -b 96 -s 1 -w 1 -o g$n.ckpt"
		run tensorinfo -c g1.ckpt -t 1e-6 g$n.ckpt
		assert_success
		# every step: its loss and gradient norm; the images, and the
		# masking generator's state at the end (the same masks drawn)
		ranks $n "$shard | $M/mim-train -q $SMALL -b 96 -w 2 -L r$n.tsv -o r$n.ckpt"
		same_steps one.tsv r$n.tsv
		[ "$(ck_meta r$n.ckpt seen)" = 1000 ]
		[ "$(tsr_field r$n.ckpt 1 5)" = "$(tsr_field one.ckpt 1 5)" ]
	done
}

@test "mpi: mim-train with empty and uneven shards, epoch ends and -A takes the steps of one process" {
	need_mpi
	# 6 images on 4 ranks (2, 2, 1, 1), steps of 4 over 3 epochs
	patchify -p 4 -n 6 -e 3 -o six.tsr "$FMI"
	mim-train -q $SMALL -b 4 -w 1 -L one.tsv -o one.ckpt six.tsr
	ranks 4 "patchify -p 4 -n 6 -e 3 -k \$R/4 $FMI | $M/mim-train -q $SMALL -b 4 -w 1 -L four.tsv -o four.ckpt"
	same_steps one.tsv four.tsv
	[ "$(ck_meta four.ckpt steps)" = 6 ] && [ "$(ck_meta four.ckpt seen)" = 18 ]
	# 2 images on 4 ranks: two have none at all
	patchify -p 4 -n 2 -e 3 -o two.tsr "$FMI"
	mim-train -q $SMALL -b 4 -w 1 -L one.tsv -o one.ckpt two.tsr
	ranks 4 "patchify -p 4 -n 2 -e 3 -k \$R/4 $FMI | $M/mim-train -q $SMALL -b 4 -w 1 -L four.tsv -o four.ckpt"
	same_steps one.tsv four.tsv
	# micro-batches on each rank: 2 ranks x -A 3 (steps of 24 = 4+4+4 a rank)
	patchify -p 4 -n 100 -e 2 -o h.tsr "$FMI"
	mim-train -q $SMALL -b 24 -w 2 -L one.tsv -o one.ckpt h.tsr
	ranks 2 "patchify -p 4 -n 100 -e 2 -k \$R/2 $FMI | $M/mim-train -q $SMALL -b 24 -w 2 -A 3 -L a.tsv -o a.ckpt"
	same_steps one.tsv a.tsv
}

@test "mpi: a stream that is not a shard is read by every rank, each taking every N-th image of an epoch" {
	need_mpi
	patchify -p 4 -n 500 -b 50 -e 2 -o one.tsr "$FMI"
	mim-train -q $SMALL -b 96 -w 2 -L one.tsv -o one.ckpt one.tsr
	mpi 3 "$M/mim-train" -q $SMALL -b 96 -w 2 -L three.tsv -o three.ckpt one.tsr
	same_steps one.tsv three.tsv
	# and a file read twice (-e 2), a pass being an epoch of its own
	patchify -p 4 -n 150 -o p.tsr "$FMI"
	mim-train -q $SMALL -b 64 -e 2 -w 1 -L one.tsv -o one.ckpt p.tsr
	mpi 2 "$M/mim-train" -q $SMALL -b 64 -e 2 -w 1 -L two.tsv -o two.ckpt p.tsr
	same_steps one.tsv two.tsv
	[ "$(ck_meta two.ckpt steps)" = 6 ]
}

@test "mpi: a resume on the same ranks gives the straight run's bytes; on 1 or 3 ranks, its steps" {
	need_mpi
	patchify -p 4 -n 500 -b 50 -e 2 -o one.tsr "$FMI"
	shard="patchify -p 4 -n 500 -b 32 -e 2 -k \$R/2 $FMI"
	ranks 2 "$shard | $M/mim-train -q $SMALL -b 96 -w 2 -L straight.tsv -o straight.ckpt"
	ranks 2 "$shard | $M/mim-train -q $SMALL -b 96 -w 2 -T 5 -L part.tsv -o part.ckpt"
	[ "$(ck_meta part.ckpt seen)" = 480 ]
	cp part.ckpt p1.ckpt
	cp part.tsv p1.tsv
	cp part.ckpt p3.ckpt
	cp part.tsv p3.tsv
	cp part.ckpt x.ckpt
	ranks 2 "$shard | $M/mim-train -q -r part.ckpt -L part.tsv -o part.ckpt"
	cmp straight.ckpt part.ckpt
	"$M/mim-train" -q -r p1.ckpt -L p1.tsv -o p1.ckpt one.tsr
	same_steps straight.tsv p1.tsv
	mpi 3 "$M/mim-train" -q -r p3.ckpt -L p3.tsv -o p3.ckpt one.tsr
	same_steps straight.tsv p3.tsv
	# other data: its first 5 steps are not the checkpoint's 480 images
	patchify -p 4 -n 400 -e 2 -o other.tsr "$FMI"
	run -1 mim-train -q -r x.ckpt -o x.ckpt other.tsr
	assert_output --partial "the input does not match the checkpoint"
}

@test "mpi: a rank that is killed ends the job; the last checkpoint is whole and resumes to the straight run's bytes" {
	need_mpi
	shard="patchify -p 4 -n 500 -b 32 -e 1000 -k \$R/2 $FMI"
	flags="-q $SMALL -b 16 -s 100000"
	ranks 2 "$shard | $M/mim-train $flags -k 3 -o ck.ckpt & echo \$! > pid\$R; wait \$!" 2> err &
	job=$!
	for i in $(seq 600); do [ -e ck.ckpt ] && [ -e pid1 ] && break; sleep 0.1; done
	[ -e ck.ckpt ] || fail "no checkpoint after a minute: $(cat err)"
	sleep 0.5
	kill -KILL "$(cat pid1)"
	st=0
	wait $job || st=$?
	[ "$st" -ne 0 ]
	run cat err
	assert_output --regexp "rank 1|\[\[[0-9]+,1\],1\]"
	run tensorinfo ck.ckpt
	assert_success
	t=$(($(ck_step ck.ckpt) + 2))
	ranks 2 "$shard | $M/mim-train -q -r ck.ckpt -T $t -o resumed.ckpt"
	ranks 2 "$shard | $M/mim-train $flags -T $t -o straight.ckpt"
	cmp straight.ckpt resumed.ckpt
}

@test "mpi: a rank whose input is bad ends the job with its error, naming the rank" {
	need_mpi
	patchify -p 4 -n 500 -b 50 -o one.tsr "$FMI"
	run ranks 2 "if [ \$R = 1 ]; then head -c 30000 one.tsr; else cat one.tsr; fi | $M/mim-train -q $SMALL -b 96 -o x.ckpt"
	assert_failure
	assert_output --partial "mim-train: rank 1 of 2: <stdin>: "
	assert_output --partial "truncated"
	[ ! -e x.ckpt ] && [ ! -e x.ckpt.tmp ]
}

@test "mpi: a shard read by the wrong rank, a batch that does not split, and no -o are refused" {
	need_mpi
	run ranks 2 "patchify -p 4 -n 50 -k \$((1 - R))/2 $FMI | $M/mim-train -q -b 8 -o x.ckpt"
	assert_failure
	assert_output --partial "shard=1/2, but this is rank 0 of 2 (rank R reads patchify -k R/2)"
	patchify -p 4 -n 50 -o p.tsr "$FMI"
	run mpi 3 "$M/mim-train" -q -b 64 -o x.ckpt p.tsr
	assert_failure
	assert_output --partial "batch 64: not a multiple of the 3 ranks"
	run mpi 2 "$M/mim-train" -q -b 64 p.tsr
	assert_failure
	assert_output --partial "-o: 2 ranks write their checkpoint to a file"
	[ ! -e x.ckpt ]
}

@test "mpi: SIGTERM to mpirun stops every rank at the same step, and rank 0's checkpoint resumes" {
	need_mpi
	patchify -p 4 -n 500 -b 50 -o one.tsr "$FMI"
	# Open MPI 4's orted answers mpirun's SIGTERM with SIGCONT to the
	# ranks, SIGTERM odls_base_sigkill_timeout seconds later (1 by
	# default), and SIGKILL as long after that: 5 s give the ranks time
	# to save under load.  The run must outlast them (-e 10000).  Each
	# rank writes its own stderr (err0, err1): what goes through
	# mpirun's forwarding may be lost when mpirun itself ends.
	mpirun -n 2 --oversubscribe --allow-run-as-root --bind-to none \
	    --mca odls_base_sigkill_timeout 5 bash -c \
	    "exec $M/mim-train -q $SMALL -b 16 -s 100000 -e 10000 -k 5 \
	    -o sig.ckpt one.tsr 2> err\$OMPI_COMM_WORLD_RANK" \
	    < /dev/null 2> err &
	job=$! # mpirun's process
	for i in $(seq 600); do [ -e sig.ckpt ] && break; sleep 0.1; done
	[ -e sig.ckpt ] || fail "no checkpoint after a minute: $(cat err err0 err1)"
	kill -TERM $job
	st=0
	wait $job || st=$?
	[ "$st" -ne 0 ]
	# a rank whose own SIGTERM comes after the step that another rank's
	# stopped ends there too, and says so
	for r in 0 1; do
		run grep -oE "rank $r of 2: step [0-9]*: stopped by (SIGTERM|a signal to another rank)" err$r
		[ "${#lines[@]}" -eq 1 ] || fail "rank $r: $(cat err err$r)"
	done
	run grep -c "stopped by SIGTERM" err0 err1
	[[ "$output" == *:1* ]] || fail "no rank says SIGTERM: $(cat err0 err1)"
	s0=$(grep -oE "step [0-9]+: stopped" err0)
	s1=$(grep -oE "step [0-9]+: stopped" err1)
	[ "$s0" = "$s1" ] || fail "ranks stopped at different steps: $s0, $s1"
	step=${s0#step }
	step=${step%%:*}
	[ "$(ck_step sig.ckpt)" = "$step" ]
	mpi 2 "$M/mim-train" -q -r sig.ckpt -e 10000 -T $((step + 1)) -o sig.ckpt one.tsr
	[ "$(ck_step sig.ckpt)" = $((step + 1)) ]
}

# kmeans-fit on N ranks' shards ($1) and one process on all of them in
# rank order, with options $2: the same fit (centroids to 1e-5, counts
# and every row's token exactly)
km_same() {
	local n=$1 args=$2
	kmeans-fit $args -j 1 -o one.tsr < all$n.tsr
	ranks $n "$M/kmeans-fit $args -j 1 -o many.tsr < sh$n-\$R.tsr"
	run tensorinfo -c one.tsr -t 1e-5 many.tsr
	assert_success
	[ "$(tsr_field many.tsr 1 5)" = "$(tsr_field one.tsr 1 5)" ] || fail "counts differ: $args"
	tokenize -c one.tsr -o t1.tsr all$n.tsr
	tokenize -c many.tsr -o tn.tsr all$n.tsr
	[ "$(tsr_field t1.tsr 2 5)" = "$(tsr_field tn.tsr 2 5)" ] || fail "tokens differ: $args"
}

@test "mpi: kmeans-fit on 2 and 3 ranks' shards makes the fit of one process on the shards in rank order" {
	need_mpi
	for n in 2 3; do
		for r in $(seq 0 $((n - 1))); do
			patchify -p 4 -n 600 -k $r/$n -o sh$n-$r.tsr "$FMI"
		done
		cat $(seq -f "sh$n-%g.tsr" 0 $((n - 1))) > all$n.tsr
		km_same $n "-k 16"
		km_same $n "-k 16 -i random -p"
		km_same $n "-k 16 -s"
		km_same $n "-k 24 -a minibatch -e 2 -b 3000"
	done
}

@test "mpi: kmeans-fit with an empty shard, and with empty clusters re-seeded from every rank's farthest rows" {
	need_mpi
	# 3 images on 4 ranks: rank 3 has none
	for r in 0 1 2 3; do patchify -p 4 -n 3 -k $r/4 -o sh4-$r.tsr "$FMI"; done
	cat sh4-0.tsr sh4-1.tsr sh4-2.tsr sh4-3.tsr > all4.tsr
	km_same 4 "-k 4"
	km_same 4 "-k 4 -a minibatch -b 50"
	# two centroids far from every row: nothing is nearest to them
	far=$(for v in 0.2 0.7 1e4 -1e4; do printf -- "$v,%.0s" $(seq 16); done)
	mktsr c0.tsr centroids:f32:4,16:vals=${far%,}
	for r in 0 1; do patchify -p 4 -n 300 -k $r/2 -o sh2-$r.tsr "$FMI"; done
	cat sh2-0.tsr sh2-1.tsr > all2.tsr
	run --separate-stderr kmeans-fit -v -i c0.tsr -n 3 -j 1 -o x.tsr all2.tsr
	[[ $stderr == *"iteration 1: 2 empty clusters re-seeded"* ]] || fail "$stderr"
	km_same 2 "-i c0.tsr -n 3"
	km_same 2 "-i c0.tsr -a minibatch -e 2 -b 2000"
}

@test "mpi: kmeans-fit refuses a streamed mini-batch over ranks, and rows of another D on a rank" {
	need_mpi
	patchify -p 4 -n 50 -o p.tsr "$FMI"
	run mpi 2 "$M/kmeans-fit" -k 4 -a minibatch -s -o x.tsr p.tsr
	assert_failure
	assert_output --partial "mini-batch K-means on 2 ranks needs each rank's rows in memory"
	run ranks 2 "patchify -p \$((4 + 3 * R)) -n 50 $FMI | $M/kmeans-fit -k 4 -o x.tsr"
	assert_failure
	assert_output --partial "rows of D=16, but another rank's rows have D=49"
	[ ! -e x.tsr ]
}

@test "mpi: imagenet100.mk with MPIRUN trains every run on the ranks' shards" {
	need_mpi
	mkfixture -i in
	tar -cf in100.tar -C in train val
	run make --no-print-directory -C "$TOP" -f pipelines/imagenet100.mk \
	    BIN="$MIM_BIN" MPIBIN="$M" IN100="$PWD/in100.tar" OUT="$PWD/r" \
	    MPIRUN="mpirun -n 2 --oversubscribe --allow-run-as-root" \
	    PRESET=tiny MODEL_FLAGS="$SMALL -A 2" P=8 AUG_FLAGS='-s 32' \
	    EVAL_FLAGS='-r 32 -s 32' TRAIN_N=72 MAIN_EPOCHS=2 BATCH=16 K=4 \
	    KMEANS_IMAGES=72 KMEANS_EPOCHS=2 PROBE_TRAIN=72 JOBS=1 \
	    WARMUP_EPOCHS=1
	assert_success
	assert_output --partial "## Main comparison: ImageNet-100 test accuracy"
	assert_output --partial "mpirun -n 2 --oversubscribe --allow-run-as-root bash"
	assert_output --partial "-k \${OMPI_COMM_WORLD_RANK"
	# every image of both epochs, in the steps one process takes
	for run in 1.5e-4/mae-normpix 1e-3/cm-pixel-k4; do
		[ "$(ck_meta r/work/e2/s0/$run.ckpt seen)" = 144 ]
		[ "$(ck_meta r/work/e2/s0/$run.ckpt steps)" = 10 ]
		[ "$(wc -l < r/work/e2/s0/$run.tsv)" -eq 11 ]
	done
	[ "$(ck_meta r/work/e0/s0/0/untrained.ckpt seen)" = 16 ]
}
