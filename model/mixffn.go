package model

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// mixFFN is SANA's GLUMBConv on the token grid:
// 1×1 conv D→2Hd (bias) → SiLU → 3×3 depthwise conv (bias, pad 1) → a·SiLU(gate) → 1×1 conv Hd→D (no bias).
//
// Everything runs token-major, (B, N, channels): the 1×1 convolutions are matrix products and
// the depthwise convolution shifts whole rows of channels (see depthwise3x3), so no activation
// is transposed. The GLU halves [a | gate] come from the two halves of the weights rather than
// from slicing activations.
func mixFFN(cfg Config, w Weights, f mixFFNParams, x *Node, hp, wp int) *Node {
	D := x.Shape().Dimensions[2]
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
	branch := func(i int) *Node { // conv_inverted → SiLU → conv_depth for one GLU half: (B, N, hd)
		z := silu(linear(x, half(wInv, i), half(bInv, i)))
		return depthwise3x3(z, half(kDepth, i), half(bDepth, i), hp, wp)
	}
	m := Mul(branch(0), silu(branch(1)))                             // (B, N, hd)
	return linear(m, Reshape(w.get(f.convPoint.weight), D, hd), nil) // (B, N, D)
}

// depthwise3x3 applies a per-channel 3×3 cross-correlation with zero padding 1 on the hp×wp
// token grid: z (B, N, C) token-major with N = hp·wp tokens in row-major order, kernel (C, 9)
// in PyTorch's (i, j) row-major tap order, bias (C):
//
//	out[b, (h, w), c] = bias[c] + Σ_{i,j} k[c, 3i+j]·z[b, (h+i−1, w+j−1), c]   (zero outside the grid)
//
// It runs as the backend's grouped (depthwise) convolution, with GoMLX's gradient taken through
// the equivalent shifted formulation (shiftedDepthwise3x3) instead of the convolution's own
// gradient: GoMLX differentiates a grouped convolution as one convolution per channel, hundreds
// of ops here, while the shifted formulation has first- and second-order gradients made of a few
// block copies and vectorised element-wise ops. Where the backend has no such convolution the
// shifted formulation is the forward too.
func depthwise3x3(z, kernel, bias *Node, hp, wp int) *Node {
	dims := z.Shape().Dimensions
	B, C := dims[0], dims[2]
	z4 := Reshape(z, B, hp, wp, C)
	out, _ := InternalFusedOpCaller(
		func() *Node { // kernel as [kh, kw, in/group = 1, C], channels last
			k := Reshape(Transpose(kernel, 0, 1), 3, 3, 1, C)
			return Convolve(z4, k).ChannelGroupCount(C).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		},
		func() *Node { return shiftedDepthwise3x3(z4, kernel) },
		true)
	out = Add(out, Reshape(bias, 1, 1, 1, C))
	return Reshape(out, B, hp*wp, C)
}

// shiftedDepthwise3x3 is depthwise3x3's convolution (without bias) on z4 (B, hp, wp, C),
// computed separably in the shifts: the column neighbours z_j = z shifted by j−1 along w, the
// per-row-offset sums r_i = Σ_j k[·, 3i+j]·z_j, and out = Σ_i r_i shifted by i−1 along h. In
// this layout a shift moves whole rows of C contiguous channels (one Pad and one Slice), and
// the products broadcast the kernel along the trailing channel axis, so every op is a block copy
// or a vectorised element-wise op, with first- and second-order gradients of the same kinds
// (Slice ↔ Pad, Mul, Add, ReduceSum).
func shiftedDepthwise3x3(z4, kernel *Node) *Node {
	dims := z4.Shape().Dimensions
	hp, wp, C := dims[1], dims[2], dims[3]
	zero := ScalarZero(z4.Graph(), z4.DType())
	taps := Reshape(Transpose(kernel, 0, 1), 9, 1, 1, 1, C) // (9, 1, 1, 1, C): tap t's weights per channel
	tap := func(t int) *Node { return Reshape(Slice(taps, AxisRange(t, t+1)), 1, 1, 1, C) }
	// Pads name every axis: GoMLX's Pad gradient reads the configuration of every axis.
	none := compute.PadAxis{}
	// Column neighbours: zj[j][b, h, w] = z[b, h, w+j−1], zero outside the grid.
	zp := Pad(z4, zero, none, none, compute.PadAxis{Start: 1, End: 1}, none)
	zj := [3]*Node{
		Slice(zp, AxisRange(), AxisRange(), AxisRange(0, wp)),
		z4,
		Slice(zp, AxisRange(), AxisRange(), AxisRange(2, wp+2)),
	}
	var out *Node
	for i := range 3 {
		var r *Node // r_i = Σ_j k[·, 3i+j]·z_j
		for j := range 3 {
			r = addOrFirst(r, Mul(zj[j], tap(3*i+j)))
		}
		switch i { // out[h] += r_i[h+i−1]
		case 0: // r_0 moved down one row: row h takes r_0[h−1]
			r = Slice(Pad(r, zero, none, compute.PadAxis{Start: 1}, none, none), AxisRange(), AxisRange(0, hp))
		case 2: // r_2 moved up one row: row h takes r_2[h+1]
			r = Slice(Pad(r, zero, none, compute.PadAxis{End: 1}, none, none), AxisRange(), AxisRange(1, hp+1))
		}
		out = addOrFirst(out, r)
	}
	return out
}

// addOrFirst returns acc + x, or x when acc is nil.
func addOrFirst(acc, x *Node) *Node {
	if acc == nil {
		return x
	}
	return Add(acc, x)
}
