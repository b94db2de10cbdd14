// Package distill is the SANA-Sprint algorithm (arXiv 2503.09641): it turns a flow-matching
// teacher, seen through the TrigFlow wrapper of package model, into a 1-4 step student with
// continuous-time consistency distillation (sCM) and latent adversarial distillation (LADD).
// Section numbers in comments (§n) refer to the project's reference notes on the algorithm
// (shared/reference/sana-sprint-algorithm.md); where the paper's code bases differ, it follows
// the NVlabs training script.
//
// What is here, file by file:
//
//   - config.go: Config, the `distill:` section, with the reference defaults and Validate.
//   - draws.go: the random draws of a step (TrigFlow time law, guidance scales, noise).
//   - scm.go: the sCM pieces: CFGTarget, StudentJVP, TangentWarmup, Tangent, NormalizeTangent,
//     SCMLoss; jvp.go: the forward-mode derivative by double VJP.
//   - ladd.go: the LADD heads, their initialisation, spectral norm and hinge losses.
//   - steps.go: the G and D phase losses; losses.go: their public constructors and the teacher's
//     flow-matching objective; batch.go: the typed Batch; groups.go: the tensor groups.
//   - sample.go: the 1/2/4-step student sampler and the teacher's ODE sampler.
//   - control.go, control_sample.go, control_config.go: Sprint-ControlNet, the `control:` section,
//     the teacher's ControlNet trained by flow matching, the student with its ControlNet distilled
//     by the same sCM + LADD losses (control latents held fixed), and the samplers with ControlNets.
//
// In more detail:
//
//   - Config, the `distill:` section, with the reference defaults and Validate.
//   - The pieces of the sCM loss as graph functions: SampleTrigFlowTime (logit-normal time law,
//     §2.1), SampleGuidance and CFGTarget (§2.2), JVP (forward-mode derivative by double VJP)
//     and StudentJVP (§2.4), TangentWarmup, Tangent and NormalizeTangent (§2.4), SCMLoss (§2.6).
//   - LADD (§3): the discriminator heads on frozen-teacher features (InitHeads,
//     DiscriminatorHeads, SpectralNorm, BatchNormLocal), the hinge losses and misaligned pairs.
//   - The phase losses as train.LossFn: GeneratorLoss (L = λ_sCM·L_sCM + λ_adv·L_adv),
//     DiscriminatorLoss, and FlowMatchingLoss, the teacher's own objective for train-teacher.
//   - Validation samplers: SampleStudent (the 1/2/4-step sCM sampler, §7) and SampleTeacher
//     (many-step Euler on the guided teacher ODE, in θ or in t).
//
// How a training loop uses it (package train runs the loop; this package only builds graphs):
// the G phase trains the group "student" with GeneratorLoss, the D phase trains the group
// "heads" with DiscriminatorLoss; "teacher" is always frozen. Trainable holds the trained
// group's plain names, Frozen the other groups as "<group>/<name>", Buffers the heads'
// spectral-norm vectors (the D phase returns them updated), Batch a checked Batch (NewBatch:
// latent, caption embedding and mask and, for CFG, the null caption). Step is the global step (G and D
// updates both count, as in the reference); the loss consumes the step's Rng.
//
// Where this differs in shape (not in value) from the reference script: the no-grad JVP pass and
// the second, gradient-carrying student forward at the same inputs are one forward here, since
// they compute the same F; the discriminator's teacher backbone runs once over [fake; real]
// (it is per-sample, so this equals two calls); the k = 9 circular head convolution is written
// as nine token-shifted matrix products.
//
// What is not here: files, checkpoints, the CLI, logging, optimizers and the loop itself.
package distill
