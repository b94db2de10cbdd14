package model

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

// refNet is a deliberately naive, loop-by-loop float64 transcription of diffusers'
// SanaTransformer2DModel forward (one sample at a time, NCHW convolutions, the padded-V linear
// attention), written independently of the graph code to pin down layouts: patch and
// unpatchify order, head splits, modulation chunk order, the depthwise kernel orientation and
// the GLU split.
type refNet struct {
	cfg Config
	p   map[string][]float64
}

func (r refNet) w(name string) []float64 {
	v, ok := r.p[name]
	if !ok {
		panic("reference: missing " + name)
	}
	return v
}

// lin: x (rows×in) times Wᵀ (W is out×in) plus b.
func refLin(x []float64, rows, in int, W []float64, out int, b []float64) []float64 {
	y := make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := range in {
				s += x[r*in+i] * W[o*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

func refSilu(v float64) float64 { return v / (1 + math.Exp(-v)) }

func refMap(x []float64, f func(float64) float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = f(v)
	}
	return y
}

func refRMS(x []float64, rows, D int, wt []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		ms := 0.0
		for d := range D {
			ms += x[r*D+d] * x[r*D+d]
		}
		ms /= float64(D)
		for d := range D {
			y[r*D+d] = x[r*D+d] / math.Sqrt(ms+eps) * wt[d]
		}
	}
	return y
}

func refLN(x []float64, rows, D int, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		mu, v := 0.0, 0.0
		for d := range D {
			mu += x[r*D+d]
		}
		mu /= float64(D)
		for d := range D {
			v += (x[r*D+d] - mu) * (x[r*D+d] - mu)
		}
		v /= float64(D)
		for d := range D {
			y[r*D+d] = (x[r*D+d] - mu) / math.Sqrt(v+eps)
		}
	}
	return y
}

func refTimestepEmbed(r refNet, prefix string, c float64) []float64 {
	e := make([]float64, 256)
	for k := range 128 {
		f := math.Exp(-math.Log(10000) * float64(k) / 128)
		e[k], e[128+k] = math.Cos(c*f), math.Sin(c*f)
	}
	D := r.cfg.HiddenSize
	h := refMap(refLin(e, 1, 256, r.w(prefix+"linear_1.weight"), D, r.w(prefix+"linear_1.bias")), refSilu)
	return refLin(h, 1, D, r.w(prefix+"linear_2.weight"), D, r.w(prefix+"linear_2.bias"))
}

// forward computes one sample: x (C×H×W), text (L×Dc), mask (L); guidance < 0 means teacher.
func (r refNet) forward(x []float64, H, W int, t float64, text, mask []float64, guidance float64) []float64 {
	cfg := r.cfg
	C, p, D, L, Dc := cfg.InChannels, cfg.PatchSize, cfg.HiddenSize, cfg.CaptionLen, cfg.CaptionDim
	hp, wp := H/p, W/p
	N := hp * wp
	// Patch embedding (conv p×p stride p) → tokens n = i·wp + j.
	pw, pb := r.w("patch_embed.proj.weight"), r.w("patch_embed.proj.bias")
	h := make([]float64, N*D)
	for i := range hp {
		for j := range wp {
			for d := range D {
				s := pb[d]
				for c := range C {
					for ky := range p {
						for kx := range p {
							s += pw[((d*C+c)*p+ky)*p+kx] * x[(c*H+i*p+ky)*W+j*p+kx]
						}
					}
				}
				h[(i*wp+j)*D+d] = s
			}
		}
	}
	// Time embedding.
	var temb []float64
	if guidance < 0 {
		temb = refTimestepEmbed(r, "time_embed.emb.timestep_embedder.", t)
	} else {
		temb = refTimestepEmbed(r, "time_embed.timestep_embedder.", t)
		g := refTimestepEmbed(r, "time_embed.guidance_embedder.", guidance*cfg.GuidanceEmbedScale)
		for d := range D {
			temb[d] += g[d]
		}
	}
	t0 := refLin(refMap(temb, refSilu), 1, D, r.w("time_embed.linear.weight"), 6*D, r.w("time_embed.linear.bias"))
	// Caption.
	gelu := func(v float64) float64 {
		return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
	}
	y := refMap(refLin(text, L, Dc, r.w("caption_projection.linear_1.weight"), D, r.w("caption_projection.linear_1.bias")), gelu)
	y = refLin(y, L, D, r.w("caption_projection.linear_2.weight"), D, r.w("caption_projection.linear_2.bias"))
	y = refRMS(y, L, D, r.w("caption_norm.weight"), 1e-5)

	for blk := range cfg.Depth {
		pre := blockPrefix(blk)
		tbl := r.w(pre + "scale_shift_table")
		mod := func(k, d int) float64 { return tbl[k*D+d] + t0[k*D+d] }
		modulated := func(shiftK, scaleK int) []float64 {
			n := refLN(h, N, D, 1e-6)
			for i := range N {
				for d := range D {
					n[i*D+d] = n[i*D+d]*(1+mod(scaleK, d)) + mod(shiftK, d)
				}
			}
			return n
		}
		// Self attention (linear).
		a := modulated(0, 1)
		q := refLin(a, N, D, r.w(pre+"attn1.to_q.weight"), D, nil)
		k := refLin(a, N, D, r.w(pre+"attn1.to_k.weight"), D, nil)
		v := refLin(a, N, D, r.w(pre+"attn1.to_v.weight"), D, nil)
		if cfg.QKNorm {
			q = refRMS(q, N, D, r.w(pre+"attn1.norm_q.weight"), cfg.QKNormEps)
			k = refRMS(k, N, D, r.w(pre+"attn1.norm_k.weight"), cfg.QKNormEps)
		}
		relu := func(v float64) float64 { return math.Max(v, 0) }
		q, k = refMap(q, relu), refMap(k, relu)
		hd := cfg.SelfHeadDim
		o := make([]float64, N*D)
		for head := range D / hd {
			// vpad: (hd+1) × N with a row of ones; vk = vpad·k: (hd+1) × hd; out = vk·qᵀ: (hd+1) × N.
			vk := make([]float64, (hd+1)*hd)
			for e1 := range hd + 1 {
				for e2 := range hd {
					s := 0.0
					for n := range N {
						vv := 1.0
						if e1 < hd {
							vv = v[n*D+head*hd+e1]
						}
						s += vv * k[n*D+head*hd+e2]
					}
					vk[e1*hd+e2] = s
				}
			}
			for n := range N {
				out := make([]float64, hd+1)
				for e1 := range hd + 1 {
					for e2 := range hd {
						out[e1] += vk[e1*hd+e2] * q[n*D+head*hd+e2]
					}
				}
				for e := range hd {
					o[n*D+head*hd+e] = out[e] / (out[hd] + cfg.LinearAttnEps)
				}
			}
		}
		o = refLin(o, N, D, r.w(pre+"attn1.to_out.0.weight"), D, r.w(pre+"attn1.to_out.0.bias"))
		for i := range N * D {
			h[i] += mod(2, i%D) * o[i]
		}
		// Cross attention.
		q = refLin(h, N, D, r.w(pre+"attn2.to_q.weight"), D, r.w(pre+"attn2.to_q.bias"))
		k = refLin(y, L, D, r.w(pre+"attn2.to_k.weight"), D, r.w(pre+"attn2.to_k.bias"))
		v = refLin(y, L, D, r.w(pre+"attn2.to_v.weight"), D, r.w(pre+"attn2.to_v.bias"))
		if cfg.CrossNorm {
			q = refRMS(q, N, D, r.w(pre+"attn2.norm_q.weight"), cfg.CrossNormEps)
			k = refRMS(k, L, D, r.w(pre+"attn2.norm_k.weight"), cfg.CrossNormEps)
		}
		cd := D / cfg.CrossHeads
		o = make([]float64, N*D)
		for head := range cfg.CrossHeads {
			for n := range N {
				sc := make([]float64, L)
				mx := math.Inf(-1)
				for l := range L {
					s := 0.0
					for e := range cd {
						s += q[n*D+head*cd+e] * k[l*D+head*cd+e]
					}
					sc[l] = s/math.Sqrt(float64(cd)) + (1-mask[l])*-10000
					mx = math.Max(mx, sc[l])
				}
				z := 0.0
				for l := range L {
					sc[l] = math.Exp(sc[l] - mx)
					z += sc[l]
				}
				for e := range cd {
					s := 0.0
					for l := range L {
						s += sc[l] / z * v[l*D+head*cd+e]
					}
					o[n*D+head*cd+e] = s
				}
			}
		}
		o = refLin(o, N, D, r.w(pre+"attn2.to_out.0.weight"), D, r.w(pre+"attn2.to_out.0.bias"))
		for i := range N * D {
			h[i] += o[i]
		}
		// Mix-FFN in NCHW.
		f := modulated(3, 4)
		Hd := cfg.FFNHidden()
		inv := refMap(refLin(f, N, D, r.w(pre+"ff.conv_inverted.weight"), 2*Hd, r.w(pre+"ff.conv_inverted.bias")), refSilu) // N × 2Hd
		dw, db := r.w(pre+"ff.conv_depth.weight"), r.w(pre+"ff.conv_depth.bias")
		dep := make([]float64, 2*Hd*N) // channel-major: [c][i][j]
		for c := range 2 * Hd {
			for i := range hp {
				for j := range wp {
					s := db[c]
					for ky := range 3 {
						for kx := range 3 {
							ii, jj := i+ky-1, j+kx-1
							if ii < 0 || jj < 0 || ii >= hp || jj >= wp {
								continue
							}
							s += dw[c*9+ky*3+kx] * inv[(ii*wp+jj)*2*Hd+c]
						}
					}
					dep[(c*hp+i)*wp+j] = s
				}
			}
		}
		glu := make([]float64, N*Hd) // token-major for the point conv
		for c := range Hd {
			for n := range N {
				glu[n*Hd+c] = dep[c*N+n] * refSilu(dep[(Hd+c)*N+n])
			}
		}
		ff := refLin(glu, N, Hd, r.w(pre+"ff.conv_point.weight"), D, nil)
		for i := range N * D {
			h[i] += mod(5, i%D) * ff[i]
		}
	}
	// Output.
	tbl := r.w("scale_shift_table")
	n := refLN(h, N, D, 1e-6)
	for i := range N {
		for d := range D {
			n[i*D+d] = n[i*D+d]*(1+tbl[D+d]+temb[d]) + tbl[d] + temb[d]
		}
	}
	out := refLin(n, N, D, r.w("proj_out.weight"), p*p*C, r.w("proj_out.bias"))
	v := make([]float64, C*H*W)
	for i := range hp {
		for j := range wp {
			for py := range p {
				for px := range p {
					for c := range C {
						v[(c*H+i*p+py)*W+j*p+px] = out[(i*wp+j)*p*p*C+(py*p+px)*C+c]
					}
				}
			}
		}
	}
	return v
}

// TestForwardMatchesLoopReference compares the graph network with the loop reference, for the
// teacher and the student, patch sizes 1 and 2, and QK norm on and off.
func TestForwardMatchesLoopReference(t *testing.T) {
	type variant struct {
		patch  int
		qkNorm bool
		role   Role
		H, W   int
	}
	// The last variant has a 16×8 token grid, the others 8×4 (the depthwise convolution on
	// non-square grids of two sizes).
	for _, vt := range []variant{{1, true, Teacher, 8, 4}, {2, true, Student, 8, 4}, {2, false, Teacher, 8, 4}, {1, true, Student, 16, 8}} {
		cfg := tinyConfig(t, "float64")
		cfg.PatchSize, cfg.QKNorm, cfg.CrossNorm = vt.patch, vt.qkNorm, vt.qkNorm
		cfg.CrossNormEps = 1e-5
		p := randomParams(t, cfg, vt.role, 31)
		ref := refNet{cfg: cfg, p: map[string][]float64{}}
		for name, tt := range p {
			ref.p[name] = floats(t, tt)
		}
		B, H, W := 2, vt.H, vt.W
		x, tt, text, mask := tinyInputs(cfg, B, 4, 32)
		x = randn(dtypes.Float64, 33, B, cfg.InChannels, H, W) // non-square latent
		guid := []float64{-1, -1}
		var gT = fromFloats(dtypes.Float64, []float64{4.5, 2}, B)
		if vt.role == Student {
			guid = []float64{4.5, 2}
		} else {
			gT = nil
		}
		outs := forwardOnce(t, cfg, p, x, tt, text, mask, gT, nil)
		got := floats(t, outs[0])
		xs, ts, texts, masks := floats(t, x), floats(t, tt), floats(t, text), floats(t, mask)
		C, L, Dc := cfg.InChannels, cfg.CaptionLen, cfg.CaptionDim
		for b := range B {
			want := ref.forward(xs[b*C*H*W:(b+1)*C*H*W], H, W, ts[b], texts[b*L*Dc:(b+1)*L*Dc], masks[b*L:(b+1)*L], guid[b])
			if d := maxAbsDiff(got[b*C*H*W:(b+1)*C*H*W], want) / maxAbs(want); d > 1e-10 {
				t.Errorf("patch %d qk_norm %v %s %dx%d sample %d: relative difference %g from the loop reference", vt.patch, vt.qkNorm, vt.role, H, W, b, d)
			}
		}
	}
}
