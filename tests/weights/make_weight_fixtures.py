#!/usr/bin/python3
"""Writes the weight-loader fixtures (tests/weights/data/) and the seed and
known-bad files of the th/safetensors fuzz targets (tests/fuzz/corpus/,
tests/fuzz/bad/). Needs torch (1.13 was used) and numpy:

    /usr/bin/python3 tests/weights/make_weight_fixtures.py

Fixtures (all small; deterministic for a given torch version):
  sd.th            nn.Module.state_dict() (OrderedDict with _metadata) saved by
                   torch.save: float32/16/64, bfloat16, a transposed view, a
                   slice with a storage offset, two views of one storage, a 0-d
                   tensor, int64/uint8/bool buffers, a zero-size and an
                   expanded (stride 0) tensor
  sd_p4.th         the same with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)
  sd_zip64.th      sd.th repacked with zip64 extra fields and data descriptors
  nested.th        {'epoch': 3, 'hparams': {...}, 'state_dict': sd}
  legacy.th        torch.save(..., _use_new_zipfile_serialization=False)
  sd.safetensors   the same tensors (original dtypes), written by a small
                   writer that follows the format spec, with __metadata__
  expected.bin     names, shapes and float32 values the C test compares with:
                   "SOEX", u32 count, then per tensor u32 name length, name,
                   u32 ndim, i64 shape[ndim], f32 data[numel] (little-endian)
  f16_cases.bin    u32 count, f32 inputs[count], f32 inputs rounded to half
                   by numpy (round to nearest even), for the F16 writer
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
FUZZ = os.path.join(HERE, "..", "fuzz")


def out(*parts):
    p = os.path.join(*parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        r = lambda *s: torch.randn(*s, generator=g)
        self.conv = torch.nn.Conv1d(2, 3, 3)
        base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1
        self.register_buffer("f16", (r(5) * 100).half())
        self.register_buffer("dbl", r(2, 3).double() * 1e-3)
        self.register_buffer("bf16", r(4).bfloat16())
        self.register_buffer("transposed", base.t())           # [4,3], strides (1,4)
        big = r(6, 5)
        self.register_buffer("sliced", big[2:5, 1:4])          # offset 11, strides (5,1)
        shared = r(10)
        self.register_buffer("share_a", shared[:4])
        self.register_buffer("share_b", shared[3:])            # same storage, overlapping
        self.register_buffer("scalar", torch.tensor(3.5))      # 0-d
        self.register_buffer("steps", torch.tensor([1, -2, 3000000000], dtype=torch.int64))
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("u8", torch.tensor([0, 255, 7], dtype=torch.uint8))
        self.register_buffer("empty", torch.zeros(0, 3))
        self.register_buffer("expanded", r(3, 1).expand(3, 4))  # stride 0
        self.sub = torch.nn.Sequential(torch.nn.Linear(3, 2))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(r(*p.shape))


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def safetensors_bytes(tensors, metadata=None):
    """Spec: u64 LE header size, JSON header padded with spaces to 8 bytes, data."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def raw_safetensors(header_json, data=b"", hlen=None):
    h = header_json.encode() if isinstance(header_json, str) else header_json
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def expected_bytes(sd):
    out = [b"SOEX", struct.pack("<I", len(sd))]
    for name, t in sd.items():
        nb = name.encode()
        v = t.float().contiguous()
        out += [struct.pack("<I", len(nb)), nb, struct.pack("<I", v.dim())]
        out += [struct.pack("<q", s) for s in v.shape]
        out.append(v.numpy().astype("<f4").tobytes())
    return b"".join(out)


def zip_bytes(entries, zip64=False, descriptor=True, align=64, method=0):
    """A small zip writer (stored entries) so zip64 extra fields and data
    descriptors can be produced on small files, as torch does on >4 GB ones."""
    buf, central = io.BytesIO(), []
    for name, data in entries:
        nb = name.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        stored = data if method == 0 else zlib.compress(data)[2:-4]
        off = buf.tell()
        flags = 0x800 | (0x08 if descriptor else 0)
        extra = b""
        if zip64:
            extra += struct.pack("<HHQQ", 1, 16, 0 if descriptor else len(data), 0 if descriptor else len(stored))
        pad = -(off + 30 + len(nb) + len(extra) + 4) % align
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        sz32 = 0xFFFFFFFF if zip64 else (0 if descriptor else len(data))
        csz32 = 0xFFFFFFFF if zip64 else (0 if descriptor else len(stored))
        buf.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, flags, method, 0, 0x21,
                              0 if descriptor else crc, csz32, sz32, len(nb), len(extra)))
        buf.write(nb + extra + stored)
        if descriptor:
            if zip64:
                buf.write(struct.pack("<IIQQ", 0x08074B50, crc, len(stored), len(data)))
            else:
                buf.write(struct.pack("<IIII", 0x08074B50, crc, len(stored), len(data)))
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(stored), off) if zip64 else b""
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 45 if zip64 else 20, flags, method, 0,
                                   0x21, crc, 0xFFFFFFFF if zip64 else len(stored),
                                   0xFFFFFFFF if zip64 else len(data), len(nb), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF if zip64 else off) + nb + cextra)
    cd_off = buf.tell()
    cd = b"".join(central)
    buf.write(cd)
    n = len(entries)
    if zip64:
        e64 = buf.tell()
        buf.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_off))
        buf.write(struct.pack("<IIQI", 0x07064B50, 0, e64, 1))
        buf.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        buf.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_off, 0))
    return buf.getvalue()


def zip_entries(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# ---- hand-made checkpoints: a pickler that writes what torch.save writes ----

class FakeStorage:
    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride, v3_dtype=None):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
        self.v3_dtype = v3_dtype

    def __reduce__(self):
        if self.v3_dtype is not None:
            return (torch._utils._rebuild_tensor_v3, self.args + (self.v3_dtype,))
        return (torch._utils._rebuild_tensor_v2, self.args)


class Param:
    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        return (torch._utils._rebuild_parameter, (self.t, True, collections.OrderedDict()))


def _stand_in(module, name, obj):
    """Newer torch names (torch 2.x) that this torch lacks: pickle writes a
    GLOBAL by name, so a stand-in object registered under that name will do."""
    mod = __import__(module, fromlist=[name])
    if not hasattr(mod, name):
        obj.__module__, obj.__qualname__, obj.__name__ = module, name, name
        setattr(mod, name, obj)
    return getattr(mod, name)


def _not_callable(*args):
    raise RuntimeError("stand-in")


_stand_in("torch._utils", "_rebuild_tensor_v3", _not_callable)
UntypedStorage = _stand_in("torch", "UntypedStorage", type("UntypedStorage", (), {}))


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel)
        return None


def fake_th(obj, storages, protocol=2, archive="archive", pickle_bytes=None, zip64=False):
    f = io.BytesIO()
    TorchLikePickler(f, protocol=protocol).dump(obj)
    pk = f.getvalue() if pickle_bytes is None else pickle_bytes(f.getvalue())
    entries = [(archive + "/data.pkl", pk)]
    entries += [(archive + "/data/" + k, v) for k, v in storages.items()]
    entries.append((archive + "/version", b"3\n"))
    return zip_bytes(entries, zip64=zip64)


def f32(*v):
    return np.array(v, dtype="<f4").tobytes()


def main():
    torch.manual_seed(0)
    m = Tiny()
    sd = m.state_dict()
    assert hasattr(sd, "_metadata")
    assert not sd["transposed"].is_contiguous() and sd["sliced"].storage_offset() == 11
    assert sd["share_a"].storage().data_ptr() == sd["share_b"].storage().data_ptr()

    os.makedirs(DATA, exist_ok=True)
    p = os.path.join(DATA, "sd.th")
    torch.save(sd, p)
    th = open(p, "rb").read()
    torch.save(sd, os.path.join(DATA, "sd_p4.th"), pickle_protocol=4)
    write(os.path.join(DATA, "sd_zip64.th"), zip_bytes(zip_entries(th), zip64=True))
    torch.save({"epoch": 3, "hparams": {"lr": 0.1, "name": "tiny"}, "state_dict": sd},
               os.path.join(DATA, "nested.th"))
    torch.save(sd, os.path.join(DATA, "legacy.th"), _use_new_zipfile_serialization=False)
    st = safetensors_bytes(sd, {"format": "pt", "note": "sonotok fixture / \"quoted\""})
    write(os.path.join(DATA, "sd.safetensors"), st)
    write(os.path.join(DATA, "expected.bin"), expected_bytes(sd))

    # every fixture loads back in torch as the same tensors
    for name in ["sd.th", "sd_p4.th", "sd_zip64.th"]:
        back = torch.load(os.path.join(DATA, name))
        assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd), name

    cases = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.996, 65520.0, -65520.0, 1e5, 6.1e-5, 2.0 ** -14,
             2.0 ** -14 * (1 - 2.0 ** -11), 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0001, 1.5 * 2.0 ** -25,
             3 * 2.0 ** -25, 2.0 ** -26, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -11 + 2.0 ** -20,
             float("inf"), float("-inf"), float("nan"), 1e-8, -1e-8, 3.14159265, 1234.5678, 2049.0, 2051.0]
    rng = np.random.default_rng(7)
    cases += list(rng.standard_normal(40) * 10.0 ** rng.integers(-8, 6, 40))
    x = np.array(cases, dtype=np.float32)
    with np.errstate(over="ignore"):
        rounded = x.astype(np.float16).astype("<f4")
    write(os.path.join(DATA, "f16_cases.bin"), struct.pack("<I", len(x)) + x.astype("<f4").tobytes() + rounded.tobytes())

    # ---- fuzz seeds (valid) ----
    def corpus(target, name, data):
        write(out(FUZZ, "corpus", target, name), data)

    def bad(target, name, data):
        write(out(FUZZ, "bad", target, name), data)

    lin = torch.nn.Linear(2, 2).state_dict()
    buf = io.BytesIO()
    torch.save(lin, buf)
    corpus("th", "linear.th", buf.getvalue())
    buf = io.BytesIO()
    torch.save(lin, buf, pickle_protocol=4)
    corpus("th", "linear_p4.th", buf.getvalue())
    corpus("th", "sd.th", th)
    for name in ["sd_zip64.th", "sd_p4.th", "nested.th"]:
        corpus("th", name, open(os.path.join(DATA, name), "rb").read())
    s0 = FakeStorage("0", torch.FloatStorage, 6)
    corpus("th", "view_v3.th", fake_th({"w": FakeTensor(FakeStorage("0", UntypedStorage, 24), 1, (2, 2), (1, 2), torch.float32)},
                                       {"0": f32(0, 1, 2, 3, 4, 5)}, protocol=4))
    corpus("th", "param.th", fake_th({"model": {"p": Param(FakeTensor(s0, 0, (3,), (2,)))}}, {"0": f32(1, 2, 3, 4, 5, 6)}))
    corpus("safetensors", "sd.safetensors", st)
    corpus("safetensors", "small.safetensors",
           safetensors_bytes({"a": torch.tensor([1.0, -2.0]), "b": torch.tensor([[1, 2]], dtype=torch.int8)}))
    corpus("safetensors", "empty.safetensors", raw_safetensors("{}      "))

    # ---- known-bad files: CODE_description ----
    bad("th", "TRUNCATED_half.th", th[: len(th) // 2])
    bad("th", "TRUNCATED_tail.th", th[:-10])
    bad("th", "TRUNCATED_prefix.th", b"PK\x03")
    bad("th", "TRUNCATED_empty.th", b"")
    bad("th", "FORMAT_not_zip.th", b"this is not a checkpoint, just text\n" * 3)
    bad("th", "UNSUPPORTED_legacy.th", open(os.path.join(DATA, "legacy.th"), "rb").read())
    bad("th", "UNSUPPORTED_deflate.th", zip_bytes(zip_entries(th), method=8))
    ents = zip_entries(th)
    pk_i = next(i for i, (n, _) in enumerate(ents) if n.endswith("/data.pkl"))
    body = bytearray(th)
    at = th.index(b"_metadata")  # inside data.pkl: flip one letter, the pickle still parses
    body[at + 1] ^= 0x20
    bad("th", "CHECKSUM_pickle.th", bytes(body))
    bad("th", "FORMAT_no_data_pkl.th", zip_bytes([("archive/readme.txt", b"hello")]))
    bad("th", "FORMAT_missing_storage.th", zip_bytes([e for e in ents if not e[0].endswith("/data/0")]))
    bad("th", "FORMAT_short_storage.th", zip_bytes([(n, d[:4] if n.endswith("/data/0") else d) for n, d in ents]))
    bad("th", "TRUNCATED_pickle.th", zip_bytes([(n, d[:-7] if i == pk_i else d) for i, (n, d) in enumerate(ents)]))
    bad("th", "FORMAT_view_past_storage.th", fake_th({"w": FakeTensor(s0, 4, (2, 2), (2, 1))}, {"0": f32(*range(6))}))
    bad("th", "FORMAT_negative_stride.th", fake_th({"w": FakeTensor(s0, 5, (3,), (-1,))}, {"0": f32(*range(6))}))
    bad("th", "FORMAT_storage_numel.th",
        fake_th({"w": FakeTensor(FakeStorage("0", torch.FloatStorage, 7), 0, (2,), (1,))}, {"0": f32(*range(6))}))
    bad("th", "LIMIT_huge_shape.th", fake_th({"w": FakeTensor(s0, 0, (1 << 40, 1 << 40), (0, 0))}, {"0": f32(*range(6))}))
    bad("th", "LIMIT_huge_expand.th", fake_th({"w": FakeTensor(s0, 0, (1 << 20, 1 << 20), (0, 0))}, {"0": f32(*range(6))}))
    bad("th", "UNSUPPORTED_complex.th",
        fake_th({"w": FakeTensor(FakeStorage("0", torch.ComplexFloatStorage, 3), 0, (3,), (1,))}, {"0": f32(*range(6))}))
    bad("th", "UNSUPPORTED_9_dims.th", fake_th({"w": FakeTensor(s0, 0, (1,) * 9, (1,) * 9)}, {"0": f32(*range(6))}))
    bad("th", "UNSUPPORTED_top_list.th", fake_th([FakeTensor(s0, 0, (6,), (1,))], {"0": f32(*range(6))}))
    bad("th", "UNSUPPORTED_protocol0.th", fake_th({"w": 1}, {}, protocol=0))
    bad("th", "EMPTY_no_tensors.th", fake_th({"epoch": 3, "cfg": {"lr": 0.1}}, {}))
    bad("th", "FORMAT_unknown_opcode.th", fake_th({"w": 1}, {}, pickle_bytes=lambda b: b[:2] + b"\xff" + b[2:]))
    bad("th", "FORMAT_memo_missing.th", fake_th({"w": 1}, {}, pickle_bytes=lambda b: b[:2] + b"h\x63" + b[2:]))
    bad("th", "FORMAT_stack_underflow.th", fake_th({"w": 1}, {}, pickle_bytes=lambda b: b[:2] + b"s" + b[2:]))
    bad("th", "LIMIT_memo_index.th", fake_th({"w": 1}, {}, pickle_bytes=lambda b: b[:2] + b"N" + b"r\xff\xff\xff\x7f" + b[2:]))

    hdr = lambda d: json.dumps(d, separators=(",", ":"))
    e = lambda dt, shape, a, b: {"dtype": dt, "shape": shape, "data_offsets": [a, b]}
    bad("safetensors", "FORMAT_bad_json.safetensors", raw_safetensors("{not json}", b""))
    bad("safetensors", "FORMAT_not_object.safetensors", raw_safetensors("[1,2,3]", b""))
    bad("safetensors", "FORMAT_trailing_json.safetensors", raw_safetensors("{} {}", b""))
    bad("safetensors", "TRUNCATED_data.safetensors", st[:-3])
    bad("safetensors", "TRUNCATED_header.safetensors", st[:40])
    bad("safetensors", "TRUNCATED_short.safetensors", st[:5])
    bad("safetensors", "LIMIT_header_len.safetensors", raw_safetensors("{}", b"", hlen=1 << 63))
    bad("safetensors", "LIMIT_huge_shape.safetensors",
        raw_safetensors(hdr({"a": e("F32", [1 << 40, 1 << 40], 0, 4)}), f32(1)))
    bad("safetensors", "FORMAT_overlap.safetensors",
        raw_safetensors(hdr({"a": e("F32", [2], 0, 8), "b": e("F32", [1], 4, 8)}), f32(1, 2)))
    bad("safetensors", "FORMAT_gap.safetensors",
        raw_safetensors(hdr({"a": e("F32", [1], 0, 4), "b": e("F32", [1], 8, 12)}), f32(1, 2, 3)))
    bad("safetensors", "FORMAT_trailing_data.safetensors", raw_safetensors(hdr({"a": e("F32", [1], 0, 4)}), f32(1, 2)))
    bad("safetensors", "FORMAT_span_mismatch.safetensors", raw_safetensors(hdr({"a": e("F32", [2], 0, 4)}), f32(1)))
    bad("safetensors", "FORMAT_negative_shape.safetensors", raw_safetensors(hdr({"a": e("F32", [-1], 0, 4)}), f32(1)))
    bad("safetensors", "FORMAT_metadata_not_strings.safetensors",
        raw_safetensors(hdr({"__metadata__": {"a": 1}, "a": e("F32", [1], 0, 4)}), f32(1)))
    bad("safetensors", "FORMAT_missing_offsets.safetensors", raw_safetensors(hdr({"a": {"dtype": "F32", "shape": [1]}}), f32(1)))
    bad("safetensors", "UNSUPPORTED_dtype_c64.safetensors", raw_safetensors(hdr({"a": e("C64", [1], 0, 8)}), f32(1, 2)))
    bad("safetensors", "UNSUPPORTED_9_dims.safetensors", raw_safetensors(hdr({"a": e("F32", [1] * 9, 0, 4)}), f32(1)))

    total = sum(os.path.getsize(os.path.join(DATA, f)) for f in os.listdir(DATA))
    print("fixtures: %d bytes in %s" % (total, DATA))


if __name__ == "__main__":
    main()
