package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate at a scheduler step (the number of scheduler steps taken
// before the current one, as torch's LambdaLR counts them: the first step is 0).
type Schedule func(step int64) float64

// warmupFactor is diffusers' linear warmup: step/warmup before warmup steps, 1 after.
func warmupFactor(step, warmup int64) float64 {
	if step < warmup {
		return float64(step) / float64(max(1, warmup))
	}
	return 1
}

// ConstantWithWarmup is diffusers' get_constant_schedule_with_warmup: lr·step/warmup during
// the warmup (so the very first step has lr 0, as in the reference), then lr.
func ConstantWithWarmup(lr float64, warmup int64) Schedule {
	return func(step int64) float64 { return lr * warmupFactor(step, warmup) }
}

// CosineWithWarmup is diffusers' get_cosine_schedule_with_warmup with half a cycle: the same
// warmup, then lr·½(1 + cos(π·progress)) with progress = (step−warmup)/(total−warmup),
// reaching 0 at step total and staying there (diffusers would
// rise again past total).
func CosineWithWarmup(lr float64, warmup, total int64) Schedule {
	return func(step int64) float64 {
		if step < warmup {
			return lr * warmupFactor(step, warmup)
		}
		progress := math.Min(1, float64(step-warmup)/float64(max(1, total-warmup)))
		return lr * math.Max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	}
}

// NewSchedule builds the schedule of cfg for base lr lr; total is the number of scheduler
// steps in the run (cosine only).
func NewSchedule(cfg ScheduleConfig, lr float64, total int64) (Schedule, error) {
	switch cfg.Type {
	case "constant":
		return ConstantWithWarmup(lr, cfg.WarmupSteps), nil
	case "cosine":
		return CosineWithWarmup(lr, cfg.WarmupSteps, total), nil
	}
	return nil, fmt.Errorf("train.lr_schedule.type: unknown schedule %q", cfg.Type)
}

// SqrtScaledLR is the reference's auto_lr "sqrt" rule: lr·√(batch/256) for a global batch.
func SqrtScaledLR(lr float64, globalBatch int) float64 {
	return lr * math.Sqrt(float64(globalBatch)/256)
}

// BaseLR returns optimizer.lr after auto_lr, and whether scaling was applied (to be logged).
func (c Config) BaseLR() (lr float64, scaled bool) {
	if c.AutoLR == "sqrt" {
		return SqrtScaledLR(c.Optimizer.LR, c.BatchSize), true
	}
	return c.Optimizer.LR, false
}

// ScheduledSteps returns how many scheduler steps a run of maxSteps global steps takes with
// the phase ratio g:d: every step for step_on "all", the G steps for "g".
func (c Config) ScheduledSteps() int64 {
	if c.LRSchedule.StepOn == "all" {
		return c.MaxSteps
	}
	return c.GSteps()
}

// GSteps returns how many G steps (the trained network's updates) a run of maxSteps global
// steps takes with the phase ratio g:d; all of them when there is no D phase.
func (c Config) GSteps() int64 {
	if c.PhaseRatio.D == 0 {
		return c.MaxSteps
	}
	cycle := int64(c.PhaseRatio.G + c.PhaseRatio.D)
	full, rest := c.MaxSteps/cycle, c.MaxSteps%cycle
	return full*int64(c.PhaseRatio.G) + min(rest, int64(c.PhaseRatio.G))
}
