package shapes

import (
	"errors"
	"fmt"
)

// DemoConfig is the `demo:` section: how the CPU demo evaluates teachers and students on the
// shapes data (held-out prompts, reference images, which rows the report's table has).
type DemoConfig struct {
	// Dir is the demo's output folder: one run folder per variant, grids and report.md.
	Dir string `mapstructure:"dir"`
	// Prompts is the number of held-out prompts every row of the table is sampled for.
	Prompts int `mapstructure:"prompts"`
	// ReferenceImages is the number of held-out real images the Fréchet distance compares with.
	ReferenceImages int `mapstructure:"reference_images"`
	// HeldOutSeed offsets data.shapes.seed for the held-out scenes (prompts and references), so
	// that they are not training rows.
	HeldOutSeed int `mapstructure:"held_out_seed"`
	// NoiseSeed seeds the fixed starting noise shared by every row.
	NoiseSeed int `mapstructure:"noise_seed"`
	// TeacherSteps are the teacher's rows (Euler steps of its guided ODE).
	TeacherSteps []int `mapstructure:"teacher_steps"`
	// StudentSteps are each student's rows (sCM sampler steps).
	StudentSteps []int `mapstructure:"student_steps"`
	// Variants are the ablations distilled and compared: "scm_ladd" (the config as written),
	// "scm" (distill.adv_lambda 0, run for as many steps as scm_ladd has G steps, so that every
	// student gets the same number of updates) and "ladd" (distill.scm_lambda 0).
	Variants []string `mapstructure:"variants"`
	// Seeds are the train.seed values each variant is distilled with, one run per seed; empty
	// means one run at train.seed. With two or more, the rows name their seed, the report adds
	// the one-step accuracy per seed, and the winning variant is the one with the best mean:
	// one run of a few hundred updates can differ from another seed by many points.
	Seeds []int64 `mapstructure:"seeds"`
	// Students are the weights of students distilled elsewhere (a diffusers folder such as a
	// longer run's export/student, or a .safetensors file), sampled and scored as extra rows on
	// the same prompts and noise, without training. A relative path is relative to the working
	// directory.
	Students []string `mapstructure:"students"`
	// GridPrompts is how many prompts the PNG grids show.
	GridPrompts int `mapstructure:"grid_prompts"`

	// ControlNetSteps is the number of flow-matching steps of the teacher's ControlNet in the
	// control demo (control.enabled; the distillations use train.max_steps).
	ControlNetSteps int `mapstructure:"controlnet_steps"`
	// ControlNetLR is the learning rate of that training (0: train.optimizer.lr).
	ControlNetLR float64 `mapstructure:"controlnet_lr"`
}

// Demo variants.
const (
	VariantSCMLADD = "scm_ladd"
	VariantSCM     = "scm"
	VariantLADD    = "ladd"
)

// DefaultDemoConfig returns the demo's defaults.
func DefaultDemoConfig() DemoConfig {
	return DemoConfig{
		Dir: "runs/demo", Prompts: 128, ReferenceImages: 512, HeldOutSeed: 1000003, NoiseSeed: 7,
		TeacherSteps: []int{1, 2, 4, 20}, StudentSteps: []int{1, 2, 4},
		Variants:    []string{VariantSCMLADD, VariantSCM, VariantLADD},
		GridPrompts: 8, ControlNetSteps: 300,
	}
}

// Validate checks the section; errors name the key.
func (c DemoConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("demo.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Dir == "" {
		bad("dir", "must not be empty")
	}
	if c.Prompts < 1 {
		bad("prompts", "must be >= 1, got %d", c.Prompts)
	}
	if c.ReferenceImages < 2 {
		bad("reference_images", "must be >= 2 (a covariance needs two samples), got %d", c.ReferenceImages)
	}
	if c.GridPrompts < 1 || c.GridPrompts > c.Prompts {
		bad("grid_prompts", "must be in 1..prompts (%d), got %d", c.Prompts, c.GridPrompts)
	}
	if c.ControlNetSteps < 1 {
		bad("controlnet_steps", "must be >= 1, got %d", c.ControlNetSteps)
	}
	if !(c.ControlNetLR >= 0) {
		bad("controlnet_lr", "must be >= 0, got %v", c.ControlNetLR)
	}
	for i, s := range c.TeacherSteps {
		if s < 1 {
			bad(fmt.Sprintf("teacher_steps[%d]", i), "must be >= 1, got %d", s)
		}
	}
	for i, s := range c.StudentSteps {
		if s < 1 {
			bad(fmt.Sprintf("student_steps[%d]", i), "must be >= 1, got %d", s)
		}
	}
	for i, v := range c.Variants {
		switch v {
		case VariantSCMLADD, VariantSCM, VariantLADD:
		default:
			bad(fmt.Sprintf("variants[%d]", i), "unknown variant %q (want %s, %s or %s)", v, VariantSCMLADD, VariantSCM, VariantLADD)
		}
	}
	seen := map[int64]bool{}
	for i, seed := range c.Seeds {
		if seen[seed] {
			bad(fmt.Sprintf("seeds[%d]", i), "seed %d is listed twice", seed)
		}
		seen[seed] = true
	}
	for i, p := range c.Students {
		if p == "" {
			bad(fmt.Sprintf("students[%d]", i), "must not be empty")
		}
	}
	return errors.Join(errs...)
}
