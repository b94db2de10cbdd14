package train

import (
	"fmt"

	"github.com/gomlx/compute"
)

// Phase is one kind of step of a run: a Stepper with the groups it updates and reads.
// A distillation run has two (G: trainable "student", frozen "teacher" and "heads";
// D: trainable "heads", frozen "teacher" and "student"), teacher training one.
type Phase struct {
	// Name is short ("g", "d", "teacher"); it prefixes the phase's metrics ("g/loss") and
	// keys its step counter.
	Name string
	// Stepper runs the phase's step.
	Stepper *Stepper
	// Trainable is the group the phase updates.
	Trainable string
	// Frozen are the groups the phase reads; the LossFn sees them as "<group>/<name>".
	Frozen []string
	// Buffers is an optional group of non-trainable state the phase reads and updates.
	Buffers string
	// OptState is the group of the phase's optimizer state (default "opt_<Name>"); it is
	// created with the optimizer's InitState when the run starts without it.
	OptState string
	// Repeat is the number of consecutive steps of this phase per cycle (the G:D ratio), >= 1.
	Repeat int
	// LR gives the learning rate at a schedule step.
	LR Schedule
	// AdvancesSchedule makes this phase's successful steps advance the schedule step.
	AdvancesSchedule bool
}

// PhaseSpec describes a phase for NewPhase.
type PhaseSpec struct {
	Name      string
	Loss      LossFn
	Trainable string
	Frozen    []string
	Buffers   string
	// Repeat is the phase's share of the cycle (cfg.PhaseRatio.G or .D), >= 1.
	Repeat int
	// Generator marks the generator phase (or the only phase of a run): with
	// lr_schedule.step_on "g" it alone follows and advances the schedule, the others
	// keep the base learning rate.
	Generator bool
}

// NewPhases builds the phases of one run, in cycle order. The G:D ratio that sizes a cosine
// schedule is train.phase_ratio when the run has a discriminator phase; a run with generator
// phases only (teacher training, sCM without LADD) schedules every global step.
func NewPhases(backend compute.Backend, cfg Config, specs ...PhaseSpec) ([]Phase, error) {
	onlyG := true
	for _, s := range specs {
		onlyG = onlyG && s.Generator
	}
	if onlyG {
		cfg.PhaseRatio.D = 0
	}
	// One data-parallel placement for all phases (train.devices), so that a network replicated
	// for one phase is reused by the others.
	dp, err := NewDataParallel(backend, cfg.Devices)
	if err != nil {
		return nil, err
	}
	phases := make([]Phase, 0, len(specs))
	for _, s := range specs {
		p, err := NewPhase(backend, cfg, s)
		if err != nil {
			return nil, err
		}
		p.Stepper.WithDataParallel(dp)
		phases = append(phases, p)
	}
	return phases, nil
}

// NewPhase builds a phase from the `train:` config: its optimizer (optimizer.*), clipping
// (grad_clip) and learning rate (optimizer.lr after auto_lr, with lr_schedule). The length of
// a cosine schedule comes from cfg.PhaseRatio, which must describe the phases the run really
// has; NewPhases takes care of that for a whole run.
func NewPhase(backend compute.Backend, cfg Config, spec PhaseSpec) (Phase, error) {
	if spec.Loss == nil {
		return Phase{}, fmt.Errorf("phase %q: no loss function", spec.Name)
	}
	opt, err := NewOptimizer(cfg.Optimizer)
	if err != nil {
		return Phase{}, fmt.Errorf("phase %q: %w", spec.Name, err)
	}
	base, _ := cfg.BaseLR()
	if !spec.Generator {
		base *= cfg.DLRScale
	}
	scheduled := spec.Generator || cfg.LRSchedule.StepOn == "all"
	lr := ConstantWithWarmup(base, 0)
	if scheduled {
		if lr, err = NewSchedule(cfg.LRSchedule, base, cfg.ScheduledSteps()); err != nil {
			return Phase{}, fmt.Errorf("phase %q: %w", spec.Name, err)
		}
	}
	return Phase{
		Name:             spec.Name,
		Stepper:          NewStepper(backend, spec.Name, spec.Loss, opt, cfg.GradClip),
		Trainable:        spec.Trainable,
		Frozen:           spec.Frozen,
		Buffers:          spec.Buffers,
		Repeat:           spec.Repeat,
		LR:               lr,
		AdvancesSchedule: scheduled,
	}, nil
}
