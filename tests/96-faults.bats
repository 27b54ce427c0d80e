load helpers
# Fault injection: a full device, a file size limit, a producer killed in
# the middle of a pipe, mim-train killed while it trains and while it
# writes a checkpoint, and a loss that stops being finite.  Each must end
# in a clear one-line error and exit 1, with nothing half-written under an
# -o name and nothing lost that was complete before.

setup_file() {
	export FT=$BATS_FILE_TMPDIR
	patchify -p 4 -n 256 -b 64 -o "$FT/p.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
	kmeans-fit -k 4 -n 3 -o "$FT/c.tsr" "$FT/p.tsr"
	tokenize -c "$FT/c.tsr" -o "$FT/t.tsr" "$FT/p.tsr"
	mim-train -q -b 64 -s 2 --dim 8 --dec-dim 8 -o "$FT/m.tsr" "$FT/p.tsr"
}

# each tool that writes a stream, as "name|command with OUT for its -o"
writers() {
	cat <<-EOF
	patchify|patchify -p 4 -n 256 -b 64 -o OUT $FMNIST/t10k-images-idx3-ubyte.gz
	kmeans-fit|kmeans-fit -k 64 -n 3 -o OUT $FT/p.tsr
	tokenize|tokenize -c $FT/c.tsr -o OUT $FT/p.tsr
	encode|encode -m $FT/m.tsr -o OUT $FT/p.tsr
	mim-train|mim-train -q -b 64 -s 2 --dim 8 --dec-dim 8 -o OUT $FT/p.tsr
	finetune|finetune -q -b 64 -s 2 -m $FT/m.tsr -o OUT $FT/p.tsr
	tensorinfo|tensorinfo -x patches -o OUT $FT/p.tsr
	EOF
}

# killed PID: kill the background job PID with SIGKILL; it must die of it
killed() {
	local st=0
	kill -KILL "$1"
	wait "$1" 2>/dev/null || st=$?
	assert_equal "$st" 137
}

# the time the kernel waits in, for process $1: "pipe_write" (or so)
# when it is blocked writing to a full pipe
wchan() {
	cat "/proc/$1/wchan" 2>/dev/null || echo none
}

@test "faults: every tool writing to a full device says so in one line and exits 1" {
	local name cmd
	while IFS='|' read -r name cmd; do
		# mim-train's checkpoint, finetune's results on stdout
		[ "$name" != mim-train ] && [ "$name" != finetune ] || cmd=${cmd/-o OUT /}
		run -1 --separate-stderr bash -c "${cmd//-o OUT/-o /dev/full} > /dev/full"
		[[ $stderr == "$name: "*"No space left on device" ]] ||
			{ echo "$name: $stderr" >&2; return 1; }
		assert_equal "${#stderr_lines[@]}" 1
	done < <(writers)
	# text on standard output
	for cmd in "tcas $FT/t.tsr" "tensorinfo $FT/p.tsr" \
		"probe -m $FT/m.tsr $FT/p.tsr $FT/p.tsr"; do
		run -1 --separate-stderr bash -c "$cmd > /dev/full"
		assert_equal "$stderr" "${cmd%% *}: <stdout>: write: No space left on device"
	done
}

@test "faults: a file size limit fails each writer, keeps the old -o file and leaves no .tmp" {
	local name cmd out=$BATS_TEST_TMPDIR/out.tsr
	while IFS='|' read -r name cmd; do
		echo "the old contents" > "$out"
		# 1 KiB: every output here is larger
		run -1 --separate-stderr bash -c "ulimit -f 1; ${cmd//OUT/$out}"
		[[ $stderr == "$name: $out: "*"write: File too large" ]] ||
			{ echo "$name: $stderr" >&2; return 1; }
		assert_equal "${#stderr_lines[@]}" 1
		assert_equal "$(cat "$out")" "the old contents"
		[ ! -e "$out.tmp" ]
	done < <(writers)
}

@test "faults: a producer killed between two records is reported downstream, no output left" {
	local d=$BATS_TEST_TMPDIR
	# the records of p.tsr without its end record, then SIGKILL
	head -c $(($(wc -c < "$FT/p.tsr") - 128)) "$FT/p.tsr" > "$d/part"
	for cmd in "kmeans-fit -k 4 -n 3 -o $d/out.tsr" "tokenize -c $FT/c.tsr -o $d/out.tsr" \
		"mim-train -q -b 64 -s 100 --dim 8 --dec-dim 8 -o $d/out.tsr" \
		"finetune -q -b 64 -s 100 -m $FT/m.tsr -o $d/out.tsr" "tensorinfo"; do
		run -1 --separate-stderr bash -c "bash -c 'cat \"\$1\"; kill -KILL \$\$' _ $d/part | $cmd"
		assert_equal "$stderr" "${cmd%% *}: <stdin>: record 8: stream ended without end record (did the producer fail?)"
		[ ! -e "$d/out.tsr" ] && [ ! -e "$d/out.tsr.tmp" ]
	done
}

@test "faults: patchify killed by SIGKILL in the middle of a pipe: the consumer fails, no output left" {
	local d=$BATS_TEST_TMPDIR pid cmd t
	for cmd in "kmeans-fit -k 4 -n 3 -o $d/out.tsr" "tokenize -c $FT/c.tsr -o $d/out.tsr" \
		"mim-train -q -b 64 -s 100 --dim 8 --dec-dim 8 -o $d/out.tsr" \
		"finetune -q -b 64 -s 100 -m $FT/m.tsr -o $d/out.tsr" "tensorinfo"; do
		rm -f "$d/fifo"
		mkfifo "$d/fifo"
		# patchify fills the pipe while nothing reads it, so it blocks
		# there with most of its stream unwritten, and is killed
		patchify -p 4 -n 2000 -b 16 "$FMNIST/t10k-images-idx3-ubyte.gz" > "$d/fifo" &
		pid=$!
		exec 8< "$d/fifo" # (3 is bats' own)
		for ((t = 0; t < 200; t++)); do
			[[ $(wchan "$pid") != *pipe* ]] || break
			sleep 0.1
		done
		killed "$pid"
		run -1 --separate-stderr bash -c "$cmd <&8"
		exec 8<&-
		[[ $stderr == "${cmd%% *}: <stdin>: record "*": truncated record (got "*" bytes)" ||
		   $stderr == "${cmd%% *}: <stdin>: record "*": stream ended without end record (did the producer fail?)" ]] ||
			{ echo "$cmd: $stderr" >&2; return 1; }
		assert_equal "${#stderr_lines[@]}" 1
		[ ! -e "$d/out.tsr" ] && [ ! -e "$d/out.tsr.tmp" ]
	done
}

# train ARGS...: mim-train with the batch and data the kill tests use;
# in the background, exec'd, so that $! is mim-train itself
train() {
	exec mim-train -q -j 1 -b 16 -w 2 "$@" "$FT/p.tsr"
}

# the images a checkpoint had seen (its step record's meta), or 0
ckpt_seen() {
	local n
	n=$(tensorinfo "$1" 2>/dev/null | sed -n '1s/.* seen=\([0-9]*\).*/\1/p')
	echo "${n:-0}"
}

@test "faults: mim-train killed by SIGKILL while training resumes from its last checkpoint exactly" {
	local d=$BATS_TEST_TMPDIR pid opts="--dim 32 --dec-dim 32 -s 96 -e 6 -k 4"
	(train $opts -o "$d/straight.tsr")
	train $opts -o "$d/ck.tsr" &
	pid=$!
	# kill it once its second checkpoint (step 8 of 96) is there
	until [ "$(ckpt_seen "$d/ck.tsr")" -ge 128 ]; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	killed "$pid"
	# what is there is a complete checkpoint, short of the end
	run --separate-stderr tensorinfo "$d/ck.tsr"
	assert_success
	run tensorinfo "$d/straight.tsr"
	[ "$(tensorinfo "$d/ck.tsr" | head -n 1)" != "${lines[0]}" ]
	mim-train -q -j 1 -r "$d/ck.tsr" -e 6 -o "$d/ck.tsr" "$FT/p.tsr"
	cmp "$d/straight.tsr" "$d/ck.tsr"
}

@test "faults: mim-train killed by SIGKILL while writing a checkpoint keeps the previous one, which resumes exactly" {
	local d=$BATS_TEST_TMPDIR pid try caught=0
	local opts="--dim 256 --depth 4 --heads 4 --dec-dim 128 -s 6 -k 1"
	(train $opts -o "$d/straight.tsr")
	for ((try = 0; try < 5 && !caught; try++)); do
		rm -f "$d/ck.tsr" "$d/ck.tsr.tmp"
		train $opts -o "$d/ck.tsr" &
		pid=$!
		# a checkpoint is complete, and the next one is being written
		until [ -e "$d/ck.tsr" ] && [ -e "$d/ck.tsr.tmp" ]; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.005
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		[ -e "$d/ck.tsr.tmp" ] && [ -e "$d/ck.tsr" ] && caught=1
	done
	assert_equal "$caught" 1
	# the old one is whole, and short of the end
	run --separate-stderr tensorinfo "$d/ck.tsr"
	assert_success
	[ "$(ckpt_seen "$d/ck.tsr")" -lt 96 ]
	mim-train -q -j 1 -r "$d/ck.tsr" -o "$d/ck.tsr" "$FT/p.tsr"
	cmp "$d/straight.tsr" "$d/ck.tsr"
	[ ! -e "$d/ck.tsr.tmp" ]
}

@test "faults: a loss that becomes infinite stops mim-train naming the step and the last good checkpoint" {
	local d=$BATS_TEST_TMPDIR
	# the third batch holds values whose squares overflow
	mktsr "$d/x.tsr" patches:f32:8,4,4:rand=1 batch=0 patch_size=2 grid=2x2 channels=1 \
		patches:f32:8,4,4:rand=2 batch=1 patch_size=2 grid=2x2 channels=1 \
		patches:f32:8,4,4:const=1e30 batch=2 patch_size=2 grid=2x2 channels=1
	run -1 --separate-stderr mim-train -q -b 8 -s 3 -k 1 --dim 8 --dec-dim 8 -o "$d/ck.tsr" "$d/x.tsr"
	assert_equal "$stderr" "mim-train: step 3: loss is infinite; stopping (the last good checkpoint is $d/ck.tsr, step 2)"
	run tensorinfo "$d/ck.tsr"
	assert_success
	assert_output --partial " seen=16"
	[ ! -e "$d/ck.tsr.tmp" ]
	# resumed, it stops at the same step, and says which checkpoint is good
	run -1 --separate-stderr mim-train -q -r "$d/ck.tsr" -o "$d/ck2.tsr" "$d/x.tsr"
	assert_equal "$stderr" "mim-train: step 3: loss is infinite; stopping (the last good checkpoint is $d/ck.tsr, step 2)"
	# before any checkpoint
	run -1 --separate-stderr mim-train -q -b 8 -s 3 -k 5 --dim 8 --dec-dim 8 -o "$d/none.tsr" "$d/x.tsr"
	assert_equal "$stderr" "mim-train: step 3: loss is infinite; stopping (no checkpoint written yet)"
	[ ! -e "$d/none.tsr" ] && [ ! -e "$d/none.tsr.tmp" ]
}
