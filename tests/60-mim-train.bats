#!/usr/bin/env bats
# mim-train: gradients, parity with PyTorch, determinism, resume, bad input.

load helpers

setup_file() {
	export MT=$BATS_FILE_TMPDIR
	patchify -p 4 -n 512 -b 128 -o "$MT/fm.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
	python3 "$TOP/tests/parity/addtokens.py" 16 "$MT/fm.tsr" "$MT/fmt.tsr"
}

# the value of the scalar record 'step' of a checkpoint
ckpt_step() {
	tensorinfo "$1" | awk '$2 == "step" { for (i = 1; i <= NF; i++) if ($i ~ /^seen=/) print $i }'
}

@test "mim-train: every layer's gradient matches finite differences (unit-layers)" {
	OMP_NUM_THREADS=1 run unit-layers
	assert_success
	refute_output --partial "not ok"
}

@test "mim-train: the whole model's gradients match finite differences (unit-vit)" {
	OMP_NUM_THREADS=1 run unit-vit
	assert_success
	refute_output --partial "not ok"
}

@test "mim-train: PyTorch is installed for the parity tests" {
	run python3 -c 'import torch, numpy'
	assert_success
}

@test "mim-train: pixel target loss and gradients equal PyTorch's to 1e-4" {
	cd "$BATS_TEST_TMPDIR"
	vitdump -S 3 "$MT/fm.tsr" d.tsr
	run python3 "$TOP/tests/parity/parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
	vitdump -n -S 4 "$MT/fm.tsr" d.tsr
	run python3 "$TOP/tests/parity/parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
}

@test "mim-train: token target loss and gradients equal PyTorch's to 1e-4" {
	cd "$BATS_TEST_TMPDIR"
	vitdump -t tokens -S 5 "$MT/fmt.tsr" d.tsr
	run python3 "$TOP/tests/parity/parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
	vitdump -t tokens -e 0.1 -S 6 "$MT/fmt.tsr" d.tsr
	run python3 "$TOP/tests/parity/parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
}

@test "mim-train: the pixel loss decreases on Fashion-MNIST" {
	cd "$BATS_TEST_TMPDIR"
	run mim-train -q -b 64 -s 32 -w 4 -l 2e-3 -e 4 -L log.tsv -o ck.tsr "$MT/fm.tsr"
	assert_success
	[ "$(wc -l < log.tsv)" -eq 33 ]
	run awk 'NR > 1 && NR <= 5 { a += $2 } NR > 29 { b += $2 } END { print (b < 0.6 * a) ? "down" : "flat " a " " b }' log.tsv
	assert_output down
}

@test "mim-train: the token loss decreases on Fashion-MNIST" {
	cd "$BATS_TEST_TMPDIR"
	run mim-train -q -t tokens -b 64 -s 32 -w 4 -e 4 -L log.tsv -o ck.tsr "$MT/fmt.tsr"
	assert_success
	run awk 'NR > 1 && NR <= 5 { a += $2 } NR > 29 { b += $2 } END { print (b < 0.8 * a) ? "down" : "flat " a " " b }' log.tsv
	assert_output down
}

@test "mim-train: a pipe from patchify trains for epochs x ceil(images/batch) steps" {
	cd "$BATS_TEST_TMPDIR"
	run bash -c "patchify -p 4 -n 100 -b 32 -e 2 -u $FMNIST/t10k-images-idx3-ubyte.gz | mim-train -b 48 --dim 32 --dec-dim 32 --depth 1 --dec-depth 1 -o ck.tsr"
	assert_success
	assert_output --partial "step 6 loss"
	refute_output --partial "step 7 "
	run ckpt_step ck.tsr
	assert_output "seen=200"
	run tensorinfo ck.tsr
	assert_output --partial "opt.v.dec.pred.bias"
}

@test "mim-train: the same seed and threads give identical checkpoint bytes" {
	cd "$BATS_TEST_TMPDIR"
	mim-train -q -b 64 -s 4 -j 2 -o a.tsr "$MT/fm.tsr"
	mim-train -q -b 64 -s 4 -j 2 -o b.tsr "$MT/fm.tsr"
	cmp a.tsr b.tsr
	mim-train -q -b 64 -s 4 -j 2 -S 1 -o c.tsr "$MT/fm.tsr"
	! cmp -s a.tsr c.tsr
}

@test "mim-train: N steps, stop, resume for N more equals 2N steps byte for byte" {
	cd "$BATS_TEST_TMPDIR"
	# 512 images in batches of 96: 6 steps a pass (the last one partial), 2 passes
	small="--dim 32 --depth 2 --dec-dim 32 --dec-depth 1"
	mim-train -q $small -b 96 -s 12 -w 2 -e 2 -o straight.tsr "$MT/fm.tsr"
	mim-train -q $small -b 96 -s 12 -w 2 -e 2 -T 7 -o part.tsr "$MT/fm.tsr"
	run ckpt_step part.tsr
	assert_output "seen=608"
	mim-train -q -r part.tsr -e 2 -o part.tsr "$MT/fm.tsr"
	cmp straight.tsr part.tsr
	# tokens, the input re-fed through a pipe
	mim-train -q $small -t tokens -b 64 -s 8 -o straight.tsr "$MT/fmt.tsr"
	mim-train -q $small -t tokens -b 64 -s 8 -T 3 -o part.tsr "$MT/fmt.tsr"
	cat "$MT/fmt.tsr" | mim-train -q -r part.tsr -o part.tsr
	cmp straight.tsr part.tsr
}

@test "mim-train: -A n micro-batches take the steps of whole batches, to float rounding" {
	cd "$BATS_TEST_TMPDIR"
	small="--dim 32 --depth 2 --dec-dim 32 --dec-depth 1"
	# a step of 96 images in 5 micro-batches: 20, 20, 20, 20 and 16;
	# after one step at learning rate 0 (the warmup's first), opt.m is
	# 0.1 x the step's gradient
	for t in pixel tokens; do
		f=$MT/fm.tsr
		[ $t = pixel ] || f=$MT/fmt.tsr
		mim-train -q $small -t $t -b 96 -s 1 -w 1 -o one.tsr "$f"
		mim-train -q $small -t $t -b 96 -s 1 -w 1 -A 5 -o a5.tsr "$f"
		run tensorinfo -c one.tsr -t 1e-6 a5.tsr
		assert_success
		! cmp -s one.tsr a5.tsr # sums in another order: not the same bits
	done
	# 12 steps of 96 of the 512 images, 2 passes (the last step of a
	# pass is 32 images: -A 5 cuts it in 20 and 12): the same losses and
	# gradient norms
	mim-train -q $small -b 96 -s 12 -w 2 -e 2 -L one.tsv -o one.tsr "$MT/fm.tsr"
	for a in 2 5; do
		mim-train -q $small -b 96 -s 12 -w 2 -e 2 -A $a -L a$a.tsv -o a$a.tsr "$MT/fm.tsr"
		same_steps one.tsv a$a.tsv
	done
	# the tokens target, from a pipe
	mim-train -q $small -t tokens -b 64 -s 8 -L one.tsv -o one.tsr "$MT/fmt.tsr"
	cat "$MT/fmt.tsr" | mim-train -q $small -t tokens -b 64 -s 8 -A 4 -L a4.tsv -o a4.tsr
	same_steps one.tsv a4.tsv
}

@test "mim-train: -A n holds the activations of one micro-batch" {
	cd "$BATS_TEST_TMPDIR"
	patchify -p 2 -n 128 -o p2.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	small="--dim 32 --depth 1 --dec-dim 32 --dec-depth 1"
	/usr/bin/time -f %M -o one.kb mim-train -q $small -b 128 -s 1 -o one.tsr p2.tsr
	/usr/bin/time -f %M -o a8.kb mim-train -q $small -b 128 -s 1 -A 8 -o a8.tsr p2.tsr
	# 290 MB against 43 MB here: at most half
	run awk -v a="$(cat one.kb)" -v b="$(cat a8.kb)" 'BEGIN { print (2 * b < a) ? "less" : "not less: " a " " b }'
	assert_output less
}

@test "mim-train: -A above the batch is refused; a resume may change -A" {
	cd "$BATS_TEST_TMPDIR"
	run -1 mim-train -q -b 8 -A 9 -s 1 -o x.tsr "$MT/fm.tsr"
	assert_output "mim-train: -A 9: more micro-batches than the 8 images of a step"
	[ ! -e x.tsr ]
	small="--dim 32 --depth 1 --dec-dim 32 --dec-depth 1"
	mim-train -q $small -b 64 -s 6 -L straight.tsv -o straight.tsr "$MT/fm.tsr"
	mim-train -q $small -b 64 -s 6 -T 3 -L part.tsv -o part.tsr "$MT/fm.tsr"
	mim-train -q -r part.tsr -A 4 -L part.tsv -o part.tsr "$MT/fm.tsr"
	same_steps straight.tsv part.tsv
}

@test "mim-train: periodic checkpoints and SIGTERM leave a resumable checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	mim-train -q --dim 32 --dec-dim 32 -b 64 -s 4 -k 2 -e 1 -o ck.tsr "$MT/fm.tsr"
	[ -f ck.tsr ] && [ ! -e ck.tsr.tmp ]
	mim-train -q --dim 32 --dec-dim 32 -b 16 -s 100000 -e 1000 -o sig.tsr "$MT/fm.tsr" 2> err &
	pid=$!
	sleep 1
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	[ "$st" -eq 1 ]
	run cat err
	assert_output --partial "stopped by SIGTERM"
	run tensorinfo sig.tsr
	assert_success
	run mim-train -q -r sig.tsr -T 100 -e 1000 -o sig.tsr "$MT/fm.tsr"
	assert_success
}

@test "mim-train: SIGTERM while it waits on a slow producer still saves the checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	# the producer sends half a stream and stalls: mim-train is blocked
	# in a read when the signal comes
	mkfifo slow
	mim-train -q --dim 32 --dec-dim 32 -b 16 -s 100000 -o slow.tsr \
	    < slow 2> err &
	pid=$!
	exec 7> slow
	head -c $(($(stat -c %s "$MT/fm.tsr") / 2)) "$MT/fm.tsr" >&7
	# until it has trained on what came and waits in the read
	for i in $(seq 600); do
		case $(cat /proc/$pid/wchan) in *pipe_read* | pipe_wait*) break ;; esac
		sleep 0.1
	done
	sleep 0.5
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	exec 7>&-
	[ "$st" -eq 1 ]
	run cat err
	assert_output --regexp "stopped by SIGTERM"
	refute_output --partial "Interrupted system call"
	run tensorinfo slow.tsr
	assert_success
}

@test "mim-train: tokens outside [0,K) are an error naming the record" {
	cd "$BATS_TEST_TMPDIR"
	mktsr bad.tsr patches:f32:2,4,4:rand=1 batch=0 patch_size=2 grid=2x2 channels=1 \
	    tokens:i32:2,4:vals=0,1,2,3,4,5,6,9 batch=0 k=8
	run -1 mim-train -t tokens -s 1 --dim 8 --dec-dim 8 -o ck.tsr bad.tsr
	assert_output --partial "record 1 'tokens': element 7 [1,3] is 9, outside [0,8)"
	[ "${#lines[@]}" -eq 1 ]
}

@test "mim-train: a stream without the tensor the target needs is an error" {
	cd "$BATS_TEST_TMPDIR"
	run -1 mim-train -t tokens -s 1 -o ck.tsr "$MT/fm.tsr"
	assert_output --partial "no 'tokens' record in the group"
	[ "${#lines[@]}" -eq 1 ]
	mktsr nop.tsr labels:i32:2 batch=0
	run -1 mim-train -s 1 -o ck.tsr nop.tsr
	assert_output --partial "no 'patches' record"
	mktsr nometa.tsr patches:f32:2,4,4 batch=0
	run -1 mim-train -s 1 -o ck.tsr nometa.tsr
	assert_output --partial "no patch_size in the meta"
}

@test "mim-train: resuming on another patch geometry is an error" {
	cd "$BATS_TEST_TMPDIR"
	mim-train -q --dim 32 --dec-dim 32 -b 64 -s 2 -T 1 -o ck.tsr "$MT/fm.tsr"
	patchify -p 7 -n 64 -o p7.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	run -1 mim-train -r ck.tsr -o ck2.tsr p7.tsr
	assert_output --partial "patch 7, grid 4x4, 1 channels, but the checkpoint was trained on patch 4, grid 7x7"
	[ "${#lines[@]}" -eq 1 ]
}

@test "mim-train: a corrupt or truncated checkpoint is an error" {
	cd "$BATS_TEST_TMPDIR"
	mim-train -q --dim 32 --dec-dim 32 -b 64 -s 2 -T 1 -o ck.tsr "$MT/fm.tsr"
	head -c 5000 ck.tsr > trunc.tsr
	run -1 mim-train -r trunc.tsr -o x.tsr "$MT/fm.tsr"
	assert_output --partial "truncated record"
	[ "${#lines[@]}" -eq 1 ]
	cp ck.tsr bad.tsr
	printf '\377' | dd of=bad.tsr bs=1 seek=3000 conv=notrunc 2>/dev/null
	run -1 mim-train -r bad.tsr -o x.tsr "$MT/fm.tsr"
	assert_output --partial "crc mismatch"
	[ "${#lines[@]}" -eq 1 ]
	run -1 mim-train -r "$MT/fm.tsr" -o x.tsr "$MT/fm.tsr"
	assert_output --partial "not a mim-train checkpoint"
	[ ! -e x.tsr ]
}

@test "mim-train: a NaN loss stops with the step and keeps the last good checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	mktsr nan.tsr patches:f32:4,4,4:rand=1 batch=0 patch_size=2 grid=2x2 channels=1 \
	    patches:f32:4,4,4:nan batch=1 patch_size=2 grid=2x2 channels=1
	run -1 mim-train -q -b 4 -s 2 -k 1 --dim 8 --dec-dim 8 -o ck.tsr nan.tsr
	assert_output --partial "step 2: loss is NaN"
	[ "${#lines[@]}" -eq 1 ]
	run ckpt_step ck.tsr
	assert_output "seen=4"
}

@test "mim-train: options that the checkpoint fixes are refused with --resume" {
	run -2 mim-train -b 8 -r x.tsr
	assert_output --partial "the checkpoint holds the model and training options"
	run -2 mim-train -t words
	run -2 mim-train -k 5
	run -2 mim-train --preset huge
}
