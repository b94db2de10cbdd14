#!/usr/bin/env python3
"""parity.py: the inputs and the comparison of device_check.sh's forward parity check.

Standard library only (the GPU image's Python need not have numpy or safetensors).

  parity.py inputs OUT.safetensors ROLE B C SIDE L DC
      writes random float32 inputs for `sprint model forward`: latents (B, C, SIDE, SIDE),
      timestep (B), text (B, L, DC), mask (B, L) and, for the student, guidance (B).
  parity.py compare CPU.safetensors DEVICE.safetensors [TOLERANCE]
      prints, per tensor, the largest absolute difference relative to the largest CPU value;
      exits 1 if one exceeds TOLERANCE (default 1e-2: XLA uses TF32 for float32 products on CUDA).
"""
import json
import math
import random
import struct
import sys


def write(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dims, values) in tensors.items():
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": dims, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        dt = info["dtype"]
        if dt == "F32":
            vals = struct.unpack("<%df" % (len(raw) // 4), raw)
        elif dt == "F64":
            vals = struct.unpack("<%dd" % (len(raw) // 8), raw)
        elif dt == "BF16":
            vals = [struct.unpack("<f", b"\x00\x00" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
        else:
            raise SystemExit("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        out[name] = (info["shape"], vals)
    return out


def inputs(path, role, b, c, side, length, dc):
    rng = random.Random(11)
    n = lambda k, s=1.0: [rng.gauss(0, s) for _ in range(k)]
    times = [0.3, 0.7, 0.5, 0.9][:b] if role == "teacher" else [0.4, 1.3, 0.9, 1.5][:b]
    mask = [1.0 if j < length - 4 * i else 0.0 for i in range(b) for j in range(length)]
    t = {"latents": ([b, c, side, side], n(b * c * side * side)), "timestep": ([b], times),
         "text": ([b, length, dc], n(b * length * dc)), "mask": ([b, length], mask)}
    if role == "student":
        t["guidance"] = ([b], [4.5, 3.0, 5.0, 4.0][:b])
    write(path, t)


def compare(cpu_path, dev_path, tol):
    cpu, dev = read(cpu_path), read(dev_path)
    bad = False
    for name in sorted(cpu):
        if name not in dev:
            print("%-24s missing on the device" % name)
            bad = True
            continue
        x, y = cpu[name][1], dev[name][1]
        scale = max(abs(v) for v in x) or 1.0
        diff = max(abs(a - b) for a, b in zip(x, y))
        finite = all(math.isfinite(v) for v in y)
        rel = diff / scale
        ok = finite and rel <= tol
        bad |= not ok
        print("%-24s shape %-18s max|cpu| %.4g  max|diff| %.3g  relative %.3g  %s" % (
            name, cpu[name][0], scale, diff, rel, "ok" if ok else "MISMATCH"))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) >= 9 and sys.argv[1] == "inputs":
        inputs(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:9]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 1e-2))
    else:
        sys.exit(__doc__)
