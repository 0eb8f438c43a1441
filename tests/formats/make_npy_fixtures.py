#!/usr/bin/python3
"""Writes the .npy fixtures of tests/formats/npy/ and the npy seeds and
known-bad files of tests/fuzz/{corpus,bad}/npy/, all made by NumPy itself.

    /usr/bin/python3 tests/formats/make_npy_fixtures.py   (from the repo root)

Good arrays have shape (3, 5) and a[q, f] = (37 q + 11 f) % M with M = 100
for 1-byte dtypes and 1000 otherwise; arrays of 2 or more bytes also hold
a[2, 4] = 1023 (the largest code of a 1024-entry codebook). test_npy.c
recomputes the same values."""
import io
import os
import numpy as np
from numpy.lib import format as npf

ROOT = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(ROOT, "npy")
CORPUS = os.path.join(ROOT, "..", "fuzz", "corpus", "npy")
BAD = os.path.join(ROOT, "..", "fuzz", "bad", "npy")


def codes(dtype):
    dt = np.dtype(dtype)
    m = 100 if dt.itemsize == 1 else 1000
    q, f = np.meshgrid(np.arange(3), np.arange(5), indexing="ij")
    a = ((37 * q + 11 * f) % m).astype(dt)
    if dt.itemsize > 1:
        a[2, 4] = 1023
    return a


def npy_bytes(a, version=None):
    b = io.BytesIO()
    npf.write_array(b, a, version=version, allow_pickle=False)
    return b.getvalue()


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


GOOD = [  # name, dtype, fortran order, version
    ("i1_C", "|i1", False, None), ("u1_C", "|u1", False, None),
    ("i2le_F", "<i2", True, None), ("i2be_C", ">i2", False, None),
    ("u2le_C", "<u2", False, None), ("u2be_F", ">u2", True, None),
    ("i4le_C", "<i4", False, None), ("i4be_F", ">i4", True, None),
    ("u4le_C", "<u4", False, None), ("u4be_C", ">u4", False, None),
    ("i8le_F", "<i8", True, None), ("i8be_C", ">i8", False, None),
    ("u8le_C", "<u8", False, None), ("u8be_F", ">u8", True, None),
    ("i8le_C_v2", "<i8", False, (2, 0)), ("i4le_F_v3", "<i4", True, (3, 0)),
]

for name, dt, fortran, version in GOOD:
    a = codes(dt)
    a = np.asfortranarray(a) if fortran else np.ascontiguousarray(a)
    data = npy_bytes(a, version)
    put(os.path.join(FIX, "ok_%s.npy" % name), data)
    put(os.path.join(CORPUS, "ok_%s.npy" % name), data)

good = codes("<i8")
neg = codes("<i2")
neg[1, 2] = -1
big = codes("<i4")
big[2, 3] = 1024
BADS = {  # fixture name -> (array, fuzz-bad name or None)
    "bad_f4": (good.astype("<f4"), "FORMAT_float.npy"),
    "bad_f8": (good.astype(">f8"), None),
    "bad_1d": (good.reshape(15), "FORMAT_1d.npy"),
    "bad_3d": (good.reshape(1, 3, 5), "FORMAT_3d.npy"),
    "bad_neg": (neg, "RANGE_negative.npy"),
    "bad_big": (big, "RANGE_code.npy"),
    "bad_bool": (good > 3, "FORMAT_bool.npy"),
    "bad_empty": (np.zeros((2, 0), "<i8"), "EMPTY_frames.npy"),
    "bad_struct": (np.zeros((3, 5), dtype=[("a", "<i4"), ("b", "<i4")]), "FORMAT_structured.npy"),
}
for name, (a, fuzz_name) in BADS.items():
    data = npy_bytes(a)
    put(os.path.join(FIX, name + ".npy"), data)
    if fuzz_name:
        put(os.path.join(BAD, fuzz_name), data)

ok = npy_bytes(good)
put(os.path.join(BAD, "TRUNCATED_data.npy"), ok[: len(ok) - 3])
put(os.path.join(BAD, "TRUNCATED_header.npy"), ok[:40])
put(os.path.join(BAD, "FORMAT_magic.npy"), b"\x93NUMPX" + ok[6:])
put(os.path.join(BAD, "FORMAT_trailing.npy"), ok + b"\0")
put(os.path.join(BAD, "UNSUPPORTED_version.npy"), ok[:6] + b"\x04\x00" + ok[8:])
hdr = b"{'descr': '<i8', 'fortran_order': False, 'shape': (5000, 1000000), }"
hdr += b" " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + b"\n"
put(os.path.join(BAD, "LIMIT_nq.npy"), b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr)
print("wrote fixtures to", FIX, CORPUS, BAD)
