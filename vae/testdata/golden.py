#!/usr/bin/env python3
"""Golden values for package vae: a small, independent PyTorch re-implementation of diffusers'
AutoencoderDC forward pass (NCHW, torch.nn.functional only), run on two tiny random configs.

For each config NAME it writes NAME/config.json and NAME/diffusion_pytorch_model.safetensors (a
diffusers folder that vae.Load reads) and NAME_io.safetensors with the inputs and outputs:
  images_K   (B, 3, H, W) input images in [-1, 1]
  latents_K  encoder(images_K), unscaled
  decoded_K  decoder(latents_K)

Run from this directory with Debian's python3-torch (1.13): `python3 golden.py`. The Go tests only
read the files it wrote; they never run Python.
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

EPS_NORM = 1e-5
EPS_ATTN = 1e-15

def tiny_config(head_dim, block_types, widths, layers, multiscales, sampling, norms, acts, conv_act, scaling_factor):
    """A three-stage AutoencoderDC config whose encoder and decoder share block types and widths;
    layers and multiscales are (encoder, decoder) pairs, sampling is (upsample, downsample)."""
    return {
        "in_channels": 3,
        "latent_channels": 4,
        "attention_head_dim": head_dim,
        "encoder_block_types": block_types,
        "decoder_block_types": block_types,
        "encoder_block_out_channels": widths,
        "decoder_block_out_channels": widths,
        "encoder_layers_per_block": layers[0],
        "decoder_layers_per_block": layers[1],
        "encoder_qkv_multiscales": multiscales[0],
        "decoder_qkv_multiscales": multiscales[1],
        "upsample_block_type": sampling[0],
        "downsample_block_type": sampling[1],
        "decoder_norm_types": norms,
        "decoder_act_fns": acts,
        "encoder_out_shortcut": True,
        "decoder_in_shortcut": True,
        "decoder_conv_act_fn": conv_act,
        "scaling_factor": scaling_factor,
    }


CONFIGS = {
    # SANA-like: stride-2 conv downsampling, nearest-interpolate upsampling, multi-scale attention
    # with two kernel sizes; on 8x8 images stage 2 runs at 2x2 (N=4 <= d=8: quadratic form), on
    # 16x16 images every attention stage has N > d (linear form).
    "sana_tiny": {"_class_name": "AutoencoderDC", **tiny_config(
        8, ["ResBlock", "EfficientViTBlock", "EfficientViTBlock"], [8, 16, 16],
        ([1, 1, 1], [1, 2, 1]), ([[], [3], [5]], [[], [5], [3, 5]]), ("interpolate", "Conv"),
        "rms_norm", "silu", "relu", 0.5)},
    # "in/mix"-like: stage 0 without layers (conv_in/conv_out are pixel (un)shuffle blocks), batch
    # norm with ReLU/GELU residual blocks in the decoder, single-scale attention, mish at the end.
    "in_tiny": tiny_config(
        4, ["ResBlock", "ResBlock", "EfficientViTBlock"], [8, 8, 16],
        ([0, 1, 1], [0, 2, 1]), ([[], [], []], [[], [], []]), ("pixel_shuffle", "pixel_unshuffle"),
        ["batch_norm", "batch_norm", "rms_norm"], ["relu", "gelu", "silu"], "mish", 0.25),
}

INPUTS = {"sana_tiny": [(2, 8, 8), (1, 16, 16)], "in_tiny": [(2, 16, 16)]}


def per_stage(v, n):
    return [v] * n if isinstance(v, str) else list(v)


# ---- parameters: names and shapes, walked the way diffusers' constructors build the modules ----


def block_params(pre, kind, ch, d, scales, norm):
    ps = []
    if kind == "ResBlock":
        ps += [(pre + "conv1.weight", (ch, ch, 3, 3)), (pre + "conv1.bias", (ch,)), (pre + "conv2.weight", (ch, ch, 3, 3))]
        ps += norm_params(pre + "norm", norm, ch)
    else:
        inner = (ch // d) * d
        for n in "qkv":
            ps.append((f"{pre}attn.to_{n}.weight", (inner, ch)))
        for s, k in enumerate(scales):
            ps.append((f"{pre}attn.to_qkv_multiscale.{s}.proj_in.weight", (3 * inner, 1, k, k)))
            ps.append((f"{pre}attn.to_qkv_multiscale.{s}.proj_out.weight", (3 * inner, d, 1, 1)))
        ps.append((pre + "attn.to_out.weight", (ch, inner * (1 + len(scales)))))
        ps += norm_params(pre + "attn.norm_out", norm, ch)
        hid = 4 * ch
        ps += [
            (pre + "conv_out.conv_inverted.weight", (2 * hid, ch, 1, 1)),
            (pre + "conv_out.conv_inverted.bias", (2 * hid,)),
            (pre + "conv_out.conv_depth.weight", (2 * hid, 1, 3, 3)),
            (pre + "conv_out.conv_depth.bias", (2 * hid,)),
            (pre + "conv_out.conv_point.weight", (ch, hid, 1, 1)),
            (pre + "conv_out.norm.weight", (ch,)),
            (pre + "conv_out.norm.bias", (ch,)),
        ]
    return ps


def norm_params(pre, norm, ch):
    ps = [(pre + ".weight", (ch,)), (pre + ".bias", (ch,))]
    if norm == "batch_norm":
        ps += [(pre + ".running_mean", (ch,)), (pre + ".running_var", (ch,))]
    return ps


def all_params(c):
    n = len(c["encoder_block_out_channels"])
    d = c["attention_head_dim"]
    ps = []
    ch, L = c["encoder_block_out_channels"], c["encoder_layers_per_block"]
    types = per_stage(c["encoder_block_types"], n)
    unshuffle = c["downsample_block_type"] == "pixel_unshuffle"
    if L[0] > 0:
        ps += [("encoder.conv_in.weight", (ch[0], c["in_channels"], 3, 3)), ("encoder.conv_in.bias", (ch[0],))]
    else:
        co = ch[1] // 4 if unshuffle else ch[1]
        ps += [("encoder.conv_in.conv.weight", (co, c["in_channels"], 3, 3)), ("encoder.conv_in.conv.bias", (co,))]
    for i in range(n):
        for j in range(L[i]):
            ps += block_params(f"encoder.down_blocks.{i}.{j}.", types[i], ch[i], d, c["encoder_qkv_multiscales"][i], "rms_norm")
        if i < n - 1 and L[i] > 0:
            co = ch[i + 1] // 4 if unshuffle else ch[i + 1]
            pre = f"encoder.down_blocks.{i}.{L[i]}.conv."
            ps += [(pre + "weight", (co, ch[i], 3, 3)), (pre + "bias", (co,))]
    ps += [("encoder.conv_out.weight", (c["latent_channels"], ch[-1], 3, 3)), ("encoder.conv_out.bias", (c["latent_channels"],))]

    ch, L = c["decoder_block_out_channels"], c["decoder_layers_per_block"]
    types = per_stage(c["decoder_block_types"], n)
    norms = per_stage(c["decoder_norm_types"], n)
    shuffle = c["upsample_block_type"] != "interpolate"
    ps += [("decoder.conv_in.weight", (ch[-1], c["latent_channels"], 3, 3)), ("decoder.conv_in.bias", (ch[-1],))]
    for i in range(n):
        off = 0
        if i < n - 1 and L[i] > 0:
            co = ch[i] * 4 if shuffle else ch[i]
            ps += [(f"decoder.up_blocks.{i}.0.conv.weight", (co, ch[i + 1], 3, 3)), (f"decoder.up_blocks.{i}.0.conv.bias", (co,))]
            off = 1
        for j in range(L[i]):
            ps += block_params(f"decoder.up_blocks.{i}.{j + off}.", types[i], ch[i], d, c["decoder_qkv_multiscales"][i], norms[i])
    last = ch[0] if L[0] > 0 else ch[1]
    ps += [("decoder.norm_out.weight", (last,)), ("decoder.norm_out.bias", (last,))]
    if L[0] > 0:
        ps += [("decoder.conv_out.weight", (c["in_channels"], last, 3, 3)), ("decoder.conv_out.bias", (c["in_channels"],))]
    else:
        co = c["in_channels"] * 4 if shuffle else c["in_channels"]
        ps += [("decoder.conv_out.conv.weight", (co, last, 3, 3)), ("decoder.conv_out.conv.bias", (co,))]
    return ps


def random_params(c, gen):
    P = {}
    for name, shape in all_params(c):
        if len(shape) >= 2:
            fan_in = 1
            for s in shape[1:]:
                fan_in *= s
            t = torch.randn(shape, generator=gen) / fan_in**0.5
        elif name.endswith("running_var"):
            t = 1 + 0.1 * torch.randn(shape, generator=gen).abs()
        elif name.endswith("norm.weight") or name.endswith("norm_out.weight"):
            t = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.1 * torch.randn(shape, generator=gen)
        P[name] = t.float()
    return P


# ---- forward pass, NCHW ----


def act(name, x):
    name = (name or "").lower()
    if name in ("silu", "swish"):
        return F.silu(x)
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x)
    if name == "mish":
        return F.mish(x)
    if name == "":
        return x
    raise ValueError(name)


def rms2d(x, w, b):
    t = x.movedim(1, -1)
    t = t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + EPS_NORM) * w + b
    return t.movedim(-1, 1)


def norm2d(P, pre, kind, x):
    if kind == "rms_norm":
        return rms2d(x, P[pre + ".weight"], P[pre + ".bias"])
    return F.batch_norm(x, P[pre + ".running_mean"], P[pre + ".running_var"], P[pre + ".weight"], P[pre + ".bias"],
                        training=False, eps=EPS_NORM)


def res_block(P, pre, x, norm, actname):
    h = F.conv2d(x, P[pre + "conv1.weight"], P[pre + "conv1.bias"], padding=1)
    h = act(actname, h)
    h = F.conv2d(h, P[pre + "conv2.weight"], None, padding=1)
    return norm2d(P, pre + "norm", norm, h) + x


def linear_cl(x, w):  # 1x1 without bias on NCHW via channels-last matmul
    return (x.movedim(1, -1) @ w.t()).movedim(-1, 1)


def attention(P, pre, x, d, scales, norm):
    B, C, H, W = x.shape
    heads = C // d
    qkv = torch.cat([linear_cl(x, P[pre + "to_" + n + ".weight"]) for n in "qkv"], dim=1)
    outs = [qkv]
    for s, k in enumerate(scales):
        h = F.conv2d(qkv, P[f"{pre}to_qkv_multiscale.{s}.proj_in.weight"], padding=k // 2, groups=qkv.shape[1])
        h = F.conv2d(h, P[f"{pre}to_qkv_multiscale.{s}.proj_out.weight"], groups=3 * heads)
        outs.append(h)
    m = torch.cat(outs, dim=1).reshape(B, -1, 3 * d, H * W)
    q, k, v = m[:, :, :d], m[:, :, d:2 * d], m[:, :, 2 * d:]
    q, k = F.relu(q), F.relu(k)
    if H * W > d:
        vp = torch.cat([v, torch.ones_like(v[:, :, :1])], dim=2)  # value padded with a row of ones
        o = (vp @ k.transpose(-1, -2)) @ q
        o = o[:, :, :-1] / (o[:, :, -1:] + EPS_ATTN)
    else:
        sc = k.transpose(-1, -2) @ q  # (keys, queries)
        sc = sc / (sc.sum(dim=2, keepdim=True) + EPS_ATTN)
        o = v @ sc
    o = linear_cl(o.reshape(B, -1, H, W), P[pre + "to_out.weight"])
    return norm2d(P, pre + "norm_out", norm, o) + x


def glumb(P, pre, x):
    h = F.silu(F.conv2d(x, P[pre + "conv_inverted.weight"], P[pre + "conv_inverted.bias"]))
    h = F.conv2d(h, P[pre + "conv_depth.weight"], P[pre + "conv_depth.bias"], padding=1, groups=h.shape[1])
    a, g = h.chunk(2, dim=1)
    h = F.conv2d(a * F.silu(g), P[pre + "conv_point.weight"])
    return rms2d(h, P[pre + "norm.weight"], P[pre + "norm.bias"]) + x


def block(P, pre, kind, x, d, scales, norm, actname):
    if kind == "ResBlock":
        return res_block(P, pre, x, norm, actname)
    x = attention(P, pre + "attn.", x, d, scales, norm)
    return glumb(P, pre + "conv_out.", x)


def down(P, pre, x, out_ch, unshuffle, shortcut):
    if unshuffle:
        y = F.pixel_unshuffle(F.conv2d(x, P[pre + "weight"], P[pre + "bias"], padding=1), 2)
    else:
        y = F.conv2d(x, P[pre + "weight"], P[pre + "bias"], stride=2, padding=1)
    if shortcut:
        s = F.pixel_unshuffle(x, 2)
        y = y + s.unflatten(1, (out_ch, -1)).mean(dim=2)
    return y


def up(P, pre, x, out_ch, shuffle, shortcut):
    if shuffle:
        y = F.pixel_shuffle(F.conv2d(x, P[pre + "weight"], P[pre + "bias"], padding=1), 2)
    else:
        y = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), P[pre + "weight"], P[pre + "bias"], padding=1)
    if shortcut:
        y = y + F.pixel_shuffle(x.repeat_interleave(out_ch * 4 // x.shape[1], dim=1), 2)
    return y


def encode(c, P, x):
    n = len(c["encoder_block_out_channels"])
    ch, L, d = c["encoder_block_out_channels"], c["encoder_layers_per_block"], c["attention_head_dim"]
    types = per_stage(c["encoder_block_types"], n)
    unshuffle = c["downsample_block_type"] == "pixel_unshuffle"
    if L[0] > 0:
        h = F.conv2d(x, P["encoder.conv_in.weight"], P["encoder.conv_in.bias"], padding=1)
    else:
        h = down(P, "encoder.conv_in.conv.", x, ch[1], unshuffle, False)
    for i in range(n):
        for j in range(L[i]):
            h = block(P, f"encoder.down_blocks.{i}.{j}.", types[i], h, d, c["encoder_qkv_multiscales"][i], "rms_norm", "silu")
        if i < n - 1 and L[i] > 0:
            h = down(P, f"encoder.down_blocks.{i}.{L[i]}.conv.", h, ch[i + 1], unshuffle, True)
    z = F.conv2d(h, P["encoder.conv_out.weight"], P["encoder.conv_out.bias"], padding=1)
    return z + h.unflatten(1, (c["latent_channels"], -1)).mean(dim=2)


def decode(c, P, z):
    n = len(c["decoder_block_out_channels"])
    ch, L, d = c["decoder_block_out_channels"], c["decoder_layers_per_block"], c["attention_head_dim"]
    types = per_stage(c["decoder_block_types"], n)
    norms = per_stage(c["decoder_norm_types"], n)
    acts = per_stage(c["decoder_act_fns"], n)
    shuffle = c["upsample_block_type"] != "interpolate"
    h = F.conv2d(z, P["decoder.conv_in.weight"], P["decoder.conv_in.bias"], padding=1)
    h = h + z.repeat_interleave(ch[-1] // c["latent_channels"], dim=1)
    for i in reversed(range(n)):
        off = 0
        if i < n - 1 and L[i] > 0:
            h = up(P, f"decoder.up_blocks.{i}.0.conv.", h, ch[i], shuffle, True)
            off = 1
        for j in range(L[i]):
            h = block(P, f"decoder.up_blocks.{i}.{j + off}.", types[i], h, d, c["decoder_qkv_multiscales"][i], norms[i], acts[i])
    h = rms2d(h, P["decoder.norm_out.weight"], P["decoder.norm_out.bias"])
    h = act(c["decoder_conv_act_fn"], h)
    if L[0] > 0:
        return F.conv2d(h, P["decoder.conv_out.weight"], P["decoder.conv_out.bias"], padding=1)
    return up(P, "decoder.conv_out.conv.", h, c["in_channels"], shuffle, False)


# ---- safetensors writer (the format: u64 header length, JSON header, raw little-endian data) ----


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float()
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20250101)
    for name, c in CONFIGS.items():
        os.makedirs(name, exist_ok=True)
        with open(os.path.join(name, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        P = random_params(c, gen)
        write_safetensors(os.path.join(name, "diffusion_pytorch_model.safetensors"), P)
        io = {}
        with torch.no_grad():
            for k, (b, h, w) in enumerate(INPUTS[name]):
                x = torch.rand((b, c["in_channels"], h, w), generator=gen) * 2 - 1
                z = encode(c, P, x)
                io[f"images_{k}"] = x
                io[f"latents_{k}"] = z
                io[f"decoded_{k}"] = decode(c, P, z)
        write_safetensors(name + "_io.safetensors", io)
        print(name, {k: tuple(v.shape) for k, v in io.items()})


if __name__ == "__main__":
    main()
