package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/model"
)

// loadTrainedTeacher loads the teacher (LoadTeacher) with model.dtype set to the dtype the run
// keeps trained weights in (train.precision: float32 masters for a bfloat16 model under mixed
// precision), and returns that model config with it.
func loadTrainedTeacher(cfg *config.Config, mcfg model.Config, mayInit bool) (model.Config, model.Params, error) {
	compute, err := mcfg.ComputeDType()
	if err != nil {
		return mcfg, nil, fmt.Errorf("model.dtype: %w", err)
	}
	tmcfg, err := mcfg.WithDType(cfg.Train.TrainedDType(compute))
	if err != nil {
		return tmcfg, nil, err
	}
	teacher, err := LoadTeacher(cfg, tmcfg, mayInit)
	return tmcfg, teacher, err
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
		// The positional embedding has no weights: only config.json tells a teacher trained
		// with it from one trained without. Fine-tuning may switch it (the network then
		// learns it); a distillation must use the teacher as it was trained.
		if diff := teacherPEDiff(path, mcfg); diff != "" && !mayInit {
			return nil, fmt.Errorf("distill.teacher_weights: %s: %s; set model.use_pe and model.pe_interpolation to the teacher's", path, diff)
		}
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

// teacherPEDiff compares the positional embedding that the config.json beside teacher weights
// declares (interpolation_scale) with the model config's; "" when they agree or there is no
// config.json.
func teacherPEDiff(path string, m model.Config) string {
	t, ok := teacherConfigJSON(path)
	if !ok {
		return ""
	}
	switch {
	case t.UsePE && !m.UsePE:
		return fmt.Sprintf("the teacher adds a positional embedding (interpolation_scale %g) and model.use_pe is false", t.PEInterpolation)
	case !t.UsePE && m.UsePE:
		return "the teacher has no positional embedding (interpolation_scale null) and model.use_pe is true"
	case t.UsePE && t.PEInterpolation != m.PEInterpolation:
		return fmt.Sprintf("the teacher's interpolation_scale is %g and model.pe_interpolation %g", t.PEInterpolation, m.PEInterpolation)
	}
	return ""
}

// teacherConfigJSON reads the config.json beside teacher weights as a model config.
func teacherConfigJSON(path string) (model.Config, bool) {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	dc, err := checkpoints.ReadDiffusersConfig(dir)
	if err != nil {
		return model.Config{}, false
	}
	t, _, err := dc.ModelConfig()
	return t, err == nil
}

// teacherConfigDiff compares the config.json beside teacher weights with the model config and
// names the fields that differ ("depth 28 vs model.depth 20, ..."); "" when there is no
// config.json or nothing structural differs.
func teacherConfigDiff(path string, m model.Config) string {
	t, ok := teacherConfigJSON(path)
	if !ok {
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
