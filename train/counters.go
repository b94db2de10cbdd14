package train

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/sprint-distill/sprint/checkpoints"
)

// counters are the run's step counters.
type counters struct {
	global      int64
	phaseSteps  map[string]int64
	skipped     int64
	schedule    int64
	phaseIndex  int
	phaseRepeat int
}

// LoopState is the training loop's section of a checkpoint ("loop"): its counters, where it
// is in the G/D cycle, the wall time spent and whether the run completed.
type LoopState struct {
	// GlobalStep counts successful steps of every phase.
	GlobalStep int64 `json:"global_step"`
	// PhaseSteps counts successful steps per phase ("g": generator, "d": discriminator).
	PhaseSteps map[string]int64 `json:"phase_steps"`
	// Skipped counts steps skipped because the loss or the gradient norm was not finite.
	Skipped int64 `json:"skipped"`
	// ScheduleStep is the learning-rate scheduler's step counter.
	ScheduleStep int64 `json:"schedule_step"`
	// Phase is the phase the next step runs; PhaseIndex its index in the cycle and
	// PhaseRepeat how many of its consecutive steps were already taken.
	Phase       string `json:"phase"`
	PhaseIndex  int    `json:"phase_index"`
	PhaseRepeat int    `json:"phase_repeat"`
	// TrainSeconds is the wall time spent training, summed over resumed processes.
	TrainSeconds float64 `json:"train_seconds"`
	// Completed is true when the run reached its last step.
	Completed bool `json:"completed"`
}

// LoopStateOf reads the loop section of a checkpoint.
func LoopStateOf(c *checkpoints.Checkpoint) (LoopState, error) {
	var ls LoopState
	err := c.State.Section(SectionLoop, &ls)
	return ls, err
}

func (r *Run) saveLoop() (json.RawMessage, error) {
	return json.Marshal(LoopState{
		GlobalStep:   r.c.global,
		PhaseSteps:   maps.Clone(r.c.phaseSteps),
		Skipped:      r.c.skipped,
		ScheduleStep: r.c.schedule,
		Phase:        r.phases[r.c.phaseIndex].Name,
		PhaseIndex:   r.c.phaseIndex,
		PhaseRepeat:  r.c.phaseRepeat,
		TrainSeconds: r.trainSecs0 + r.clock().Sub(r.start).Seconds(),
		Completed:    r.completed,
	})
}

func (r *Run) restoreLoop(raw json.RawMessage) error {
	var ls LoopState
	if err := json.Unmarshal(raw, &ls); err != nil {
		return err
	}
	r.c = counters{global: ls.GlobalStep, phaseSteps: ls.PhaseSteps, skipped: ls.Skipped, schedule: ls.ScheduleStep,
		phaseIndex: ls.PhaseIndex, phaseRepeat: ls.PhaseRepeat}
	if r.c.phaseSteps == nil {
		r.c.phaseSteps = map[string]int64{}
	}
	if r.c.phaseIndex < 0 || r.c.phaseIndex >= len(r.phases) || r.phases[r.c.phaseIndex].Name != ls.Phase {
		return fmt.Errorf("the checkpoint's next phase %q (index %d) does not match this run's phases (%s)", ls.Phase, ls.PhaseIndex, r.phaseNames())
	}
	r.trainSecs0 = ls.TrainSeconds
	r.lastCompleted = ls.Completed
	return nil
}
