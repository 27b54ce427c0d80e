#!/usr/bin/env python3
# See LICENSE file for copyright and license details.
"""tsr.py: an independent tensor stream reader, for the tests.

Written from formats/tensor-stream.md alone (sections 3 to 12 and 17),
for versions 1.0 and 1.1,
with the Python standard library only, and sharing nothing with the C
library.  tests/00-stream.bats checks that it lists the example files
as tensorinfo does and rejects the same broken inputs, so the document
is known to be enough to write a reader.

usage: tsr.py [file ...]       (no file or "-": standard input)

Prints one line per data record, "INDEX NAME DTYPE SHAPE CRC FLAGS
META...", as tensorinfo does; on the first error it prints
"tsr.py: INPUT: record N 'NAME': ERROR (DETAIL)" on stderr and exits 1.
"""
import struct
import sys
import zlib

ALIGN = 64
MAXRANK = 8
MAXNAME = 255
MAXMETA = 65536
MAXHDR = 1 << 20
FLAG_ZLIB = 1
FLAG_HCRC = 2       # 1.1: the header carries its CRC-32 at offset 36
MAXRATIO = 1032     # deflate never inflates more than 1032:1
DTYPES = {1: ("u8", 1), 2: ("i8", 1), 3: ("u16", 2), 4: ("i16", 2),
          5: ("u32", 4), 6: ("i32", 4), 7: ("u64", 8), 8: ("i64", 8),
          9: ("f16", 2), 10: ("f32", 4), 11: ("f64", 8), 12: ("bf16", 2)}
U64MAX = (1 << 64) - 1
CHUNK = 1 << 20


class StreamError(Exception):
    pass


def align64(n):
    return (n + ALIGN - 1) & ~(ALIGN - 1)


def compress_bound(n):
    return n + (n >> 12) + (n >> 14) + (n >> 25) + 13


def name_ok(b):
    """the name grammar of section 8, on bytes"""
    if not 1 <= len(b) <= MAXNAME:
        return False
    for seg in b.split(b"."):
        if not seg:
            return False
        for c in seg:
            if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x5F):
                return False
    return True


class Reader:
    def __init__(self, fp, name):
        self.fp = fp
        self.name = name
        self.index = 0      # data records returned (N)
        self.inseg = 0      # data records since the last end record
        self.state = 0      # 0 nothing read, 1 in a stream, 2 after end
        self.recname = None

    def fail(self, error, detail=None):
        where = self.name + ": "
        if not (self.state == 0 and error == "empty input"):
            where += "record %d" % self.index
            if self.recname:
                where += " '%s'" % self.recname
            where += ": "
        msg = where + error
        if detail is not None:
            msg += " (%s)" % detail
        raise StreamError(msg)

    def readn(self, n):
        """up to n bytes, in pieces, so a lying header allocates nothing"""
        parts = []
        while n > 0:
            b = self.fp.read(min(n, CHUNK))
            if not b:
                break
            parts.append(b)
            n -= len(b)
        return b"".join(parts)

    def read(self):
        """(name, dtype, dims, flags, crc, meta, data) or None at the end"""
        while True:
            rec = self.read_record()
            if rec is None:
                return None
            if rec[0] != "end":
                self.state = 1
                self.inseg += 1
                self.index += 1
                return rec

    def read_record(self):
        self.recname = None
        # 1: end of input
        first = self.fp.read(1)
        if not first:
            if self.state == 2:
                return None
            if self.state == 0:
                self.fail("empty input", "no records and no end record")
            self.fail("stream ended without end record",
                      "did the producer fail?")
        # 2: the fixed part
        fixed = first + self.readn(39)
        if len(fixed) < 40:
            self.fail("truncated record",
                      "got %d of 40 header bytes" % len(fixed))
        (magic, major, minor, dtype, rank, flags, hdr_len, plen, crc,
         name_len, res0, meta_len, res1) = struct.unpack(
            "<4sBBBBIIQIHHII", fixed)
        # 3-5: magic, major and the header length, the only field used
        # before the header CRC (1.1) is checked
        if magic != b"\x93TSR":
            self.fail("bad magic", "expected 93 54 53 52, got " +
                      " ".join("%02x" % c for c in magic))
        if major != 1:
            self.fail("unsupported version",
                      "major %d, this reader knows 1" % major)
        if hdr_len < ALIGN or hdr_len > MAXHDR or hdr_len % ALIGN:
            self.fail("bad header length",
                      "%d, expected a multiple of %d from %d to %d" %
                      (hdr_len, ALIGN, ALIGN, MAXHDR))
        # 6: the rest of the header
        rest = self.readn(hdr_len - 40)
        if len(rest) < hdr_len - 40:
            self.fail("truncated record", "got %d of %d header bytes" %
                      (40 + len(rest), hdr_len))
        header = fixed + rest
        # 7: the header CRC (minor 1 and later)
        if minor >= 1:
            if not flags & FLAG_HCRC:
                self.fail("header crc mismatch",
                          "minor %d without the HCRC flag" % minor)
            got = zlib.crc32(header[:36] + bytes(4) + header[40:])
            if got != res1:
                self.fail("header crc mismatch",
                          "stored %08x, computed %08x" % (res1, got))
        # 8-14: the fields, in the order of section 11
        if dtype not in DTYPES:
            self.fail("unknown dtype", "code %d" % dtype)
        if flags & ~(FLAG_ZLIB | (FLAG_HCRC if minor else 0)):
            self.fail("unknown flags", "0x%08x" % flags)
        if rank > MAXRANK:
            self.fail("rank too large", "%d, at most %d" % (rank, MAXRANK))
        if minor == 0 and (res0 or res1):
            self.fail("reserved field not zero", "bytes 30-31 and 36-39")
        if minor and res0:
            self.fail("reserved field not zero", "bytes 30-31")
        if not 1 <= name_len <= MAXNAME:
            self.fail("bad name", "length %d, expected 1 to %d" %
                      (name_len, MAXNAME))
        if meta_len > MAXMETA:
            self.fail("bad meta", "length %d, at most %d" %
                      (meta_len, MAXMETA))
        end = 40 + 8 * rank + name_len + meta_len
        zcrc = minor >= 1 and flags & FLAG_ZLIB
        need = end + (4 if zcrc else 0)
        if minor == 1 and hdr_len != align64(need):
            self.fail("bad header length",
                      "%d, expected %d for %d header bytes" %
                      (hdr_len, align64(need), need))
        if hdr_len < need:
            self.fail("bad header length",
                      "%d, expected a multiple of %d from %d to %d" %
                      (hdr_len, ALIGN, need, MAXHDR))
        dims = list(struct.unpack_from("<%dQ" % rank, rest, 0))
        off = 8 * rank
        name = rest[off:off + name_len]
        meta = rest[off + name_len:off + name_len + meta_len]
        # 15: the name
        if not name_ok(name):
            self.fail("bad name",
                      "names are [a-z0-9_] segments joined by '.'")
        self.recname = name.decode("ascii")
        # 16: meta lines
        pos = 0
        while pos < len(meta):
            nl = meta.find(b"\n", pos)
            if nl < 0 or b"\0" in meta[pos:nl]:
                self.fail("bad meta", "line %d not ended by a newline" % pos)
            line = meta[pos:nl]
            if b"=" not in line:
                self.fail("bad meta", "line without '='")
            if not name_ok(line.split(b"=", 1)[0]):
                self.fail("bad meta", "bad key")
            pos = nl + 1
        # 17: the header padding of 1.1 (other minors: ignored)
        if minor == 1:
            pad = header[end:hdr_len - (need - end)]
            if pad.strip(b"\0"):
                self.fail("padding not zero", "header byte %d" %
                          (end + len(pad) - len(pad.lstrip(b"\0"))))
        # 18: element count and byte size; a 0 dim makes the tensor
        # empty whatever the other dims are
        if 0 in dims:
            count = 0
        else:
            count = 1
            for d in dims:
                count *= d
                if count > U64MAX:
                    self.fail("dims overflow", "element count above 2^64")
        size = DTYPES[dtype][1]
        if count * size > U64MAX:
            self.fail("dims overflow", "%d elements of %d bytes" %
                      (count, size))
        nbytes = count * size
        # 19: payload_len, in the order of section 11
        if not flags & FLAG_ZLIB:
            if plen != nbytes:
                self.fail("payload size mismatch",
                          "payload_len %d for %d bytes" % (plen, nbytes))
        elif not nbytes:
            self.fail("payload size mismatch",
                      "an empty tensor cannot be compressed")
        elif not 1 <= plen <= compress_bound(nbytes):
            self.fail("payload size mismatch",
                      "payload_len %d for %d bytes compressed" %
                      (plen, nbytes))
        elif nbytes // MAXRATIO > plen:
            self.fail("payload size mismatch",
                      "payload_len %d cannot inflate to %d bytes" %
                      (plen, nbytes))
        # 20-21: the payload (read in pieces: no allocation up front)
        stored = self.readn(plen)
        if len(stored) < plen:
            self.fail("truncated record", "got %d of %d payload bytes" %
                      (len(stored), plen))
        data = stored
        if zcrc:
            want = struct.unpack_from("<I", header, hdr_len - 4)[0]
            got = zlib.crc32(stored) & 0xFFFFFFFF
            if got != want:
                self.fail("crc mismatch", "stored %08x, computed %08x over "
                          "the %d compressed bytes" % (want, got, plen))
        if flags & FLAG_ZLIB:
            z = zlib.decompressobj()
            try:
                data = z.decompress(stored, nbytes)
                ok = z.eof and len(data) == nbytes
                why = "short" if z.eof else "incomplete"
            except zlib.error as e:
                ok, why = False, str(e)
            if not ok:
                self.fail("invalid or incomplete zlib data", "%s, %d of %d "
                          "bytes" % (why, len(data), nbytes))
        # 22: payload padding, zeros
        padlen = align64(plen) - plen
        pad = self.readn(padlen)
        if len(pad) < padlen:
            self.fail("truncated record", "got %d of %d padding bytes" %
                      (len(pad), padlen))
        if pad.strip(b"\0"):
            self.fail("padding not zero", "payload padding byte %d of %d" %
                      (padlen - len(pad.lstrip(b"\0")), padlen))
        # 23: the CRC of the uncompressed bytes
        got = zlib.crc32(data) & 0xFFFFFFFF
        if got != crc:
            self.fail("crc mismatch", "stored %08x, computed %08x" %
                      (crc, got))
        # 24: the end record
        if self.recname == "end":
            if DTYPES[dtype][0] != "u64" or rank != 0:
                self.fail("bad end record", "expected a u64 scalar")
            n = struct.unpack("<Q", data)[0]
            if n != self.inseg:
                self.fail("bad end record",
                          "it counts %d records, the stream had %d" %
                          (n, self.inseg))
            self.state = 2
            self.inseg = 0
        return (self.recname, DTYPES[dtype][0], dims, flags, crc, meta,
                data)


def shape_str(dims, meta):
    """section 17: [a,b,c], or [n=a,l=b,c] with a dims meta key"""
    names = []
    for line in meta.split(b"\n"):
        if line.startswith(b"dims="):
            names = [n for n in line[5:].split(b",") if n]
            break
    parts = []
    for i, d in enumerate(dims):
        parts.append(names[i] + b"=%d" % d if i < len(names) else b"%d" % d)
    return b"[" + b",".join(parts) + b"]"


def listing(fp, name, out):
    r = Reader(fp, name)
    while True:
        rec = r.read()
        if rec is None:
            return
        recname, dtype, dims, flags, crc, meta, _ = rec
        line = b"%d %s %s %s %08x %s" % (
            r.index - 1, recname.encode(), dtype.encode(),
            shape_str(dims, meta), crc, b"z" if flags & FLAG_ZLIB else b"-")
        for m in meta.split(b"\n")[:-1]:
            line += b" " + m
        out.write(line + b"\n")


def main(argv):
    files = argv[1:] or ["-"]
    out = sys.stdout.buffer
    status = 0
    for path in files:
        if len(files) > 1:
            out.write(b"==> %s <==\n" % (
                b"<stdin>" if path == "-" else path.encode()))
        try:
            if path == "-":
                listing(sys.stdin.buffer, "<stdin>", out)
            else:
                with open(path, "rb") as fp:
                    listing(fp, path, out)
        except StreamError as e:
            out.flush()
            sys.stderr.write("tsr.py: %s\n" % e)
            status = 1
        except OSError as e:
            out.flush()
            sys.stderr.write("tsr.py: %s: %s\n" % (path, e.strerror))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
