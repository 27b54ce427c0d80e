#!/usr/bin/env python3
# See LICENSE file for copyright and license details.
"""Write the example tensor streams in formats/examples/ from the spec.

This script is a second, independent writer: it was written from
formats/tensor-stream.md alone, with nothing but the Python standard
library (struct, zlib), and shares no code with lib/tensor_write.c.
tests/unit/unit-tensor.c checks that the C writer produces the same bytes
for the same records, so the examples pin the format down from two sides.

For each example NAME it writes NAME.tsr and NAME.hex, an annotated hex
dump with one line per field (longer fields wrap at 16 bytes):

    OFFSET    BYTES (up to 16, hex)                            MEANING

The BYTES column is columns 11-57 of a line; lines starting with '#' are
comments.  The MEANING of each header field has a fixed form that
tests/00-stream.bats parses ("dtype = 10 (f32)", "crc32 = 0x...").

The files in dir are version 1.1, the version writers write; the same
streams as version 1.0, which readers still read, go to dir/v1.0.

It then copies each NAME.hex into formats/tensor-stream.md, between the
lines "<!-- begin NAME.hex -->" and "<!-- end NAME.hex -->" (and
v1.0/NAME.hex between "<!-- begin v1.0/NAME.hex -->" and its end).

usage: make-examples.py [dir]      (default: the directory of this script)
"""
import os
import struct
import sys
import zlib

ALIGN = 64
DTYPES = {  # name: (code, struct format of one element)
    "u8": (1, "B"), "i8": (2, "b"), "u16": (3, "H"), "i16": (4, "h"),
    "u32": (5, "I"), "i32": (6, "i"), "u64": (7, "Q"), "i64": (8, "q"),
    "f16": (9, "e"), "f32": (10, "f"), "f64": (11, "d"),
}
CODES = {code: name for name, (code, _) in DTYPES.items()}
CODES[12] = "bf16"
FLAG_ZLIB = 1
FLAG_HCRC = 2


def align64(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def cstr(b):
    """bytes as a C-like string literal for the annotations"""
    out = ""
    for c in b:
        if c == 0x0A:
            out += "\\n"
        elif c in (0x22, 0x5C):
            out += "\\" + chr(c)
        elif 0x20 <= c < 0x7F:
            out += chr(c)
        else:
            out += "\\x%02x" % c
    return '"' + out + '"'


class Stream:
    """bytes of one or more streams plus the annotation lines"""

    def __init__(self, minor=1):
        self.minor = minor
        self.data = bytearray()
        self.lines = []
        self.count = 0  # records since the last end record

    def field(self, b, meaning):
        off = len(self.data)
        for i in range(0, max(len(b), 1), 16):
            chunk = b[i:i + 16]
            if not chunk:
                break
            self.lines.append("%08x  %-47s  %s" % (
                off + i, " ".join("%02x" % c for c in chunk),
                meaning if i == 0 else ""))
        self.data += b

    def comment(self, text):
        self.lines.append("# " + text if text else "#")

    def record(self, name, dtype, dims, values, meta=b"", level=None,
               raw=None, note="", desc=None):
        code, fmt = DTYPES[dtype]
        count = 1
        for d in dims:
            count *= d
        payload = raw if raw is not None else struct.pack(
            "<%d%s" % (count, fmt), *values)
        assert len(payload) == count * struct.calcsize(fmt)
        crc = zlib.crc32(payload) & 0xFFFFFFFF
        flags = FLAG_HCRC if self.minor >= 1 else 0
        stored = payload
        if level is not None and payload:
            flags |= FLAG_ZLIB
            stored = zlib.compress(payload, level)
        # 1.1: a zlib record's header ends with the crc of stored bytes
        zcrc = self.minor >= 1 and flags & FLAG_ZLIB
        name_b = name.encode("ascii")
        end = 40 + 8 * len(dims) + len(name_b) + len(meta)
        need = end + (4 if zcrc else 0)
        hdr_len = align64(need)
        fixed = b"\x93TSR" + bytes([1, self.minor, code, len(dims)])
        fixed += struct.pack("<IIQIHHII", flags, hdr_len, len(stored), crc,
                             len(name_b), 0, len(meta), 0)
        header = fixed + b"".join(struct.pack("<Q", d) for d in dims)
        header += name_b + meta + bytes(hdr_len - need)
        if zcrc:
            header += struct.pack("<I", zlib.crc32(stored) & 0xFFFFFFFF)
        # 1.1: the header crc, over the header with its own field as 0
        hcrc = zlib.crc32(header) & 0xFFFFFFFF if self.minor >= 1 else 0
        start = len(self.data)
        index = "end record" if name == "end" else "record"
        self.comment("")
        self.comment("%s at offset %d: %s %s [%s]%s" % (
            index, start, name, dtype, ",".join(map(str, dims)),
            note and " -- " + note))
        self.field(b"\x93TSR", 'magic "\\x93TSR"')
        self.field(bytes([1]), "major = 1")
        self.field(bytes([self.minor]), "minor = %d" % self.minor)
        self.field(bytes([code]), "dtype = %d (%s)" % (code, dtype))
        self.field(bytes([len(dims)]), "rank = %d" % len(dims))
        names = [n for bit, n in ((FLAG_ZLIB, "zlib"), (FLAG_HCRC, "hcrc"))
                 if flags & bit]
        self.field(struct.pack("<I", flags), "flags = 0x%08x (%s)" % (
            flags, ", ".join(names) or "none"))
        self.field(struct.pack("<I", hdr_len), "hdr_len = %d" % hdr_len)
        self.field(struct.pack("<Q", len(stored)),
                   "payload_len = %d" % len(stored))
        self.field(struct.pack("<I", crc), "crc32 = 0x%08x" % crc)
        self.field(struct.pack("<H", len(name_b)),
                   "name_len = %d" % len(name_b))
        self.field(b"\0\0", "reserved")
        self.field(struct.pack("<I", len(meta)), "meta_len = %d" % len(meta))
        if self.minor >= 1:
            self.field(struct.pack("<I", hcrc), "hdr_crc = 0x%08x" % hcrc)
        else:
            self.field(b"\0\0\0\0", "reserved")
        for i, d in enumerate(dims):
            self.field(struct.pack("<Q", d), "dims[%d] = %d" % (i, d))
        self.field(name_b, "name = " + cstr(name_b))
        if meta:
            self.field(meta, "meta = " + cstr(meta))
        if hdr_len > need:
            self.field(bytes(hdr_len - need),
                       "header padding (%d byte%s)" % (
                           hdr_len - need, "" if hdr_len - need == 1 else "s"))
        if zcrc:
            self.field(header[-4:], "zcrc = 0x%08x (crc32 of the %d stored "
                       "bytes)" % (zlib.crc32(stored) & 0xFFFFFFFF,
                                   len(stored)))
        if stored:
            what = "payload: " + (desc or note_values(dtype, values))
            if flags & FLAG_ZLIB:
                what = "payload: zlib stream, inflates to %d bytes: %s" % (
                    len(payload), desc or note_values(dtype, values))
            self.field(stored, what)
            pad = align64(len(stored)) - len(stored)
            if pad:
                self.field(bytes(pad), "payload padding (%d bytes)" % pad)
        else:
            self.comment("(no payload: %d elements)" % count)
        if name == "end":
            self.count = 0
        else:
            self.count += 1

    def end(self):
        n = self.count
        self.record("end", "u64", [], [n],
                    note="counts the %d record%s before it" %
                    (n, "" if n == 1 else "s"))

    def save(self, dirname, base, title):
        with open(os.path.join(dirname, base + ".tsr"), "wb") as f:
            f.write(self.data)
        with open(os.path.join(dirname, base + ".hex"), "w") as f:
            f.write("# %s.tsr: %s (version 1.%d)\n" % (base, title,
                                                        self.minor))
            f.write("# %d bytes, written by make-examples.py\n" %
                    len(self.data))
            f.write("# offset  bytes%s  meaning\n" % (" " * 42))
            for line in self.lines:
                f.write(line.rstrip() + "\n")


def update_doc(doc, dirname, names):
    """copy each NAME.hex into the block between its markers in doc"""
    if not os.path.exists(doc):
        return
    with open(doc) as f:
        text = f.read()
    for base in names:
        begin = "<!-- begin %s.hex -->\n" % base
        end = "<!-- end %s.hex -->" % base
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            continue
        with open(os.path.join(dirname, base + ".hex")) as f:
            dump = f.read()
        text = text[:i + len(begin)] + "```text\n" + dump + "```\n" + \
            text[j:]
    with open(doc, "w") as f:
        f.write(text)


def note_values(dtype, values):
    shown = ["nan" if v != v else repr(v) for v in values[:16]]
    more = " ..." if len(values) > 16 else ""
    return dtype + " " + " ".join(shown) + more


def examples(out, minor):
    """write the example files of one version into out"""
    # scalar: one rank-0 f32 with one meta line
    s = Stream(minor)
    s.record("loss", "f32", [], [2.5], meta=b"step=100\n")
    s.end()
    s.save(out, "scalar", "one rank-0 f32 record, then the end record")

    # group: patches u8 [2,4,4] and labels i32 [2], both batch=0
    s = Stream(minor)
    s.record("patches", "u8", [2, 4, 4], list(range(32)),
             meta=b"batch=0\ndims=n,l,d\n")
    s.record("labels", "i32", [2], [3, 7], meta=b"batch=0\ndims=n\n")
    s.end()
    s.save(out, "group", "one group (batch=0) of patches and labels")

    # compressed: an 8x8 f32 identity matrix as one zlib stream
    eye = [1.0 if i // 8 == i % 8 else 0.0 for i in range(64)]
    s = Stream(minor)
    s.record("eye", "f32", [8, 8], eye, level=9,
             note="zlib level 9, crc32 of the 256 uncompressed bytes",
             desc="f32 8x8 identity")
    s.end()
    s.save(out, "compressed", "a zlib-compressed f32 [8,8] record")

    # empty: a valid stream with no records, only the end record
    s = Stream(minor)
    s.end()
    s.save(out, "empty", "an empty stream: only the end record")

    # concat: two complete streams back to back (cat a.tsr b.tsr);
    # the same batch value does not join records across an end record
    s = Stream(minor)
    s.record("first", "i64", [2], [-1, 1], meta=b"batch=0\n")
    s.end()
    s.record("second", "u16", [3], [1, 2, 65535], meta=b"batch=0\n")
    nan = struct.pack("<Q", 0x7FF8000000000001)
    s.record("third", "f64", [], [float("nan")], meta=b"batch=0\n",
             raw=nan, note="a NaN, stored bit for bit")
    s.end()
    s.save(out, "concat", "two streams back to back (1 record, then 2)")

    # emptydim: a tensor with a 0 dim has no payload
    s = Stream(minor)
    s.record("tokens", "i32", [0, 4], [], meta=b"batch=0\ndims=n,l\n")
    s.end()
    s.save(out, "emptydim", "an empty i32 [0,4] record: no payload")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    names = ["scalar", "group", "compressed", "empty", "concat", "emptydim"]
    examples(out, 1)
    os.makedirs(os.path.join(out, "v1.0"), exist_ok=True)
    examples(os.path.join(out, "v1.0"), 0)

    # the hex dumps in formats/tensor-stream.md
    update_doc(os.path.join(out, "..", "tensor-stream.md"), out,
               names + ["v1.0/" + n for n in names])


if __name__ == "__main__":
    main()
