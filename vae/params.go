package vae

import (
	"fmt"
	"strings"

	"github.com/sprint-distill/sprint/safetensors"
)

// The architecture as data: encoderPlan and decoderPlan list the layers of diffusers'
// AutoencoderDC for a config, in execution order, with their key prefixes and channel counts.
// ParamSpecs (what the loader checks) and the forward passes (Encoder, Decoder) both walk these
// lists, so the names and shapes the loader demands are the ones the graph reads.

// layerKind says what a planned layer is.
type layerKind int

const (
	kindConv      layerKind = iota // plain 3×3 conv with bias, padding 1 (conv_in/conv_out)
	kindResBlock                   // ResBlock
	kindEViTBlock                  // EfficientViTBlock: multi-scale linear attention + GLU MBConv
	kindDown                       // DCDownBlock2d
	kindUp                         // DCUpBlock2d
	kindNormOut                    // decoder norm_out: RMSNorm with weight and bias
)

// layer is one planned layer.
type layer struct {
	kind   layerKind
	prefix string // key prefix, e.g. "decoder.up_blocks.3.1."
	group  string // counting group: "conv_in", "stage 2", "norm_out", "conv_out"
	in     int    // input channels
	out    int    // output channels
	// Blocks.
	norm        string // RMSNorm or BatchNorm
	act         string // residual block activation ("" = identity)
	multiscales []int  // extra attention scales (kernel sizes)
	// Sampling blocks.
	pixel    bool // down: conv + pixel unshuffle (else stride-2 conv); up: conv + pixel shuffle (else nearest ×2 + conv)
	shortcut bool // add the channel-averaging (down) / duplicating (up) space-to-depth shortcut
	// Stem/head shortcuts of plain convs.
	groupMean bool // encoder conv_out: + mean over groups of in/out consecutive channels
	repeat    bool // decoder conv_in: + each input channel repeated out/in times
}

// encoderPlan lists the encoder's layers (diffusers' Encoder.__init__).
func encoderPlan(c Config) []layer {
	st := c.EncoderStages()
	n := len(st)
	var ls []layer
	pre := "encoder."
	if st[0].Layers > 0 {
		ls = append(ls, layer{kind: kindConv, prefix: pre + "conv_in.", group: "conv_in", in: c.InChannels, out: st[0].Channels})
	} else {
		ls = append(ls, layer{kind: kindDown, prefix: pre + "conv_in.", group: "conv_in", in: c.InChannels, out: st[1].Channels,
			pixel: c.downsamplePixelUnshuffle()})
	}
	for i, s := range st {
		group := fmt.Sprintf("stage %d", i)
		for j := range s.Layers {
			ls = append(ls, blockLayer(c, s, fmt.Sprintf("%sdown_blocks.%d.%d.", pre, i, j), group))
		}
		if i < n-1 && s.Layers > 0 {
			ls = append(ls, layer{kind: kindDown, prefix: fmt.Sprintf("%sdown_blocks.%d.%d.", pre, i, s.Layers), group: group,
				in: s.Channels, out: st[i+1].Channels, pixel: c.downsamplePixelUnshuffle(), shortcut: true})
		}
	}
	ls = append(ls, layer{kind: kindConv, prefix: pre + "conv_out.", group: "conv_out", in: st[n-1].Channels,
		out: c.LatentChannels, groupMean: c.EncoderOutShortcut})
	return ls
}

// decoderPlan lists the decoder's layers in execution order (diffusers' Decoder: up_blocks[i]
// belongs to stage i and they run from the last stage to the first).
func decoderPlan(c Config) []layer {
	st := c.DecoderStages()
	n := len(st)
	pre := "decoder."
	ls := []layer{{kind: kindConv, prefix: pre + "conv_in.", group: "conv_in", in: c.LatentChannels, out: st[n-1].Channels,
		repeat: c.DecoderInShortcut}}
	for i := n - 1; i >= 0; i-- {
		s := st[i]
		group := fmt.Sprintf("stage %d", i)
		off := 0
		if i < n-1 && s.Layers > 0 {
			ls = append(ls, layer{kind: kindUp, prefix: fmt.Sprintf("%sup_blocks.%d.0.", pre, i), group: group,
				in: st[i+1].Channels, out: s.Channels, pixel: !c.upsampleInterpolate(), shortcut: true})
			off = 1
		}
		for j := range s.Layers {
			ls = append(ls, blockLayer(c, s, fmt.Sprintf("%sup_blocks.%d.%d.", pre, i, j+off), group))
		}
	}
	ch := st[0].Channels
	if st[0].Layers == 0 {
		ch = st[1].Channels
	}
	ls = append(ls, layer{kind: kindNormOut, prefix: pre + "norm_out.", group: "norm_out", in: ch, out: ch})
	if st[0].Layers > 0 {
		ls = append(ls, layer{kind: kindConv, prefix: pre + "conv_out.", group: "conv_out", in: ch, out: c.InChannels})
	} else {
		ls = append(ls, layer{kind: kindUp, prefix: pre + "conv_out.", group: "conv_out", in: ch, out: c.InChannels,
			pixel: !c.upsampleInterpolate()})
	}
	return ls
}

func blockLayer(c Config, s Stage, prefix, group string) layer {
	l := layer{prefix: prefix, group: group, in: s.Channels, out: s.Channels, norm: s.Norm, act: strings.ToLower(s.Act),
		multiscales: s.Multiscales}
	if s.BlockType == EfficientViTBlock {
		l.kind = kindEViTBlock
	} else {
		l.kind = kindResBlock
	}
	return l
}

// attnHeads is SanaMultiscaleLinearAttention's head count int(C // d · mult), mult = 1.
func attnHeads(c Config, channels int) int { return channels / c.AttentionHeadDim }

// ParamSpec is one tensor of a DC-AE checkpoint: its diffusers key and shape.
type ParamSpec struct {
	safetensors.Spec
	// Part is "encoder" or "decoder"; Group is the counting group within it: "conv_in",
	// "stage <i>", "norm_out" (decoder) or "conv_out".
	Part, Group string
	// Buffer marks batch-norm running statistics (not trainable parameters, but stored and
	// needed); Optional marks num_batches_tracked, accepted but neither needed nor required.
	Buffer, Optional bool
}

// ParamSpecs lists every tensor of the autoencoder with diffusers' key names and shapes:
// encoder then decoder, each in execution order. The config must be valid.
func ParamSpecs(c Config) []ParamSpec {
	return append(partSpecs(c, "encoder", encoderPlan(c)), partSpecs(c, "decoder", decoderPlan(c))...)
}

// EncoderParamSpecs and DecoderParamSpecs list one half of ParamSpecs.
func EncoderParamSpecs(c Config) []ParamSpec { return partSpecs(c, "encoder", encoderPlan(c)) }

// DecoderParamSpecs lists the decoder's half of ParamSpecs.
func DecoderParamSpecs(c Config) []ParamSpec { return partSpecs(c, "decoder", decoderPlan(c)) }

func partSpecs(c Config, part string, plan []layer) []ParamSpec {
	var out []ParamSpec
	add := func(l layer, name string, dims ...int) *ParamSpec {
		out = append(out, ParamSpec{Spec: safetensors.Spec{Name: l.prefix + name, Dims: dims}, Part: part, Group: l.group})
		return &out[len(out)-1]
	}
	norm := func(l layer, name, kind string, ch int) {
		add(l, name+".weight", ch)
		add(l, name+".bias", ch)
		if kind == BatchNorm {
			add(l, name+".running_mean", ch).Buffer = true
			add(l, name+".running_var", ch).Buffer = true
			tracked := add(l, name+".num_batches_tracked")
			tracked.Buffer, tracked.Optional = true, true
		}
	}
	for _, l := range plan {
		switch l.kind {
		case kindConv:
			add(l, "weight", l.out, l.in, 3, 3)
			add(l, "bias", l.out)
		case kindResBlock:
			add(l, "conv1.weight", l.in, l.in, 3, 3)
			add(l, "conv1.bias", l.in)
			add(l, "conv2.weight", l.out, l.in, 3, 3)
			norm(l, "norm", l.norm, l.out)
		case kindEViTBlock:
			C, d := l.in, c.AttentionHeadDim
			heads := attnHeads(c, C)
			inner := heads * d
			add(l, "attn.to_q.weight", inner, C)
			add(l, "attn.to_k.weight", inner, C)
			add(l, "attn.to_v.weight", inner, C)
			for s, k := range l.multiscales {
				add(l, fmt.Sprintf("attn.to_qkv_multiscale.%d.proj_in.weight", s), 3*inner, 1, k, k)
				add(l, fmt.Sprintf("attn.to_qkv_multiscale.%d.proj_out.weight", s), 3*inner, d, 1, 1)
			}
			add(l, "attn.to_out.weight", C, inner*(1+len(l.multiscales)))
			norm(l, "attn.norm_out", l.norm, C)
			hidden := 4 * C // GLUMBConv expand_ratio 4
			add(l, "conv_out.conv_inverted.weight", 2*hidden, C, 1, 1)
			add(l, "conv_out.conv_inverted.bias", 2*hidden)
			add(l, "conv_out.conv_depth.weight", 2*hidden, 1, 3, 3)
			add(l, "conv_out.conv_depth.bias", 2*hidden)
			add(l, "conv_out.conv_point.weight", C, hidden, 1, 1)
			add(l, "conv_out.norm.weight", C)
			add(l, "conv_out.norm.bias", C)
		case kindDown:
			convOut := l.out
			if l.pixel {
				convOut = l.out / 4
			}
			add(l, "conv.weight", convOut, l.in, 3, 3)
			add(l, "conv.bias", convOut)
		case kindUp:
			convOut := l.out
			if l.pixel {
				convOut = l.out * 4
			}
			add(l, "conv.weight", convOut, l.in, 3, 3)
			add(l, "conv.bias", convOut)
		case kindNormOut:
			add(l, "weight", l.in)
			add(l, "bias", l.in)
		}
	}
	return out
}

// Count is a parameter count of one part or group.
type Count struct {
	Part, Group string
	// Params counts trainable parameters (what PyTorch's model.parameters() counts); Buffers the
	// batch-norm running statistics (num_batches_tracked excluded).
	Params, Buffers int64
}

// Counts returns the parameter counts per part and group in plan order, followed by one total per
// part ("encoder"/"decoder" with Group "total") and the grand total (Part "total").
func Counts(c Config) []Count {
	var out []Count
	var totals [2]Count
	idx := map[string]int{}
	for _, s := range ParamSpecs(c) {
		key := s.Part + "/" + s.Group
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, Count{Part: s.Part, Group: s.Group})
		}
		t := &totals[0]
		if s.Part == "decoder" {
			t = &totals[1]
		}
		switch {
		case s.Optional:
		case s.Buffer:
			out[i].Buffers += s.Size()
			t.Buffers += s.Size()
		default:
			out[i].Params += s.Size()
			t.Params += s.Size()
		}
	}
	totals[0].Part, totals[0].Group = "encoder", "total"
	totals[1].Part, totals[1].Group = "decoder", "total"
	grand := Count{Part: "total", Group: "total", Params: totals[0].Params + totals[1].Params,
		Buffers: totals[0].Buffers + totals[1].Buffers}
	return append(out, totals[0], totals[1], grand)
}
