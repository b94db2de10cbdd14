package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/train/logging"
)

// RunOptions configures a Run.
type RunOptions struct {
	// Dir is the run folder; default <train.run_dir>/<train.name>.
	Dir string
	// Config and Log are the `train:` and `log:` sections.
	Config Config
	Log    LogConfig
	// ConfigYAML is the resolved config (written to config.yaml and into checkpoints);
	// ConfigFlat the same flattened to dotted key -> value, compared on resume.
	ConfigYAML []byte
	ConfigFlat map[string]string
	// ConfigDefaults is the flattened config of defaults (optional). On resume, a key the
	// checkpoint's config lacks (one a later version added) whose value here is its default
	// is not a change: a key is added with the default that keeps the earlier behaviour.
	ConfigDefaults map[string]string
	// ConfigFingerprint defaults to the sha256 of ConfigYAML.
	ConfigFingerprint string
	// Backend runs the EMA (the Steppers carry their own).
	Backend compute.Backend
	// Groups are the initial tensors of every group the phases name. Optimizer states and
	// the EMA are created when missing; a resumed checkpoint replaces the groups it holds.
	// The run keeps no reference to the map itself: it copies the entries.
	Groups map[string]Group
	// GroupsOwned hands the initial tensors of Groups over to the run: it may donate them to
	// the first steps (the caller keeps no other reference to them and does not use them
	// afterwards). Otherwise the first step of each phase keeps its inputs and writes new
	// tensors, so a fresh run holds its trained group twice until that step is done.
	GroupsOwned bool
	// Unsaved groups are left out of checkpoints (a frozen teacher reloaded from its file).
	Unsaved []string
	// Phases, in cycle order (G then D).
	Phases []Phase
	// Data yields the batches; each batch is used by exactly one step.
	Data BatchSource
	// Validator is the optional validation hook.
	Validator Validator
	// Resume is "" (start fresh; an existing checkpoint is an error), "latest", "auto"
	// (latest if there is one, else fresh) or a checkpoint path.
	Resume string
	// AllowConfigChange resumes even if the config differs from the checkpoint's.
	AllowConfigChange bool
	// Console receives the progress lines when log.console is on (default os.Stdout).
	Console io.Writer
	// Sinks are extra metric sinks (besides those log: configures).
	Sinks []logging.Sink
	// CheckpointFS is the file layer of checkpoint saves (default the OS; tests inject faults).
	CheckpointFS atomicfile.FS
	// Clock defaults to time.Now (tests drive train.max_hours with it).
	Clock func() time.Time
}

// Run is one training run: the loop over phases, checkpoints, logging and validation.
type Run struct {
	opts        RunOptions
	cfg         Config
	dir         string
	groups      map[string]Group
	phases      []Phase
	c           counters
	owned       map[string]bool // groups whose tensors the run made (step outputs, loaded, created): donated to steps
	fingerprint string
	unsaved     map[string]bool

	ckpt          *checkpoints.Manager
	lastSaved     int64
	lastPath      string
	lastCompleted bool // the last checkpoint records completion
	completed     bool // the run reached its last step (saved in the loop section)
	lock          *runLock
	launchStep    int64     // the global step this process started at
	lastBeat      time.Time // the last status.json heartbeat
	processStart  time.Time

	ema      *EMA
	emaGroup string

	sinks       logging.Multi
	sinkWarned  map[int]bool
	logMu       sync.Mutex
	logFile     *os.File
	console     io.Writer
	clock       func() time.Time
	start       time.Time
	trainSecs0  float64
	dataPos     json.RawMessage
	window      map[string]*phaseWindow
	windowStart time.Time
	windowStep  int64
}

// NewRun prepares a run: the run folder, the resumed checkpoint (opts.Resume), missing
// optimizer states and EMA, the metric sinks. Execute runs it and releases it on return.
func NewRun(ctx context.Context, opts RunOptions) (r *Run, err error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if len(opts.Phases) == 0 {
		return nil, errors.New("run: no phases")
	}
	if opts.Data == nil {
		return nil, errors.New("run: no data source")
	}
	r = &Run{
		opts: opts, cfg: cfg, phases: slices.Clone(opts.Phases), groups: map[string]Group{}, lastSaved: -1,
		unsaved: map[string]bool{}, window: map[string]*phaseWindow{}, sinkWarned: map[int]bool{},
		c: counters{phaseSteps: map[string]int64{}}, owned: map[string]bool{},
	}
	r.clock = opts.Clock
	if r.clock == nil {
		r.clock = time.Now
	}
	r.start = r.clock()
	r.processStart = time.Now()
	r.console = opts.Console
	if r.console == nil {
		r.console = os.Stdout
	}
	r.dir = opts.Dir
	if r.dir == "" {
		r.dir = filepath.Join(cfg.RunDir, cfg.Name)
	}
	r.fingerprint = opts.ConfigFingerprint
	if r.fingerprint == "" {
		r.fingerprint = checkpoints.Fingerprint(opts.ConfigYAML)
	}
	for _, g := range opts.Unsaved {
		r.unsaved[g] = true
	}
	maps.Copy(r.groups, opts.Groups)
	if opts.GroupsOwned {
		for name := range opts.Groups {
			r.owned[name] = true
		}
	}
	// Drop the caller's map: the steps replace the run's groups with their outputs, and a
	// reference kept in r.opts would hold the initial tensors (a copy of the trained weights)
	// for the whole run.
	r.opts.Groups = nil
	if err := r.checkPhases(); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(filepath.Join(r.dir, "samples"), 0o755); err != nil {
		return nil, fmt.Errorf("run folder %s: %w", r.dir, err)
	}
	lock, stale, err := lockRunDir(r.dir)
	if err != nil {
		return nil, err
	}
	r.lock = lock
	if r.logFile, err = os.OpenFile(filepath.Join(r.dir, "train.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		lock.unlock()
		return nil, fmt.Errorf("run folder %s: %w", r.dir, err)
	}
	if stale != nil {
		r.logf("note: the run folder's previous lock holder (%s) is gone; a run that was killed left it", stale)
	}
	opened := r
	defer func() {
		if err != nil {
			for _, s := range opened.sinks {
				_ = s.Close()
			}
			opened.closeFiles()
		}
	}()
	if r.ckpt, err = checkpoints.NewManager(filepath.Join(r.dir, "checkpoints"), cfg.KeepLast, opts.CheckpointFS); err != nil {
		return nil, err
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(r.dir, "config.yaml"), opts.ConfigYAML); err != nil {
		return nil, fmt.Errorf("run folder %s: writing config.yaml: %w", r.dir, err)
	}
	if err := r.initState(); err != nil {
		return nil, err
	}
	if err := r.openSinks(ctx); err != nil {
		return nil, err
	}
	if lr, scaled := cfg.BaseLR(); scaled {
		r.logf("auto_lr sqrt: lr %g -> %g (global batch %d)", cfg.Optimizer.LR, lr, cfg.BatchSize)
	}
	return r, nil
}

// checkPhases validates the phase list against the groups given.
func (r *Run) checkPhases() error {
	seen := map[string]bool{}
	for i := range r.phases {
		p := &r.phases[i]
		if p.Name == "" || seen[p.Name] || strings.Contains(p.Name, "/") {
			return fmt.Errorf("run: phase %d: name %q must be unique, non-empty and without '/'", i, p.Name)
		}
		seen[p.Name] = true
		if p.Stepper == nil || p.LR == nil {
			return fmt.Errorf("run: phase %q: needs a Stepper and an LR schedule", p.Name)
		}
		if p.Repeat < 1 {
			return fmt.Errorf("run: phase %q: repeat must be >= 1, got %d", p.Name, p.Repeat)
		}
		if p.OptState == "" {
			p.OptState = "opt_" + p.Name
		}
		for _, g := range append([]string{p.Trainable, p.OptState}, p.Frozen...) {
			if err := validGroupName(g); err != nil {
				return fmt.Errorf("run: phase %q: %w", p.Name, err)
			}
		}
		for _, g := range append([]string{p.Trainable}, p.Frozen...) {
			if _, ok := r.groups[g]; !ok {
				return fmt.Errorf("run: phase %q: group %q is not among the groups given (%v)", p.Name, g, slices.Sorted(maps.Keys(r.groups)))
			}
		}
		if p.Buffers != "" {
			if _, ok := r.groups[p.Buffers]; !ok {
				return fmt.Errorf("run: phase %q: buffer group %q is not among the groups given", p.Name, p.Buffers)
			}
		}
	}
	return nil
}

// initState creates missing optimizer states and the EMA.
func (r *Run) initState() error {
	for _, p := range r.phases {
		if _, ok := r.groups[p.OptState]; !ok {
			r.groups[p.OptState] = p.Stepper.Optimizer().InitState(r.groups[p.Trainable])
			r.owned[p.OptState] = true
		}
	}
	if r.cfg.EMA.Enabled {
		src, ok := r.groups[r.cfg.EMA.Group]
		if !ok {
			return fmt.Errorf("train.ema.group: group %q does not exist", r.cfg.EMA.Group)
		}
		if r.opts.Backend == nil {
			return errors.New("run: the EMA needs RunOptions.Backend")
		}
		var err error
		if r.ema, err = NewEMA(r.opts.Backend, r.cfg.EMA.Decay); err != nil {
			return err
		}
		r.emaGroup = "ema_" + r.cfg.EMA.Group
		if _, ok := r.groups[r.emaGroup]; !ok {
			if r.groups[r.emaGroup], err = r.ema.Init(src); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dir returns the run folder.
func (r *Run) Dir() string { return r.dir }

// Groups returns the run's current groups (shared, not copied: do not modify).
func (r *Run) Groups() map[string]Group { return r.groups }

// GlobalStep returns the number of successful steps so far.
func (r *Run) GlobalStep() int64 { return r.c.global }

// Execute runs the loop until max_steps, a signal (ctx), the time budget or an error. It
// always saves a final checkpoint (unless the last step was just saved) and closes the run.
func (r *Run) Execute(ctx context.Context) (res Result, err error) {
	outcome := OutcomeCompleted
	defer func() {
		code := outcome.ExitCode()
		if err != nil {
			code = ExitError
		}
		r.finish(outcome, code, err)
		res = Result{Outcome: outcome, GlobalStep: r.c.global, Checkpoint: r.lastPath}
	}()
	r.logf("run %s: global step %d of %d, phases %s", r.dir, r.c.global, r.cfg.MaxSteps, r.phaseNames())
	r.launchStep = r.c.global
	r.writeStatus("running", nil)
	r.windowStart, r.windowStep = r.clock(), r.c.global
	consecutiveSkips := 0
	for {
		switch {
		case r.c.global >= r.cfg.MaxSteps:
			outcome = OutcomeCompleted
			return res, r.saveFinal(true)
		case ctx.Err() != nil:
			outcome = OutcomeInterrupted
			r.logf("interrupted at global step %d: saving a checkpoint", r.c.global)
			return res, r.saveFinal(false)
		case r.cfg.MaxHours > 0 && r.clock().Sub(r.start).Hours() >= r.cfg.MaxHours && r.c.global > r.launchStep:
			// Checked only once this launch has made a step, so that a budget shorter than
			// start-up (compilation) still makes progress on every relaunch.
			outcome = OutcomeTimeBudget
			r.logf("train.max_hours (%g h) reached at global step %d: saving a checkpoint; rerun with --resume latest", r.cfg.MaxHours, r.c.global)
			return res, r.saveFinal(false)
		}
		batch, err := r.opts.Data.Next()
		if errors.Is(err, io.EOF) {
			r.logf("the data source ended at global step %d", r.c.global)
			outcome = OutcomeCompleted
			return res, r.saveFinal(true)
		}
		if err != nil {
			return res, r.failWithCheckpoint(fmt.Errorf("data at global step %d: %w", r.c.global, err))
		}
		p := &r.phases[r.c.phaseIndex]
		lr := p.LR(r.c.schedule)
		rng := StepRNG(r.cfg.Seed, r.c.global, r.c.phaseIndex, r.c.skipped)
		var frozen Group
		if len(p.Frozen) > 0 {
			flat, err := Flatten(r.groups, p.Frozen...)
			if err != nil {
				return res, err
			}
			frozen = flat
		}
		var buffers Group
		if p.Buffers != "" {
			buffers = r.groups[p.Buffers]
		}
		// The trainable weights and the optimizer state are donated to the step once the run owns
		// them (never the caller's initial tensors): the step's outputs replace them, skipped or not.
		donation := Donation{Trainable: r.owned[p.Trainable], OptState: r.owned[p.OptState]}
		sr, err := p.Stepper.StepDonating(donation, r.groups[p.Trainable], frozen, buffers, r.groups[p.OptState], batch, rng, lr, r.c.global)
		if err != nil {
			if errors.Is(err, ErrDonatedStateLost) {
				return res, fmt.Errorf("%w (no checkpoint written: resume from the last one)", err)
			}
			return res, r.failWithCheckpoint(err)
		}
		r.dataPos = r.opts.Data.Position()
		r.groups[p.Trainable], r.groups[p.OptState] = sr.Trainable, sr.OptState
		r.owned[p.Trainable], r.owned[p.OptState] = true, true
		if sr.Skipped {
			r.c.skipped++
			consecutiveSkips++
			r.logf("warning: %s step at global step %d skipped: loss %g, gradient norm %g (not finite); %d skipped in all",
				p.Name, r.c.global, sr.Loss, sr.GradNorm, r.c.skipped)
			if consecutiveSkips >= r.cfg.NaNSkipLimit {
				return res, r.failWithCheckpoint(fmt.Errorf("%d consecutive steps skipped for non-finite loss or gradients (train.nan_skip_limit)", consecutiveSkips))
			}
			continue
		}
		consecutiveSkips = 0
		if p.Buffers != "" {
			r.groups[p.Buffers] = sr.Buffers
		}
		if r.ema != nil && p.Trainable == r.cfg.EMA.Group {
			if r.groups[r.emaGroup], err = r.ema.Update(r.groups[r.emaGroup], r.groups[p.Trainable]); err != nil {
				return res, r.failWithCheckpoint(err)
			}
		}
		r.record(p, sr, lr)
		r.heartbeat()
		r.c.global++
		r.c.phaseSteps[p.Name]++
		if p.AdvancesSchedule {
			r.c.schedule++
		}
		r.c.phaseRepeat++
		if r.c.phaseRepeat >= p.Repeat {
			r.c.phaseRepeat = 0
			r.c.phaseIndex = (r.c.phaseIndex + 1) % len(r.phases)
		}

		if r.c.global%r.cfg.LogEvery == 0 || r.c.global == r.cfg.MaxSteps {
			r.flushLog()
		}
		if r.opts.Validator != nil && r.cfg.ValidateEvery > 0 && r.c.global%r.cfg.ValidateEvery == 0 {
			r.validate(ctx)
		}
		if r.c.global%r.cfg.CheckpointEvery == 0 {
			if err := r.save(r.c.global >= r.cfg.MaxSteps); err != nil {
				return res, err
			}
		}
	}
}

func (r *Run) phaseNames() string {
	parts := make([]string, len(r.phases))
	for i, p := range r.phases {
		parts[i] = fmt.Sprintf("%s x%d", p.Name, p.Repeat)
	}
	return strings.Join(parts, ", ")
}

// finish closes the sinks and files and writes status.json.
func (r *Run) finish(outcome Outcome, code int, runErr error) {
	if len(r.window) > 0 {
		r.flushLog()
	}
	for i, s := range r.sinks {
		var err error
		if f, ok := s.(logging.Finisher); ok {
			err = f.Finish(code)
		} else {
			err = s.Close()
		}
		if err != nil && !r.sinkWarned[i] {
			r.logf("warning: closing metrics sink %T: %v", s, err)
		}
	}
	r.sinks = nil
	state := outcome.String()
	if runErr != nil {
		state = "failed"
		r.logf("run failed at global step %d: %v", r.c.global, runErr)
	} else {
		r.logf("run %s at global step %d (exit code %d)", state, r.c.global, code)
	}
	r.writeStatus(state, runErr)
	r.closeFiles()
}

func (r *Run) closeFiles() {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if r.logFile != nil {
		_ = r.logFile.Close()
		r.logFile = nil
	}
	r.lock.unlock()
}
