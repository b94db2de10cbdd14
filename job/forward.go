package job

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// Input and output tensor names of `sprint model forward` (ReadForwardInputs).
const (
	inLatents  = "latents"
	inTimestep = "timestep"
	inText     = "text"
	inMask     = "mask"
	inGuidance = "guidance"
)

var inputAliases = map[string]string{
	"encoder_hidden_states":  inText,
	"encoder_attention_mask": inMask,
	"hidden_states":          inLatents,
}

// ForwardInputs are the forward pass's inputs converted to the model dtype, in graph order.
type ForwardInputs struct {
	latents, timestep, text, mask, guidance *tensors.Tensor
}

// ReadForwardInputs reads the inputs of `sprint model forward` from a safetensors file (names
// or their diffusers aliases), checks them against the model and converts them to its dtype.
// A student without "guidance" gets defaultGuidance for every sample.
func ReadForwardInputs(path string, cfg model.Config, role model.Role, defaultGuidance float64) (*ForwardInputs, error) {
	named, _, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	for alias, name := range inputAliases {
		if t, ok := named[alias]; ok {
			if _, dup := named[name]; dup {
				return nil, fmt.Errorf("inputs %s: both %q and its alias %q are given", path, name, alias)
			}
			named[name] = t
			delete(named, alias)
		}
	}
	dt, err := cfg.ComputeDType()
	if err != nil {
		return nil, err
	}
	get := func(name string, rank int, required bool) (*tensors.Tensor, error) {
		t, ok := named[name]
		if !ok {
			if required {
				return nil, fmt.Errorf("inputs %s: tensor %q is missing", path, name)
			}
			return nil, nil
		}
		if t.Rank() != rank {
			return nil, fmt.Errorf("inputs %s: tensor %q has shape %v, want rank %d", path, name, t.Shape().Dimensions, rank)
		}
		c, err := checkpoints.ConvertTensor(t, dt)
		if err != nil {
			return nil, fmt.Errorf("inputs %s: tensor %q: %w", path, name, err)
		}
		return c, nil
	}
	in := &ForwardInputs{}
	if in.latents, err = get(inLatents, 4, true); err != nil {
		return nil, err
	}
	if in.timestep, err = get(inTimestep, 1, true); err != nil {
		return nil, err
	}
	if in.text, err = get(inText, 3, true); err != nil {
		return nil, err
	}
	if in.mask, err = get(inMask, 2, false); err != nil {
		return nil, err
	}
	if in.guidance, err = get(inGuidance, 1, false); err != nil {
		return nil, err
	}
	l, tx := in.latents.Shape().Dimensions, in.text.Shape().Dimensions
	B := l[0]
	switch {
	case l[1] != cfg.InChannels || l[2]%cfg.PatchSize != 0 || l[3]%cfg.PatchSize != 0:
		return nil, fmt.Errorf("inputs %s: latents %v do not fit in_channels=%d, patch_size=%d", path, l, cfg.InChannels, cfg.PatchSize)
	case in.timestep.Shape().Dimensions[0] != B:
		return nil, fmt.Errorf("inputs %s: timestep has %d entries for batch %d", path, in.timestep.Shape().Dimensions[0], B)
	case tx[0] != B || tx[2] != cfg.CaptionDim:
		return nil, fmt.Errorf("inputs %s: text %v, want (%d, L, %d)", path, tx, B, cfg.CaptionDim)
	case in.mask != nil && !slices.Equal(in.mask.Shape().Dimensions, tx[:2]):
		return nil, fmt.Errorf("inputs %s: mask %v, want %v", path, in.mask.Shape().Dimensions, tx[:2])
	case in.guidance != nil && in.guidance.Shape().Dimensions[0] != B:
		return nil, fmt.Errorf("inputs %s: guidance has %d entries for batch %d", path, in.guidance.Shape().Dimensions[0], B)
	}
	if role == model.Student && in.guidance == nil {
		vals := make([]float64, B)
		for i := range vals {
			vals[i] = defaultGuidance
		}
		g := tensors.FromFlatDataAndDimensions(vals, B)
		if in.guidance, err = checkpoints.ConvertTensor(g, dt); err != nil {
			return nil, err
		}
	}
	if role == model.Teacher {
		in.guidance = nil
	}
	return in, nil
}

// Forward runs the teacher's Forward (writing "velocity") or the student's TrigFlow (writing "F"
// and "logvar") once, plus "features.<i>" for the listed blocks.
func Forward(backend compute.Backend, cfg model.Config, role model.Role, p model.Params, in *ForwardInputs, blocks []int) (map[string]*tensors.Tensor, error) {
	names, _ := p.Sorted()
	hasMask := in.mask != nil
	exec, err := graph.NewExec(backend, func(g *graph.Graph, nodes []*graph.Node) []*graph.Node {
		w := model.WeightsFromNodes(names, nodes[:len(names)])
		d := nodes[len(names):]
		x, t, text := d[0], d[1], d[2]
		d = d[3:]
		var mask, guidance *graph.Node
		if hasMask {
			mask, d = d[0], d[1:]
		}
		if role == model.Student {
			guidance = d[0]
			F, logvar, feats := model.TrigFlow(cfg, w, x, t, text, mask, guidance, blocks)
			return append([]*graph.Node{F, logvar}, feats...)
		}
		o := model.Forward(cfg, w, model.Inputs{X: x, T: t, Text: text, Mask: mask}, blocks)
		return append([]*graph.Node{o.V}, o.Features...)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	args := append(p.Args(), in.latents, in.timestep, in.text)
	if hasMask {
		args = append(args, in.mask)
	}
	if role == model.Student {
		args = append(args, in.guidance)
	}
	res, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("%s forward: %w", role, err)
	}
	for _, r := range res { // copy to host before the backend goes away
		if err := r.ToLocal(); err != nil {
			return nil, fmt.Errorf("%s forward: reading outputs: %w", role, err)
		}
	}
	outs := map[string]*tensors.Tensor{}
	if role == model.Student {
		outs["F"], outs["logvar"], res = res[0], res[1], res[2:]
	} else {
		outs["velocity"], res = res[0], res[1:]
	}
	for i, id := range blocks {
		outs[fmt.Sprintf("features.%d", id)] = res[i]
	}
	return outs, nil
}
