#!/usr/bin/python3
"""Write kernel_fixture.bin: inputs, weights and PyTorch outputs of conv1d,
conv_transpose1d, LSTM, ELU, GroupNorm(1, C) and linear on a few small shapes,
for tests/kernels/test_kernels_torch.c.

    /usr/bin/python3 tests/kernels/make_kernel_fixture.py [out.bin]

Format (little endian): b"SKFX0001", uint32 record count, then per record:
uint32 name length, name (ASCII), uint32 ndim, int32 dims[ndim], float32 data.
Every case has a "<case>.params" record of small integers (and eps/alpha)
stored as floats. Deterministic (seeded); runs on CPU in float32.
"""
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20261126)
torch.set_grad_enabled(False)
records = []


def put(name, t):
    t = torch.as_tensor(t, dtype=torch.float32).contiguous()
    records.append((name, list(t.shape), t.numpy().astype("<f4").tobytes()))


# conv1d: C_in, C_out, T_in, K, stride, dilation, bias
conv_cases = [
    (3, 5, 17, 3, 1, 2, True),
    (4, 6, 19, 4, 2, 1, True),
    (1, 8, 40, 7, 1, 1, True),     # first-layer shape
    (16, 1, 30, 7, 1, 1, False),   # last-layer shape
    (8, 16, 37, 1, 1, 1, True),    # 1x1
    (12, 20, 83, 10, 5, 1, True),  # EnCodec-style strided
    (6, 7, 29, 3, 3, 3, False),    # stride and dilation
    (5, 4, 7, 7, 1, 1, True),      # T_out = 1
]
for i, (ci, co, t, k, s, d, bias) in enumerate(conv_cases):
    x = torch.randn(1, ci, t)
    w = torch.randn(co, ci, k) / (ci * k) ** 0.5
    b = torch.randn(co) if bias else None
    y = F.conv1d(x, w, b, stride=s, dilation=d)
    p = f"conv{i}"
    put(p + ".params", [ci, co, t, k, s, d])
    put(p + ".x", x[0])
    put(p + ".w", w)
    if bias:
        put(p + ".b", b)
    put(p + ".y", y[0])

# conv_transpose1d (padding 0, no trimming): C_in, C_out, T_in, K, stride
convtr_cases = [
    (4, 3, 9, 4, 2),
    (3, 5, 7, 5, 3),
    (2, 3, 6, 3, 1),
    (16, 8, 10, 16, 8),
    (10, 6, 21, 10, 5),
]
for i, (ci, co, t, k, s) in enumerate(convtr_cases):
    x = torch.randn(1, ci, t)
    w = torch.randn(ci, co, k) / (ci * k) ** 0.5
    b = torch.randn(co)
    y = F.conv_transpose1d(x, w, b, stride=s)
    p = f"convtr{i}"
    put(p + ".params", [ci, co, t, k, s])
    put(p + ".x", x[0])
    put(p + ".w", w)
    put(p + ".b", b)
    put(p + ".y", y[0])

# LSTM, one layer, batch 1, nonzero initial state: C, H, T
for i, (c, h, t) in enumerate([(5, 7, 6), (12, 20, 9), (3, 33, 4)]):
    lstm = torch.nn.LSTM(c, h, 1)
    x = torch.randn(t, 1, c)
    h0 = torch.randn(1, 1, h) * 0.5
    c0 = torch.randn(1, 1, h)
    y, (hT, cT) = lstm(x, (h0, c0))
    p = f"lstm{i}"
    put(p + ".params", [c, h, t])
    put(p + ".x", x[:, 0, :].t())           # [C][T]
    put(p + ".w_ih", lstm.weight_ih_l0)     # [4H][C], gates i, f, g, o
    put(p + ".w_hh", lstm.weight_hh_l0)     # [4H][H]
    put(p + ".b_ih", lstm.bias_ih_l0)
    put(p + ".b_hh", lstm.bias_hh_l0)
    put(p + ".h0", h0[0, 0])
    put(p + ".c0", c0[0, 0])
    put(p + ".y", y[:, 0, :].t())           # [H][T]
    put(p + ".hT", hT[0, 0])
    put(p + ".cT", cT[0, 0])

# ELU: n, alpha
for i, (n, alpha) in enumerate([(257, 1.0), (100, 0.7)]):
    x = torch.randn(n) * 3
    x[0] = 0.0
    x[1] = -20.0
    put(f"elu{i}.params", [n, alpha])
    put(f"elu{i}.x", x)
    put(f"elu{i}.y", F.elu(x, alpha))

# GroupNorm(1, C): C, T, eps (affine with random gamma, beta)
for i, (c, t, eps) in enumerate([(4, 10, 1e-5), (8, 33, 1e-3)]):
    gn = torch.nn.GroupNorm(1, c, eps=eps)
    gn.weight.copy_(torch.rand(c) + 0.5)
    gn.bias.copy_(torch.randn(c))
    x = torch.randn(1, c, t) * 2 + 1
    put(f"gn{i}.params", [c, t, eps])
    put(f"gn{i}.x", x[0])
    put(f"gn{i}.gamma", gn.weight)
    put(f"gn{i}.beta", gn.bias)
    put(f"gn{i}.y", gn(x)[0])

# linear: N, IC, OC
lin = torch.nn.Linear(5, 4)
x = torch.randn(3, 5)
put("lin0.params", [3, 5, 4])
put("lin0.x", x)
put("lin0.w", lin.weight)
put("lin0.b", lin.bias)
put("lin0.y", lin(x))

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "kernel_fixture.bin")
with open(out + ".tmp", "wb") as f:
    f.write(b"SKFX0001")
    f.write(struct.pack("<I", len(records)))
    for name, shape, data in records:
        nb = name.encode("ascii")
        f.write(struct.pack("<I", len(nb)))
        f.write(nb)
        f.write(struct.pack("<I", len(shape)))
        f.write(struct.pack("<%di" % len(shape), *shape))
        f.write(data)
os.replace(out + ".tmp", out)
print(f"{out}: {len(records)} records, {os.path.getsize(out)} bytes (torch {torch.__version__})")
