#!/usr/bin/env python3
"""Golden values for package gemma from an independent PyTorch Gemma-2 forward.

Written for this project from the formulas of transformers' Gemma2Model (eager attention):
embedding x sqrt(D) cast to the dtype, RMSNorm x*rsqrt(mean(x^2)+eps)*(1+w) in float32,
rotate-half RoPE, grouped-query attention scaled by query_pre_attn_scalar^-1/2, logits
soft-capped c*tanh(s/c) before an additive finfo.min causal + padding (+ sliding window) mask,
softmax in float32, sandwich norms, GeGLU with tanh GELU, final norm. Random float32 weights
from a fixed seed; writes gemma2_golden.json (config.json fields, weights, ids, mask, outputs).

Run with Debian's python3-torch: python3 gemma/testdata/gemma2_golden.py
The Go tests read the JSON only; they never need Python.
"""
import json
import math
import os

import torch

torch.manual_seed(20261128)

CONFIG = {
    "model_type": "gemma2",
    "vocab_size": 16,
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 4,
    "hidden_activation": "gelu_pytorch_tanh",
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "query_pre_attn_scalar": 4,
    "sliding_window": 2,
    "attn_logit_softcapping": 3.0,
    "final_logit_softcapping": 30.0,
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "max_position_embeddings": 64,
}
C = CONFIG
D, I, H, KV, HD = C["hidden_size"], C["intermediate_size"], C["num_attention_heads"], C["num_key_value_heads"], C["head_dim"]


def shapes():
    out = {"model.embed_tokens.weight": (C["vocab_size"], D)}
    for l in range(C["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out[p + "input_layernorm.weight"] = (D,)
        out[p + "self_attn.q_proj.weight"] = (H * HD, D)
        out[p + "self_attn.k_proj.weight"] = (KV * HD, D)
        out[p + "self_attn.v_proj.weight"] = (KV * HD, D)
        out[p + "self_attn.o_proj.weight"] = (D, H * HD)
        out[p + "post_attention_layernorm.weight"] = (D,)
        out[p + "pre_feedforward_layernorm.weight"] = (D,)
        out[p + "mlp.gate_proj.weight"] = (I, D)
        out[p + "mlp.up_proj.weight"] = (I, D)
        out[p + "mlp.down_proj.weight"] = (D, I)
        out[p + "post_feedforward_layernorm.weight"] = (D,)
    out["model.norm.weight"] = (D,)
    return out


W = {}
for name, shp in shapes().items():
    if len(shp) == 1:
        W[name] = 0.3 * torch.randn(shp)
    elif name.endswith("embed_tokens.weight"):
        W[name] = torch.randn(shp)
    else:
        W[name] = 1.5 * torch.randn(shp) / math.sqrt(shp[1])


def rms_norm(x, w):
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + C["rms_norm_eps"])
    return (y * (1.0 + w.float())).type_as(x)


def rope(T):
    inv = 1.0 / (C["rope_theta"] ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
    pos = torch.arange(T).float()
    freqs = torch.outer(pos, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    return torch.cat((-x[..., HD // 2:], x[..., : HD // 2]), dim=-1)


def forward(ids, mask, softcap):
    B, T = ids.shape
    h = W["model.embed_tokens.weight"][ids] * torch.tensor(math.sqrt(D), dtype=torch.float32)
    cos, sin = rope(T)
    neg = torch.finfo(torch.float32).min
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    base = (j <= i).view(1, 1, T, T) & (mask.view(B, 1, 1, T) != 0)
    for l in range(C["num_hidden_layers"]):
        p = f"model.layers.{l}."
        allowed = base
        if l % 2 == 0:  # even layers slide
            allowed = allowed & ((i - j) < C["sliding_window"]).view(1, 1, T, T)
        add_mask = torch.where(allowed, torch.tensor(0.0), torch.tensor(neg))
        x = rms_norm(h, W[p + "input_layernorm.weight"])
        q = (x @ W[p + "self_attn.q_proj.weight"].T).view(B, T, H, HD).transpose(1, 2)
        k = (x @ W[p + "self_attn.k_proj.weight"].T).view(B, T, KV, HD).transpose(1, 2)
        v = (x @ W[p + "self_attn.v_proj.weight"].T).view(B, T, KV, HD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(2, 3)) * C["query_pre_attn_scalar"] ** -0.5
        if softcap:
            c = C["attn_logit_softcapping"]
            s = torch.tanh(s / c) * c
        s = s + add_mask
        a = torch.softmax(s, dim=-1, dtype=torch.float32) @ v
        a = a.transpose(1, 2).reshape(B, T, H * HD) @ W[p + "self_attn.o_proj.weight"].T
        h = h + rms_norm(a, W[p + "post_attention_layernorm.weight"])
        m = rms_norm(h, W[p + "pre_feedforward_layernorm.weight"])
        g = torch.nn.functional.gelu(m @ W[p + "mlp.gate_proj.weight"].T, approximate="tanh")
        f = (g * (m @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
        h = h + rms_norm(f, W[p + "post_feedforward_layernorm.weight"])
    return rms_norm(h, W["model.norm.weight"])


# Row 0 full; row 1 padded after three tokens: with window 2 its padded queries 4 and 5 see no
# key in the sliding layer (uniform weights, as finfo.min gives).
ids = torch.tensor([[2, 5, 7, 11, 13, 3], [2, 9, 4, 0, 0, 0]])
mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
with torch.no_grad():
    out_cap = forward(ids, mask, True)
    out_nocap = forward(ids, mask, False)

golden = {
    "config": CONFIG,
    "torch_version": torch.__version__,
    "weights": {k: v.flatten().tolist() for k, v in W.items()},
    "ids": ids.tolist(),
    "mask": mask.tolist(),
    "hidden_softcap": out_cap.flatten().tolist(),
    "hidden_no_softcap": out_nocap.flatten().tolist(),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemma2_golden.json")
with open(path, "w") as f:
    json.dump(golden, f, indent=0)
print("wrote", path, "max |out|", out_cap.abs().max().item(), "|cap - nocap|", (out_cap - out_nocap).abs().max().item())
