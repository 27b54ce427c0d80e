#!/usr/bin/env bats
# finetune: gradients, parity with PyTorch, learning, results, determinism,
# resume, checkpoints that encode and probe read, bad input.

load helpers

setup_file() {
	export FT=$BATS_FILE_TMPDIR
	patchify -p 4 -n 512 -b 128 -o "$FT/fm.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
	# a small encoder, briefly pretrained
	mim-train -q -b 64 -s 8 --dim 32 --depth 2 --heads 2 --dec-dim 16 \
		--dec-depth 1 --dec-heads 2 -o "$FT/ck.tsr" "$FT/fm.tsr"
	# 1024 training images, 4 epochs, reshuffled; 300 test images
	patchify -p 4 -n 1024 -b 128 -u -e 4 -o "$FT/tr.tsr" \
		"$FMNIST/train-images-idx3-ubyte.gz"
	patchify -p 4 -n 300 -b 100 -o "$FT/te.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
}

val() { awk -v k="$1" '$1 == k { print $2 }'; }

@test "finetune: head, drop path, mixup targets and the whole model match finite differences (unit-classifier)" {
	OMP_NUM_THREADS=1 run unit-classifier
	assert_success
	refute_output --partial "not ok"
}

@test "finetune: PyTorch is installed for the parity tests" {
	run python3 -c 'import torch, numpy'
	assert_success
}

@test "finetune: steps with mixup, cutmix, drop path and layer decay equal PyTorch's (pool mean)" {
	cd "$BATS_TEST_TMPDIR"
	ftdump -S 1 -n 3 "$FT/ck.tsr" "$FT/fm.tsr" d.tsr
	PYTHONPATH=$TOP/tests/parity run python3 "$TOP/tests/parity/ft_parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
	assert_output --partial "parameters after 3 AdamW steps with layer decay 0.75"
	assert_output --partial "mixup of the images"
	assert_output --partial "cutmix of the images"
}

@test "finetune: steps with the CLS pool, another decay and drop path equal PyTorch's" {
	cd "$BATS_TEST_TMPDIR"
	ftdump -S 2 -n 4 -p cls -d 0.6 -r 0.3 -e 0.2 "$FT/ck.tsr" "$FT/fm.tsr" d.tsr
	PYTHONPATH=$TOP/tests/parity run python3 "$TOP/tests/parity/ft_parity.py" d.tsr
	assert_success
	refute_output --partial "not ok"
	assert_output --partial "after 4 AdamW steps with layer decay 0.6"
}

@test "finetune: the loss falls and the test accuracy beats chance on Fashion-MNIST" {
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr finetune -q -m "$FT/ck.tsr" -b 64 -d 1 -l 2e-2 \
		--mixup 0 --cutmix 0 --drop-path 0 --smoothing 0 -L log.tsv \
		-t "$FT/te.tsr" "$FT/tr.tsr"
	assert_success
	[ "$(val train.steps <<< "$output")" = 64 ]
	[ "$(val test.images <<< "$output")" = 300 ]
	acc=$(val test.acc <<< "$output")
	echo "test.acc $acc"
	awk -v a="$acc" 'BEGIN { exit !(a > 35) }'
	run awk 'NR > 1 && NR <= 9 { a += $2 } NR > 57 { b += $2 } END { print (b < 0.8 * a) ? "down" : "flat " a " " b }' log.tsv
	assert_output down
}

@test "finetune: the output keys come in a fixed order; -J gives the same keys as JSON" {
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr finetune -q -c -E -s 6 -b 256 -m "$FT/ck.tsr" \
		-t "$FT/te.tsr" "$FT/tr.tsr"
	assert_success
	keys=$(awk '{ print $1 }' <<< "$output" | tr '\n' ' ')
	cls=""
	for c in 0 1 2 3 4 5 6 7 8 9; do cls="$cls PRE.class.$c.acc"; done
	conf=""
	for c in 0 1 2 3 4 5 6 7 8 9; do conf="$conf test.confusion.$c"; done
	e1="epoch.1.step epoch.1.train.loss epoch.1.test.images epoch.1.test.loss epoch.1.test.acc${cls//PRE/epoch.1.test}"
	e2="${e1//epoch.1/epoch.2}"
	[ "$keys" = "classes pool steps $e1 $e2 train.steps train.images train.loss test.images test.loss test.acc${cls//PRE/test}$conf " ] ||
		fail "keys: $keys"
	[ "$(val epoch.2.test.acc <<< "$output")" = "$(val test.acc <<< "$output")" ]
	text=$output
	run --separate-stderr finetune -q -J -c -E -s 6 -b 256 -m "$FT/ck.tsr" \
		-t "$FT/te.tsr" "$FT/tr.tsr"
	assert_success
	run python3 -c 'import json, sys; d = json.load(sys.stdin); print(" ".join(d) + " %.4f" % d["test.acc"])' <<< "$output"
	assert_success
	assert_output "${keys}$(val test.acc <<< "$text")"
}

@test "finetune: the same seed and threads give identical checkpoints and results" {
	cd "$BATS_TEST_TMPDIR"
	finetune -q -s 6 -b 128 -j 2 -m "$FT/ck.tsr" -t "$FT/te.tsr" -o a.tsr "$FT/tr.tsr" > a.txt
	finetune -q -s 6 -b 128 -j 2 -m "$FT/ck.tsr" -t "$FT/te.tsr" -o b.tsr "$FT/tr.tsr" > b.txt
	cmp a.tsr b.tsr
	cmp a.txt b.txt
	finetune -q -s 6 -b 128 -j 2 -S 1 -m "$FT/ck.tsr" -o c.tsr "$FT/tr.tsr"
	! cmp -s a.tsr c.tsr
}

@test "finetune: N steps, stop, resume for the rest equals one run byte for byte" {
	cd "$BATS_TEST_TMPDIR"
	# 1024 images a pass in batches of 96: 11 steps an epoch (the last
	# partial), 4 epochs; stop in the second epoch and resume
	opts="-b 96 --drop-path 0.2 -t $FT/te.tsr -E"
	finetune -q $opts -m "$FT/ck.tsr" -o straight.tsr "$FT/tr.tsr" > straight.txt
	finetune -q $opts -m "$FT/ck.tsr" -T 15 -o part.tsr "$FT/tr.tsr" > part1.txt
	run tensorinfo part.tsr
	assert_output --partial "seen=1408"
	assert_output --partial "epochs_done=1"
	finetune -q -r part.tsr -t "$FT/te.tsr" -E -o part.tsr "$FT/tr.tsr" > part2.txt
	cmp straight.tsr part.tsr
	# the epochs after the stop and the final results are the same lines
	grep -v '^epoch\.1\.' straight.txt | sed 1,3d > want.txt
	sed 1,3d part2.txt > got.txt
	cmp want.txt got.txt
	# the input re-fed through a pipe, stopped at an epoch's end
	finetune -q -b 128 -s 16 -m "$FT/ck.tsr" -o straight.tsr "$FT/tr.tsr"
	finetune -q -b 128 -s 16 -m "$FT/ck.tsr" -T 8 -o part.tsr "$FT/tr.tsr"
	cat "$FT/tr.tsr" | finetune -q -r part.tsr -o part.tsr
	cmp straight.tsr part.tsr
}

@test "finetune: SIGTERM and periodic checkpoints leave a resumable checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	finetune -q -b 64 -s 4 -k 2 -m "$FT/ck.tsr" -o ck.tsr "$FT/tr.tsr"
	[ -f ck.tsr ] && [ ! -e ck.tsr.tmp ]
	finetune -q -b 16 -s 100000 -e 1000 -m "$FT/ck.tsr" -o sig.tsr "$FT/tr.tsr" 2> err &
	pid=$!
	sleep 1
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	[ "$st" -eq 1 ]
	run cat err
	assert_output --partial "stopped by SIGTERM"
	run finetune -q -r sig.tsr -T 100 -e 1000 -o sig.tsr "$FT/tr.tsr"
	assert_success
}

@test "finetune: SIGTERM while it waits on a slow producer still saves the steps taken" {
	cd "$BATS_TEST_TMPDIR"
	# the producer sends half a stream and stalls: finetune is blocked
	# in a read when the signal comes
	mkfifo slow
	finetune -q -b 64 -s 100000 -m "$FT/ck.tsr" -o slow.tsr < slow 2> err &
	pid=$!
	exec 7> slow
	head -c $(($(stat -c %s "$FT/tr.tsr") / 2)) "$FT/tr.tsr" >&7
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
	assert_output --regexp "step [1-9][0-9]*: stopped by SIGTERM"
	refute_output --partial "Interrupted system call"
	run tensorinfo slow.tsr
	assert_success
	assert_output --regexp "seen=[1-9][0-9]*"
	# and it resumes from there on the whole stream
	run finetune -q -r slow.tsr -T 40 -o slow.tsr "$FT/tr.tsr"
	assert_success
}

@test "finetune: encode and probe take a fine-tuned checkpoint; its head on encode's CLS gives finetune's accuracy" {
	cd "$BATS_TEST_TMPDIR"
	finetune -q -p cls -b 100 -s 10 -l 5e-3 -m "$FT/ck.tsr" -t "$FT/te.tsr" \
		-o ft.tsr "$FT/tr.tsr" > ft.txt
	run tensorinfo ft.tsr
	assert_output --partial " enc.pos_embed f32 [50,32] "
	assert_output --partial " head.weight f32 [10,32] "
	encode -b 100 -e cls -m ft.tsr -o e.tsr "$FT/te.tsr"
	run python3 - ft.tsr e.tsr "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np, tsrio
ck = {n: a for n, m, a in tsrio.read(sys.argv[1])}
e = tsrio.read(sys.argv[2])
x = np.concatenate([a for n, m, a in e if n == "cls"]).astype(np.float64)
y = np.concatenate([a for n, m, a in e if n == "labels"])
z = x @ ck["head.weight"].T.astype(np.float64) + ck["head.bias"]
print("%.4f" % (100.0 * (z.argmax(1) == y).mean()))
EOF
	assert_success
	assert_output "$(val test.acc < ft.txt)"
	# the fine-tuned encoder differs from the pretrained one
	encode -b 100 -e cls -m "$FT/ck.tsr" -o p.tsr "$FT/te.tsr"
	run tensorinfo -c p.tsr -t 1e-3 e.tsr
	assert_failure
	run --separate-stderr probe -k 5 -m ft.tsr "$FT/fm.tsr" "$FT/te.tsr"
	assert_success
	[ -n "$(val linear.test.acc <<< "$output")" ]
	# and it can be fine-tuned again, as a pretrained model
	run finetune -q -s 2 -b 64 -m ft.tsr "$FT/tr.tsr"
	assert_success
}

@test "finetune: a timm ViT from .safetensors fine-tunes, and encode reads the result" {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH=$TOP/tests/parity
	python3 "$TOP/tests/parity/timm_vit.py" make vit.safetensors
	python3 "$TOP/tests/parity/timm_vit.py" patches 24 p.tsr
	python3 - p.tsr pl.tsr <<'EOF'
import sys, numpy as np, tsrio
r = tsrio.read(sys.argv[1])
with open(sys.argv[2], "wb") as f:
    n = 0
    for name, meta, a in r:
        f.write(tsrio.record(name, a, meta))
        f.write(tsrio.record("labels", (np.arange(a.shape[0]) % 3).astype(np.int32),
                             dict(batch=meta.get("batch", "0"), nclasses=3)))
        n += 2
    f.write(tsrio.end(n))
EOF
	finetune -q -s 3 -b 8 -m vit.safetensors -t pl.tsr -o ft.tsr pl.tsr > out.txt
	[ "$(val classes < out.txt)" = 3 ]
	[ "$(val test.images < out.txt)" = 24 ]
	run encode -e pooled -m ft.tsr -o e.tsr p.tsr
	assert_success
}

@test "finetune: groups without labels, or labels outside [0,K), are errors naming the record" {
	cd "$BATS_TEST_TMPDIR"
	mktsr nolab.tsr patches:f32:2,49,16:rand=1 batch=0 patch_size=4 grid=7x7 channels=1
	run -1 finetune -s 1 -m "$FT/ck.tsr" nolab.tsr
	assert_output "finetune: nolab.tsr: records 0-0: no 'labels' record in the group"
	mktsr bad.tsr patches:f32:2,49,16:rand=1 batch=0 patch_size=4 grid=7x7 channels=1 \
		labels:i32:2:vals=1,10 batch=0 nclasses=10
	run -1 finetune -s 1 -m "$FT/ck.tsr" bad.tsr
	assert_output "finetune: bad.tsr: record 1 'labels': element 1 is 10, outside [0,10) (--classes?)"
	mktsr nok.tsr patches:f32:2,49,16:rand=1 batch=0 patch_size=4 grid=7x7 channels=1 \
		labels:i32:2:vals=1,0 batch=0
	run -1 finetune -s 1 -m "$FT/ck.tsr" nok.tsr
	assert_output --partial "no nclasses in the meta of 'labels' (give --classes)"
	run finetune -q -s 1 --classes 2 -m "$FT/ck.tsr" nok.tsr
	assert_success
}

@test "finetune: patches of another geometry than the encoder's fail with one line" {
	cd "$BATS_TEST_TMPDIR"
	patchify -p 7 -n 64 -o p7.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	run -1 finetune -s 1 -m "$FT/ck.tsr" -o out.tsr p7.tsr
	assert_output "finetune: p7.tsr: record 0 'patches': patch 7, grid 4x4, 1 channels, but the checkpoint was trained on patch 4, grid 7x7, 1 channels"
	[ ! -e out.tsr ]
	run -1 finetune -s 1 -m "$FT/ck.tsr" -t p7.tsr "$FT/tr.tsr"
	assert_output --partial "p7.tsr: record 0 'patches': patch 7, grid 4x4"
}

@test "finetune: resuming a mim-train checkpoint, or a damaged one, is an error" {
	cd "$BATS_TEST_TMPDIR"
	run -1 finetune -r "$FT/ck.tsr" "$FT/tr.tsr"
	assert_output "finetune: $FT/ck.tsr: not a finetune checkpoint (tool=mim-train/0.1.0; give it with -m to fine-tune from it)"
	finetune -q -b 64 -s 4 -T 2 -m "$FT/ck.tsr" -o ck.tsr "$FT/tr.tsr"
	head -c 30000 ck.tsr > trunc.tsr
	run -1 finetune -r trunc.tsr "$FT/tr.tsr"
	assert_output --partial "truncated record"
	[ "${#lines[@]}" -eq 1 ]
	run -2 finetune -r ck.tsr -m "$FT/ck.tsr" "$FT/tr.tsr"
}

@test "finetune: a NaN loss stops naming the step and the last good checkpoint" {
	cd "$BATS_TEST_TMPDIR"
	mktsr nan.tsr patches:f32:4,49,16:rand=1 batch=0 patch_size=4 grid=7x7 channels=1 \
		labels:i32:4:vals=0,1,2,3 batch=0 nclasses=10 \
		patches:f32:4,49,16:nan batch=1 patch_size=4 grid=7x7 channels=1 \
		labels:i32:4:vals=0,1,2,3 batch=1 nclasses=10
	run -1 --separate-stderr finetune -q -b 4 -s 2 -k 1 -m "$FT/ck.tsr" -o ck.tsr nan.tsr
	assert_equal "$stderr" "finetune: step 2: loss is NaN; stopping (the last good checkpoint is ck.tsr, step 1)"
	run tensorinfo ck.tsr
	assert_output --partial "seen=4"
	[ ! -e ck.tsr.tmp ]
	# resumed, it stops at the same step and names the checkpoint it read
	run -1 --separate-stderr finetune -q -r ck.tsr -o ck2.tsr nan.tsr
	assert_equal "$stderr" "finetune: step 2: loss is NaN; stopping (the last good checkpoint is ck.tsr, step 1)"
	# before any checkpoint
	run -1 --separate-stderr finetune -q -b 4 -s 2 -k 5 -m "$FT/ck.tsr" -o none.tsr nan.tsr
	assert_equal "$stderr" "finetune: step 2: loss is NaN; stopping (no checkpoint written yet)"
	[ ! -e none.tsr ] && [ ! -e none.tsr.tmp ]
}

@test "finetune: usage errors exit 2" {
	run -2 finetune "$FT/tr.tsr"
	assert_output --partial "-m model is required"
	run -2 finetune -E -m "$FT/ck.tsr" "$FT/tr.tsr"
	assert_output --partial "-E: evaluating every epoch needs a test stream"
	run -2 finetune -r x.tsr -l 1e-3
	assert_output --partial "the checkpoint holds the model and training options"
	run -2 finetune -p max -m "$FT/ck.tsr"
	run -2 finetune -o - -m "$FT/ck.tsr"
	run -2 finetune -k 5 -m "$FT/ck.tsr"
}
