package distill

// The groups of tensors a distillation step sees, as package train keys them.

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/train"
)

// Group names of the distillation's tensors, as the train package keys them: StepInputs.Frozen
// holds "<group>/<name>" (train.Sub), StepInputs.Trainable the trainable group's plain names.
const (
	// StudentGroup holds the student's model parameters (trainable in the generator phase).
	StudentGroup = "student"
	// TeacherGroup holds the teacher's model parameters (always frozen).
	TeacherGroup = "teacher"
	// HeadsGroup holds the discriminator heads' parameters (trainable in the discriminator
	// phase), named heads.<i>.… (see InitHeads).
	HeadsGroup = "heads"
	// HeadsStateGroup holds the heads' spectral-norm power-iteration vectors (buffers: read in
	// the G phase, updated by the D phase).
	HeadsStateGroup = "heads_sn"
)

// frozen returns one group of Frozen. No gradient reaches it: the step differentiates
// Trainable only, and the JVP its own copies of the primals. The tensors are not wrapped in
// StopGradient: that is an Identity node, which the Go backend executes as a copy of a graph
// input, so a frozen network (the teacher, the student in the D phase) would be held twice.
func frozen(in train.StepInputs, group string) map[string]*Node {
	return train.Sub(in.Frozen, group)
}

// headBuffers returns the buffers (the heads' spectral-norm vectors), without gradient.
func headBuffers(in train.StepInputs) map[string]*Node {
	out := make(map[string]*Node, len(in.Buffers))
	for k, v := range in.Buffers {
		out[k] = StopGradient(v)
	}
	return out
}
