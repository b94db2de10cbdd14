package checkpoints

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/model"
)

// Pipeline folder layout written by ExportPipeline, as diffusers' SanaSprintPipeline reads it.
const (
	ModelIndexFile      = "model_index.json"
	SchedulerConfigFile = "scheduler_config.json"
)

// SCMSchedulerConfig is diffusers' SCMScheduler config (scheduler/scheduler_config.json). The
// sampler's θ schedule is not a scheduler setting in diffusers (it is an argument of the
// pipeline call); MaxTimesteps and IntermediateTimesteps record the defaults the student was
// distilled and validated with, for the user to pass.
type SCMSchedulerConfig struct {
	ClassName             string  `json:"_class_name"`
	DiffusersVersion      string  `json:"_diffusers_version"`
	NumTrainTimesteps     int     `json:"num_train_timesteps"`
	PredictionType        string  `json:"prediction_type"`
	SigmaData             float64 `json:"sigma_data"`
	MaxTimesteps          float64 `json:"max_timesteps"`
	IntermediateTimesteps float64 `json:"intermediate_timesteps"`
}

// ExportPipeline writes a student as a SanaSprintPipeline folder: transformer/ (ExportDiffusers),
// scheduler/scheduler_config.json (SCMScheduler with the model's σd and the θ schedule), and
// model_index.json naming every component. The text encoder (Gemma-2), its tokenizer and the
// DC-AE are not sprint's to ship: they are listed as empty components, to be passed to
// from_pretrained (text_encoder=..., tokenizer=..., vae=...).
func ExportPipeline(dir string, cfg model.Config, p model.Params, opts ExportOptions) error {
	cfg, err := cfg.Resolved()
	if err != nil {
		return err
	}
	if names, _ := p.Sorted(); model.RoleOfNames(names) != model.Student {
		return fmt.Errorf("exporting a pipeline to %s: the weights are a teacher's (no guidance embedder); SanaSprintPipeline needs a distilled student", dir)
	}
	if err := ExportDiffusers(filepath.Join(dir, "transformer"), cfg, p, opts); err != nil {
		return err
	}
	sched := SCMSchedulerConfig{
		ClassName: "SCMScheduler", DiffusersVersion: diffusersVersion, NumTrainTimesteps: 1000,
		PredictionType: "trigflow", SigmaData: cfg.SigmaData,
		MaxTimesteps: model.DefaultThetaMax, IntermediateTimesteps: model.DefaultThetaMid,
	}
	if err := os.MkdirAll(filepath.Join(dir, "scheduler"), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(atomicfile.OS{}, filepath.Join(dir, "scheduler", SchedulerConfigFile), sched); err != nil {
		return err
	}
	index := map[string]any{
		"_class_name":        "SanaSprintPipeline",
		"_diffusers_version": diffusersVersion,
		"scheduler":          []string{"diffusers", "SCMScheduler"},
		"transformer":        []string{"diffusers", "SanaTransformer2DModel"},
		"text_encoder":       []any{nil, nil},
		"tokenizer":          []any{nil, nil},
		"vae":                []any{nil, nil},
	}
	return atomicfile.WriteJSON(atomicfile.OS{}, filepath.Join(dir, ModelIndexFile), index)
}

// ConfigWarnings compares the config.json beside diffusers weights with the weights themselves
// and describes each disagreement a loader would otherwise trust silently (guidance_embeds
// against the presence of the guidance embedder). Nothing is returned when there is no
// config.json.
func ConfigWarnings(weights string) []string {
	dir := weights
	if st, err := os.Stat(weights); err == nil && !st.IsDir() {
		dir = filepath.Dir(weights)
	}
	dc, err := ReadDiffusersConfig(dir)
	if err != nil {
		return nil
	}
	role, err := DiffusersRole(weights)
	if err != nil {
		return nil
	}
	if hasGuidance := role == model.Student; dc.GuidanceEmbeds != hasGuidance {
		what := "have no guidance embedder (a teacher)"
		if hasGuidance {
			what = "have a guidance embedder (a student)"
		}
		return []string{fmt.Sprintf("warning: %s says guidance_embeds=%v but the weights %s; the weights decide", filepath.Join(dir, DiffusersConfigFile), dc.GuidanceEmbeds, what)}
	}
	return nil
}
