#!/usr/bin/env bats
# encode: the encoder of a mim-train checkpoint on every patch, pass-through,
# parity with PyTorch and with mim-train's own forward, bad input.

load helpers

setup_file() {
	export EN=$BATS_FILE_TMPDIR
	patchify -p 4 -n 64 -b 32 -l "$FMNIST/t10k-labels-idx1-ubyte.gz" \
		-o "$EN/fm.tsr" "$FMNIST/t10k-images-idx3-ubyte.gz"
	mim-train -q -b 32 -s 2 --dim 32 --depth 2 --heads 2 --dec-dim 16 \
		--dec-depth 1 --dec-heads 2 -o "$EN/ck.tsr" "$EN/fm.tsr"
}

@test "encode: vit_encode equals mim-train's encoder forward bit for bit (unit-probe)" {
	OMP_NUM_THREADS=1 run unit-probe
	assert_success
	refute_output --partial "not ok"
	assert_output --partial "vit_encode equals vit_forward's encoder bit for bit"
}

@test "encode: adds features, pooled and cls to each group and passes the rest through" {
	cd "$BATS_TEST_TMPDIR"
	encode -m "$EN/ck.tsr" -o e.tsr "$EN/fm.tsr"
	run --separate-stderr bash -c "tensorinfo e.tsr | awk '{ print \$1, \$2, \$3, \$4 }'"
	assert_success
	assert_output "$(printf '%s\n' \
		"0 patches f32 [n=32,l=49,d=16]" "1 labels i32 [n=32]" \
		"2 features f32 [n=32,l=49,d=32]" "3 pooled f32 [n=32,d=32]" \
		"4 cls f32 [n=32,d=32]" \
		"5 patches f32 [n=32,l=49,d=16]" "6 labels i32 [n=32]" \
		"7 features f32 [n=32,l=49,d=32]" "8 pooled f32 [n=32,d=32]" \
		"9 cls f32 [n=32,d=32]")"
	# the passed-through records keep their payloads
	[ "$(tsr_field e.tsr 0 5)" = "$(tsr_field "$EN/fm.tsr" 0 5)" ]
	[ "$(tsr_field e.tsr 6 5)" = "$(tsr_field "$EN/fm.tsr" 3 5)" ]
}

@test "encode: -e pooled adds only pooled; -e cls,features both" {
	cd "$BATS_TEST_TMPDIR"
	encode -e pooled -m "$EN/ck.tsr" -o p.tsr "$EN/fm.tsr"
	run bash -c "tensorinfo p.tsr | awk '{ print \$2 }' | sort | uniq -c | awk '{ print \$2 \":\" \$1 }' | tr '\n' ' '"
	assert_output "labels:2 patches:2 pooled:2 "
	encode -e cls,features -m "$EN/ck.tsr" -o c.tsr "$EN/fm.tsr"
	run bash -c "tensorinfo c.tsr | awk '{ print \$2 }' | sort | uniq -c | awk '{ print \$2 \":\" \$1 }' | tr '\n' ' '"
	assert_output "cls:2 features:2 labels:2 patches:2 "
	run -2 encode -e mean -m "$EN/ck.tsr" "$EN/fm.tsr"
	assert_output --partial "-e mean: expected"
}

@test "encode: features, pooled and cls equal a PyTorch forward of the checkpoint to 1e-4" {
	cd "$BATS_TEST_TMPDIR"
	encode -m "$EN/ck.tsr" -o e.tsr "$EN/fm.tsr"
	run python3 - "$EN/ck.tsr" e.tsr "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np, torch, torch.nn.functional as F
import tsrio, parity
ck = tsrio.read(sys.argv[1])
cfg = ck[0][1]
p = {n: torch.tensor(a.astype(np.float64)) for n, m, a in ck if n.startswith("enc.")}
D, depth, nh = int(cfg["dim"]), int(cfg["depth"]), int(cfg["heads"])
gh, gw = map(int, cfg["grid"].split("x"))
pos = torch.tensor(parity.sincos_2d(D, gh, gw))
recs = tsrio.read(sys.argv[2])
bad = n = 0
for i, (name, meta, a) in enumerate(recs):
    if name != "patches":
        continue
    out = {r[0]: r[2] for r in recs[i + 1:i + 5]}
    x = torch.tensor(a.astype(np.float64))
    B = x.shape[0]
    h = F.linear(x, p["enc.patch_embed.weight"], p["enc.patch_embed.bias"]) + pos[1:]
    c = (p["enc.cls_token"] + pos[0]).expand(B, 1, D)
    h = torch.cat([c, h], 1)
    for j in range(depth):
        h = parity.block(h, p, "enc.blk.%d." % j, nh)
    h = F.layer_norm(h, (D,), p["enc.norm.weight"], p["enc.norm.bias"], 1e-5)
    ref = {"features": h[:, 1:], "pooled": h[:, 1:].mean(1), "cls": h[:, 0]}
    for k, t in ref.items():
        t = t.numpy()
        err = np.linalg.norm(out[k] - t) / np.linalg.norm(t)
        n += 1
        ok = err <= 1e-4
        bad += not ok
        print("%sok %d - %s batch %s rel err %.2e" % ("" if ok else "not ", n, k, meta["batch"], err))
print("1..%d" % n)
sys.exit(1 if bad or n == 0 else 0)
EOF
	assert_success
	refute_output --partial "not ok"
	assert_output --partial "1..6"
}

@test "encode: the same bits for the same -b and -j; within 1e-5 across them" {
	cd "$BATS_TEST_TMPDIR"
	encode -b 7 -m "$EN/ck.tsr" -o a.tsr "$EN/fm.tsr"
	encode -b 7 -m "$EN/ck.tsr" -o b.tsr "$EN/fm.tsr"
	cmp a.tsr b.tsr
	encode -j 2 -m "$EN/ck.tsr" -o c.tsr "$EN/fm.tsr"
	encode -j 2 -m "$EN/ck.tsr" -o d.tsr "$EN/fm.tsr"
	cmp c.tsr d.tsr
	# another chunking or thread count may round differently: to 1e-5
	encode -m "$EN/ck.tsr" -o e.tsr "$EN/fm.tsr"
	run tensorinfo -c e.tsr -t 1e-5 a.tsr
	assert_success
	run tensorinfo -c e.tsr -t 1e-5 c.tsr
	assert_success
}

@test "encode: reads stdin and works in a pipe" {
	run bash -c "patchify -p 4 -n 10 $FMNIST/t10k-images-idx3-ubyte.gz | encode -e cls -m $EN/ck.tsr | tensorinfo | awk '{ print \$2, \$4 }'"
	assert_success
	assert_output "$(printf '%s\n' 'patches [n=10,l=49,d=16]' 'labels [n=10]' 'cls [n=10,d=32]')"
}

@test "encode: an empty stream gives an empty stream" {
	cd "$BATS_TEST_TMPDIR"
	python3 -c "import sys; sys.path.insert(0, '$TOP/tests/parity'); import tsrio; open('empty.tsr', 'wb').write(tsrio.end(0))"
	run encode -m "$EN/ck.tsr" -o out.tsr empty.tsr
	assert_success
	run --separate-stderr tensorinfo out.tsr
	assert_success
	[ -z "$output" ] || [[ $output != *f32* ]]
}

@test "encode: patches of another geometry than the checkpoint fail with one line" {
	cd "$BATS_TEST_TMPDIR"
	patchify -p 7 -n 4 -o p7.tsr "$FMNIST/t10k-images-idx3-ubyte.gz"
	run -1 encode -m "$EN/ck.tsr" -o out.tsr p7.tsr
	assert_output "encode: p7.tsr: record 0 'patches': patch 7, grid 4x4, 1 channels, but the checkpoint was trained on patch 4, grid 7x7, 1 channels"
	[ ! -e out.tsr ]
}

@test "encode: a stream that is not a checkpoint, or lacks a tensor, is refused" {
	cd "$BATS_TEST_TMPDIR"
	run -1 encode -m "$EN/fm.tsr" -o out.tsr "$EN/fm.tsr"
	assert_output --partial "not a mim-train checkpoint"
	python3 - "$EN/ck.tsr" cut.tsr "$TOP/tests/parity" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import struct, tsrio
# copy the records as they are (the scalar 'step' stays rank 0), less one
b = open(sys.argv[1], "rb").read()
o, out, cnt = 0, b"", 0
while o < len(b):
    rank = b[o + 7]
    hlen, plen, _c, nlen = struct.unpack_from("<IQIH", b, o + 12)
    p = o + 40 + 8 * rank
    name = b[p:p + nlen].decode()
    size = (hlen + plen + 63) & ~63
    if name not in ("end", "enc.blk.1.mlp.fc2.bias"):
        out += b[o:o + size]
        cnt += 1
    o += size
open(sys.argv[2], "wb").write(out + tsrio.end(cnt))
EOF
	run -1 encode -m cut.tsr -o out.tsr "$EN/fm.tsr"
	assert_output "encode: cut.tsr: no record 'enc.blk.1.mlp.fc2.bias' (truncated or not a checkpoint?)"
}

@test "encode: patches of the wrong rank, and a missing -m, are refused" {
	cd "$BATS_TEST_TMPDIR"
	python3 -c "
import sys; sys.path.insert(0, '$TOP/tests/parity'); import tsrio, numpy as np
open('r2.tsr', 'wb').write(tsrio.record('patches', np.zeros((3, 16), np.float32), {'batch': 0}) + tsrio.end(1))"
	run -1 encode -m "$EN/ck.tsr" -o out.tsr r2.tsr
	assert_output "encode: r2.tsr: record 0 'patches': f32 [3,16], expected u8 or f32 [n, L, P]"
	run -2 encode "$EN/fm.tsr"
	assert_output --partial "-m model is required"
}

@test "encode: a timm ViT from .safetensors equals timm's forward in PyTorch to 1e-4" {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH=$TOP/tests/parity
	python3 "$TOP/tests/parity/timm_vit.py" make vit.safetensors
	python3 "$TOP/tests/parity/timm_vit.py" patches 12 p.tsr
	encode -b 5 -m vit.safetensors -o e.tsr p.tsr
	run python3 "$TOP/tests/parity/timm_vit.py" check vit.safetensors e.tsr
	assert_success
	refute_output --partial "not ok"
	assert_output --partial "1..6"
}

@test "encode: a .safetensors file with a missing tensor or a wrong shape names it" {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH=$TOP/tests/parity
	python3 "$TOP/tests/parity/timm_vit.py" patches 2 p.tsr
	python3 "$TOP/tests/parity/timm_vit.py" make drop.safetensors drop blocks.1.attn.proj.bias
	run -1 encode -m drop.safetensors -o out.tsr p.tsr
	assert_output "encode: drop.safetensors: no tensor 'blocks.1.attn.proj.bias' (not a timm ViT?)"
	python3 "$TOP/tests/parity/timm_vit.py" make shape.safetensors reshape blocks.1.attn.qkv.weight
	run -1 encode -m shape.safetensors -o out.tsr p.tsr
	assert_output "encode: shape.safetensors: tensor 'blocks.1.attn.qkv.weight': shape [97,32], expected [96,32]"
	printf 'junk' > junk.safetensors
	run -1 encode -m junk.safetensors -o out.tsr p.tsr
	assert_output "encode: junk.safetensors: not a safetensors file (4 bytes)"
	[ ! -e out.tsr ]
}
