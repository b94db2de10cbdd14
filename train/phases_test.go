package train

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
)

// TestNewPhasesScheduleLength: a cosine schedule spans the run's generator steps, all of them
// when the run has no discriminator phase, every other one with a 1:1 D phase.
func TestNewPhasesScheduleLength(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSteps = 100
	cfg.AutoLR = "none"
	cfg.Optimizer.Type = "adamw"
	cfg.Optimizer.LR = 1
	cfg.Optimizer.Betas = []float64{0.9, 0.999}
	cfg.Optimizer.Eps = []float64{1e-8}
	cfg.LRSchedule.Type = "cosine"
	cfg.LRSchedule.WarmupSteps = 0
	loss := func(g *graph.Graph, in StepInputs) StepOutputs { return StepOutputs{} }
	b := testBackend(t)
	only, err := NewPhases(b, cfg, PhaseSpec{Name: "teacher", Loss: loss, Trainable: "w", Repeat: 1, Generator: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := only[0].LR(50); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("single phase: lr(50) = %v, want 0.5 (cosine over 100 steps)", got)
	}
	gd, err := NewPhases(b, cfg,
		PhaseSpec{Name: "g", Loss: loss, Trainable: "w", Repeat: 1, Generator: true},
		PhaseSpec{Name: "d", Loss: loss, Trainable: "h", Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := gd[0].LR(25); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("G:D 1:1: lr(25) = %v, want 0.5 (cosine over 50 G steps)", got)
	}
	if got := gd[1].LR(25); got != 1 {
		t.Fatalf("D phase lr = %v, want the base lr 1", got)
	}
}
