package model

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// mixFFN is SANA's GLUMBConv on the token grid:
// 1×1 conv D→2Hd (bias) → SiLU → 3×3 depthwise conv (bias, pad 1) → a·SiLU(gate) → 1×1 conv Hd→D (no bias).
//
// The 1×1 convolutions are token-major matrix products; the depthwise convolution and the GLU
// product run channel-major, (channels, B, N), reached by plain 2-D transposes. The GLU halves
// [a | gate] come from the two halves of the weights rather than from slicing activations.
func mixFFN(cfg Config, w Weights, f mixFFNParams, x *Node, hp, wp int) *Node {
	dims := x.Shape().Dimensions
	B, N, D := dims[0], dims[1], dims[2]
	hd := cfg.FFNHidden()
	wInv := Reshape(w.get(f.convInverted.weight), 2*hd, D)
	bInv := w.get(f.convInverted.bias)
	kDepth := Reshape(w.get(f.convDepth.weight), 2*hd, 9)
	bDepth := w.get(f.convDepth.bias)
	half := func(t *Node, i int) *Node { // rows [i·hd, (i+1)·hd) of a weight
		axes := []SliceAxisSpec{AxisRange(i*hd, (i+1)*hd)}
		for range t.Rank() - 1 {
			axes = append(axes, AxisRange())
		}
		return Slice(t, axes...)
	}
	branch := func(i int) *Node { // conv_inverted → SiLU → conv_depth for one GLU half: (hd, B, N)
		z := silu(linear(x, half(wInv, i), half(bInv, i)))            // (B, N, hd)
		zc := Reshape(Transpose(Reshape(z, B*N, hd), 0, 1), hd, B, N) // channel-major
		return depthwise3x3(zc, half(kDepth, i), half(bDepth, i), hp, wp)
	}
	m := Mul(branch(0), silu(branch(1)))                             // (hd, B, N)
	m = Reshape(Transpose(Reshape(m, hd, B*N), 0, 1), B, N, hd)      // token-major
	return linear(m, Reshape(w.get(f.convPoint.weight), D, hd), nil) // (B, N, D)
}

// denseDepthwiseMaxTokens bounds the grid size (tokens) up to which the depthwise convolution
// is computed as a per-channel N×N matrix product; above it the nine shifted products are used.
const denseDepthwiseMaxTokens = 64

// depthwise3x3 applies a per-channel 3×3 cross-correlation with zero padding 1 on the hp×wp
// token grid: z (C, B, N) channel-major with N = hp·wp tokens in row-major order, kernel
// (C, 9) in PyTorch's (i, j) row-major tap order, bias (C):
//
//	out[c, b, (h, w)] = bias[c] + Σ_{i,j} k[c, 3i+j]·z[c, b, (h+i−1, w+j−1)]   (zero outside the grid)
//
// For small grids the taps are folded into a per-channel matrix K[c] = Σ_t k[c, t]·S_t (S_t the
// 0/1 shift operators) and applied as one batched matrix product, which the Go backend runs far
// faster than nine element-wise passes; larger grids use the shifted products. Every op has a
// second-order gradient.
func depthwise3x3(z, kernel, bias *Node, hp, wp int) *Node {
	dims := z.Shape().Dimensions
	C, B, N := dims[0], dims[1], dims[2]
	var out *Node
	if N <= denseDepthwiseMaxTokens {
		S := ConstAsDType(z.Graph(), z.DType(), shiftOperators(hp, wp)) // (9, N·N)
		K := Reshape(DotGeneral(kernel, []int{1}, nil, S, []int{0}, nil), C, N, N)
		out = DotGeneral(z, []int{2}, []int{0}, K, []int{2}, []int{0}) // (C, B, N)
	} else {
		zz := Reshape(z, C, B, hp, wp)
		zero := ScalarZero(z.Graph(), z.DType())
		zp := Pad(zz, zero, compute.PadAxis{}, compute.PadAxis{}, compute.PadAxis{Start: 1, End: 1}, compute.PadAxis{Start: 1, End: 1})
		for t := range 9 {
			i, j := t/3, t%3
			tap := Reshape(Slice(kernel, AxisRange(), AxisRange(t, t+1)), C, 1, 1, 1)
			term := Mul(Slice(zp, AxisRange(), AxisRange(), AxisRange(i, i+hp), AxisRange(j, j+wp)), tap)
			if out == nil {
				out = term
			} else {
				out = Add(out, term)
			}
		}
		out = Reshape(out, C, B, N)
	}
	return Add(out, Reshape(bias, C, 1, 1))
}

// shiftOperators returns the nine 0/1 matrices S_t[n, m] = 1 when token m is token n moved by
// tap t = 3i+j, i.e. (h+i−1, w+j−1), flattened to (9, N·N).
func shiftOperators(hp, wp int) [][]float64 {
	N := hp * wp
	S := make([][]float64, 9)
	for t := range 9 {
		S[t] = make([]float64, N*N)
		di, dj := t/3-1, t%3-1
		for h := range hp {
			for w := range wp {
				hh, ww := h+di, w+dj
				if hh >= 0 && ww >= 0 && hh < hp && ww < wp {
					S[t][(h*wp+w)*N+hh*wp+ww] = 1
				}
			}
		}
	}
	return S
}
