#!/usr/bin/env python3
"""PyTorch peer of sprint's Go benchmark BenchmarkPeerSteps (distill/peer_bench_test.go).

It times, on the CPU with 2 threads, the same four computations at the same shape as the Go
benchmark, written the way a PyTorch SANA-Sprint implementation writes them (diffusers'
SanaTransformer2DModel layers, forward-mode AD for the sCM tangent):

  fwd  the student's TrigFlow forward (F and logvar), batch 16
  fm   one flow-matching training step of the teacher (loss, backward, clip, AdamW)
  g    one generator step: teacher CFG velocity, student forward + JVP (forward AD), sCM loss,
       LADD term through the frozen teacher's features and the heads (eval mode), backward,
       clip, AdamW
  d    one discriminator step: no-grad student, misaligned pairs, one teacher pass over
       [fake; real] for the block features, the heads in training mode (one power iteration),
       hinge loss, backward, clip, AdamW

Shape: hidden 256, 4 blocks, 8 linear-attention heads of 32, 8 cross heads, 16 latent channels at
16x16 with patch 1 (256 tokens), captions 32x256, batch 16, heads on blocks 1 and 3, float32.

It prints, for each computation, the fastest and the median of --rounds interleaved runs, in ms:

  fwd min 512.3 med 530.1

Run it with Debian's python3-torch (1.13) or any later PyTorch:

  /usr/bin/python3 scripts/torch_peer_bench.py --threads 2 --rounds 5

Debian's python3-torch does its matrix products through the system BLAS (libblas.so.3); with
the reference BLAS (libblas3) they are about 15 times slower than with OpenBLAS. Install
libopenblas0-pthread, or point LD_LIBRARY_PATH at the directory holding OpenBLAS's libblas.so.3
(…/openblas-pthread/). The script prints the GFLOP/s of one 4096x256x1280 product so that a
slow BLAS shows. PyTorch's OpenMP threads spin while they wait: on a machine busy with other
work its 2-thread times degrade far more than a Go program's, so compare on an idle machine.

It is a measurement tool, not part of the test suite (`make test` and CI do not run it).
--check verifies the forward-AD JVP against central differences in float64 first.
"""

import argparse
import math
import statistics
import time

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn as nn
import torch.nn.functional as F

# The peer shape (distill/peer_bench_test.go).
B, C, S, P = 16, 16, 16, 1
D, DEPTH, HEAD_DIM, CROSS_HEADS = 256, 4, 32, 8
DC, L, FFN_RATIO = 256, 32, 2.5
HEAD_BLOCKS = [1, 3]

# SANA-Sprint defaults (distill.DefaultConfig).
SIGMA_D = 0.5
SCM_P_MEAN, SCM_P_STD = 0.2, 1.6
DISC_P_MEAN, DISC_P_STD = -0.6, 1.0
CFG_SCALES = [4.0, 4.5, 5.0]
TANGENT_WARMUP = 4000
G_NORM_C = 0.1
SCM_LAMBDA, ADV_LAMBDA = 1.0, 0.5
LARGEST_T, LARGEST_P = 1.5708, 0.5
VIRTUAL_BATCH = 8
GUIDANCE_SCALE = 0.1
GRAD_CLIP = 0.1
LR = 1e-5


def rms_norm(x, w, eps):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, eps=1e-6):
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def sinusoid(c):
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=c.dtype) / half)
    args = c[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class MLP(nn.Module):
    def __init__(self, din, d):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(din, d), nn.Linear(d, d)


class LinearAttention(nn.Module):
    """diffusers' SanaLinearAttnProcessor2_0 (padded-V ReLU linear attention) with QK RMSNorm."""

    def __init__(self):
        super().__init__()
        self.to_q, self.to_k, self.to_v = (nn.Linear(D, D, bias=False) for _ in range(3))
        self.norm_q, self.norm_k = nn.Parameter(torch.ones(D)), nn.Parameter(torch.ones(D))
        self.to_out = nn.Linear(D, D)

    def forward(self, x):
        heads = D // HEAD_DIM
        q = rms_norm(self.to_q(x), self.norm_q, 1e-5)
        k = rms_norm(self.to_k(x), self.norm_k, 1e-5)
        v = self.to_v(x)
        q = F.relu(q.transpose(1, 2).unflatten(1, (heads, -1)))  # (B, h, d, N)
        k = F.relu(k.transpose(1, 2).unflatten(1, (heads, -1)).transpose(2, 3))  # (B, h, N, d)
        v = v.transpose(1, 2).unflatten(1, (heads, -1))  # (B, h, d, N)
        v = F.pad(v, (0, 0, 0, 1), value=1.0)  # (B, h, d+1, N)
        o = torch.matmul(torch.matmul(v, k), q)  # (B, h, d+1, N)
        o = o[:, :, :-1] / (o[:, :, -1:] + 1e-8)
        return self.to_out(o.flatten(1, 2).transpose(1, 2))


class CrossAttention(nn.Module):
    """Softmax cross-attention to the caption with QK RMSNorm and a -10000 padding bias."""

    def __init__(self):
        super().__init__()
        self.to_q, self.to_k, self.to_v = (nn.Linear(D, D) for _ in range(3))
        self.norm_q, self.norm_k = nn.Parameter(torch.ones(D)), nn.Parameter(torch.ones(D))
        self.to_out = nn.Linear(D, D)

    def forward(self, x, y, bias):
        b, n, _ = x.shape
        d = D // CROSS_HEADS
        q = rms_norm(self.to_q(x), self.norm_q, 1e-6).view(b, n, CROSS_HEADS, d).transpose(1, 2)
        k = rms_norm(self.to_k(y), self.norm_k, 1e-6).view(b, -1, CROSS_HEADS, d).transpose(1, 2)
        v = self.to_v(y).view(b, -1, CROSS_HEADS, d).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
        o = torch.matmul(torch.softmax(logits, -1), v)
        return self.to_out(o.transpose(1, 2).reshape(b, n, D))


class GLUMBConv(nn.Module):
    """diffusers' GLUMBConv: 1x1 conv, SiLU, 3x3 depthwise conv, GLU, 1x1 conv, on NCHW."""

    def __init__(self):
        super().__init__()
        hd = int(FFN_RATIO * D)
        self.conv_inverted = nn.Conv2d(D, 2 * hd, 1)
        self.conv_depth = nn.Conv2d(2 * hd, 2 * hd, 3, padding=1, groups=2 * hd)
        self.conv_point = nn.Conv2d(hd, D, 1, bias=False)

    def forward(self, x, h, w):
        b, n, _ = x.shape
        x = x.transpose(1, 2).reshape(b, D, h, w)
        x = self.conv_depth(F.silu(self.conv_inverted(x)))
        a, gate = torch.chunk(x, 2, dim=1)
        x = self.conv_point(a * F.silu(gate))
        return x.reshape(b, D, n).transpose(1, 2)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.randn(6, D) / math.sqrt(D))
        self.attn1, self.attn2, self.ff = LinearAttention(), CrossAttention(), GLUMBConv()

    def forward(self, x, t0, y, bias, h, w):
        sh1, sc1, g1, sh2, sc2, g2 = (self.scale_shift_table[None] + t0).chunk(6, dim=1)
        x = x + g1 * self.attn1(layer_norm(x) * (1 + sc1) + sh1)
        x = x + self.attn2(x, y, bias)
        return x + g2 * self.ff(layer_norm(x) * (1 + sc2) + sh2, h, w)


class Sana(nn.Module):
    """The SANA Linear DiT of sprint's model.Forward; student=True adds the guidance embedder and
    the logvar head."""

    def __init__(self, student):
        super().__init__()
        self.patch = nn.Conv2d(C, D, P, stride=P)
        self.time = MLP(256, D)
        self.guidance = MLP(256, D) if student else None
        self.t_block = nn.Linear(D, 6 * D)
        self.caption = MLP(DC, D)
        self.caption_norm = nn.Parameter(torch.full((D,), 0.01))
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.scale_shift_table = nn.Parameter(torch.randn(2, D) / math.sqrt(D))
        self.proj_out = nn.Linear(D, P * P * C)
        self.logvar = nn.Linear(D, 1) if student else None
        for p in self.parameters():  # a generic non-linear function: no zero weights
            if p.dim() == 1 and torch.all(p == 0):
                nn.init.normal_(p, std=0.05)
        nn.init.normal_(self.proj_out.weight, std=0.05)

    def forward(self, x, t, text, mask, guidance=None, feature_blocks=()):
        b, _, hh, ww = x.shape
        h, w = hh // P, ww // P
        tok = self.patch(x).flatten(2).transpose(1, 2)  # (B, N, D)
        emb = self.time.linear_2(F.silu(self.time.linear_1(sinusoid(t))))
        if guidance is not None:
            g = self.guidance
            emb = emb + g.linear_2(F.silu(g.linear_1(sinusoid(guidance * GUIDANCE_SCALE))))
        t0 = self.t_block(F.silu(emb)).view(b, 6, D)
        y = self.caption.linear_2(F.gelu(self.caption.linear_1(text), approximate="tanh"))
        y = rms_norm(y, self.caption_norm, 1e-5)
        bias = ((1 - mask) * -10000.0).view(b, 1, 1, -1)
        feats = []
        for i, blk in enumerate(self.blocks):
            tok = blk(tok, t0, y, bias, h, w)
            if i in feature_blocks:
                feats.append(tok)
        shift, scale = (self.scale_shift_table[None] + emb[:, None]).chunk(2, dim=1)
        out = self.proj_out(layer_norm(tok) * (1 + scale) + shift)
        out = out.view(b, h, w, P, P, C).permute(0, 5, 1, 3, 2, 4).reshape(b, C, hh, ww)
        logvar = self.logvar(emb).view(b) if self.logvar is not None else None
        return out, logvar, feats


def per_sample(v, x):
    return v.view(-1, *([1] * (x.dim() - 1)))


def trigflow(net, xhat, theta, text, mask, guidance=None, feature_blocks=()):
    """model.TrigFlow: the flow network as a TrigFlow model F(x̂, θ)."""
    s, c = torch.sin(theta), torch.cos(theta)
    t = s / (s + c)
    x_flow = xhat / per_sample(s + c, xhat)
    v, logvar, feats = net(x_flow, t, text, mask, guidance, feature_blocks)
    tt = per_sample(t, xhat)
    f = ((1 - 2 * tt) * x_flow + (1 - 2 * tt + 2 * tt * tt) * v) / torch.sqrt(tt * tt + (1 - tt) ** 2)
    return f, logvar, feats


def trig_time(n, p_mean, p_std):
    return torch.atan2(torch.exp(p_mean + p_std * torch.randn(n)), torch.tensor(0.5))


def noised(x0, theta, eps=None):
    eps = torch.randn_like(x0) if eps is None else eps
    return per_sample(torch.cos(theta), x0) * x0 + per_sample(torch.sin(theta), x0) * SIGMA_D * eps


def denoise(x, theta, f):
    return per_sample(torch.cos(theta), x) * x - per_sample(torch.sin(theta), x) * SIGMA_D * f


def guidance_draw(n):
    return torch.tensor(CFG_SCALES)[torch.randint(len(CFG_SCALES), (n,))]


class Heads(nn.Module):
    """The LADD discriminator heads (distill/ladd.go): per head SN-Conv1d k1, BatchNormLocal,
    LeakyReLU, residual SN-Conv1d k9 (circular), BNL, LeakyReLU, SN-Conv1d k1 to one logit."""

    def __init__(self, n):
        super().__init__()
        self.convs = nn.ParameterDict()
        self.bufs = {}
        for h in range(n):
            for name, out, k in (("conv0", D, 1), ("conv1", D, 9), ("cls", 1, 1)):
                bound = 1 / math.sqrt(D * k)
                self.convs[f"{h}_{name}_w"] = nn.Parameter(torch.empty(out, D, k).uniform_(-bound, bound))
                self.convs[f"{h}_{name}_b"] = nn.Parameter(torch.empty(out).uniform_(-bound, bound))
                self.bufs[f"{h}_{name}_u"] = F.normalize(torch.randn(out), dim=0, eps=1e-12)
                self.bufs[f"{h}_{name}_v"] = F.normalize(torch.randn(D * k), dim=0, eps=1e-12)
            for name in ("norm0", "norm1"):
                self.convs[f"{h}_{name}_w"] = nn.Parameter(torch.ones(D))
                self.convs[f"{h}_{name}_b"] = nn.Parameter(torch.zeros(D))

    def sn_conv(self, h, name, x, power):
        w = self.convs[f"{h}_{name}_w"]
        mat = w.reshape(w.shape[0], -1)
        u, v = self.bufs[f"{h}_{name}_u"], self.bufs[f"{h}_{name}_v"]
        if power:
            with torch.no_grad():
                v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
                u = F.normalize(mat @ v, dim=0, eps=1e-12)
            self.bufs[f"{h}_{name}_u"], self.bufs[f"{h}_{name}_v"] = u, v
        sigma = torch.dot(u, mat @ v)
        k = w.shape[2]
        if k > 1:
            x = F.pad(x, (k // 2, k // 2), mode="circular")
        return F.conv1d(x, w / sigma, self.convs[f"{h}_{name}_b"])

    def bnl(self, h, name, x):
        b = x.shape[0]
        groups = (b + VIRTUAL_BATCH - 1) // VIRTUAL_BATCH
        xg = x.view(groups, b // groups, *x.shape[1:])
        mean = xg.mean(dim=(1, 3), keepdim=True)
        var = (xg - mean).pow(2).mean(dim=(1, 3), keepdim=True)
        y = ((xg - mean) / torch.sqrt(var + 1e-5)).view_as(x)
        return y * self.convs[f"{h}_{name}_w"][None, :, None] + self.convs[f"{h}_{name}_b"][None, :, None]

    def forward(self, feats, power):
        out = []
        for h, f in enumerate(feats):
            x = f.transpose(1, 2)  # (B, D, N)
            h1 = F.leaky_relu(self.bnl(h, "norm0", self.sn_conv(h, "conv0", x, power)), 0.2)
            h2 = (F.leaky_relu(self.bnl(h, "norm1", self.sn_conv(h, "conv1", h1, power)), 0.2) + h1) / math.sqrt(2)
            out.append(self.sn_conv(h, "cls", h2, power).squeeze(1))
        return torch.cat(out, 1)


class Bench:
    def __init__(self):
        torch.manual_seed(1)
        self.teacher = Sana(student=False)
        self.student = Sana(student=True)
        self.heads = Heads(len(HEAD_BLOCKS))
        self.latent = torch.randn(B, C, S, S)
        self.text = torch.randn(B, L, DC)
        self.mask = torch.ones(B, L)
        for i in range(B):
            self.mask[i, L - i % 3:] = 0
        self.null = torch.randn(1, L, DC) * 0.5
        self.opt_fm = torch.optim.AdamW(self.teacher.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
        self.opt_g = torch.optim.AdamW(self.student.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
        self.opt_d = torch.optim.AdamW(self.heads.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
        self.step_n = 0
        self.xhat = torch.randn(B, C, S, S)
        self.theta = 0.1 + 1.4 * torch.arange(B, dtype=torch.float32) / B

    def _update(self, loss, params, opt):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        self.step_n += 1

    def _train_only(self, net):
        """Gradients for net alone, the network the phase trains; the others are frozen."""
        for m in (self.teacher, self.student, self.heads):
            m.requires_grad_(m is net)

    def fwd(self):
        with torch.no_grad():
            return trigflow(self.student, self.xhat, self.theta, self.text, self.mask, torch.ones(B))

    def fm(self):
        """distill.FlowMatchingLoss: logit-normal t, caption dropout 0.1."""
        self._train_only(self.teacher)
        x0 = self.latent
        t = torch.sigmoid(torch.randn(B))
        n = torch.randn_like(x0)
        tb = per_sample(t, x0)
        xt, target = (1 - tb) * x0 + tb * n, n - x0
        drop = (torch.rand(B) < 0.1).view(B, 1, 1)
        text = torch.where(drop, self.null.expand(B, -1, -1), self.text)
        v, _, _ = self.teacher(xt, t, text, self.mask)
        self._update((v - target).pow(2).mean(), list(self.teacher.parameters()), self.opt_fm)

    def g(self):
        """distill.generatorLoss: sCM (teacher CFG velocity, forward-AD JVP) + LADD."""
        self._train_only(self.student)
        x0 = self.latent * SIGMA_D
        theta = trig_time(B, SCM_P_MEAN, SCM_P_STD)
        x_t = noised(x0, theta)
        w = guidance_draw(B)
        with torch.no_grad():  # teacher CFG velocity, one doubled-batch pass
            f, _, _ = trigflow(self.teacher, torch.cat([x_t, x_t]) / SIGMA_D, torch.cat([theta, theta]),
                               torch.cat([self.null.expand(B, -1, -1), self.text]), torch.cat([self.mask, self.mask]))
            fu, fc = f[:B], f[B:]
            dxdt = SIGMA_D * (fu + per_sample(w, fu) * (fc - fu))
        cs = torch.cos(theta) * torch.sin(theta)
        vx = per_sample(cs, dxdt) * dxdt / SIGMA_D
        with fwAD.dual_level():  # one student forward gives F (with gradients) and its JVP
            fd, logvar, _ = trigflow(self.student, fwAD.make_dual(x_t / SIGMA_D, vx), fwAD.make_dual(theta, cs),
                                     self.text, self.mask, w)
            f_s, jvp = fwAD.unpack_dual(fd)
            logvar = fwAD.unpack_dual(logvar).primal
            jvp = jvp.detach()
        f_minus = f_s.detach()
        r = min(1.0, self.step_n / TANGENT_WARMUP)
        ct, st = per_sample(torch.cos(theta), x_t), per_sample(torch.sin(theta), x_t)
        g = -ct * ct * (SIGMA_D * f_minus - dxdt) - r * (ct * st * x_t + SIGMA_D * jvp)
        g_norm = torch.sqrt(g.pow(2).sum(dim=(1, 2, 3)))
        g = g / (per_sample(g_norm, g) + G_NORM_C)
        weight = ct / (SIGMA_D * st)
        lv = per_sample(logvar, f_s)
        scm = ((weight / torch.exp(lv)) * (f_s - f_minus - g).pow(2) + lv).mean()
        # LADD: x̂0 from a second student forward at θ_new (π/2 w.p. 1/2), teacher features, heads.
        theta_new = trig_time(B, SCM_P_MEAN, SCM_P_STD)
        theta_new = torch.where(torch.rand(B) < LARGEST_P, torch.full_like(theta_new, LARGEST_T), theta_new)
        x_new = noised(x0, theta_new)
        f_new, _, _ = trigflow(self.student, x_new / SIGMA_D, theta_new, self.text, self.mask, w)
        x0hat = denoise(x_new, theta_new, f_new)
        theta_d = trig_time(B, DISC_P_MEAN, DISC_P_STD)
        x_d = noised(x0hat, theta_d)
        _, _, feats = trigflow(self.teacher, x_d / SIGMA_D, theta_d, self.text, self.mask, None, HEAD_BLOCKS)
        adv = -self.heads(feats, power=False).mean()
        self._update(SCM_LAMBDA * scm + ADV_LAMBDA * adv, list(self.student.parameters()), self.opt_g)

    def d(self):
        """distill.discriminatorLoss: hinge loss on [fake; misaligned] vs real, heads trained."""
        self._train_only(self.heads)
        x0 = self.latent * SIGMA_D
        theta_g = trig_time(B, SCM_P_MEAN, SCM_P_STD)
        w = guidance_draw(B)
        theta_g = torch.where(torch.rand(B) < LARGEST_P, torch.full_like(theta_g, LARGEST_T), theta_g)
        with torch.no_grad():
            x_t = noised(x0, theta_g)
            f, _, _ = trigflow(self.student, x_t / SIGMA_D, theta_g, self.text, self.mask, w)
            x0hat = denoise(x_t, theta_g, f)
            theta_fake = trig_time(B, DISC_P_MEAN, DISC_P_STD)
            theta_real = trig_time(B, DISC_P_MEAN, DISC_P_STD)
            fake, real = noised(x0hat, theta_fake), noised(x0, theta_real)
            theta_shift = trig_time(B, DISC_P_MEAN, DISC_P_STD)
            shifted = noised(torch.roll(x0, 1, 0), theta_shift)
            fake = torch.cat([fake, shifted])
            theta_fake = torch.cat([theta_fake, theta_shift])
            _, _, feats = trigflow(self.teacher, torch.cat([fake, real]) / SIGMA_D, torch.cat([theta_fake, theta_real]),
                                   torch.cat([self.text, self.text, self.text]),
                                   torch.cat([self.mask, self.mask, self.mask]), None, HEAD_BLOCKS)
        n_fake = fake.shape[0]
        fake_logits = self.heads([ft[:n_fake] for ft in feats], power=True)
        real_logits = self.heads([ft[n_fake:] for ft in feats], power=True)
        loss = 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())
        self._update(loss, list(self.heads.parameters()), self.opt_d)


def check_jvp():
    """The forward-AD JVP of the student TrigFlow model against central differences (float64)."""
    torch.manual_seed(3)
    net = Sana(student=True).double()
    x = torch.randn(2, C, S, S, dtype=torch.float64)
    th = torch.tensor([0.4, 1.2], dtype=torch.float64)
    vx, vt = torch.randn_like(x), torch.tensor([0.7, -0.3], dtype=torch.float64)
    text, mask, w = torch.randn(2, L, DC, dtype=torch.float64), torch.ones(2, L, dtype=torch.float64), torch.tensor([4.5, 2.0], dtype=torch.float64)
    with torch.no_grad(), fwAD.dual_level():
        f, _, _ = trigflow(net, fwAD.make_dual(x, vx), fwAD.make_dual(th, vt), text, mask, w)
        jvp = fwAD.unpack_dual(f).tangent
        h = 1e-6
        fp, _, _ = trigflow(net, x + h * vx, th + h * vt, text, mask, w)
        fm, _, _ = trigflow(net, x - h * vx, th - h * vt, text, mask, w)
    fd = (fp - fm) / (2 * h)
    rel = (jvp - fd).abs().max() / fd.abs().max()
    print(f"check: forward-AD JVP vs central differences, max relative difference {rel:.2e}")
    # The ReLUs of the linear attention have kinks that a step of 1e-6 crosses now and then; an
    # error in the JVP would be of order 1.
    if not rel < 1e-3:
        raise SystemExit("check failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--kinds", default="fwd,fm,g,d", help="comma-separated subset of fwd,fm,g,d")
    ap.add_argument("--check", action="store_true", help="check the JVP against finite differences first")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        check_jvp()
    bench = Bench()
    kinds = args.kinds.split(",")
    fns = [getattr(bench, k) for k in kinds]
    for f in fns:  # warm-up (allocator, one-time initialisations)
        f()
    times = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for k, f in zip(kinds, fns):
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e3)
    a, b = torch.randn(4096, 256), torch.randn(256, 1280)
    a @ b
    t0 = time.perf_counter()
    a @ b
    gflops = 2 * 4096 * 256 * 1280 / (time.perf_counter() - t0) / 1e9
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {B}, matmul {gflops:.0f} GFLOP/s")
    for k in kinds:
        print(f"{k} min {min(times[k]):.1f} med {statistics.median(times[k]):.1f}")


if __name__ == "__main__":
    main()
