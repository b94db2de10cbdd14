package vae

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// Weights maps DC-AE tensor names (diffusers keys, see ParamSpecs) to graph nodes. The encoder
// and decoder are pure functions of these nodes and their input.
type Weights map[string]*Node

// get returns the named weight, panicking when it is absent (the graph-building convention;
// graph.Exec turns the panic into an error).
func (w Weights) get(name string) *Node { return netgraph.Weight(w, "vae", name) }

// resBlock is diffusers' ResBlock: x + norm(conv2(act(conv1(x)))), conv1 with bias and conv2
// without, both 3×3.
func resBlock(w Weights, l layer, x *Node) *Node {
	h := conv3x3(x, w.get(l.prefix+"conv1.weight"), w.get(l.prefix+"conv1.bias"), 1)
	h = activation(l.act, h)
	h = conv3x3(h, w.get(l.prefix+"conv2.weight"), nil, 1)
	return Add(norm(w, l.norm, l.prefix+"norm", h), x)
}

// glumbConv is GLUMBConv (expand ratio 4, RMSNorm, residual), the EfficientViT block's
// feed-forward part:
//
//	h = SiLU(conv_inverted(x))                  1×1, C → 8C, bias
//	[a | gate] = conv_depth(h)                  3×3 depthwise, bias
//	y = x + RMSNorm(conv_point(a · SiLU(gate)))  1×1, 4C → C, no bias
func glumbConv(w Weights, pre string, x *Node) *Node {
	h := dense(x, w.get(pre+"conv_inverted.weight"), w.get(pre+"conv_inverted.bias"))
	h = silu(h)
	h = depthwise(h, w.get(pre+"conv_depth.weight"), w.get(pre+"conv_depth.bias"))
	B, H, W, c2 := dims4(h)
	a := crop(h, all(B), all(H), all(W), [2]int{0, c2 / 2})
	gate := crop(h, all(B), all(H), all(W), [2]int{c2 / 2, c2})
	y := dense(Mul(a, silu(gate)), w.get(pre+"conv_point.weight"), nil)
	y = rmsNorm2d(y, w.get(pre+"norm.weight"), w.get(pre+"norm.bias"))
	return Add(y, x)
}

// evitBlock is diffusers' EfficientViTBlock: multi-scale linear attention (with its residual)
// followed by GLUMBConv.
func evitBlock(c Config, w Weights, l layer, x *Node) *Node {
	x = multiscaleAttention(c, w, l, x)
	return glumbConv(w, l.prefix+"conv_out.", x)
}

// pixelUnshuffle is F.pixel_unshuffle(·, 2) on channels-last: (B, H, W, C) → (B, H/2, W/2, 4C),
// output channel 4c + 2·dy + dx holding x[2h+dy, 2w+dx, c].
func pixelUnshuffle(x *Node) *Node {
	B, H, W, C := dims4(x)
	x = Reshape(x, B, H/2, 2, W/2, 2, C)
	x = TransposeAllAxes(x, 0, 1, 3, 5, 2, 4) // (B, H/2, W/2, C, dy, dx)
	return Reshape(x, B, H/2, W/2, 4*C)
}

// pixelShuffle is F.pixel_shuffle(·, 2), the inverse of pixelUnshuffle: (B, H, W, 4C) → (B, 2H, 2W, C).
func pixelShuffle(x *Node) *Node {
	B, H, W, C4 := dims4(x)
	C := C4 / 4
	x = Reshape(x, B, H, W, C, 2, 2)
	x = TransposeAllAxes(x, 0, 1, 4, 2, 5, 3) // (B, H, dy, W, dx, C)
	return Reshape(x, B, 2*H, 2*W, C)
}

// nearest2x is F.interpolate(scale_factor=2, mode="nearest"): out[2h+dy, 2w+dx] = x[h, w].
func nearest2x(x *Node) *Node {
	B, H, W, C := dims4(x)
	x = Reshape(x, B, H, 1, W, 1, C)
	x = BroadcastToDims(x, B, H, 2, W, 2, C)
	return Reshape(x, B, 2*H, 2*W, C)
}

// groupMean averages groups of consecutive channels: (…, G·g) → (…, G), the shortcuts'
// `unflatten(1, (-1, g)).mean(dim=2)`.
func groupMean(x *Node, groups int) *Node {
	B, H, W, C := dims4(x)
	if C%groups != 0 {
		panic(fmt.Errorf("vae: %d channels do not average into %d groups", C, groups))
	}
	if C == groups {
		return x
	}
	return ReduceMean(Reshape(x, B, H, W, groups, C/groups), -1)
}

// repeatChannels repeats each channel r times in place: (…, C) → (…, r·C), channel c·r + k holding
// channel c (torch.repeat_interleave along channels).
func repeatChannels(x *Node, r int) *Node {
	if r == 1 {
		return x
	}
	B, H, W, C := dims4(x)
	x = BroadcastToDims(Reshape(x, B, H, W, C, 1), B, H, W, C, r)
	return Reshape(x, B, H, W, C*r)
}

// upsampleConv is conv3x3(nearest2x(x)) computed at the input's resolution: output pixel
// (2h+dy, 2w+dx) of the upsampled conv reads, through tap i of its row, input row
// h + ⌊(dy+i−1)/2⌋, so the four output parities are four 3×3 convs of x whose taps are sums of
// the original ones (zero padding maps to zero padding):
//
//	W'[(o, dy, dx), c, a, b] = Σ_{i,j} [⌊(dy+i−1)/2⌋ = a−1]·[⌊(dx+j−1)/2⌋ = b−1]·W[o, c, i, j]
//	conv3x3(nearest2x(x), W) = pixel_shuffle(conv3x3(x, W'))
//
// The same products, a quarter of the input memory.
func upsampleConv(x, w, b *Node) *Node {
	wd := w.Shape().Dimensions
	Cout, Cin := wd[0], wd[1]
	// m[d·3 + a, i] = 1 when tap i of output parity d reads input offset a−1.
	m := make([][]float64, 6)
	for d := range 2 {
		for a := range 3 {
			m[d*3+a] = make([]float64, 3)
			for i := range 3 {
				if floorDiv(d+i-1, 2) == a-1 {
					m[d*3+a][i] = 1
				}
			}
		}
	}
	mc := Reshape(ConstAsDType(w.Graph(), w.DType(), m), 2, 3, 3)        // (dy, a, i)
	wr := Einsum("yai,ocij->yaocj", mc, w)                               // rows combined
	wr = Einsum("xbj,yaocj->oyxcab", mc, wr)                             // columns combined
	wp := Reshape(wr, 4*Cout, Cin, 3, 3)                                 // (o·4 + dy·2 + dx, c, a, b)
	bp := Reshape(BroadcastToDims(Reshape(b, Cout, 1), Cout, 4), 4*Cout) // bias per parity
	return pixelShuffle(conv3x3(x, wp, bp, 1))
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// downBlock is DCDownBlock2d: conv 3×3 then pixel unshuffle (pixel) or a stride-2 conv 3×3,
// plus, with the shortcut, the space-to-depth of the input averaged in channel groups:
//
//	y = conv_down(x) + groupMean(pixel_unshuffle(x), Cout)
func downBlock(w Weights, l layer, x *Node) *Node {
	var y *Node
	if l.pixel {
		y = pixelUnshuffle(conv3x3(x, w.get(l.prefix+"conv.weight"), w.get(l.prefix+"conv.bias"), 1))
	} else {
		y = conv3x3(x, w.get(l.prefix+"conv.weight"), w.get(l.prefix+"conv.bias"), 2)
	}
	if l.shortcut {
		y = Add(y, groupMean(pixelUnshuffle(x), l.out))
	}
	return y
}

// upBlock is DCUpBlock2d: conv 3×3 then pixel shuffle (pixel) or nearest ×2 then conv 3×3, plus,
// with the shortcut, the input's channels duplicated and moved to space:
//
//	y = conv_up(x) + pixel_shuffle(repeat_interleave(x, 4·Cout/Cin))
func upBlock(w Weights, l layer, x *Node) *Node {
	var y *Node
	if l.pixel {
		y = pixelShuffle(conv3x3(x, w.get(l.prefix+"conv.weight"), w.get(l.prefix+"conv.bias"), 1))
	} else {
		y = upsampleConv(x, w.get(l.prefix+"conv.weight"), w.get(l.prefix+"conv.bias"))
	}
	if l.shortcut {
		y = Add(y, pixelShuffle(repeatChannels(x, 4*l.out/l.in)))
	}
	return y
}

// runLayer applies one planned layer to channels-last x.
func runLayer(c Config, w Weights, l layer, x *Node) *Node {
	switch l.kind {
	case kindConv:
		y := conv3x3(x, w.get(l.prefix+"weight"), w.get(l.prefix+"bias"), 1)
		if l.groupMean { // encoder out shortcut
			y = Add(y, groupMean(x, l.out))
		}
		if l.repeat { // decoder in shortcut
			y = Add(y, repeatChannels(x, l.out/l.in))
		}
		return y
	case kindResBlock:
		return resBlock(w, l, x)
	case kindEViTBlock:
		return evitBlock(c, w, l, x)
	case kindDown:
		return downBlock(w, l, x)
	case kindUp:
		return upBlock(w, l, x)
	case kindNormOut: // norm_out, then conv_act
		y := rmsNorm2d(x, w.get(l.prefix+"weight"), w.get(l.prefix+"bias"))
		return activation(c.DecoderConvActFn, y)
	}
	panic(fmt.Errorf("vae: layer kind %d", l.kind))
}
