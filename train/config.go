package train

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Config is the `train:` section: the run loop, optimizers, schedules and bookkeeping.
// Defaults follow the SANA-Sprint recipe (reference notes §3.5 and §9) where it has one.
type Config struct {
	// Name of the run; its folder is <run_dir>/<name>.
	Name string `mapstructure:"name"`
	// RunDir is the folder that holds the run folders.
	RunDir string `mapstructure:"run_dir"`
	// MaxSteps is the number of global steps of the run; G and D steps both count (§3.5).
	MaxSteps int64 `mapstructure:"max_steps"`
	// BatchSize is the global batch size (all devices together); auto_lr uses it.
	BatchSize int `mapstructure:"batch_size"`
	// Optimizer configures the optimizer of every phase (the reference builds D's from it too).
	Optimizer OptimizerConfig `mapstructure:"optimizer"`
	// LRSchedule configures the learning-rate schedule.
	LRSchedule ScheduleConfig `mapstructure:"lr_schedule"`
	// AutoLR scales optimizer.lr by the global batch size before the optimizers are built:
	// "sqrt" gives lr·sqrt(batch_size/256) (the reference default), "none" leaves it.
	AutoLR string `mapstructure:"auto_lr"`
	// GradClip is the global L2-norm bound of each phase's gradients; 0 disables clipping.
	GradClip float64 `mapstructure:"grad_clip"`
	// EMA keeps an exponential moving average of one group's weights.
	EMA EMAConfig `mapstructure:"ema"`
	// CheckpointEvery saves a checkpoint every this many global steps (and always at exit).
	CheckpointEvery int64 `mapstructure:"checkpoint_every"`
	// KeepLast is how many checkpoints to keep; older ones are deleted after a successful save.
	KeepLast int `mapstructure:"keep_last"`
	// MaxHours stops the run, with a checkpoint, after this many hours of this process
	// (for chained jobs, scripts/chain.sh); 0 means no limit.
	MaxHours float64 `mapstructure:"max_hours"`
	// ValidateEvery runs the validation hook every this many global steps; 0 disables it.
	ValidateEvery int64 `mapstructure:"validate_every"`
	// LogEvery writes metrics and the progress line every this many global steps.
	LogEvery int64 `mapstructure:"log_every"`
	// Seed drives every random draw of the run: the step RNG is derived from (seed, global step, phase).
	Seed int64 `mapstructure:"seed"`
	// PhaseRatio is the number of consecutive G and D steps per cycle (1:1 in the reference).
	PhaseRatio PhaseRatio `mapstructure:"phase_ratio"`
	// DLRScale multiplies the learning rate of the phases other than the generator's (the
	// discriminator heads) after auto_lr; 1 gives them the generator's base lr, as the reference
	// does (its optimizer_D section is read by nothing).
	DLRScale float64 `mapstructure:"d_lr_scale"`
	// NaNSkipLimit is how many consecutive skipped (non-finite) steps end the run with an error.
	NaNSkipLimit int `mapstructure:"nan_skip_limit"`
	// Precision says where the weights the run trains are kept, relative to model.dtype (the
	// dtype the networks compute in): "mixed" keeps float32 master weights and optimizer states
	// when model.dtype is bfloat16 (the networks then compute in bfloat16 with float32 kept for
	// the attention sums, the norms, the logvar head, the losses, the tangent normalisation and
	// the optimizer update, as the reference's bf16 autocast does; frozen networks are stored in
	// bfloat16); "pure" stores every network in model.dtype, so that with bfloat16 the float32
	// update is rounded back into bfloat16 weights (at lr 2e-6 most weights then never move).
	// With a float32 or float64 model.dtype both are the same.
	Precision string `mapstructure:"precision"`
	// Devices is the number of devices of this machine the steps run on, data-parallel: the
	// global batch (batch_size, which must be a multiple of it) is split over them along the
	// batch axis, weights and optimizer states are replicated and XLA inserts the gradient
	// all-reduce (AutoSharding). 0 means every device of the backend; 1 is the single-device
	// step. The Go backend has one device.
	Devices int `mapstructure:"devices"`
}

// OptimizerConfig selects and configures an optimizer.
type OptimizerConfig struct {
	// Type is "came" or "adamw".
	Type string `mapstructure:"type"`
	// LR is the base learning rate, before auto_lr scaling.
	LR float64 `mapstructure:"lr"`
	// Betas are (β1, β2) for AdamW and (β1, β2, β3) for CAME.
	Betas []float64 `mapstructure:"betas"`
	// Eps is (ε) for AdamW and (ε1, ε2) for CAME: ε1 regularises the squared gradient,
	// ε2 the instability.
	Eps []float64 `mapstructure:"eps"`
	// WeightDecay is the decoupled weight decay: p ← p·(1 − lr·wd) before the update.
	WeightDecay float64 `mapstructure:"weight_decay"`
	// ClipThreshold bounds the RMS of CAME's normalised update (CAME only).
	ClipThreshold float64 `mapstructure:"clip_threshold"`
}

// ScheduleConfig configures the learning-rate schedule.
type ScheduleConfig struct {
	// Type is "constant" (linear warmup, then constant) or "cosine" (linear warmup, then
	// a half cosine down to 0 at the last scheduled step).
	Type string `mapstructure:"type"`
	// WarmupSteps is the length of the linear warmup, in scheduler steps.
	WarmupSteps int64 `mapstructure:"warmup_steps"`
	// StepOn says which steps advance the schedule: "g" (the reference: only generator steps
	// advance it and only the generator's lr follows it, the discriminator keeps the base lr)
	// or "all" (every successful step advances it and every phase follows it).
	StepOn string `mapstructure:"step_on"`
}

// EMAConfig configures the weight EMA.
type EMAConfig struct {
	// Enabled turns the EMA on.
	Enabled bool `mapstructure:"enabled"`
	// Decay is the EMA decay: ema ← decay·ema + (1 − decay)·w after every step of the group.
	Decay float64 `mapstructure:"decay"`
	// Group is the group averaged (e.g. "student"); the average is the group "ema_<group>".
	Group string `mapstructure:"group"`
}

// PhaseRatio is the G:D update ratio.
type PhaseRatio struct {
	// G is the number of consecutive generator steps per cycle.
	G int `mapstructure:"g"`
	// D is the number of consecutive discriminator steps per cycle.
	D int `mapstructure:"d"`
}

// LogConfig is the `log:` section: where metrics and images go.
type LogConfig struct {
	// Console prints a progress line every train.log_every steps (it always goes to train.log).
	Console bool `mapstructure:"console"`
	// JSONL appends every logged row to metrics.jsonl in the run folder.
	JSONL bool `mapstructure:"jsonl"`
	// TensorBoard writes events.out.tfevents.* (scalars and sample images) in the run folder.
	TensorBoard bool `mapstructure:"tensorboard"`
	// WandB configures Weights & Biases.
	WandB WandBConfig `mapstructure:"wandb"`
}

// WandBConfig configures Weights & Biases logging. The API key comes from WANDB_API_KEY and
// the server from WANDB_BASE_URL (default https://api.wandb.ai), never from the config.
type WandBConfig struct {
	// Enabled turns W&B logging on.
	Enabled bool `mapstructure:"enabled"`
	// Project is the W&B project.
	Project string `mapstructure:"project"`
	// Entity is the W&B user or team; empty means the key's default entity.
	Entity string `mapstructure:"entity"`
	// Mode is "online" (stream while training, and keep a local copy) or "offline" (local
	// copy only; upload later with `sprint wandb sync DIR`).
	Mode string `mapstructure:"mode"`
}

// DefaultConfig returns the `train:` section with every key at its default.
func DefaultConfig() Config {
	return Config{
		Name:     "sprint",
		RunDir:   "runs",
		MaxSteps: 36000,
		Optimizer: OptimizerConfig{
			Type:          "came",
			LR:            2e-6,
			Betas:         []float64{0.9, 0.999, 0.9999},
			Eps:           []float64{1e-30, 1e-16},
			WeightDecay:   0,
			ClipThreshold: 1.0,
		},
		BatchSize:       16,
		LRSchedule:      ScheduleConfig{Type: "constant", WarmupSteps: 5000, StepOn: "g"},
		AutoLR:          "sqrt",
		GradClip:        0.1,
		EMA:             EMAConfig{Enabled: false, Decay: 0.9999, Group: "student"},
		CheckpointEvery: 500,
		KeepLast:        3,
		MaxHours:        0,
		ValidateEvery:   500,
		LogEvery:        20,
		Seed:            42,
		PhaseRatio:      PhaseRatio{G: 1, D: 1},
		DLRScale:        1,
		NaNSkipLimit:    100,
		Precision:       PrecisionMixed,
	}
}

// DefaultLogConfig returns the `log:` section with every key at its default.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		Console:     true,
		JSONL:       true,
		TensorBoard: true,
		WandB:       WandBConfig{Enabled: false, Project: "sprint", Mode: "online"},
	}
}

// Validate checks the `train:` section and names every offending key.
func (c Config) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, "train."+key+": "+fmt.Sprintf(format, args...))
	}
	if c.Name == "" || strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == ".." {
		bad("name", "must be a non-empty folder name without path separators, got %q", c.Name)
	}
	if c.RunDir == "" {
		bad("run_dir", "must not be empty")
	}
	if c.MaxSteps <= 0 {
		bad("max_steps", "must be > 0, got %d", c.MaxSteps)
	}
	if c.BatchSize <= 0 {
		bad("batch_size", "must be > 0, got %d", c.BatchSize)
	}
	if err := c.Optimizer.validate(); err != nil {
		errs = append(errs, err.Error())
	}
	switch c.LRSchedule.Type {
	case "constant", "cosine":
	default:
		bad("lr_schedule.type", "must be constant or cosine, got %q", c.LRSchedule.Type)
	}
	if c.LRSchedule.WarmupSteps < 0 {
		bad("lr_schedule.warmup_steps", "must be >= 0, got %d", c.LRSchedule.WarmupSteps)
	}
	switch c.LRSchedule.StepOn {
	case "g", "all":
	default:
		bad("lr_schedule.step_on", "must be g or all, got %q", c.LRSchedule.StepOn)
	}
	switch c.AutoLR {
	case "sqrt", "none":
	default:
		bad("auto_lr", "must be sqrt or none, got %q", c.AutoLR)
	}
	if !(c.GradClip >= 0) || math.IsInf(c.GradClip, 0) {
		bad("grad_clip", "must be >= 0 (0 disables clipping), got %g", c.GradClip)
	}
	if c.EMA.Enabled {
		if !(c.EMA.Decay > 0 && c.EMA.Decay < 1) {
			bad("ema.decay", "must be in (0, 1), got %g", c.EMA.Decay)
		}
		if c.EMA.Group == "" {
			bad("ema.group", "must name a group when ema.enabled is true")
		}
	}
	if c.CheckpointEvery <= 0 {
		bad("checkpoint_every", "must be > 0, got %d", c.CheckpointEvery)
	}
	if c.KeepLast < 1 {
		bad("keep_last", "must be >= 1, got %d", c.KeepLast)
	}
	if !(c.MaxHours >= 0) || math.IsInf(c.MaxHours, 0) {
		bad("max_hours", "must be >= 0 (0: no limit), got %g", c.MaxHours)
	}
	if c.ValidateEvery < 0 {
		bad("validate_every", "must be >= 0 (0: never), got %d", c.ValidateEvery)
	}
	if c.LogEvery <= 0 {
		bad("log_every", "must be > 0, got %d", c.LogEvery)
	}
	if c.PhaseRatio.G < 1 {
		bad("phase_ratio.g", "must be >= 1, got %d", c.PhaseRatio.G)
	}
	if c.PhaseRatio.D < 0 {
		bad("phase_ratio.d", "must be >= 0, got %d", c.PhaseRatio.D)
	}
	if !(c.DLRScale > 0) || math.IsInf(c.DLRScale, 0) {
		bad("d_lr_scale", "must be a finite number > 0, got %g", c.DLRScale)
	}
	if c.NaNSkipLimit < 1 {
		bad("nan_skip_limit", "must be >= 1, got %d", c.NaNSkipLimit)
	}
	if c.Devices < 0 {
		bad("devices", "must be >= 0 (0: every device), got %d", c.Devices)
	} else if c.Devices > 0 && c.BatchSize > 0 && c.BatchSize%c.Devices != 0 {
		bad("batch_size", "must be a multiple of train.devices=%d, got %d", c.Devices, c.BatchSize)
	}
	switch c.Precision {
	case PrecisionMixed, PrecisionPure:
	default:
		bad("precision", "must be %s or %s, got %q", PrecisionMixed, PrecisionPure, c.Precision)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (o OptimizerConfig) validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, "train.optimizer."+key+": "+fmt.Sprintf(format, args...))
	}
	if !(o.LR > 0) || math.IsInf(o.LR, 0) {
		bad("lr", "must be a finite number > 0, got %g", o.LR)
	}
	if !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) {
		bad("weight_decay", "must be >= 0, got %g", o.WeightDecay)
	}
	betaRange := func(n int) {
		for i, b := range o.Betas {
			if !(b >= 0 && b < 1) {
				bad(fmt.Sprintf("betas[%d]", i), "must be in [0, 1), got %g", b)
			}
		}
		if len(o.Betas) != n {
			bad("betas", "%s needs %d betas, got %d", o.Type, n, len(o.Betas))
		}
	}
	epsPositive := func(n int) {
		if len(o.Eps) != n {
			bad("eps", "%s needs %d eps values, got %d", o.Type, n, len(o.Eps))
		}
		for i, e := range o.Eps {
			if !(e > 0) || math.IsInf(e, 0) {
				bad(fmt.Sprintf("eps[%d]", i), "must be > 0, got %g", e)
			}
		}
	}
	switch o.Type {
	case "adamw":
		betaRange(2)
		epsPositive(1)
	case "came":
		betaRange(3)
		epsPositive(2)
		if !(o.ClipThreshold > 0) || math.IsInf(o.ClipThreshold, 0) {
			bad("clip_threshold", "must be > 0, got %g", o.ClipThreshold)
		}
	default:
		bad("type", "must be came or adamw, got %q", o.Type)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Validate checks the `log:` section and names every offending key.
func (c LogConfig) Validate() error {
	if !c.WandB.Enabled {
		return nil
	}
	var errs []string
	if c.WandB.Project == "" {
		errs = append(errs, "log.wandb.project: must not be empty when log.wandb.enabled is true")
	}
	switch c.WandB.Mode {
	case "online", "offline":
	default:
		errs = append(errs, fmt.Sprintf("log.wandb.mode: must be online or offline, got %q", c.WandB.Mode))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
