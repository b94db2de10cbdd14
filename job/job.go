package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
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
	if err := CheckInputs(cfg, kind); err != nil {
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
		tmcfg, err := trainedConfig(cfg, mcfg)
		if err != nil {
			return nil, err
		}
		teacher, err := LoadTeacher(cfg, tmcfg, true)
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
	smcfg, err := trainedConfig(cfg, mcfg)
	if err != nil {
		return nil, err
	}
	teacher, err := LoadTeacher(cfg, smcfg, false)
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

// trainedConfig is mcfg with model.dtype set to the dtype the run keeps trained weights in
// (train.precision: float32 masters for a bfloat16 model under mixed precision).
func trainedConfig(cfg *config.Config, mcfg model.Config) (model.Config, error) {
	compute, err := mcfg.ComputeDType()
	if err != nil {
		return mcfg, fmt.Errorf("model.dtype: %w", err)
	}
	return mcfg.WithDType(cfg.Train.TrainedDType(compute))
}

// LoadTeacher reads distill.teacher_weights (diffusers layout); a teacher job without weights
// starts from a fresh initialisation, a distillation job needs them.
func LoadTeacher(cfg *config.Config, mcfg model.Config, mayInit bool) (model.Params, error) {
	path := cfg.Distill.TeacherWeights
	if path == "" {
		if !mayInit {
			return nil, errors.New("distill.teacher_weights: a distillation needs the teacher's weights " +
				"(a diffusers SanaTransformer2DModel folder, .safetensors file or index); train one with `sprint train-teacher`")
		}
		return model.InitParams(mcfg, model.Teacher, cfg.Train.Seed)
	}
	p, err := checkpoints.LoadDiffusers(path, mcfg, model.Teacher)
	if err == nil {
		return p, nil
	}
	if mayInit && (mcfg.QKNorm || mcfg.CrossNorm) {
		// Fine-tuning a SANA model that predates QK-norm (§5): load it without the norms and
		// add them at their reference initialisation (weight 1), so that the network starts as
		// the pretrained one up to the normalisation.
		plain := mcfg
		plain.QKNorm, plain.CrossNorm = false, false
		if p, err2 := checkpoints.LoadDiffusers(path, plain, model.Teacher); err2 == nil {
			norms, err3 := model.InitParamsFor(mcfg, model.Teacher, cfg.Train.Seed, func(name string) bool { return p[name] == nil })
			if err3 != nil {
				return nil, err3
			}
			for k, v := range norms {
				p[k] = v
			}
			return p, nil
		}
	}
	if diff := teacherConfigDiff(path, mcfg); diff != "" {
		return nil, fmt.Errorf("distill.teacher_weights: %s is a different model from the config's: %s; "+
			"set the model section (preset, depth, hidden_size, ...) to the teacher's, or point distill.teacher_weights at a matching teacher\n(details: %w)", path, diff, err)
	}
	return nil, fmt.Errorf("distill.teacher_weights: %w", err)
}

// teacherConfigDiff compares the config.json beside teacher weights with the model config and
// names the fields that differ ("depth 28 vs model.depth 20, ..."); "" when there is no
// config.json or nothing structural differs.
func teacherConfigDiff(path string, m model.Config) string {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	dc, err := checkpoints.ReadDiffusersConfig(dir)
	if err != nil {
		return ""
	}
	t, _, err := dc.ModelConfig()
	if err != nil {
		return ""
	}
	var diffs []string
	for _, f := range []struct {
		key        string
		have, want any
	}{
		{"depth", t.Depth, m.Depth},
		{"hidden_size", t.HiddenSize, m.HiddenSize},
		{"self_head_dim", t.SelfHeadDim, m.SelfHeadDim},
		{"cross_heads", t.CrossHeads, m.CrossHeads},
		{"caption_dim", t.CaptionDim, m.CaptionDim},
		{"in_channels", t.InChannels, m.InChannels},
		{"patch_size", t.PatchSize, m.PatchSize},
		{"ffn_ratio", t.FFNRatio, m.FFNRatio},
		{"qk_norm", t.QKNorm, m.QKNorm},
	} {
		if f.have != f.want {
			diffs = append(diffs, fmt.Sprintf("%s %v in the teacher, %v in model.%s", f.key, f.have, f.want, f.key))
		}
	}
	return strings.Join(diffs, ", ")
}

// checkDataMatchesModel compares the shards' latent and caption shapes with the model's.
func checkDataMatchesModel(r *data.Reader, m model.Config) error {
	ts := r.TextShape()
	if ts[1] != m.CaptionDim {
		return fmt.Errorf("data: caption embeddings are %d wide but model.caption_dim is %d", ts[1], m.CaptionDim)
	}
	for _, b := range r.Buckets() {
		if b.LatentShape[0] != m.InChannels {
			return fmt.Errorf("data: latents have %d channels (shape %v) but model.in_channels is %d",
				b.LatentShape[0], b.LatentShape, m.InChannels)
		}
		if b.LatentShape[1]%m.PatchSize != 0 || b.LatentShape[2]%m.PatchSize != 0 {
			return fmt.Errorf("data: latent shape %v is not divisible by model.patch_size %d", b.LatentShape, m.PatchSize)
		}
	}
	return nil
}

// NullEmbeddingFile is the file, beside the first shard, that holds the null caption's embedding
// (tensor "null_embedding", (L, D)) of datasets whose text encoder sprint does not have.
const NullEmbeddingFile = "null_embedding.safetensors"

// NullEmbedding returns the unconditional caption (1, L, D) for classifier-free guidance: the
// shapes dataset's own encoder applied to "", or NullEmbeddingFile beside the first shard.
func NullEmbedding(r *data.Reader) (*tensors.Tensor, error) {
	if sc, ok, err := ShapesConfigOf(r); err != nil {
		return nil, err
	} else if ok {
		enc, err := sc.TextEncoder()
		if err != nil {
			return nil, err
		}
		emb, _ := enc.EncodeText([]string{""})
		return emb, nil
	}
	shards := r.Shards()
	if len(shards) == 0 {
		return nil, errors.New("data: no shards")
	}
	path := filepath.Join(filepath.Dir(shards[0].Path), NullEmbeddingFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("classifier-free guidance needs the null caption's embedding: %s not found "+
			"(write the text encoder's output for the empty prompt, shape (L, D), as tensor %q)", path, distill.NullEmbedding)
	}
	ts, _, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, ok := ts[distill.NullEmbedding]
	if !ok || t.Rank() != 2 {
		return nil, fmt.Errorf("%s: want a tensor %q of shape (L, D)", path, distill.NullEmbedding)
	}
	f32, err := checkpoints.ConvertTensor(t, dtypes.Float32) // Gemma writes bf16; f32 and f16 too
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", path, distill.NullEmbedding, err)
	}
	flat, err := tensors.CopyFlatData[float32](f32)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", path, distill.NullEmbedding, err)
	}
	dims := t.Shape().Dimensions
	return tensors.FromFlatDataAndDimensions(flat, 1, dims[0], dims[1]), nil
}

// ShapesConfigOf returns the shapes dataset configuration stored in the first shard's metadata,
// if the shards are a shapes dataset.
func ShapesConfigOf(r *data.Reader) (data.ShapesConfig, bool, error) {
	var sc data.ShapesConfig
	if len(r.Shards()) == 0 {
		return sc, false, nil
	}
	js, ok := r.Metadata(0)[data.MetaShapesConfig]
	if !ok {
		return sc, false, nil
	}
	if err := json.Unmarshal([]byte(js), &sc); err != nil {
		return sc, false, fmt.Errorf("shard %s: metadata %s: %w", r.Shards()[0].Path, data.MetaShapesConfig, err)
	}
	return sc, true, nil
}

// Execute runs the job to its end (or a signal or time budget) and, when it completes, exports
// the trained network in the diffusers layout to <run>/export/{teacher,student}.
func (j *Job) Execute(ctx context.Context) (train.Result, error) {
	res, err := j.Run.Execute(ctx)
	if err != nil || res.Outcome != train.OutcomeCompleted {
		return res, err
	}
	if j.Config.Control.Enabled {
		return res, j.exportControl()
	}
	group := j.trainedGroup()
	params := model.Params(j.Run.Groups()[group])
	if err := checkpoints.ExportDiffusers(j.ExportDir(), j.model, params, checkpoints.ExportOptions{}); err != nil {
		return res, fmt.Errorf("exporting the %s: %w", group, err)
	}
	return res, nil
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
