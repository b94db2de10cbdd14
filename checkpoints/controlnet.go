package checkpoints

// Loading and exporting SANA ControlNets in diffusers' layout (SanaControlNetModel): safetensors
// weights named as model.ControlParamSpecs names them, plus config.json.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// ControlNetClass is diffusers' class name of a SANA ControlNet.
const ControlNetClass = "SanaControlNetModel"

// ControlNetConfig is the config.json of diffusers' SanaControlNetModel: the fields of its
// constructor, plus two fields sprint records that the class does not take (diffusers warns
// about and ignores them): qk_norm, when the blocks carry QK-norm weights (a layout the class
// cannot load), and timestep_scale, the time convention of the transformer it belongs to.
type ControlNetConfig struct {
	ClassName              string   `json:"_class_name"`
	DiffusersVersion       string   `json:"_diffusers_version,omitempty"`
	AttentionBias          bool     `json:"attention_bias"`
	AttentionHeadDim       int      `json:"attention_head_dim"`
	CaptionChannels        int      `json:"caption_channels"`
	CrossAttentionDim      int      `json:"cross_attention_dim"`
	CrossAttentionHeadDim  int      `json:"cross_attention_head_dim"`
	Dropout                float64  `json:"dropout"`
	InChannels             int      `json:"in_channels"`
	InterpolationScale     *float64 `json:"interpolation_scale"`
	MLPRatio               float64  `json:"mlp_ratio"`
	NormElementwiseAffine  bool     `json:"norm_elementwise_affine"`
	NormEps                float64  `json:"norm_eps"`
	NumAttentionHeads      int      `json:"num_attention_heads"`
	NumCrossAttentionHeads int      `json:"num_cross_attention_heads"`
	NumLayers              int      `json:"num_layers"`
	OutChannels            int      `json:"out_channels"`
	PatchSize              int      `json:"patch_size"`
	SampleSize             int      `json:"sample_size"`
	QKNorm                 *string  `json:"qk_norm,omitempty"`
	TimestepScale          float64  `json:"timestep_scale,omitempty"`
}

// ControlNetConfigFor describes a ControlNet of N copied blocks for the model config.
func ControlNetConfigFor(cfg model.Config, layers int) (ControlNetConfig, error) {
	dc, err := DiffusersConfigFor(cfg, model.Teacher)
	if err != nil {
		return ControlNetConfig{}, err
	}
	return ControlNetConfig{
		ClassName: ControlNetClass, DiffusersVersion: dc.DiffusersVersion,
		AttentionHeadDim: dc.AttentionHeadDim, CaptionChannels: dc.CaptionChannels,
		CrossAttentionDim: dc.CrossAttentionDim, CrossAttentionHeadDim: dc.CrossAttentionHeadDim,
		InChannels: dc.InChannels, MLPRatio: dc.MLPRatio, NormEps: dc.NormEps,
		NumAttentionHeads: dc.NumAttentionHeads, NumCrossAttentionHeads: dc.NumCrossAttentionHeads,
		NumLayers: layers, OutChannels: dc.OutChannels, PatchSize: dc.PatchSize, SampleSize: dc.SampleSize,
		QKNorm: dc.QKNorm, TimestepScale: dc.TimestepScale, InterpolationScale: dc.InterpolationScale,
	}, nil
}

// LoadControlNet loads a SanaControlNetModel checkpoint (a .safetensors file, a sharded
// *.index.json, or a folder holding either) with N copied blocks for the model config,
// converting floats to its compute dtype. Names and shapes must match model.ControlParamSpecs
// exactly; otherwise the error names the file and lists every missing, unexpected and
// mis-shaped key.
func LoadControlNet(path string, cfg model.Config, layers int) (p model.Params, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("loading the ControlNet %s: %v", path, r)
		}
	}()
	if cfg, err = controlConfig(cfg, layers); err != nil {
		return nil, err
	}
	dt, err := cfg.ComputeDType()
	if err != nil {
		return nil, err
	}
	all := func(string) bool { return true }
	return loadSpecs(path, "the ControlNet weights in "+path, model.ControlParamSpecs(cfg, layers), dt, true, all)
}

// controlConfig validates cfg and returns it resolved, checking that a ControlNet of N blocks
// fits it.
func controlConfig(cfg model.Config, layers int) (model.Config, error) {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return cfg, err
	}
	return cfg, model.ValidateControlLayers(cfg, layers)
}

// loadSpecs reads the tensors of specs from path, converted to dt (first checked finite when
// checkFinite). A name not in specs, a wrong shape, a non-float dtype, or a spec that required
// accepts and the file lacks is an error (about what) listing them all.
func loadSpecs(path, what string, specs []model.ParamSpec, dt dtypes.DType, checkFinite bool, required func(name string) bool) (model.Params, error) {
	p := make(model.Params, len(specs))
	missing, unexpected, misshaped, err := safetensors.Match(path, specs, func(name string, t *tensors.Tensor) (string, error) {
		if !t.DType().IsFloat() {
			return fmt.Sprintf("%s: stored as %s, want a floating-point dtype", name, t.DType()), nil
		}
		if checkFinite {
			if err := safetensors.CheckFinite(path, name, t); err != nil {
				return "", err
			}
		}
		c, err := ConvertTensor(t, dt)
		if err != nil {
			return "", fmt.Errorf("loading %s: tensor %q: %w", path, name, err)
		}
		p[name] = c
		return "", nil
	})
	if err != nil {
		return nil, err
	}
	missing = slices.DeleteFunc(missing, func(name string) bool { return !required(name) })
	if err := model.KeysError(what, missing, unexpected, misshaped); err != nil {
		return nil, err
	}
	return p, nil
}

// ControlNetLayers returns N, the number of copied blocks, of a SanaControlNetModel folder or
// file: num_layers of the folder's config.json when there is one, else the number of
// controlnet_blocks.<i>.weight tensors in the weights' header.
func ControlNetLayers(path string) (int, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, DiffusersConfigFile)); err == nil {
			var cc ControlNetConfig
			if err := readJSON(filepath.Join(path, DiffusersConfigFile), &cc); err != nil {
				return 0, err
			}
			if cc.ClassName != "" && cc.ClassName != ControlNetClass {
				return 0, fmt.Errorf("%s: config.json is for %q, not %s", path, cc.ClassName, ControlNetClass)
			}
			if cc.NumLayers < 1 {
				return 0, fmt.Errorf("%s: config.json has num_layers %d", path, cc.NumLayers)
			}
			return cc.NumLayers, nil
		}
	}
	names, err := safetensors.Names(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, "controlnet_blocks.")
		if !ok || !strings.HasSuffix(rest, ".weight") {
			continue
		}
		if i, err := strconv.Atoi(strings.TrimSuffix(rest, ".weight")); err == nil {
			n = max(n, i+1)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s holds no controlnet_blocks.<i>.weight: not a SanaControlNetModel", path)
	}
	return n, nil
}

// ExportControlNet writes a ControlNet of N copied blocks as a diffusers model folder:
// dir/diffusion_pytorch_model.safetensors and dir/config.json for SanaControlNetModel, both
// atomically. The parameters must match model.ControlParamSpecs exactly.
func ExportControlNet(dir string, cfg model.Config, layers int, p model.Params, opts ExportOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exporting the ControlNet to %s: %v", dir, r)
		}
	}()
	if cfg, err = controlConfig(cfg, layers); err != nil {
		return err
	}
	cc, err := ControlNetConfigFor(cfg, layers)
	if err != nil {
		return fmt.Errorf("exporting the ControlNet to %s: %w", dir, err)
	}
	if err := model.CheckControlParams(cfg, layers, p); err != nil {
		return fmt.Errorf("exporting the ControlNet to %s: %w", dir, err)
	}
	outDT, err := exportDType(opts.DType)
	if err != nil {
		return fmt.Errorf("exporting the ControlNet to %s: %w", dir, err)
	}
	out := make(map[string]*tensors.Tensor, len(p))
	for name, t := range p {
		if outDT != dtypes.InvalidDType {
			if t, err = ConvertTensor(t, outDT); err != nil {
				return fmt.Errorf("exporting %s: %w", name, err)
			}
		}
		out[name] = t
	}
	return writeModelFolder(dir, "exporting the ControlNet", out, opts.Metadata, cc)
}

// exportDType parses ExportOptions.DType: dtypes.InvalidDType for "", the parameters' own.
func exportDType(name string) (dtypes.DType, error) {
	switch name {
	case "":
		return dtypes.InvalidDType, nil
	case "float32":
		return dtypes.Float32, nil
	case "bfloat16":
		return dtypes.BFloat16, nil
	case "float16":
		return dtypes.Float16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("unknown dtype %q (want float32, bfloat16 or float16)", name)
}
