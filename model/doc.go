// Package model is the network of sprint: SANA's Linear DiT (the flow-matching teacher and,
// with a guidance embedder and a logvar head, the SANA-Sprint student), the TrigFlow wrapper
// that turns the flow model into a consistency-model parameterisation without retraining, the
// few-step sampler's formulas, and the size presets. Section numbers (§) refer to the reference
// notes, shared/reference/sana-sprint-algorithm.md.
//
// # Parameters are explicit
//
// The networks are pure graph functions of named weight nodes (Weights), not GoMLX model
// variables, so that training code can pass explicit parameter lists, take gradients with
// respect to chosen groups and save everything by name. Names and shapes are diffusers'
// SanaTransformer2DModel keys (ParamSpecs), so released checkpoints load directly
// (package checkpoints) and a trained student exports to diffusers. Each parameter is
// declared once, in the parameter table of params.go (name, shape and initialisation, per
// role and per option of the config): ParamSpecs, InitParams and CheckParams list it, and
// the forward pass reads its weight through it. Params holds host tensors by name;
// Params.Sorted, Params.Args and WeightsFromNodes pass them to a graph.Exec in sorted-name
// order.
//
// # The network (§8)
//
//	tokens = PatchEmbed(X) [+ PE]                          p×p stride-p conv; 2-D sin-cos PE only under use_pe
//	e      = MLP(sinusoid(c_noise)) [+ MLP(sinusoid(0.1·w))] c_noise = t (dense time, §4) or 1000·t
//	t0     = Linear(SiLU(e))                               adaLN-single, 6D
//	y      = RMSNorm(Linear(GELU_tanh(Linear(text))))      caption projection
//	block:   x += g1·LinAttn(LN(x)(1+sc1)+sh1);  x += CrossAttn(x, y, mask);  x += g2·MixFFN(LN(x)(1+sc2)+sh2)
//	v      = Unpatchify(Linear(LN(x)(1+scale)+shift))      (shift, scale) = table + e
//
// LinAttn is ReLU linear attention, out_n = Σ_m v_m(k_m·q_n)/(Σ_m k_m·q_n + ε); CrossAttn is
// softmax attention with padded text tokens biased by −10000; both optionally apply RMSNorm to
// q and k over the full width (QK norm, §5). MixFFN is 1×1 conv → SiLU → 3×3 depthwise conv
// → GLU → 1×1 conv. The student adds the guidance embedder (input w·0.1, last layer
// zero-initialised so that the student starts equal to the teacher) to e, and a logvar head
// Linear(D→1) on e for the sCM loss's adaptive weighting (§2.3, §2.5).
//
// Every op on the path has a second-order gradient (matrix products written with DotGeneral,
// not nn.Dense's fused op; RMSNorm with Sqrt, not Rsqrt; softmax decomposed), so a JVP by
// double VJP works through the whole student.
//
// # TrigFlow (§1)
//
// With θ ∈ [0, π/2] and x̂ = x_θ/σd, TrigFlow maps the flow model to
//
//	t = sinθ/(sinθ+cosθ),  x_flow = x̂/(sinθ+cosθ),  v = Forward(x_flow, t, …)
//	F = [(1−2t)·x_flow + (1−2t+2t²)·v]/√(t²+(1−t)²)
//
// which for an exact flow model is the PF-ODE field dx̂/dθ. The sampler (§7) denoises with
// x̂0 = cosθ·x − sinθ·σd·F (DenoiseStep) over the θ list of Schedule.
//
// # ControlNet
//
// controlnet.go is SANA's ControlNet in diffusers' SanaControlNetModel layout: its own patch,
// time and caption embeddings and copies of the first N blocks read PatchEmbed(X) +
// input_block(PatchEmbed(control)); zero-initialised controlnet_blocks turn their outputs into
// residuals that Forward (Inputs.Control) adds after blocks 1 … N; TrigFlowControl is TrigFlow
// with it. Its own parameter table follows the design above (ControlParamSpecs).
//
// This package holds no losses, loops or files: the sCM/LADD algorithm lives in distill, the
// run in train, and safetensors and diffusers folders in checkpoints.
package model
