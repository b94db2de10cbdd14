package job

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/safetensors"
)

// MissingInput is one local file or folder a run needs that is not there.
type MissingInput struct {
	// Key is the config key that names it ("data.paths", "distill.teacher_weights").
	Key string
	// Path is what was looked for.
	Path string
	// Problem says what is wrong ("matches no files", "not found", ...).
	Problem string
	// HowTo says how to produce or get it.
	HowTo string
}

func (m MissingInput) String() string {
	return fmt.Sprintf("%s: %s %s\n      to get it: %s", m.Key, m.Path, m.Problem, m.HowTo)
}

// MissingInputsError lists every missing input of a run at once.
type MissingInputsError struct {
	Kind    Kind
	Missing []MissingInput
}

func (e *MissingInputsError) Error() string {
	lines := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		lines[i] = "  - " + m.String()
	}
	return fmt.Sprintf("%s needs %d input(s) that are not here:\n%s", e.Kind, len(e.Missing), strings.Join(lines, "\n"))
}

// CheckInputs looks for every local input a run of kind needs (shards, teacher weights, the
// null caption) without opening any of them, and returns a *MissingInputsError listing all that
// are absent, each with how to produce it; nil when everything is there. configPath is the
// config file the run was given ("" if none); the hints name it in the commands they suggest.
func CheckInputs(cfg *config.Config, kind Kind, configPath string) error {
	var missing []MissingInput
	add := func(key, path, problem, howTo string) {
		missing = append(missing, MissingInput{Key: key, Path: path, Problem: problem, HowTo: howTo})
	}
	shards, err := data.ExpandPaths(cfg.Data.Paths)
	switch {
	case len(cfg.Data.Paths) == 0:
		add("data.paths", "(empty)", "names no shards",
			"list Arrow/Parquet shards; `sprint data make-shapes DIR` makes the demo's, `sprint data encode` encodes images with captions")
	case err != nil:
		add("data.paths", strings.Join(cfg.Data.Paths, ", "), "matches no shards", shardsHowTo(cfg, configPath))
	}
	if kind == Distill || cfg.Distill.TeacherWeights != "" {
		w := cfg.Distill.TeacherWeights
		switch {
		case w == "":
			add("distill.teacher_weights", "(empty)", "is not set",
				"a diffusers SanaTransformer2DModel folder (e.g. the transformer/ folder of Efficient-Large-Model/SANA_Sprint_1.6B_1024px_teacher_diffusers), or train one with `sprint train-teacher`")
		default:
			if _, _, err := safetensors.Resolve(w); err != nil {
				add("distill.teacher_weights", w, "is not a weights file or diffusers folder ("+err.Error()+")", teacherHowTo(w))
			}
		}
	}
	if v := cfg.Data.VAE; v != "" {
		if _, err := os.Stat(filepath.Join(v, "config.json")); err != nil {
			add("data.vae", v, "is not a DC-AE diffusers folder (no config.json)",
				"download mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers (the DC-AE the latents were encoded with) to that folder, or leave data.vae empty")
		}
	}
	needsNull := (kind == Distill && cfg.Distill.UsesCFG()) || (kind == Teacher && cfg.Distill.FlowMatching.CaptionDropout > 0)
	nullDir := ""
	switch {
	case len(shards) > 0 && !isShapesShard(shards[0]):
		nullDir = filepath.Dir(shards[0])
	case len(shards) == 0 && len(cfg.Data.Paths) > 0 && !describesShapes(cfg):
		// Where the shards will be: the folder of the first pattern (or the pattern itself).
		// Shapes shards carry their own null caption.
		nullDir = cfg.Data.Paths[0]
		if st, err := os.Stat(nullDir); err != nil || !st.IsDir() {
			nullDir = filepath.Dir(nullDir)
		}
	}
	if needsNull && nullDir != "" {
		null := filepath.Join(nullDir, NullEmbeddingFile)
		if _, err := os.Stat(null); err != nil {
			add("data.paths", null, "not found (the null caption for classifier-free guidance)",
				"`sprint text encode --weights GEMMA_DIR --null-out "+null+"` writes the text encoder's embedding of \"\"")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingInputsError{Kind: kind, Missing: missing}
}

// shardsHowTo says how to get the shards of data.paths. When the model takes the latents and
// captions of the shapes dataset the config describes (data.shapes), that is `sprint data
// make-shapes` with this config; otherwise encoding images with captions.
func shardsHowTo(cfg *config.Config, configPath string) string {
	encode := "encode images with captions into shards with `sprint data encode`, or point data.paths at existing ones"
	if !describesShapes(cfg) {
		return encode
	}
	dir := cfg.Data.Paths[0]
	if strings.ContainsAny(dir, "*?[") || filepath.Ext(dir) != "" {
		dir = filepath.Dir(dir)
	}
	with := ""
	if configPath != "" {
		with = " --config " + configPath
	}
	return fmt.Sprintf("`sprint data make-shapes %s%s` renders the shapes dataset this config describes (data.shapes); "+
		"for your own images, `sprint data encode` writes shards from images with captions", dir, with)
}

// describesShapes reports whether the model's input is what the config's shapes dataset
// renders: latents (3·patch², size/patch, size/patch) and captions data.shapes.embed_dim wide.
func describesShapes(cfg *config.Config) bool {
	m, err := cfg.Model.Resolved()
	s := cfg.Data.Shapes
	if err != nil || s.Patch <= 0 {
		return false
	}
	return m.InChannels == 3*s.Patch*s.Patch && m.LatentSize == s.ImageSize/s.Patch && m.CaptionDim == s.EmbedDim
}

// teacherHowTo says how to get the teacher weights at w. A path of the form
// <run_dir>/<name>/export/<group> is the export a completed run writes: the hint names that run,
// says whether its folder has checkpoints to resume or export, and points at `make teacher` for
// the shipped shapes teacher's stages.
func teacherHowTo(w string) string {
	download := "download the teacher in the diffusers layout to that folder, or train one with `sprint train-teacher`"
	clean := filepath.Clean(w)
	export := filepath.Dir(clean)
	if filepath.Base(export) != "export" {
		return download
	}
	run := filepath.Dir(export)
	name, group := filepath.Base(run), filepath.Base(clean)
	how := fmt.Sprintf("it is the %s export of run %q, written when that run completes: run the config whose train.name is %s "+
		"(with train.run_dir %s) first", group, name, name, filepath.Dir(run))
	if latest, err := os.Stat(filepath.Join(run, "checkpoints", "latest")); err == nil && !latest.IsDir() {
		how = fmt.Sprintf("it is the %s export of run %q, written when that run completes; %s has checkpoints: "+
			"finish the run with --resume latest, or export its latest one now with "+
			"`sprint checkpoint export %s --group %s --out %s`",
			group, name, run, run, group, w)
	}
	if strings.HasPrefix(name, "teacher_shapes") {
		how += "; `make teacher` runs every stage of the shipped shapes teacher in order"
	}
	return how
}

// isShapesShard reports whether a shard is of the shapes dataset, which encodes its own null
// caption (read from the shard's metadata; an unreadable shard is reported when the run opens it).
func isShapesShard(path string) bool {
	r, err := data.Open([]string{path}, data.ReaderOptions{BatchSize: 1})
	if err != nil {
		return true
	}
	defer r.Close()
	_, ok, _ := ShapesConfigOf(r)
	return ok
}

// CheckConfig runs the checks that span config sections for a run of kind, the ones the run
// would otherwise find only when it starts: for a distillation the model's σd against
// distill.sigma_data and the LADD head blocks against the model depth (existing, increasing);
// for every run the global batch against the per-rank batch. All problems are listed at once.
func CheckConfig(cfg *config.Config, kind Kind) error {
	var errs []string
	m, err := cfg.Model.Resolved()
	if err != nil {
		return err
	}
	if kind == Distill {
		if m.SigmaData != cfg.Distill.SigmaData {
			errs = append(errs, fmt.Sprintf("distill.sigma_data (%v) and model.sigma_data (%v, preset %q) differ", cfg.Distill.SigmaData, m.SigmaData, m.Preset))
		}
		if cfg.Distill.LADD() {
			if err := cfg.Distill.ValidateHeadBlocks(m.Depth); err != nil {
				errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "\n  "))
			}
		}
	}
	// train.batch_size is the global batch auto_lr scales by; this process is the only rank.
	if cfg.Train.BatchSize != cfg.Data.BatchSize {
		errs = append(errs, fmt.Sprintf("train.batch_size (%d, the global batch) must equal data.batch_size (%d, per rank) "+
			"times the number of ranks (1 here)", cfg.Train.BatchSize, cfg.Data.BatchSize))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: invalid config (across sections):\n  %s", kind, strings.Join(errs, "\n  "))
	}
	return nil
}
