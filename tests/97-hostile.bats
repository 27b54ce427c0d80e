load helpers
# Hostile input: headers that claim more than the input holds, or more
# than any real input needs, are refused before the memory they ask for
# is allocated; archives are never followed outside themselves.  Each
# case must fail with its own one-line error, and its peak memory (GNU
# time's maximum resident set) may exceed that of the same tool on a
# small valid input by little: 32 MiB, where the claims are of
# gigabytes.

setup_file() {
	export HT=$BATS_FILE_TMPDIR
	# a small valid image tree, and a PGM outside every archive
	mkdir -p "$HT/ok/cat" "$HT/outside"
	printf 'P5\n4 4\n255\n%016d' 0 > "$HT/ok/cat/a.pgm"
	printf 'P5\n4 4\n255\n%016d' 7 > "$HT/outside/secret.pgm"
}

# peak CMD...: run CMD through GNU time: status, output and stderr as
# run sets them, and $peak its peak resident memory in KiB
peak() {
	local f=$BATS_TEST_TMPDIR/time
	run --separate-stderr /usr/bin/time -f %M -o "$f" "$@"
	peak=$(tail -n 1 "$f")
}

# refused BASE MESSAGE CMD...: CMD exits 1 with MESSAGE on stderr (a
# pattern), within 32 MiB of BASE KiB
refused() {
	local base=$1 message=$2
	shift 2
	peak "$@"
	assert_equal "$status" 1
	[[ $stderr == $message ]] || { echo "stderr: $stderr" >&2; return 1; }
	assert_equal "${#stderr_lines[@]}" 1
	[ "$peak" -lt $((base + 32768)) ] ||
		{ echo "peak $peak KiB, base $base KiB" >&2; return 1; }
}

# a tar archive from python3's tarfile: build_tar OUT 'PYTHON' with t
# the open archive, add(name, data) and the module tarfile at hand
build_tar() {
	python3 - "$1" "$2" <<-'EOF'
	import io, sys, tarfile
	t = tarfile.open(sys.argv[1], "w")
	def add(name, data=b"", **kw):
	    i = tarfile.TarInfo(name)
	    i.size = len(data)
	    for k, v in kw.items():
	        setattr(i, k, v)
	    t.addfile(i, io.BytesIO(data))
	exec(sys.argv[2])
	t.close()
	EOF
}

@test "hostile: stream headers claiming gigabytes are refused before allocating them" {
	local d=$BATS_TEST_TMPDIR f base
	peak tensorinfo "$EXAMPLES/group.tsr"
	assert_success
	base=$peak
	# a product of dims that overflows
	f=$d/dims.tsr
	cp "$EXAMPLES/group.tsr" "$f"
	chmod u+w "$f"
	poke "$f" 40 00 00 00 00 01 00 00 00
	poke "$f" 48 00 00 00 00 01 00 00 00
	poke "$f" 56 02
	reseal "$f"
	refused "$base" "*: record 0 'patches': dims overflow (element count above 2^64)" tensorinfo "$f"
	# a meta block of 1 GiB, and a header of 1 GiB
	f=$d/meta.tsr
	cp "$EXAMPLES/scalar.tsr" "$f"
	chmod u+w "$f"
	poke "$f" 32 00 00 00 40
	reseal "$f"
	refused "$base" "*: record 0: bad meta (length 1073741824, at most 65536)" tensorinfo "$f"
	poke "$f" 12 00 00 00 40
	refused "$base" "*: record 0: bad header length (1073741824, expected *)" tensorinfo "$f"
	# 2^40 payload bytes that are not there
	f=$d/payload.tsr
	cp "$EXAMPLES/group.tsr" "$f"
	chmod u+w "$f"
	poke "$f" 40 00 00 00 00 10 00 00 00     # dims [2^36,4,4]
	poke "$f" 16 00 00 00 00 00 01 00 00     # payload_len 2^40
	reseal "$f"
	refused "$base" "*: record 0 'patches': truncated record (got 384 of 1099511627776 payload bytes)" tensorinfo "$f"
	# 1 GiB from 17 bytes of zlib data
	f=$d/zlib.tsr
	cp "$EXAMPLES/compressed.tsr" "$f"
	chmod u+w "$f"
	poke "$f" 40 00 00 00 01 # dims [2^24,8]: 512 MiB of f32
	reseal "$f"
	refused "$base" "*: record 0 'eye': payload size mismatch (payload_len 17 cannot inflate to 536870912 bytes)" tensorinfo "$f"
}

@test "hostile: images declaring 100000 x 100000 pixels are refused before decoding" {
	local d=$BATS_TEST_TMPDIR base
	peak patchify -p 4 -o /dev/null "$HT/ok"
	assert_success
	base=$peak
	mkdir -p "$d/png/cat" "$d/jpeg/cat" "$d/pnm/cat"
	python3 - "$d/png/cat/x.png" <<-'EOF'
	import struct, sys, zlib
	def chunk(t, b):
	    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
	open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" +
	    chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
	    chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))
	EOF
	refused "$base" "patchify: $d/png: cat/x.png: image too large or empty (100000x100000)" \
		patchify -p 4 -o "$d/out.tsr" "$d/png"
	# a JPEG's dims have 16 bits: 65500 x 65500 is its largest
	python3 - "$FIX/tree/train/dog/000.jpg" "$d/jpeg/cat/x.jpg" <<-'EOF'
	import struct, sys
	b = bytearray(open(sys.argv[1], "rb").read())
	i = b.index(b"\xff\xc0")  # the baseline frame header: height, width
	b[i + 5:i + 9] = struct.pack(">HH", 65500, 65500)
	open(sys.argv[2], "wb").write(b)
	EOF
	refused "$base" "patchify: $d/jpeg: cat/x.jpg: image too large (65500x65500)" \
		patchify -p 4 -o "$d/out.tsr" "$d/jpeg"
	printf 'P6\n100000 100000\n255\n%064d' 0 > "$d/pnm/cat/x.ppm"
	refused "$base" "patchify: $d/pnm: cat/x.ppm: image too large or empty (100000x100000)" \
		patchify -p 4 -o "$d/out.tsr" "$d/pnm"
	[ ! -e "$d/out.tsr" ] && [ ! -e "$d/out.tsr.tmp" ]
}

@test "hostile: zip bombs are refused by the size their headers declare" {
	local d=$BATS_TEST_TMPDIR base
	peak patchify -p 4 -o /dev/null "$HT/ok"
	base=$peak
	# 64 MiB of zeros in 64 KiB, its headers saying 1000 bytes, then 2 GiB
	python3 - "$d" <<-'EOF'
	import struct, sys, zipfile
	d = sys.argv[1]
	big = b"P5\n8192 8192\n255\n" + bytes(64 << 20)
	with zipfile.ZipFile(d + "/honest.zip", "w", zipfile.ZIP_DEFLATED) as z:
	    z.writestr("cat/a.pgm", b"P5\n2 2\n255\n\1\2\3\4")
	    z.writestr("cat/big.pgm", big)
	data = open(d + "/honest.zip", "rb").read()
	for name, size in (("liar", 1000), ("claims", 2 << 30)):
	    b = bytearray(data)
	    i = 0
	    while (i := b.find(struct.pack("<I", len(big)), i)) >= 0:
	        b[i:i + 4] = struct.pack("<I", size)
	    open("%s/%s.zip" % (d, name), "wb").write(b)
	EOF
	refused "$base" "patchify: $d/liar.zip: cat/big.pgm: more data than the 1000 bytes its header declares" \
		patchify -p 2 -o "$d/out.tsr" "$d/liar.zip"
	refused "$base" "patchify: $d/claims.zip: cat/big.pgm: its header declares 2147483648 bytes, more than the 1073741824 an entry may have" \
		patchify -p 2 -o "$d/out.tsr" "$d/claims.zip"
	[ ! -e "$d/out.tsr" ]
}

@test "hostile: a tar of 20000 empty entries costs neither memory nor time" {
	local d=$BATS_TEST_TMPDIR base
	build_tar "$d/one.tar" 'add("cat/a.pgm", open("'"$HT/ok/cat/a.pgm"'", "rb").read())'
	peak patchify -p 4 -o /dev/null "$d/one.tar"
	assert_success
	base=$peak
	build_tar "$d/many.tar" '
for i in range(20000):
    add("x/%05d.txt" % i)
for i in range(20000):
    add("dir%05d" % i, type=tarfile.DIRTYPE)
add("cat/a.pgm", open("'"$HT/ok/cat/a.pgm"'", "rb").read())'
	SECONDS=0
	peak patchify -p 4 -o "$d/out.tsr" "$d/many.tar"
	assert_success
	[ "$peak" -lt $((base + 32768)) ]
	[ "$SECONDS" -lt 60 ]
	assert_equal "$(tensorinfo "$d/out.tsr" | cut -d' ' -f2-4)" "patches f32 [n=1,l=1,d=48]
labels i32 [n=1]"
	# empty entries that claim to be images: the first is an error
	build_tar "$d/empty.tar" '
for i in range(20000):
    add("cat/%05d.png" % i)'
	refused "$base" "patchify: $d/empty.tar: cat/00000.png: not a PNG, JPEG or binary PNM image" \
		patchify -p 4 -o "$d/out2.tsr" "$d/empty.tar"
}

@test "hostile: symbolic links, hard links and '..' in archives are never followed outside" {
	local d=$BATS_TEST_TMPDIR base secret=$HT/outside/secret.pgm
	peak patchify -p 4 -o /dev/null "$HT/ok"
	base=$peak
	# a link to a file outside: skipped; only the image inside is read
	build_tar "$d/sym.tar" '
add("cat/a.pgm", open("'"$HT/ok/cat/a.pgm"'", "rb").read())
add("cat/s.pgm", type=tarfile.SYMTYPE, linkname="'"$secret"'")
add("dog/s.pgm", type=tarfile.SYMTYPE, linkname="../../outside/secret.pgm")'
	run --separate-stderr patchify -p 4 -o "$d/sym.tsr" "$d/sym.tar"
	assert_success
	assert_equal "$(tensorinfo "$d/sym.tsr" | cut -d' ' -f2-4)" "patches f32 [n=1,l=1,d=48]
labels i32 [n=1]"
	# hard links, to a file outside or inside: skipped too
	build_tar "$d/hard.tar" '
add("cat/h.pgm", type=tarfile.LNKTYPE, linkname="'"$secret"'")
add("cat/a.pgm", open("'"$HT/ok/cat/a.pgm"'", "rb").read())
add("dog/h.pgm", type=tarfile.LNKTYPE, linkname="cat/a.pgm")'
	run --separate-stderr patchify -p 4 -o "$d/hard.tsr" "$d/hard.tar"
	assert_success
	assert_equal "$(tensorinfo "$d/hard.tsr" | cut -d' ' -f2-4)" "patches f32 [n=1,l=1,d=48]
labels i32 [n=1]"
	# paths that climb out: refused, whatever they are
	for p in "../outside/cat/x.pgm" "cat/../../x.pgm" "a/b/../../../cat/x.pgm" "cat/.."; do
		build_tar "$d/dots.tar" 'add("'"$p"'", open("'"$HT/ok/cat/a.pgm"'", "rb").read())'
		refused "$base" "patchify: $d/dots.tar: $p: a '..' in the path (refused: an archive may not point outside)" \
			patchify -p 4 -o "$d/out.tsr" "$d/dots.tar"
	done
	# names with two dots that are no '..' are fine
	build_tar "$d/fine.tar" 'add("cat..x/a..pgm", open("'"$HT/ok/cat/a.pgm"'", "rb").read())'
	run patchify -p 4 -o "$d/fine.tsr" "$d/fine.tar"
	assert_success
	# an mtree list naming a local file: its contents are not read
	printf '#mtree\ncat/x.pgm type=file contents=%s\n' "$secret" > "$d/list.mtree"
	refused "$base" "patchify: $d/list.mtree: cat/x.pgm: not a PNG, JPEG or binary PNM image" \
		patchify -p 4 -o "$d/out.tsr" "$d/list.mtree"
	[ ! -e "$d/out.tsr" ]
}

@test "hostile: an IDX file claiming 47 million bytes it does not have costs no memory" {
	local d=$BATS_TEST_TMPDIR base
	peak patchify -p 4 -n 8 -o /dev/null "$FMNIST/t10k-images-idx3-ubyte.gz"
	assert_success
	base=$peak
	printf '\0\0\10\3\0\0\352\140\0\0\0\34\0\0\0\34%016d' 0 > "$d/x-images-idx3-ubyte"
	cp "$FMNIST/t10k-labels-idx1-ubyte.gz" "$d/x-labels-idx1-ubyte.gz"
	refused "$base" "patchify: $d/x-images-idx3-ubyte: truncated: got 16 of 47040000 bytes for dims 60000x28x28" \
		patchify -p 4 -l "$d/x-labels-idx1-ubyte.gz" -o "$d/out.tsr" "$d/x-images-idx3-ubyte"
}

@test "hostile: a checkpoint whose config claims billions of parameters costs no memory" {
	local d=$BATS_TEST_TMPDIR base dim tool f
	patchify -p 4 -n 8 -o "$d/p.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
	mim-train -q -b 8 -s 1 --dim 8 --dec-dim 8 -o "$d/m.tsr" "$d/p.tsr"
	peak encode -m "$d/m.tsr" -o /dev/null "$d/p.tsr"
	assert_success
	base=$peak
	# the config of a ViT of width 2048 (1 billion parameters) or 8192
	# (16 billion), and no parameters: refused when they do not come, or
	# when the address space for them cannot be had
	for dim in 2048 8192; do
		mktsr -n "$d/huge.tsr" step:i64: target=pixel patch_size=4 grid=7x7 \
			channels=1 k=0 dim=$dim depth=12 heads=16 dec_dim=$dim dec_depth=8 \
			dec_heads=16 mlp_ratio=4 norm_pix=0 smoothing=0 mask_ratio=0.75 \
			batch_size=8 steps=1 warmup=0 blr=0.001 weight_decay=0.05 clip=0 \
			seed=0 seen=8
		# and a finetune checkpoint's config of the same model
		mktsr -n "$d/huge-ft.tsr" step:i64: tool=finetune/0.1.0 target=pixel \
			patch_size=4 grid=7x7 channels=1 k=0 dim=$dim depth=12 heads=16 \
			dec_dim=$dim dec_depth=8 dec_heads=16 mlp_ratio=4 norm_pix=0 \
			nclasses=10 pool=mean batch_size=8 steps=1 warmup=0 blr=0.001 \
			min_lr=0 weight_decay=0.05 layer_decay=0.75 drop_path=0.1 \
			label_smoothing=0.1 mixup=0.8 cutmix=1 mix_prob=1 switch_prob=0.5 \
			clip=0 seed=0 seen=0 epochs_done=0 epoch_loss=0 epoch_steps=0
		for tool in "encode -m" "mim-train -q -r" "finetune -q -m" \
			"finetune -q -r"; do
			f=$d/huge.tsr
			[ "$tool" != "finetune -q -r" ] || f=$d/huge-ft.tsr
			peak $tool "$f" -o "$d/out.tsr" "$d/p.tsr"
			assert_equal "$status" 1
			[[ $stderr == "${tool%% *}: $f: record 1: stream ended without end record (did the producer fail?)" ||
			   $stderr == "${tool%% *}: $f: out of memory for "*" parameters and "* ]] ||
				{ echo "$stderr" >&2; return 1; }
			[ "$peak" -lt $((base + 32768)) ]
			[ ! -e "$d/out.tsr" ]
		done
	done
}
