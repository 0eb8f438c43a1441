#!/usr/bin/python3
"""Writes the fuzz seeds that no other generator makes (standard library only):

    python3 tests/fuzz/make_seeds.py        (from the repo root)

  corpus/safetensors/dtypes.safetensors  one small tensor of every dtype the
      loader takes (odd values: NaN and infinite halves, extreme integers), a
      0-d and a zero-size tensor, and __metadata__
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def dtypes_safetensors():
    dts = [("F64", "<d", [1.5, -0.0, float("inf")]), ("F32", "<f", [0.25, -3.0, float("nan")]),
           ("F16", "<H", [0x3c00, 0xfc00, 0x0001]), ("BF16", "<H", [0x3f80, 0x7fc0, 0x8001]),
           ("I64", "<q", [-1, 2**62, 0]), ("I32", "<i", [-2**31, 7, 0]), ("I16", "<h", [-32768, 5, 1]),
           ("I8", "<b", [-128, 127, 0]), ("U8", "<B", [255, 0, 1]), ("BOOL", "<B", [0, 1, 1]),
           ("U16", "<H", [65535, 2, 3]), ("U32", "<I", [2**32 - 1, 4, 5]), ("U64", "<Q", [2**64 - 1, 6, 7])]
    hdr = {"__metadata__": {"format": "pt", "sonotok.note": "every dtype"}}
    data = b""
    for i, (name, fmt, values) in enumerate(dts):
        b = b"".join(struct.pack(fmt, x) for x in values)
        shape = [3] if i % 3 else ([1, 3] if i % 2 else [3, 1, 1])
        hdr["t_" + name.lower()] = {"dtype": name, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    hdr["scalar"] = {"dtype": "F32", "shape": [], "data_offsets": [len(data), len(data) + 4]}
    data += struct.pack("<f", 2.0)
    hdr["zero"] = {"dtype": "F32", "shape": [0, 4], "data_offsets": [len(data), len(data)]}
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


with open(os.path.join(HERE, "corpus", "safetensors", "dtypes.safetensors"), "wb") as f:
    f.write(dtypes_safetensors())
