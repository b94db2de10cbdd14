package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Kind is the kind of training job.
type Kind int

const (
	// Teacher trains (or fine-tunes) a flow-matching teacher: `sprint train-teacher`.
	Teacher Kind = iota
	// Distill distils a student from a frozen teacher with sCM and LADD: `sprint distill`.
	Distill
)

func (k Kind) String() string {
	if k == Teacher {
		return "train-teacher"
	}
	return "distill"
}

// Options are the run-level choices a CLI gives a job.
type Options struct {
	// Dir overrides the run folder (default <train.run_dir>/<train.name>).
	Dir string
	// Resume is "", "latest", "auto" or a checkpoint path (see train.RunOptions.Resume).
	Resume string
	// AllowConfigChange resumes even when the config differs from the checkpoint's.
	AllowConfigChange bool
	// Console receives progress lines (default stdout).
	Console io.Writer
	// ConfigPath is the config file the run was given, for the commands error hints suggest.
	ConfigPath string
}

// Job is a training run assembled from a config: its data, networks, phases and validation.
type Job struct {
	Kind   Kind
	Config *config.Config
	Run    *train.Run
	model  model.Config // resolved
	src    *source
	reader *data.Reader
}

// New assembles a job: it opens the data, loads or initialises the networks, builds the phases'
// losses and the validator, and opens (or resumes) the run folder.
func New(ctx context.Context, backend compute.Backend, cfg *config.Config, kind Kind, opts Options) (j *Job, err error) {
	mcfg, err := cfg.Model.Resolved()
	if err != nil {
		return nil, err
	}
	if err := CheckConfig(cfg, kind); err != nil {
		return nil, err
	}
	if err := CheckInputs(cfg, kind, opts.ConfigPath); err != nil {
		return nil, err
	}
	if w := cfg.Distill.TeacherWeights; w != "" {
		console := opts.Console
		if console == nil {
			console = os.Stdout
		}
		for _, msg := range checkpoints.ConfigWarnings(w) {
			fmt.Fprintln(console, msg)
		}
	}
	// The cleanup holds its own reference: every error return below sets the named result j
	// to nil before deferred functions run.
	built := &Job{Kind: kind, Config: cfg, model: mcfg}
	j = built
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	if j.reader, err = cfg.Data.Open(0, 1); err != nil {
		return nil, fmt.Errorf("opening training data: %w", err)
	}
	if err := checkDataMatchesModel(j.reader, mcfg); err != nil {
		return nil, err
	}
	null, err := NullEmbedding(j.reader)
	if err != nil && (kind == Teacher || cfg.Distill.UsesCFG()) {
		return nil, err
	}
	if cfg.Control.Enabled {
		if err := checkControlData(cfg, mcfg, j.reader); err != nil {
			return nil, err
		}
	}
	if j.src, err = newSource(ctx, j.reader, null); err != nil {
		return nil, err
	}
	j.src.control = cfg.Control.Enabled

	groups := map[string]train.Group{}
	var phases []train.Phase
	var unsaved []string
	switch {
	case cfg.Control.Enabled: // control.go
		if phases, unsaved, err = controlPhases(backend, cfg, mcfg, kind, groups); err != nil {
			return nil, err
		}
	case kind == Teacher:
		_, teacher, err := loadTrainedTeacher(cfg, mcfg, true)
		if err != nil {
			return nil, err
		}
		groups[distill.TeacherGroup] = train.Group(teacher)
		loss, err := distill.FlowMatchingLoss(cfg.Distill, mcfg)
		if err != nil {
			return nil, err
		}
		if phases, err = train.NewPhases(backend, cfg.Train, train.PhaseSpec{
			Name: "teacher", Loss: loss, Trainable: distill.TeacherGroup, Repeat: 1, Generator: true}); err != nil {
			return nil, err
		}
	case kind == Distill:
		if phases, err = distillPhases(backend, cfg, mcfg, groups); err != nil {
			return nil, err
		}
		unsaved = []string{distill.TeacherGroup} // reloaded from distill.teacher_weights on resume
	}

	yaml, err := config.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	val, err := newValidator(backend, cfg, mcfg, kind, j.reader, null)
	if err != nil {
		return nil, err
	}
	j.Run, err = train.NewRun(ctx, train.RunOptions{
		Dir:               opts.Dir,
		Config:            cfg.Train,
		Log:               cfg.Log,
		ConfigYAML:        yaml,
		ConfigFlat:        config.Flatten(cfg),
		ConfigDefaults:    config.Flatten(config.Default()),
		Backend:           backend,
		Groups:            groups,
		GroupsOwned:       true, // made here for the run alone: donated to the first steps
		Unsaved:           unsaved,
		Phases:            phases,
		Data:              j.src,
		Validator:         val,
		Resume:            opts.Resume,
		AllowConfigChange: opts.AllowConfigChange,
		Console:           opts.Console,
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// distillPhases initialises the student (from the teacher) and the heads, and builds the G and D
// phases; LADD off (adv_lambda 0) leaves the D phase out.
func distillPhases(backend compute.Backend, cfg *config.Config, mcfg model.Config, groups map[string]train.Group) ([]train.Phase, error) {
	// The student is made from the teacher in the dtype it trains in (float32 masters under
	// train.precision mixed); the frozen teacher is then kept in the compute dtype.
	smcfg, teacher, err := loadTrainedTeacher(cfg, mcfg, false)
	if err != nil {
		return nil, err
	}
	student, err := model.StudentFromTeacher(smcfg, teacher, cfg.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("initialising the student from the teacher: %w", err)
	}
	compute, err := mcfg.ComputeDType()
	if err != nil {
		return nil, fmt.Errorf("model.dtype: %w", err)
	}
	if teacher, err = model.ConvertParams(teacher, compute); err != nil {
		return nil, fmt.Errorf("keeping the teacher in model.dtype: %w", err)
	}
	groups[distill.TeacherGroup] = train.Group(teacher)
	groups[distill.StudentGroup] = train.Group(student)
	dcfg := cfg.Distill
	ratio := distill.PhaseRatio{G: cfg.Train.PhaseRatio.G, D: cfg.Train.PhaseRatio.D}
	gLoss, err := distill.GeneratorLoss(dcfg, mcfg, ratio)
	if err != nil {
		return nil, err
	}
	return gdPhases(backend, cfg, mcfg, groups, gLoss, func() (train.LossFn, error) { return distill.DiscriminatorLoss(dcfg, mcfg) })
}

// gdPhases makes a distillation's phases from its generator loss: G trains the student with
// the teacher frozen, repeated train.phase_ratio.g times; with LADD, the discriminator heads
// and their spectral-norm state are initialised into groups and D (dLoss) trains the heads,
// repeated train.phase_ratio.d times, while G sees them frozen.
func gdPhases(backend compute.Backend, cfg *config.Config, mcfg model.Config, groups map[string]train.Group, gLoss train.LossFn, dLoss func() (train.LossFn, error)) ([]train.Phase, error) {
	dcfg := cfg.Distill
	gFrozen := []string{distill.TeacherGroup}
	buffers := ""
	if dcfg.LADD() {
		heads, sn, err := distill.InitHeads(dcfg, mcfg, cfg.Train.Seed+1)
		if err != nil {
			return nil, err
		}
		groups[distill.HeadsGroup] = train.Group(heads)
		groups[distill.HeadsStateGroup] = train.Group(sn)
		gFrozen = append(gFrozen, distill.HeadsGroup)
		buffers = distill.HeadsStateGroup
	}
	specs := []train.PhaseSpec{{
		Name: "g", Loss: gLoss, Trainable: distill.StudentGroup, Frozen: gFrozen, Buffers: buffers,
		Repeat: cfg.Train.PhaseRatio.G, Generator: true}}
	if dcfg.LADD() {
		dl, err := dLoss()
		if err != nil {
			return nil, err
		}
		specs = append(specs, train.PhaseSpec{
			Name: "d", Loss: dl, Trainable: distill.HeadsGroup,
			Frozen: []string{distill.TeacherGroup, distill.StudentGroup}, Buffers: distill.HeadsStateGroup,
			Repeat: cfg.Train.PhaseRatio.D})
	}
	return train.NewPhases(backend, cfg.Train, specs...)
}

// Execute runs the job to its end (or a signal or time budget) and, when it completes, exports
// the trained network in the diffusers layout to <run>/export/{teacher,student}, and its EMA
// (train.ema on that group) to <run>/export/ema_{teacher,student}.
func (j *Job) Execute(ctx context.Context) (train.Result, error) {
	res, err := j.Run.Execute(ctx)
	if err != nil || res.Outcome != train.OutcomeCompleted {
		return res, err
	}
	if j.Config.Control.Enabled {
		return res, j.exportControl()
	}
	group := j.trainedGroup()
	groups := j.Run.Groups()
	params := model.Params(groups[group])
	if err := checkpoints.ExportDiffusers(j.ExportDir(), j.model, params, checkpoints.ExportOptions{}); err != nil {
		return res, fmt.Errorf("exporting the %s: %w", group, err)
	}
	// The EMA of the trained network, when the run keeps one, beside it.
	if dir := j.EMAExportDir(); dir != "" {
		ema := "ema_" + group
		if err := checkpoints.ExportDiffusers(dir, j.model, model.Params(groups[ema]), checkpoints.ExportOptions{}); err != nil {
			return res, fmt.Errorf("exporting the %s: %w", ema, err)
		}
	}
	return res, nil
}

// EMAExportDir is where a completed job exports the EMA of its network (train.ema on the
// trained group): <run>/export/ema_{teacher,student}; "" when the run keeps no such EMA.
func (j *Job) EMAExportDir() string {
	group := j.trainedGroup()
	if e := j.Config.Train.EMA; !e.Enabled || e.Group != group || j.Config.Control.Enabled {
		return ""
	}
	if _, ok := j.Run.Groups()["ema_"+group]; !ok {
		return ""
	}
	return filepath.Join(filepath.Dir(j.ExportDir()), "ema_"+group)
}

// ExportDir is where a completed job's network is exported.
func (j *Job) ExportDir() string {
	return filepath.Join(j.Run.Dir(), "export", j.trainedGroup())
}

// trainedGroup is the network the job trains: the teacher or the student.
func (j *Job) trainedGroup() string {
	if j.Kind == Teacher && j.Config.Control.Enabled {
		return distill.ControlNetGroup // exported to ControlNetExport, the same name
	}
	if j.Kind == Teacher {
		return distill.TeacherGroup
	}
	return distill.StudentGroup
}

// Close releases the data reader. It is safe on a nil or partly built job.
func (j *Job) Close() {
	if j == nil {
		return
	}
	if j.src != nil {
		_ = j.src.Close()
	}
	if j.reader != nil {
		_ = j.reader.Close()
	}
}
