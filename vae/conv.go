package vae

// Convolutions on channels-last activations (B, H, W, C) with PyTorch-layout weights
// (Cout, Cin/groups, kH, kW), written as matrix products and shifted slices: the Go backend's
// matrix product has SIMD kernels, its direct convolution loop does not.

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// dims4 returns the dimensions of a rank-4 node.
func dims4(x *Node) (int, int, int, int) {
	d := x.Shape().Dimensions
	if len(d) != 4 {
		panic(fmt.Errorf("vae: want a (B, H, W, C) node, got %s", x.Shape()))
	}
	return d[0], d[1], d[2], d[3]
}

// padHW zero-pads the two spatial axes of (B, H, W, C) by p on each side.
func padHW(x *Node, p int) *Node {
	if p == 0 {
		return x
	}
	zero := ScalarZero(x.Graph(), x.DType())
	sp := compute.PadAxis{Start: p, End: p}
	return Pad(x, zero, compute.PadAxis{}, sp, sp, compute.PadAxis{})
}

// dense is a 1×1 convolution (or linear layer) over the last axis: x·Wᵀ + b for W (out, in, [1, 1])
// and b (out) or nil. x is flattened to (rows, in) around one matrix product.
func dense(x, w, b *Node) *Node {
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	out := w.Shape().Dimensions[0]
	if w.Shape().Size() != out*in {
		panic(fmt.Errorf("vae: weight %s does not map %d channels", w.Shape(), in))
	}
	rows := x.Shape().Size() / in
	y := DotGeneral(Reshape(x, rows, in), []int{1}, nil, Reshape(w, out, in), []int{1}, nil) // (rows, out)
	if b != nil {
		y = Add(y, Reshape(b, 1, out))
	}
	newDims := append(append([]int(nil), dims[:len(dims)-1]...), out)
	return Reshape(y, newDims...)
}

// conv3x3 is PyTorch's Conv2d(kernel 3, padding 1, stride 1 or 2) on (B, H, W, Cin), weight
// (Cout, Cin, 3, 3), bias (Cout) or nil:
//
//	out[h, w, o] = b[o] + Σ_{i,j,c} W[o, c, i, j] · x[s·h+i−1, s·w+j−1, c]   (zero outside)
//
// Stride 1 gathers the three column shifts into the channel axis, multiplies once by the
// (3·Cout, 3·Cin) matrix of all taps, and adds the three row-shifted Cout-wide slices of the
// product (3× the input in memory, not 9×). Stride 2 gathers all nine strided taps (9/4 of the
// input) and multiplies by (Cout, 9·Cin).
func conv3x3(x, w, b *Node, stride int) *Node {
	B, H, W, C := dims4(x)
	wd := w.Shape().Dimensions
	if len(wd) != 4 || wd[1] != C || wd[2] != 3 || wd[3] != 3 {
		panic(fmt.Errorf("vae: conv3x3 weight %s does not fit input %s", w.Shape(), x.Shape()))
	}
	Cout := wd[0]
	xp := padHW(x, 1)
	var out *Node
	switch stride {
	case 1:
		cols := make([]*Node, 3)
		for j := range 3 {
			cols[j] = Slice(xp, AxisRange(), AxisRange(), AxisRange(j, j+W), AxisRange())
		}
		xc := Concatenate(cols, -1) // (B, H+2, W, 3C), channel j·C + c
		// Taps as rows i·Cout + o and columns j·Cin + c.
		wm := Reshape(TransposeAllAxes(w, 2, 0, 3, 1), 3*Cout, 3*C)
		y := DotGeneral(Reshape(xc, B*(H+2)*W, 3*C), []int{1}, nil, wm, []int{1}, nil)
		y = Reshape(y, B, H+2, W, 3*Cout)
		for i := range 3 {
			term := Slice(y, AxisRange(), AxisRange(i, i+H), AxisRange(), AxisRange(i*Cout, (i+1)*Cout))
			if out == nil {
				out = term
			} else {
				out = Add(out, term)
			}
		}
	case 2:
		Ho, Wo := (H-1)/2+1, (W-1)/2+1
		taps := make([]*Node, 0, 9)
		for i := range 3 {
			for j := range 3 {
				taps = append(taps, Slice(xp, AxisRange(),
					AxisRange(i, i+2*(Ho-1)+1).Stride(2), AxisRange(j, j+2*(Wo-1)+1).Stride(2), AxisRange()))
			}
		}
		xc := Concatenate(taps, -1)                               // (B, Ho, Wo, 9C), channel (3i+j)·C + c
		wm := Reshape(TransposeAllAxes(w, 0, 2, 3, 1), Cout, 9*C) // (Cout, 9C)
		out = DotGeneral(Reshape(xc, B*Ho*Wo, 9*C), []int{1}, nil, wm, []int{1}, nil)
		out = Reshape(out, B, Ho, Wo, Cout)
	default:
		panic(fmt.Errorf("vae: conv3x3 stride %d not supported", stride))
	}
	if b != nil {
		out = Add(out, Reshape(b, 1, 1, 1, Cout))
	}
	return out
}

// depthwise is PyTorch's Conv2d(C, C, k, padding k/2, groups=C) on (B, H, W, C) with weight
// (C, 1, k, k) and bias (C) or nil: out[h, w, c] = b[c] + Σ_{i,j} W[c, 0, i, j]·x[h+i−k/2, w+j−k/2, c],
// summed over the k² shifted slices.
func depthwise(x, w, b *Node) *Node {
	_, H, W, C := dims4(x)
	wd := w.Shape().Dimensions
	if len(wd) != 4 || wd[0] != C || wd[1] != 1 || wd[2] != wd[3] || wd[2]%2 == 0 {
		panic(fmt.Errorf("vae: depthwise weight %s does not fit input %s", w.Shape(), x.Shape()))
	}
	k := wd[2]
	xp := padHW(x, k/2)
	taps := Reshape(TransposeAllAxes(Reshape(w, C, k*k), 1, 0), k*k, C) // (k², C)
	var out *Node
	for t := range k * k {
		i, j := t/k, t%k
		tap := Reshape(Slice(taps, AxisRange(t, t+1), AxisRange()), 1, 1, 1, C)
		term := Mul(Slice(xp, AxisRange(), AxisRange(i, i+H), AxisRange(j, j+W), AxisRange()), tap)
		if out == nil {
			out = term
		} else {
			out = Add(out, term)
		}
	}
	if b != nil {
		out = Add(out, Reshape(b, 1, 1, 1, C))
	}
	return out
}

// groupedPointwise is PyTorch's Conv2d(C, C, 1, groups=G, bias=False) on (B, H, W, C) with weight
// (C, C/G, 1, 1): each group of g = C/G consecutive channels is mapped by its own g×g matrix,
// out[.., G·g + o] = Σ_i W[G·g + o, i]·x[.., G·g + i].
func groupedPointwise(x, w *Node, groups int) *Node {
	B, H, W, C := dims4(x)
	g := C / groups
	if g*groups != C || w.Shape().Size() != C*g {
		panic(fmt.Errorf("vae: grouped 1x1 weight %s does not fit %d channels in %d groups", w.Shape(), C, groups))
	}
	xg := Reshape(x, B*H*W, groups, g)
	wg := Reshape(w, groups, g, g)                                  // (G, out, in)
	y := DotGeneral(xg, []int{2}, []int{1}, wg, []int{2}, []int{0}) // (G, rows, out)
	y = TransposeAllAxes(y, 1, 0, 2)                                // (rows, G, out)
	return Reshape(y, B, H, W, C)
}
