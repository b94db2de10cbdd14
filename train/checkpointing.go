package train

import (
	"errors"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/checkpoints"
)

// save writes a checkpoint of the current state.
func (r *Run) save(completed bool) error {
	flat := map[string]*tensors.Tensor{}
	for name, g := range r.groups {
		if r.unsaved[name] {
			continue
		}
		for n, t := range g {
			flat[name+GroupSeparator+n] = t
		}
	}
	t0 := time.Now()
	st, err := r.state(completed)
	if err != nil {
		r.logf("error: checkpoint at global step %d failed: %v (the last good checkpoint is %s)", r.c.global, err, r.lastPathOrNone())
		return err
	}
	path, err := r.ckpt.Save(&checkpoints.Checkpoint{State: st, Tensors: flat,
		ConfigYAML: r.opts.ConfigYAML, ConfigFlat: r.opts.ConfigFlat})
	if err != nil {
		r.logf("error: checkpoint at global step %d failed: %v (the last good checkpoint is %s)", r.c.global, err, r.lastPathOrNone())
		return err
	}
	r.lastSaved, r.lastPath, r.lastCompleted = r.c.global, path, completed
	r.logf("checkpoint %s (%.1f s)", path, time.Since(t0).Seconds())
	return nil
}

func (r *Run) lastPathOrNone() string {
	if r.lastPath == "" {
		return "none"
	}
	return r.lastPath
}

// saveFinal saves the exit checkpoint unless this step is already saved (completed runs
// are re-saved to record completion).
func (r *Run) saveFinal(completed bool) error {
	if len(r.window) > 0 {
		r.flushLog()
	}
	if r.lastSaved == r.c.global && (r.lastCompleted || !completed) {
		return nil
	}
	if r.c.global == 0 && r.lastSaved < 0 {
		return nil // no step was taken: the initial state needs no checkpoint
	}
	return r.save(completed)
}

// failWithCheckpoint saves the current (consistent: groups change only after a successful
// step) state after an error, so the run can be resumed once the cause is fixed, and
// returns the error. A run that made no step saves nothing, so it can simply be restarted.
func (r *Run) failWithCheckpoint(cause error) error {
	r.logf("error at global step %d: %v", r.c.global, cause)
	if r.lastSaved != r.c.global && r.c.global > 0 {
		if err := r.save(false); err != nil {
			return errors.Join(cause, err)
		}
	}
	return cause
}
