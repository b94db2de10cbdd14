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

// crop returns x[r0[0]:r0[1], r1[0]:r1[1], …] for the given per-axis ranges (missing trailing
// ranges keep the whole axis). It is a Pad with negative edges: the Go backend copies padded
// data in contiguous blocks, where its Slice copies element by element.
func crop(x *Node, ranges ...[2]int) *Node {
	dims := x.Shape().Dimensions
	cfg := make([]compute.PadAxis, len(dims))
	touched := false
	for a, r := range ranges {
		if r[0] < 0 || r[1] > dims[a] || r[0] >= r[1] {
			panic(fmt.Errorf("vae: crop %v of axis %d of %s", r, a, x.Shape()))
		}
		cfg[a] = compute.PadAxis{Start: -r[0], End: r[1] - dims[a]}
		touched = touched || r[0] != 0 || r[1] != dims[a]
	}
	if !touched {
		return x
	}
	return Pad(x, ScalarZero(x.Graph(), x.DType()), cfg...)
}

// all is the full range of an axis of size n, for crop.
func all(n int) [2]int { return [2]int{0, n} }

// conv3x3 is PyTorch's Conv2d(kernel 3, padding 1, stride 1 or 2) on (B, H, W, Cin), weight
// (Cout, Cin, 3, 3), bias (Cout) or nil:
//
//	out[h, w, o] = b[o] + Σ_{i,j,c} W[o, c, i, j] · x[s·h+i−1, s·w+j−1, c]   (zero outside)
//
// Stride 1 works on the zero-padded image flattened to rows of Wp = W+2 pixels, where the column
// shift j is a contiguous offset: the three shifts are stacked on the channel axis (3× the input),
// multiplied once by the (3·Cout, 3·Cin) matrix of all taps, and the three row taps i are the
// Cout-wide blocks of the product read i rows lower. Stride 2 gathers the nine strided taps
// (9/4 of the input) and multiplies by the (Cout, 9·Cin) matrix.
func conv3x3(x, w, b *Node, stride int) *Node {
	B, H, W, C := dims4(x)
	wd := w.Shape().Dimensions
	if len(wd) != 4 || wd[1] != C || wd[2] != 3 || wd[3] != 3 {
		panic(fmt.Errorf("vae: conv3x3 weight %s does not fit input %s", w.Shape(), x.Shape()))
	}
	Cout := wd[0]
	var out *Node
	switch stride {
	case 1:
		Hp, Wp := H+2, W+2
		// Zero padding 1, plus one more row at the bottom: room for the last row's column shifts.
		zero := ScalarZero(x.Graph(), x.DType())
		xp := Pad(x, zero, compute.PadAxis{}, compute.PadAxis{Start: 1, End: 2}, compute.PadAxis{Start: 1, End: 1})
		xp = Reshape(xp, B, (Hp+1)*Wp, C)
		cols := make([]*Node, 3)
		for j := range 3 {
			cols[j] = crop(xp, all(B), [2]int{j, j + Hp*Wp})
		}
		xc := Concatenate(cols, -1) // (B, Hp·Wp, 3C): channel j·C + c holds xp[p + j, c]
		// Taps as rows i·Cout + o and columns j·Cin + c.
		wm := Reshape(TransposeAllAxes(w, 2, 0, 3, 1), 3*Cout, 3*C)
		y := DotGeneral(Reshape(xc, B*Hp*Wp, 3*C), []int{1}, nil, wm, []int{1}, nil)
		y = Reshape(y, B, Hp, Wp, 3*Cout)
		for i := range 3 {
			term := crop(y, all(B), [2]int{i, i + H}, [2]int{0, W}, [2]int{i * Cout, (i + 1) * Cout})
			if out == nil {
				out = term
			} else {
				out = Add(out, term)
			}
		}
	case 2:
		if H%2 != 0 || W%2 != 0 {
			panic(fmt.Errorf("vae: stride-2 conv3x3 needs even sides, got %s", x.Shape()))
		}
		Ho, Wo := H/2, W/2
		// Padded rows 2h+i = 2(h + i/2) + i%2: split each spatial axis into (pairs, parity).
		xp := Reshape(padHW(x, 1), B, Ho+1, 2, Wo+1, 2, C)
		taps := make([]*Node, 0, 9)
		for i := range 3 {
			for j := range 3 {
				t := crop(xp, all(B), [2]int{i / 2, i/2 + Ho}, [2]int{i % 2, i%2 + 1}, [2]int{j / 2, j/2 + Wo}, [2]int{j % 2, j%2 + 1})
				taps = append(taps, Reshape(t, B, Ho, Wo, C))
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
// (C, 1, k, k) and bias (C) or nil: out[h, w, c] = b[c] + Σ_{i,j} W[c, 0, i, j]·x[h+i−k/2, w+j−k/2, c].
// As in conv3x3, the padded image is flattened to rows of Wp = W+k−1 pixels so that every tap
// is one contiguous shifted block; the k−1 extra columns are dropped at the end.
func depthwise(x, w, b *Node) *Node {
	B, H, W, C := dims4(x)
	wd := w.Shape().Dimensions
	if len(wd) != 4 || wd[0] != C || wd[1] != 1 || wd[2] != wd[3] || wd[2]%2 == 0 {
		panic(fmt.Errorf("vae: depthwise weight %s does not fit input %s", w.Shape(), x.Shape()))
	}
	k := wd[2]
	p := k / 2
	Hp, Wp := H+2*p, W+2*p
	xp := Reshape(padHW(x, p), B, Hp*Wp, C)
	zero := ScalarZero(x.Graph(), x.DType())
	xp = Pad(xp, zero, compute.PadAxis{}, compute.PadAxis{End: k - 1})
	taps := Reshape(TransposeAllAxes(Reshape(w, C, k*k), 1, 0), k*k, 1, 1, C) // (k², 1, 1, C)
	var out *Node
	for t := range k * k {
		i, j := t/k, t%k
		tap := Reshape(crop(taps, [2]int{t, t + 1}), 1, 1, C)
		term := Mul(crop(xp, all(B), [2]int{i*Wp + j, i*Wp + j + H*Wp}), tap) // (B, H·Wp, C)
		if out == nil {
			out = term
		} else {
			out = Add(out, term)
		}
	}
	out = crop(Reshape(out, B, H, Wp, C), all(B), all(H), [2]int{0, W})
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
