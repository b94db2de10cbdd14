"""Write a deeper copy of a SANA teacher that computes the same function.

Usage: python3 scripts/deepen_teacher.py SRC_DIR DST_DIR ORDER

SRC_DIR is a diffusers transformer folder (config.json and diffusion_pytorch_model.safetensors,
float32). ORDER lists the blocks of the new network, comma-separated: N copies block N, iN copies
block N with its three output projections (self-attention, cross-attention, Mix-FFN point
convolution) zeroed, which makes the block the identity on its residual stream. The README's
one-step experiment used

    python3 scripts/deepen_teacher.py assets/teacher_shapes runs/teacher_deep8 0,i0,1,i1,2,i2,3,i3
    bin/sprint demo --config configs/demo.yaml --set model.depth=8 \
        --set distill.teacher_weights=runs/teacher_deep8 --set 'distill.head_block_ids=[2,4,6]'

so that the student (initialised from this teacher) has twice the blocks, the new ones starting
as the identity; head blocks 2, 4 and 6 read the same features as blocks 1, 2 and 3 of the
original. `sprint model forward` on both folders gives the same velocity. Standard library
only (an experiment tool; nothing in the build or the tests needs Python).
"""

import json
import os
import struct
import sys

ZEROED = ("attn1.to_out.0.weight", "attn1.to_out.0.bias", "attn2.to_out.0.weight",
          "attn2.to_out.0.bias", "ff.conv_point.weight")
WEIGHTS = "diffusion_pytorch_model.safetensors"


def read_safetensors(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}; only float32 weights are supported")
        lo, hi = info["data_offsets"]
        tensors[name] = (info["shape"], data[lo:hi])
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        shape, blob = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, order = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    tensors = read_safetensors(os.path.join(src, WEIGHTS))
    out = {n: t for n, t in tensors.items() if not n.startswith("transformer_blocks.")}
    for i, item in enumerate(order):
        identity = item.startswith("i")
        block = int(item[1:] if identity else item)
        if not 0 <= block < config["num_layers"]:
            sys.exit(f"ORDER: block {block} does not exist in {src} ({config['num_layers']} blocks)")
        prefix = f"transformer_blocks.{block}."
        for name, (shape, blob) in tensors.items():
            if name.startswith(prefix):
                rest = name[len(prefix):]
                if identity and rest in ZEROED:
                    blob = bytes(len(blob))
                out[f"transformer_blocks.{i}.{rest}"] = (shape, blob)
    os.makedirs(dst, exist_ok=True)
    write_safetensors(os.path.join(dst, WEIGHTS), out)
    config["num_layers"] = len(order)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {dst}: {len(order)} blocks")


if __name__ == "__main__":
    main()
