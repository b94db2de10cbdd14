package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/train/logging"
)

// Outcome says why a run stopped without an error.
type Outcome int

const (
	// OutcomeCompleted: the run reached train.max_steps (or its data ended).
	OutcomeCompleted Outcome = iota
	// OutcomeInterrupted: SIGINT/SIGTERM (context cancelled); a checkpoint was saved.
	OutcomeInterrupted
	// OutcomeTimeBudget: train.max_hours was reached; a checkpoint was saved.
	OutcomeTimeBudget
)

// Exit codes of the training verbs, which scripts/chain.sh relies on.
const (
	// ExitOK: completed, or interrupted by a signal (a person asked it to stop).
	ExitOK = 0
	// ExitError: the run failed; the last good checkpoint stays loadable.
	ExitError = 1
	// ExitResume (EX_TEMPFAIL): stopped at train.max_hours with a checkpoint; rerun with
	// --resume latest to continue.
	ExitResume = 75
)

// String implements fmt.Stringer.
func (o Outcome) String() string {
	switch o {
	case OutcomeCompleted:
		return "completed"
	case OutcomeInterrupted:
		return "interrupted"
	case OutcomeTimeBudget:
		return "time_budget"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ExitCode is the process exit code for the outcome.
func (o Outcome) ExitCode() int {
	if o == OutcomeTimeBudget {
		return ExitResume
	}
	return ExitOK
}

// Result is what Execute returns.
type Result struct {
	Outcome    Outcome
	GlobalStep int64
	// Checkpoint is the path of the last checkpoint saved (or resumed from).
	Checkpoint string
}

// Validation is what a validation hook returns.
type Validation struct {
	// Images are sets of images, each saved as one PNG grid samples/step-NNNNNNNNN-<name>.png
	// and logged as the image "samples/<name>" (e.g. "1step", "2step").
	Images map[string][]image.Image
	// Columns of the grids (0: as square as possible).
	Columns int
	// Scalars are logged as "val/<name>".
	Scalars map[string]float64
}

// Validator is the validation hook, called every train.validate_every global steps with
// the current groups (read-only).
type Validator interface {
	Validate(ctx context.Context, step int64, groups map[string]Group) (Validation, error)
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, step int64, groups map[string]Group) (Validation, error)

// Validate implements Validator.
func (f ValidatorFunc) Validate(ctx context.Context, step int64, groups map[string]Group) (Validation, error) {
	return f(ctx, step, groups)
}

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
	// ConfigFingerprint defaults to the sha256 of ConfigYAML.
	ConfigFingerprint string
	// Backend runs the EMA (the Steppers carry their own).
	Backend compute.Backend
	// Groups are the initial tensors of every group the phases name. Optimizer states and
	// the EMA are created when missing; a resumed checkpoint replaces the groups it holds.
	Groups map[string]Group
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

// counters are the run's step counters (saved in checkpoints).
type counters struct {
	global      int64
	phaseSteps  map[string]int64
	skipped     int64
	schedule    int64
	phaseIndex  int
	phaseRepeat int
}

// Run is one training run: the loop over phases, checkpoints, logging and validation.
type Run struct {
	opts        RunOptions
	cfg         Config
	dir         string
	groups      map[string]Group
	phases      []Phase
	c           counters
	fingerprint string
	unsaved     map[string]bool

	ckpt          *checkpoints.Manager
	lastSaved     int64
	lastPath      string
	lastCompleted bool // the last checkpoint records completion

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

// phaseWindow accumulates a phase's values between two log rows.
type phaseWindow struct {
	n    int
	sums map[string]float64
	lr   float64
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
		c: counters{phaseSteps: map[string]int64{}},
	}
	r.clock = opts.Clock
	if r.clock == nil {
		r.clock = time.Now
	}
	r.start = r.clock()
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
	if err := r.checkPhases(); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(filepath.Join(r.dir, "samples"), 0o755); err != nil {
		return nil, fmt.Errorf("run folder %s: %w", r.dir, err)
	}
	if r.logFile, err = os.OpenFile(filepath.Join(r.dir, "train.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("run folder %s: %w", r.dir, err)
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

// resume loads the checkpoint opts.Resume names, if any.
func (r *Run) resume() error {
	ref := r.opts.Resume
	dir := r.ckpt.Dir()
	switch ref {
	case "":
		if p, err := checkpoints.Latest(dir); err == nil {
			return fmt.Errorf("run folder %s already has checkpoint %s: pass --resume latest to continue it, or choose another train.name", r.dir, p)
		}
		return nil
	case "auto":
		if _, err := checkpoints.Latest(dir); errors.Is(err, checkpoints.ErrNoCheckpoint) {
			return nil
		}
		ref = "latest"
	}
	path, err := checkpoints.Resolve(ref, dir)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	c, err := checkpoints.Load(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if diff := checkpoints.DiffConfig(c.ConfigFlat, r.opts.ConfigFlat, resumeNeutral); len(diff) > 0 {
		if !r.opts.AllowConfigChange {
			return fmt.Errorf("resume from %s: the config differs from the checkpoint's in %s (pass --allow-config-change to resume anyway)",
				path, strings.Join(diff, ", "))
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
	}
	st := c.State
	r.c = counters{global: st.GlobalStep, phaseSteps: st.PhaseSteps, skipped: st.Skipped, schedule: st.ScheduleStep,
		phaseIndex: st.PhaseIndex, phaseRepeat: st.PhaseRepeat}
	if r.c.phaseSteps == nil {
		r.c.phaseSteps = map[string]int64{}
	}
	if r.c.phaseIndex < 0 || r.c.phaseIndex >= len(r.phases) || r.phases[r.c.phaseIndex].Name != st.Phase {
		return fmt.Errorf("resume from %s: the checkpoint's next phase %q (index %d) does not match this run's phases", path, st.Phase, st.PhaseIndex)
	}
	if st.Seed != r.cfg.Seed {
		r.logf("note: the checkpoint's seed %d differs from train.seed %d; continuing with the checkpoint's", st.Seed, r.cfg.Seed)
		r.cfg.Seed = st.Seed
	}
	if len(st.DataPosition) > 0 {
		if err := r.opts.Data.Restore(st.DataPosition); err != nil {
			return fmt.Errorf("resume from %s: restoring the data position %s: %w", path, st.DataPosition, err)
		}
	}
	r.dataPos = st.DataPosition
	r.trainSecs0 = st.TrainSeconds
	r.lastSaved, r.lastPath, r.lastCompleted = st.GlobalStep, path, st.Completed
	r.logf("resumed from %s at global step %d", path, st.GlobalStep)
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

// initState creates missing optimizer states and the EMA.
func (r *Run) initState() error {
	for _, p := range r.phases {
		if _, ok := r.groups[p.OptState]; !ok {
			r.groups[p.OptState] = p.Stepper.Optimizer().InitState(r.groups[p.Trainable])
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

// openSinks opens the metric sinks of the `log:` section.
func (r *Run) openSinks(ctx context.Context) error {
	lc := r.opts.Log
	if lc.JSONL {
		j, err := logging.NewJSONL(filepath.Join(r.dir, "metrics.jsonl"))
		if err != nil {
			return err
		}
		r.sinks = append(r.sinks, j)
	}
	if lc.TensorBoard {
		tb, err := logging.NewTensorBoard(r.dir)
		if err != nil {
			return err
		}
		r.sinks = append(r.sinks, tb)
	}
	if lc.WandB.Enabled {
		opts := logging.WandBOptions{
			Dir: filepath.Join(r.dir, "wandb"), Project: lc.WandB.Project, Entity: lc.WandB.Entity,
			DisplayName: r.cfg.Name, Config: r.opts.ConfigFlat, Offline: lc.WandB.Mode == "offline",
			Warn: func(err error) { r.logf("warning: %v", err) },
		}
		w, err := logging.NewWandB(ctx, opts)
		if err != nil && !opts.Offline {
			r.logf("warning: W&B online logging unavailable (%v); logging offline to %s, upload later with `sprint wandb sync %s`", err, opts.Dir, opts.Dir)
			opts.Offline = true
			w, err = logging.NewWandB(ctx, opts)
		}
		if err != nil {
			return err
		}
		mode := "online"
		if opts.Offline {
			mode = "offline"
		}
		r.logf("W&B run %s (%s, local copy in %s)", w.RunID(), mode, opts.Dir)
		r.sinks = append(r.sinks, w)
	}
	r.sinks = append(r.sinks, r.opts.Sinks...)
	return nil
}

// Dir returns the run folder.
func (r *Run) Dir() string { return r.dir }

// Groups returns the run's current groups (shared, not copied: do not modify).
func (r *Run) Groups() map[string]Group { return r.groups }

// GlobalStep returns the number of successful steps so far.
func (r *Run) GlobalStep() int64 { return r.c.global }

// logf writes a timestamped line to train.log and, with log.console, to the console.
func (r *Run) logf(format string, args ...any) {
	line := fmt.Sprintf("%s %s\n", r.clock().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, args...))
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if r.logFile != nil {
		_, _ = io.WriteString(r.logFile, line)
	}
	if r.opts.Log.Console {
		_, _ = io.WriteString(r.console, line)
	}
}

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
		case r.cfg.MaxHours > 0 && r.clock().Sub(r.start).Hours() >= r.cfg.MaxHours:
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
		sr, err := p.Stepper.Step(r.groups[p.Trainable], frozen, buffers, r.groups[p.OptState], batch, rng, lr, r.c.global)
		if err != nil {
			return res, r.failWithCheckpoint(err)
		}
		r.dataPos = r.opts.Data.Position()
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
		r.groups[p.Trainable], r.groups[p.OptState] = sr.Trainable, sr.OptState
		if p.Buffers != "" {
			r.groups[p.Buffers] = sr.Buffers
		}
		if r.ema != nil && p.Trainable == r.cfg.EMA.Group {
			if r.groups[r.emaGroup], err = r.ema.Update(r.groups[r.emaGroup], r.groups[p.Trainable]); err != nil {
				return res, r.failWithCheckpoint(err)
			}
		}
		r.record(p, sr, lr)
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

// record adds a successful step's values to the log window.
func (r *Run) record(p *Phase, sr StepResult, lr float64) {
	w := r.window[p.Name]
	if w == nil {
		w = &phaseWindow{sums: map[string]float64{}}
		r.window[p.Name] = w
	}
	w.n++
	w.lr = lr
	w.sums["loss"] += sr.Loss
	w.sums["grad_norm"] += sr.GradNorm
	for k, v := range sr.Metrics {
		w.sums[k] += v
	}
}

// flushLog writes the window's means to the sinks and the progress line.
func (r *Run) flushLog() {
	last := r.phases[(r.c.phaseIndex+len(r.phases)-1)%len(r.phases)].Name
	if r.c.phaseRepeat > 0 {
		last = r.phases[r.c.phaseIndex].Name
	}
	now := r.clock()
	elapsed := now.Sub(r.windowStart).Seconds()
	steps := r.c.global - r.windowStep
	row := map[string]float64{"global_step": float64(r.c.global), "skipped": float64(r.c.skipped)}
	var rate float64
	if elapsed > 0 && steps > 0 {
		rate = float64(steps) / elapsed
		row["steps_per_sec"] = rate
	}
	var line strings.Builder
	fmt.Fprintf(&line, "step %d/%d [%s]", r.c.global, r.cfg.MaxSteps, last)
	for _, p := range r.phases {
		w := r.window[p.Name]
		if w == nil || w.n == 0 {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(w.sums)) {
			row[p.Name+"/"+k] = w.sums[k] / float64(w.n)
		}
		row[p.Name+"/lr"] = w.lr
		fmt.Fprintf(&line, " | %s loss %.4g grad_norm %.3g lr %.3g", p.Name, row[p.Name+"/loss"], row[p.Name+"/grad_norm"], w.lr)
	}
	if rate > 0 {
		eta := time.Duration(float64(r.cfg.MaxSteps-r.c.global) / rate * float64(time.Second))
		fmt.Fprintf(&line, " | %.2f steps/s | ETA %s", rate, eta.Round(time.Second))
	}
	if r.c.skipped > 0 {
		fmt.Fprintf(&line, " | skipped %d", r.c.skipped)
	}
	r.logf("%s", line.String())
	r.sinkCall(func(s logging.Sink) error { return s.Scalars(r.c.global, row) })
	r.window = map[string]*phaseWindow{}
	r.windowStart, r.windowStep = now, r.c.global
}

// sinkCall calls every sink, reporting each sink's first failure once: logging problems
// never stop training.
func (r *Run) sinkCall(f func(logging.Sink) error) {
	for i, s := range r.sinks {
		if err := f(s); err != nil && !r.sinkWarned[i] {
			r.sinkWarned[i] = true
			r.logf("warning: metrics sink %T: %v (further errors of this sink are not reported)", s, err)
		}
	}
}

// validate runs the validation hook, saves its grids and logs them; failures are reported
// and training goes on.
func (r *Run) validate(ctx context.Context) {
	v, err := r.opts.Validator.Validate(ctx, r.c.global, r.groups)
	if err != nil {
		r.logf("warning: validation at global step %d failed: %v", r.c.global, err)
		return
	}
	imgs := map[string]image.Image{}
	for _, name := range slices.Sorted(maps.Keys(v.Images)) {
		sheet := grid.Grid(v.Images[name], v.Columns)
		imgs["samples/"+name] = sheet
		p := filepath.Join(r.dir, "samples", fmt.Sprintf("step-%09d-%s.png", r.c.global, sanitizeFileName(name)))
		if err := grid.WritePNG(p, sheet); err != nil {
			r.logf("warning: saving samples %s: %v", p, err)
		} else {
			r.logf("validation samples: %s", p)
		}
	}
	if len(imgs) > 0 {
		r.sinkCall(func(s logging.Sink) error { return s.Images(r.c.global, imgs) })
	}
	if len(v.Scalars) > 0 {
		row := map[string]float64{}
		for k, x := range v.Scalars {
			row["val/"+k] = x
		}
		r.sinkCall(func(s logging.Sink) error { return s.Scalars(r.c.global, row) })
	}
}

func sanitizeFileName(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c == '\\' || c == ' ' || c == ':' {
			return '_'
		}
		return c
	}, s)
}

// state returns the checkpoint state of the run now.
func (r *Run) state(completed bool) checkpoints.State {
	return checkpoints.State{
		GlobalStep:        r.c.global,
		PhaseSteps:        maps.Clone(r.c.phaseSteps),
		Skipped:           r.c.skipped,
		ScheduleStep:      r.c.schedule,
		Phase:             r.phases[r.c.phaseIndex].Name,
		PhaseIndex:        r.c.phaseIndex,
		PhaseRepeat:       r.c.phaseRepeat,
		Seed:              r.cfg.Seed,
		DataPosition:      r.dataPos,
		ConfigFingerprint: r.fingerprint,
		TrainSeconds:      r.trainSecs0 + r.clock().Sub(r.start).Seconds(),
		Completed:         completed,
		SavedAt:           time.Now(),
	}
}

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
	path, err := r.ckpt.Save(&checkpoints.Checkpoint{State: r.state(completed), Tensors: flat,
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
}

// Status is status.json in the run folder, rewritten at start and exit.
type Status struct {
	State      string    `json:"state"` // running, completed, interrupted, time_budget, failed
	GlobalStep int64     `json:"global_step"`
	MaxSteps   int64     `json:"max_steps"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (r *Run) writeStatus(state string, runErr error) {
	st := Status{State: state, GlobalStep: r.c.global, MaxSteps: r.cfg.MaxSteps, Checkpoint: r.lastPath, UpdatedAt: time.Now().UTC()}
	if runErr != nil {
		st.Error = runErr.Error()
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFileAtomic(filepath.Join(r.dir, "status.json"), append(b, '\n')); err != nil {
		r.logf("warning: writing status.json: %v", err)
	}
}

// writeFileAtomic writes a small file through a temporary sibling and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStatus reads a run folder's status.json.
func ReadStatus(runDir string) (Status, error) {
	var st Status
	b, err := os.ReadFile(filepath.Join(runDir, "status.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(runDir, "status.json"), err)
	}
	return st, nil
}
