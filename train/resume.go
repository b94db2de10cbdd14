package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sprint-distill/sprint/checkpoints"
)

// ResumeNeutralKeys are config keys that may change on resume without --allow-config-change:
// they change bookkeeping, not the trajectory of the weights.
var ResumeNeutralKeys = []string{
	"train.max_hours", "train.checkpoint_every", "train.keep_last", "train.validate_every",
	"train.log_every", "train.run_dir", "train.nan_skip_limit", "log.",
}

func resumeNeutral(key string) bool {
	for _, k := range ResumeNeutralKeys {
		if key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(key, k)) {
			return true
		}
	}
	return false
}

// Section names of a run's resume state in a checkpoint. Each section is written and read by
// the component that owns the state; package checkpoints stores them without knowing their
// fields:
//
//   - "loop": the training loop's step counters and phase position (LoopState, counters.go);
//   - "rng": the run seed from which every step's RNG state is derived (rng.go);
//   - "data": the data reader's position, opaque here (BatchSource.Position and Restore);
//   - "optimizers": which optimizer each phase ran (optimizer.go); their moments are tensor
//     groups ("opt_<phase>") like the weights.
const (
	SectionLoop       = "loop"
	SectionRNG        = "rng"
	SectionData       = "data"
	SectionOptimizers = "optimizers"
)

// section is one component's part of the resume state.
type section struct {
	name    string
	save    func() (json.RawMessage, error)
	restore func(json.RawMessage) error
}

// sections lists the run's resume state by owner, in the order they are restored.
func (r *Run) sections() []section {
	return []section{
		{SectionLoop, r.saveLoop, r.restoreLoop},
		{SectionRNG, r.saveRNG, r.restoreRNG},
		{SectionOptimizers, func() (json.RawMessage, error) { return saveOptimizers(r.phases) },
			func(raw json.RawMessage) error { return restoreOptimizers(r.phases, raw) }},
		{SectionData, func() (json.RawMessage, error) { return r.dataPos, nil }, r.restoreData},
	}
}

// restoreData moves the data source to a saved position.
func (r *Run) restoreData(raw json.RawMessage) error {
	if len(raw) > 0 && string(raw) != "null" {
		if err := r.opts.Data.Restore(raw); err != nil {
			return fmt.Errorf("restoring the data position %s: %w", raw, err)
		}
	}
	r.dataPos = raw
	return nil
}

// resume loads the checkpoint opts.Resume names, if any.
func (r *Run) resume() error {
	ref := r.opts.Resume
	dir := r.ckpt.Dir()
	existing, err := checkpoints.List(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("resume: %w", err)
	}
	switch ref {
	case "":
		if len(existing) > 0 {
			return fmt.Errorf("run folder %s already has checkpoint %s: pass --resume latest to continue it, or choose another train.name", r.dir, existing[len(existing)-1])
		}
		return nil
	case "auto":
		if len(existing) == 0 {
			return nil
		}
		ref = "latest"
	}
	c, path, err := checkpoints.LoadRef(ref, dir, func(msg string) { r.logf("%s", msg) })
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	// Neutral keys, and keys the checkpoint lacks (added by a later version) at their
	// defaults, are no change.
	var added []string
	diff := checkpoints.DiffConfig(c.ConfigFlat, r.opts.ConfigFlat, func(k string) bool {
		if resumeNeutral(k) {
			return true
		}
		_, saved := c.ConfigFlat[k]
		def, known := r.opts.ConfigDefaults[k]
		if !saved && known && r.opts.ConfigFlat[k] == def {
			added = append(added, k)
			return true
		}
		return false
	})
	if len(added) > 0 {
		defer r.logf("config keys new since the checkpoint, at their defaults: %s", strings.Join(added, ", "))
	}
	why := ""
	if slices.Contains(diff, "train.max_steps") {
		if r.cfg.LRSchedule.Type == "constant" {
			// A constant schedule does not depend on the run's length: extending (or shortening)
			// the run changes nothing already computed.
			diff = slices.DeleteFunc(diff, func(k string) bool { return k == "train.max_steps" })
			defer r.logf("train.max_steps changed from %s to %d (the constant schedule does not depend on it)", c.ConfigFlat["train.max_steps"], r.cfg.MaxSteps)
		} else {
			why = fmt.Sprintf("; train.max_steps changed from %s to %d, and the %s learning-rate schedule is sized by it (every learning rate after the warmup would change)",
				c.ConfigFlat["train.max_steps"], r.cfg.MaxSteps, r.cfg.LRSchedule.Type)
		}
	}
	if len(diff) > 0 {
		if !r.opts.AllowConfigChange {
			return fmt.Errorf("resume from %s: the config differs from the checkpoint's in %s%s (pass --allow-config-change to resume anyway)",
				path, strings.Join(diff, ", "), why)
		}
		defer r.logf("resuming with a changed config (--allow-config-change): %s", strings.Join(diff, ", "))
	}
	loaded, err := Unflatten(c.Tensors)
	if err != nil {
		return fmt.Errorf("resume from %s: %w", path, err)
	}
	for name, g := range loaded {
		if err := sameLayout(name, r.groups[name], g); err != nil {
			return fmt.Errorf("resume from %s: %w", path, err)
		}
		r.groups[name] = g
		r.owned[name] = true
	}
	for _, s := range r.sections() {
		raw, ok := c.State.Sections[s.name]
		if !ok {
			return fmt.Errorf("resume from %s: the checkpoint has no %q section", path, s.name)
		}
		if err := s.restore(raw); err != nil {
			return fmt.Errorf("resume from %s: section %q: %w", path, s.name, err)
		}
	}
	r.lastSaved, r.lastPath = c.State.GlobalStep, path
	r.logf("resumed from %s at global step %d", path, r.c.global)
	return nil
}

// sameLayout checks that a loaded group matches the one the caller built (when there is one).
func sameLayout(name string, want, got Group) error {
	if want == nil {
		return nil
	}
	for n, t := range want {
		g, ok := got[n]
		if !ok {
			return fmt.Errorf("group %q: the checkpoint has no tensor %q", name, n)
		}
		if !g.Shape().Equal(t.Shape()) {
			return fmt.Errorf("group %q: tensor %q is %s in the checkpoint, %s in this run", name, n, g.Shape(), t.Shape())
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			return fmt.Errorf("group %q: the checkpoint has tensor %q, which this run does not", name, n)
		}
	}
	return nil
}

// state returns the checkpoint state of the run now: every owner's section.
func (r *Run) state(completed bool) (checkpoints.State, error) {
	r.completed = completed
	st := checkpoints.State{
		GlobalStep:        r.c.global,
		Sections:          map[string]json.RawMessage{},
		ConfigFingerprint: r.fingerprint,
		SavedAt:           time.Now(),
	}
	for _, s := range r.sections() {
		raw, err := s.save()
		if err != nil {
			return st, fmt.Errorf("saving the %q state: %w", s.name, err)
		}
		st.Sections[s.name] = raw
	}
	return st, nil
}
