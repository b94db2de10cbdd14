package distill

import (
	"errors"
	"fmt"
	"math"

	"github.com/sprint-distill/sprint/model"
)

// ControlConfig is the `control:` section: a SANA ControlNet (model/controlnet.go) trained for a
// frozen teacher by flow matching (`sprint train-teacher`), then distilled with its student into
// a one-step Sprint-ControlNet (`sprint distill`). The control latents come from the shards'
// control column (data.shapes.control for the shapes dataset).
type ControlConfig struct {
	// Enabled turns train-teacher into the training of the teacher's ControlNet (the teacher
	// frozen, the ControlNet the only trainable network) and distill into the distillation of a
	// student with its ControlNet (both trained by sCM + LADD, the teacher's target computed with
	// the teacher's ControlNet). The data must have control latents.
	Enabled bool `mapstructure:"enabled"`
	// NumLayers is N, the number of the teacher's first blocks the ControlNet copies (diffusers'
	// SanaControlNetModel num_layers, 7 in SANA's ControlNets); it must be below model.depth.
	NumLayers int `mapstructure:"num_layers"`
	// ConditioningScale multiplies the ControlNet's residuals (diffusers' conditioning_scale) in
	// training, validation and the demo.
	ConditioningScale float64 `mapstructure:"conditioning_scale"`
	// TeacherWeights is the teacher's trained ControlNet in diffusers' SanaControlNetModel layout
	// (a folder with diffusion_pytorch_model.safetensors, a .safetensors file or an index).
	// `sprint distill` needs it (the student's ControlNet starts as a copy); `sprint
	// train-teacher` continues training it when set and otherwise initialises the ControlNet from
	// the teacher's first num_layers blocks with zero projections.
	TeacherWeights string `mapstructure:"teacher_weights"`
}

// DefaultControlConfig returns the section's defaults: off, 7 copied blocks, scale 1.
func DefaultControlConfig() ControlConfig {
	return ControlConfig{NumLayers: model.DefaultControlLayers, ConditioningScale: 1}
}

// Validate checks every key, naming it.
func (c ControlConfig) Validate() error {
	var errs []error
	if c.NumLayers < 1 {
		errs = append(errs, fmt.Errorf("control.num_layers: must be >= 1, got %d", c.NumLayers))
	}
	if math.IsNaN(c.ConditioningScale) || math.IsInf(c.ConditioningScale, 0) || c.ConditioningScale < 0 {
		errs = append(errs, fmt.Errorf("control.conditioning_scale: must be a finite number >= 0, got %v", c.ConditioningScale))
	}
	return errors.Join(errs...)
}
