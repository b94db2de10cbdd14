package vae

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensortest"
)

// tinyConfig is a two-stage autoencoder (f = 2): a ResBlock stage of 4 channels and an
// EfficientViT stage of 8 channels (head dim 4), latent 4 channels.
func tinyConfig() Config {
	c := DefaultConfig()
	c.LatentChannels = 4
	c.AttentionHeadDim = 4
	c.EncoderBlockTypes = strList{ResBlock, EfficientViTBlock}
	c.DecoderBlockTypes = strList{ResBlock, EfficientViTBlock}
	c.EncoderBlockOutChannels = []int{4, 8}
	c.DecoderBlockOutChannels = []int{4, 8}
	c.EncoderLayersPerBlock = []int{1, 1}
	c.DecoderLayersPerBlock = []int{1, 1}
	c.EncoderQKVMultiscales = [][]int{{}, {3}}
	c.DecoderQKVMultiscales = [][]int{{}, {3}}
	c.DownsampleBlockType = "Conv"
	c.UpsampleBlockType = UpInterpolate
	c.ScalingFactor = 0.5
	return c
}

func randVals(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 9))
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// TestRMSNorm2d: y = x/√(mean_c x² + 1e-5)·w + b over the channel (last) axis, by hand for two
// pixels of three channels.
func TestRMSNorm2d(t *testing.T) {
	x := []float64{1, 2, 2, 0, -3, 4}
	w := []float64{1, 0.5, 2}
	b := []float64{0, 1, -1}
	out := evalGraph(t, func(in []*Node) []*Node { return []*Node{rmsNorm2d(in[0], in[1], in[2])} },
		tensorOf(x, 1, 1, 2, 3), tensorOf(w, 3), tensorOf(b, 3))
	got := tensortest.Floats(t, out[0])
	// Pixel 0: mean(1, 4, 4) = 3; pixel 1: mean(0, 9, 16) = 25/3.
	r0, r1 := math.Sqrt(3+1e-5), math.Sqrt(25.0/3+1e-5)
	want := []float64{1 / r0, 2/r0*0.5 + 1, 2/r0*2 - 1, 0, -3/r1*0.5 + 1, 4/r1*2 - 1}
	if d := tensortest.MaxAbsDiff(got, want); d > 1e-6 {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Batch norm in evaluation mode: (x − μ)/√(σ² + ε)·w + b.
	mean, variance := []float64{1, 0, -1}, []float64{4, 1, 0.25}
	out = evalGraph(t, func(in []*Node) []*Node { return []*Node{batchNorm2d(in[0], in[1], in[2], in[3], in[4])} },
		tensorOf(x, 1, 1, 2, 3), tensorOf(w, 3), tensorOf(b, 3), tensorOf(mean, 3), tensorOf(variance, 3))
	got = tensortest.Floats(t, out[0])
	for i, v := range x {
		c := i % 3
		want := (v-mean[c])/math.Sqrt(variance[c]+1e-5)*w[c] + b[c]
		if math.Abs(got[i]-want) > 1e-5 {
			t.Errorf("batch norm %d: %v, want %v", i, got[i], want)
		}
	}
}

// TestLinearAttentionOneChannel: with one channel and head width 1 the block is scalar algebra.
// q, k, v = a·x, b·x, c·x; over the N = 4 pixels of a 2×2 image (N > d: the linear form),
//
//	o_n = ReLU(q_n)·Σ_m c·x_m·ReLU(k_m) / (ReLU(q_n)·Σ_m ReLU(k_m) + 1e-15)
//	y_n = x_n + RMSNorm(e·o_n) = x_n + sign(e·o_n)·|e·o_n|/√((e·o_n)² + 1e-5)·g + β
func TestLinearAttentionOneChannel(t *testing.T) {
	c := DefaultConfig()
	c.AttentionHeadDim = 1
	l := layer{kind: kindEViTBlock, prefix: "b.", in: 1, out: 1, norm: RMSNorm}
	a, bk, cv, e, g, beta := 0.5, 2.0, -1.5, 0.8, 1.3, 0.1
	x := []float64{1, -2, 3, 0.5}
	p := []*tensors.Tensor{tensorOf([]float64{a}, 1, 1), tensorOf([]float64{bk}, 1, 1), tensorOf([]float64{cv}, 1, 1),
		tensorOf([]float64{e}, 1, 1), tensorOf([]float64{g}, 1), tensorOf([]float64{beta}, 1), tensorOf(x, 1, 2, 2, 1)}
	out := evalGraph(t, func(in []*Node) []*Node {
		w := Weights{"b.attn.to_q.weight": in[0], "b.attn.to_k.weight": in[1], "b.attn.to_v.weight": in[2],
			"b.attn.to_out.weight": in[3], "b.attn.norm_out.weight": in[4], "b.attn.norm_out.bias": in[5]}
		return []*Node{multiscaleAttention(c, w, l, in[6])}
	}, p...)
	got := tensortest.Floats(t, out[0])
	var sumVK, sumK float64
	for _, xm := range x {
		k := math.Max(0, bk*xm)
		sumVK += cv * xm * k
		sumK += k
	}
	for n, xn := range x {
		q := math.Max(0, a*xn)
		o := q * sumVK / (q*sumK + 1e-15)
		y := e * o
		want := xn + y/math.Sqrt(y*y+1e-5)*g + beta
		if math.Abs(got[n]-want) > 1e-5 {
			t.Errorf("pixel %d: %v, want %v (o = %v)", n, got[n], want, o)
		}
	}
}

// TestGLUMBConvOneChannel: one channel (hidden 4) on a 1×1 image, where the 3×3 depthwise conv
// only sees its centre tap:
//
//	h_i = SiLU(w_i·x + b_i), i < 8;  d_i = k_i·h_i + c_i (centre tap k_i);
//	m_j = d_j·SiLU(d_{j+4});  y = x + RMSNorm(Σ_j p_j·m_j)
func TestGLUMBConvOneChannel(t *testing.T) {
	wi, bi := randVals(1, 8), randVals(2, 8)
	kd, bd := randVals(3, 72), randVals(4, 8)
	pw := randVals(5, 4)
	gn, bn := []float64{0.9}, []float64{-0.2}
	x := 0.7
	out := evalGraph(t, func(in []*Node) []*Node {
		w := Weights{"conv_inverted.weight": in[0], "conv_inverted.bias": in[1], "conv_depth.weight": in[2],
			"conv_depth.bias": in[3], "conv_point.weight": in[4], "norm.weight": in[5], "norm.bias": in[6]}
		return []*Node{glumbConv(w, "", in[7])}
	}, tensorOf(wi, 8, 1, 1, 1), tensorOf(bi, 8), tensorOf(kd, 8, 1, 3, 3), tensorOf(bd, 8), tensorOf(pw, 1, 4, 1, 1),
		tensorOf(gn, 1), tensorOf(bn, 1), tensorOf([]float64{x}, 1, 1, 1, 1))
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	var d [8]float64
	for i := range 8 {
		h := wi[i]*x + bi[i]
		h *= sig(h)
		d[i] = kd[i*9+4]*h + bd[i]
	}
	var s float64
	for j := range 4 {
		s += pw[j] * d[j] * d[j+4] * sig(d[j+4])
	}
	want := x + s/math.Sqrt(s*s+1e-5)*gn[0] + bn[0]
	if got := tensortest.Floats(t, out[0])[0]; math.Abs(got-want) > 1e-5 {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestShortcuts checks pixel (un)shuffle orders and the sampling blocks' shortcuts on an index
// image: value = 100·c + 10·y + x.
func TestShortcuts(t *testing.T) {
	const H, W, C = 4, 4, 2
	vals := make([]float64, H*W*C)
	for y := range H {
		for x := range W {
			for c := range C {
				vals[(y*W+x)*C+c] = float64(100*c + 10*y + x)
			}
		}
	}
	in := tensorOf(vals, 1, H, W, C)
	out := evalGraph(t, func(in []*Node) []*Node {
		x := in[0]
		return []*Node{pixelUnshuffle(x), pixelShuffle(pixelUnshuffle(x)), groupMean(pixelUnshuffle(x), 4),
			pixelShuffle(repeatChannels(x, 2)), nearest2x(x)}
	}, in)
	un := tensortest.Floats(t, out[0]) // (1, 2, 2, 8): channel 4c + 2dy + dx = x[2h+dy, 2w+dx, c]
	for h := range 2 {
		for w := range 2 {
			for c := range C {
				for dy := range 2 {
					for dx := range 2 {
						got := un[(h*2+w)*8+4*c+2*dy+dx]
						if want := float64(100*c + 10*(2*h+dy) + 2*w + dx); got != want {
							t.Fatalf("unshuffle (%d,%d) c%d dy%d dx%d: %v, want %v", h, w, c, dy, dx, got, want)
						}
					}
				}
			}
		}
	}
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, out[1]), vals); d != 0 {
		t.Errorf("shuffle∘unshuffle is not the identity: %g", d)
	}
	// Down shortcut to 4 channels: 8 unshuffled channels averaged in pairs (group size 4·2/4 = 2),
	// channel k = mean of unshuffled channels 2k and 2k+1 = (c, dy, dx) with dx = 0, 1.
	gm := tensortest.Floats(t, out[2])
	for h := range 2 {
		for w := range 2 {
			for k := range 4 {
				c, dy := k/2, k%2
				want := float64(100*c+10*(2*h+dy)+2*w) + 0.5
				if got := gm[(h*2+w)*4+k]; got != want {
					t.Errorf("down shortcut (%d,%d) k%d: %v, want %v", h, w, k, got, want)
				}
			}
		}
	}
	// Up shortcut: channels repeated twice (c → 2c, 2c+1), then shuffled into 2×2 cells of C/2
	// channels: output channel 0 of cell (dy, dx) holds repeated channel 2dy+dx → source c = dy.
	up := tensortest.Floats(t, out[3]) // (1, 8, 8, 1)
	for y := range 8 {
		for x := range 8 {
			dy := y % 2
			want := float64(100*dy + 10*(y/2) + x/2)
			if got := up[y*8+x]; got != want {
				t.Fatalf("up shortcut (%d,%d): %v, want %v", y, x, got, want)
			}
		}
	}
	nn := tensortest.Floats(t, out[4]) // (1, 8, 8, 2)
	for y := range 8 {
		for x := range 8 {
			if got, want := nn[(y*8+x)*2+1], float64(100+10*(y/2)+x/2); got != want {
				t.Fatalf("nearest (%d,%d): %v, want %v", y, x, got, want)
			}
		}
	}
}

// TestConvsAgainstDirect compares the matrix-product convolutions with direct sums.
func TestConvsAgainstDirect(t *testing.T) {
	const B, H, W, C, O = 2, 6, 4, 3, 5
	x := randVals(10, B*H*W*C)
	w3 := randVals(11, O*C*9)
	bias := randVals(12, O)
	at := func(b, y, xx, c int) float64 {
		if y < 0 || xx < 0 || y >= H || xx >= W {
			return 0
		}
		return x[((b*H+y)*W+xx)*C+c]
	}
	out := evalGraph(t, func(in []*Node) []*Node {
		return []*Node{conv3x3(in[0], in[1], in[2], 1), conv3x3(in[0], in[1], in[2], 2)}
	}, tensorOf(x, B, H, W, C), tensorOf(w3, O, C, 3, 3), tensorOf(bias, O))
	for si, s := range []int{1, 2} {
		got := tensortest.Floats(t, out[si])
		Ho, Wo := H/s, W/s
		for b := range B {
			for h := range Ho {
				for ww := range Wo {
					for o := range O {
						want := bias[o]
						for c := range C {
							for i := range 3 {
								for j := range 3 {
									want += w3[((o*C+c)*3+i)*3+j] * at(b, s*h+i-1, s*ww+j-1, c)
								}
							}
						}
						if g := got[((b*Ho+h)*Wo+ww)*O+o]; math.Abs(g-want) > 1e-5 {
							t.Fatalf("stride %d (%d,%d,%d,%d): %v, want %v", s, b, h, ww, o, g, want)
						}
					}
				}
			}
		}
	}
	// The upsampling conv at low resolution equals the conv of the nearest-neighbour upsampling.
	out = evalGraph(t, func(in []*Node) []*Node {
		return []*Node{upsampleConv(in[0], in[1], in[2]), conv3x3(nearest2x(in[0]), in[1], in[2], 1)}
	}, tensorOf(x, B, H, W, C), tensorOf(w3, O, C, 3, 3), tensorOf(bias, O))
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, out[0]), tensortest.Floats(t, out[1])); d > 1e-5 {
		t.Errorf("upsampleConv differs from conv3x3∘nearest2x by %g", d)
	}
	// Depthwise 5×5 with bias, and a 1×1 conv in 3 groups of 2 channels.
	const Cd = 6
	xd := randVals(13, B*H*W*Cd)
	wd := randVals(14, Cd*25)
	bd := randVals(15, Cd)
	wg := randVals(16, Cd*2)
	out = evalGraph(t, func(in []*Node) []*Node {
		return []*Node{depthwise(in[0], in[1], in[2]), groupedPointwise(in[0], in[3], 3)}
	}, tensorOf(xd, B, H, W, Cd), tensorOf(wd, Cd, 1, 5, 5), tensorOf(bd, Cd), tensorOf(wg, Cd, 2, 1, 1))
	dw, gp := tensortest.Floats(t, out[0]), tensortest.Floats(t, out[1])
	wantDW := tensortest.Depthwise(xd, wd, bd, B, H, W, Cd, 5)
	atd := func(b, y, xx, c int) float64 {
		if y < 0 || xx < 0 || y >= H || xx >= W {
			return 0
		}
		return xd[((b*H+y)*W+xx)*Cd+c]
	}
	for b := range B {
		for h := range H {
			for ww := range W {
				for c := range Cd {
					idx := ((b*H+h)*W+ww)*Cd + c
					if math.Abs(dw[idx]-wantDW[idx]) > 1e-5 {
						t.Fatalf("depthwise (%d,%d,%d,%d): %v, want %v", b, h, ww, c, dw[idx], wantDW[idx])
					}
					g := c / 2
					wantG := wg[c*2]*atd(b, h, ww, 2*g) + wg[c*2+1]*atd(b, h, ww, 2*g+1)
					if math.Abs(gp[idx]-wantG) > 1e-5 {
						t.Fatalf("grouped 1x1 (%d,%d,%d,%d): %v, want %v", b, h, ww, c, gp[idx], wantG)
					}
				}
			}
		}
	}
}
