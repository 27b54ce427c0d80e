# See LICENSE file for copyright and license details.
"""tsrio.py: read and write tensor streams as numpy arrays, for the
parity tests (formats/tensor-stream.md; no zlib payloads needed here).
It reads versions 1.0 and 1.1 without checking them (tests/tsr.py and
the tools do that) and writes 1.1."""
import struct
import zlib

import numpy as np

DT = {1: np.uint8, 2: np.int8, 3: np.uint16, 4: np.int16, 5: np.uint32,
      6: np.int32, 7: np.uint64, 8: np.int64, 10: np.float32, 11: np.float64}
CODE = {np.dtype(v): k for k, v in DT.items()}


def _a64(n):
    return (n + 63) & ~63


def read(path):
    """[(name, meta dict, array)] of the data records of a stream."""
    out = []
    with open(path, "rb") as f:
        b = f.read()
    o = 0
    while o < len(b):
        if b[o:o + 4] != b"\x93TSR":
            raise ValueError("bad magic at %d" % o)
        dt, rank = b[o + 6], b[o + 7]
        flags, hlen, plen, _crc, nlen = struct.unpack_from("<IIQIH", b, o + 8)
        mlen, = struct.unpack_from("<I", b, o + 32)
        dims = struct.unpack_from("<%dQ" % rank, b, o + 40)
        p = o + 40 + 8 * rank
        name = b[p:p + nlen].decode()
        meta = dict(kv.split("=", 1) for kv in
                    b[p + nlen:p + nlen + mlen].decode().splitlines() if kv)
        pay = b[o + hlen:o + hlen + plen]
        if flags & 1:
            pay = zlib.decompress(pay)
        o += _a64(hlen + plen)
        if name == "end":
            continue
        out.append((name, meta, np.frombuffer(pay, DT[dt]).reshape(dims)))
    return out


def _record(name, code, dims, pay, meta):
    """a version 1.1 record: flag HCRC, the header crc at offset 36"""
    nb = name.encode()
    mb = "".join("%s=%s\n" % kv for kv in meta.items()).encode()
    hlen = _a64(40 + 8 * len(dims) + len(nb) + len(mb))
    h = b"\x93TSR" + bytes([1, 1, code, len(dims)])
    h += struct.pack("<IIQIHHII", 2, hlen, len(pay), zlib.crc32(pay),
                     len(nb), 0, len(mb), 0)
    h += struct.pack("<%dQ" % len(dims), *dims) + nb + mb
    h += b"\0" * (hlen - len(h))
    h = h[:36] + struct.pack("<I", zlib.crc32(h)) + h[40:]
    r = h + pay
    return r + b"\0" * (_a64(len(r)) - len(r))


def record(name, arr, meta=None):
    arr = np.ascontiguousarray(arr)
    return _record(name, CODE[arr.dtype], arr.shape, arr.tobytes(),
                   meta or {})


def end(count):
    """the end record of a stream of count data records"""
    return _record("end", 7, (), struct.pack("<Q", count), {})
