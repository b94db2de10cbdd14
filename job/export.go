package job

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Exported says what ExportCheckpoint wrote.
type Exported struct {
	// Checkpoint is the checkpoint file the network was read from.
	Checkpoint string
	// Tensors is the number of the network's tensors written.
	Tensors int
}

// ExportCheckpoint writes one network (group: "student", "teacher", "ema_student") of a run
// checkpoint as a diffusers folder at out, stored in dtype ("" keeps the trained dtype). ref is
// a checkpoint file, a checkpoints folder or a run folder (its newest good checkpoint; warn
// receives the fallbacks taken). The model config is the checkpoint's own.
//
// With pipeline, the student is written as a SanaSprintPipeline folder (checkpoints.ExportPipeline).
func ExportCheckpoint(ref, group, out, dtype string, pipeline bool, warn func(string)) (Exported, error) {
	ck, path, err := checkpoints.LoadRef(ref, checkpoints.FolderOf(ref), warn)
	if err != nil {
		return Exported{}, err
	}
	mcfg, err := CheckpointModelConfig(ck.ConfigYAML)
	if err != nil {
		return Exported{}, fmt.Errorf("%s: %w", path, err)
	}
	params := model.Params{}
	prefix := group + train.GroupSeparator
	for name, t := range ck.Tensors {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			params[rest] = t
		}
	}
	if len(params) == 0 {
		return Exported{}, fmt.Errorf("%s: no group %q in the checkpoint (it has %v; see sprint checkpoint inspect)", path, group, ck.State.Groups)
	}
	if ok, err := exportControlGroup(ck.ConfigYAML, mcfg, group, params, out, dtype); ok { // control.go
		return Exported{Checkpoint: path, Tensors: len(params)}, err
	}
	export := checkpoints.ExportDiffusers
	if pipeline {
		export = checkpoints.ExportPipeline
	}
	if err := export(out, mcfg, params, checkpoints.ExportOptions{DType: dtype}); err != nil {
		return Exported{}, err
	}
	return Exported{Checkpoint: path, Tensors: len(params)}, nil
}

// CheckpointModelConfig reads the model: section of a checkpoint's config. Only that section is
// decoded (strictly), so checkpoints written by a sprint with other keys elsewhere still export.
func CheckpointModelConfig(configYAML []byte) (model.Config, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(configYAML, &doc); err != nil {
		return model.Config{}, fmt.Errorf("the checkpoint's config: %w", err)
	}
	section, err := yaml.Marshal(map[string]any{"model": doc["model"]})
	if err != nil {
		return model.Config{}, err
	}
	out := struct {
		Model model.Config `mapstructure:"model"`
	}{Model: model.DefaultConfig()}
	if err := config.DecodeYAML(&out, section, "the checkpoint's model section"); err != nil {
		return model.Config{}, err
	}
	return out.Model, out.Model.Validate()
}
