package model

import (
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/sprint-distill/sprint/internal/netgraph"
)

// Stages is TrigFlow(cfg, w, x̂, θ, text, mask, guidance, nil) cut at the transformer blocks, for
// a forward-mode derivative taken one piece at a time (the sCM JVP, distill.StagedStudentJVP):
// a JVP of the whole network by the double-VJP identity keeps every block's activations and its
// first VJP until the second reaches it, while stage by stage only one block's are alive.
//
//	[h, t0, emb, x_flow, t] = In(x̂, θ)
//	h = Blocks[i](h, t0), i = 0 … depth−1
//	[F, logvar] = Out(h, emb, x_flow, t)
//
// computes the same values, op for op, as TrigFlow without gradient checkpointing (the stages
// never checkpoint: they are for passes whose activations are short-lived). The caption, its
// mask and the guidance are held fixed (computed once, closed over); logvar is nil for the
// teacher or a student without the head, as in TrigFlow. ControlNets are not supported.
type Stages struct {
	// In maps x̂ (B, C, H, W) and θ (B) to the tokens entering block 0 (B, N, D), the blocks'
	// modulation t0 (B, 6, D), the time embedding emb (B, D) and the TrigFlow input transform
	// x_flow (B, C, H, W), t (B).
	In func(xhat, theta *Node) []*Node
	// Blocks[i] is transformer block i: tokens and t0 to tokens.
	Blocks []func(h, t0 *Node) *Node
	// Out is the final layer, the output transform and the logvar head: F (B, C, H, W) in
	// float32 (float64 for float64 models), and logvar (B) or nil.
	Out func(h, emb, xFlow, t *Node) []*Node
}

// notBlock selects the weights outside the transformer blocks.
func notBlock(name string) bool { return !strings.HasPrefix(name, blocksPrefix) }

// TrigFlowStages returns the Stages of TrigFlow for these weights, caption and guidance (nil for
// the teacher).
func TrigFlowStages(cfg Config, w Weights, text, mask, guidance *Node) Stages {
	cfg, table := tableFor(cfg, guidance)
	if text == nil {
		panic(fmt.Errorf("model.TrigFlowStages: text is required"))
	}
	stored := w
	w = castWeights(w, cfg.mustDType())
	y, bias := embedCaption(cfg, table, w, text, mask)
	odt := outerDType(cfg)
	var hp, wp int
	st := Stages{
		In: func(xhat, theta *Node) []*Node {
			w := privateWeights(w, notBlock)
			xFlow, t := trigflowInput(netgraph.Cast(xhat, odt), netgraph.Cast(theta, odt))
			var tok *Node
			tok, hp, wp = embedTokens(cfg, table, w, netgraph.Cast(xFlow, cfg.mustDType()))
			emb, t0 := embedTime(cfg, table, w, t, guidance)
			return []*Node{tok, t0, emb, xFlow, t}
		},
		Out: func(h, emb, xFlow, t *Node) []*Node {
			if hp == 0 {
				panic(fmt.Errorf("model.Stages: Out called before In"))
			}
			v := finalLayer(cfg, table, privateWeights(w, notBlock), h, emb, hp, wp)
			return []*Node{trigflowOutput(xFlow, t, v), logvarHead(cfg, table, stored, emb)}
		},
	}
	for i, b := range table.blocks {
		prefix := blockPrefix(i)
		st.Blocks = append(st.Blocks, func(h, t0 *Node) *Node {
			if hp == 0 {
				panic(fmt.Errorf("model.Stages: a block called before In"))
			}
			return block(cfg, privateWeights(w, func(name string) bool { return strings.HasPrefix(name, prefix) }), b, h, t0, y, bias, hp, wp)
		})
	}
	return st
}

// privateWeights returns w with the weights mine selects read through optimization barriers of
// their own, created where a stage is built. Backends merge identical expressions
// (common-subexpression elimination): what a stage derives from its weights (reshapes, slices,
// and in its derivatives the broadcast kernel taps and transposes) would be merged with the same
// nodes of the other passes over the same weights, and kept from the stage, early in a step, to
// the backward pass, late. Through its own barriers a stage's are its own and are freed with its
// activations; the cost is a copy of the stage's weights while it runs.
func privateWeights(w Weights, mine func(name string) bool) Weights {
	out := make(Weights, len(w))
	for name, n := range w {
		if n != nil && mine(name) {
			n = OptimizationBarrier(n)
		}
		out[name] = n
	}
	return out
}
