package checkpoints

// Loading and exporting SANA transformers in diffusers' layout (SanaTransformer2DModel):
// safetensors weights named as model.ParamSpecs names them, plus config.json.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// diffusersVersion is the diffusers release whose layout the exported files follow.
const diffusersVersion = "0.33.0"

// DiffusersWeightsFile and DiffusersConfigFile are the file names diffusers uses in a model folder.
const (
	DiffusersWeightsFile = "diffusion_pytorch_model.safetensors"
	DiffusersConfigFile  = "config.json"
)

// LoadDiffusers loads a SanaTransformer2DModel checkpoint (a .safetensors file, a sharded
// *.index.json, or a folder holding either) into parameters for (cfg, role). Stored floats
// (BF16, F16, F32, F64) are converted to cfg's compute dtype. The names and shapes must match
// model.ParamSpecs exactly; otherwise the error lists every missing, unexpected and mis-shaped
// key. A student's logvar head (not part of diffusers' model) is loaded when the file has it
// and freshly initialised (seed 0) when it does not.
func LoadDiffusers(path string, cfg model.Config, role model.Role) (p model.Params, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("loading %s: %v", path, r)
		}
	}()
	if cfg, err = cfg.ResolvedValid(); err != nil {
		return nil, err
	}
	dt, err := cfg.ComputeDType()
	if err != nil {
		return nil, err
	}
	p, err = loadSpecs(path, fmt.Sprintf("the %s weights in %s", role, path), model.ParamSpecs(cfg, role), dt, true, model.IsDiffusersParam)
	if err != nil {
		return nil, err
	}
	if role == model.Student {
		fresh, err := model.InitParamsFor(cfg, role, 0, func(name string) bool {
			_, have := p[name]
			return !have && !model.IsDiffusersParam(name)
		})
		if err != nil {
			return nil, err
		}
		maps.Copy(p, fresh)
	}
	return p, nil
}

// DiffusersRole tells from a checkpoint's tensor names (header or index only, no data) whether
// it holds a student (guidance embedder present) or a teacher.
func DiffusersRole(path string) (model.Role, error) {
	names, err := safetensors.Names(path)
	if err != nil {
		return model.Teacher, err
	}
	return model.RoleOfNames(names), nil
}

// ExportOptions tune ExportDiffusers.
type ExportOptions struct {
	// DType of the stored weights: "" keeps the parameters' dtype; else "float32", "bfloat16"
	// or "float16".
	DType string
	// Metadata is added to the safetensors header (after {"format": "pt"}).
	Metadata map[string]string
}

// ExportDiffusers writes parameters (teacher or student, told apart by the guidance embedder)
// as a diffusers model folder: dir/diffusion_pytorch_model.safetensors without the logvar head,
// and dir/config.json for SanaTransformer2DModel, so that diffusers' SanaSprintPipeline (for a
// student) or SanaPipeline (for a teacher) can load it. Both files are written atomically.
func ExportDiffusers(dir string, cfg model.Config, p model.Params, opts ExportOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exporting to %s: %v", dir, r)
		}
	}()
	if cfg, err = cfg.ResolvedValid(); err != nil {
		return err
	}
	role := model.RoleOfNames(model.SortedNames(p))
	dc, err := DiffusersConfigFor(cfg, role)
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", dir, err)
	}
	outDT, err := exportDType(opts.DType)
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", dir, err)
	}
	exported := make(map[string]*tensors.Tensor)
	known := make(map[string]bool)
	var missing, misshaped, unexpected []string
	for _, s := range model.ParamSpecs(cfg, role) {
		known[s.Name] = true
		if !model.IsDiffusersParam(s.Name) {
			continue
		}
		t, ok := p[s.Name]
		if !ok || t == nil {
			missing = append(missing, s.Name)
			continue
		}
		if !slices.Equal(t.Shape().Dimensions, s.Dims) {
			misshaped = append(misshaped, fmt.Sprintf("%s: have %v, want %v", s.Name, t.Shape().Dimensions, s.Dims))
			continue
		}
		if outDT != dtypes.InvalidDType {
			if t, err = ConvertTensor(t, outDT); err != nil {
				return fmt.Errorf("exporting %s: %w", s.Name, err)
			}
		}
		exported[s.Name] = t
	}
	for _, name := range model.SortedNames(p) {
		if !known[name] {
			unexpected = append(unexpected, name)
		}
	}
	if err := model.KeysError(fmt.Sprintf("the %s parameters to export", role), missing, unexpected, misshaped); err != nil {
		return err
	}
	return writeModelFolder(dir, "exporting", exported, opts.Metadata, dc)
}

// writeModelFolder writes a diffusers model folder, both files atomically: the weights as
// dir/diffusion_pytorch_model.safetensors, their header metadata {"format": "pt"} plus md,
// and config as dir/config.json. what starts the error when dir cannot be made.
func writeModelFolder(dir, what string, weights map[string]*tensors.Tensor, md map[string]string, config any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	header := map[string]string{"format": "pt"}
	maps.Copy(header, md)
	if err := safetensors.WriteFile(filepath.Join(dir, DiffusersWeightsFile), weights, header); err != nil {
		return err
	}
	return atomicfile.WriteJSON(atomicfile.OS{}, filepath.Join(dir, DiffusersConfigFile), config)
}

// DiffusersConfig is the config.json of diffusers' SanaTransformer2DModel (the fields of its
// constructor, plus the pipeline-level scales that Sprint checkpoints carry).
type DiffusersConfig struct {
	ClassName              string   `json:"_class_name"`
	DiffusersVersion       string   `json:"_diffusers_version,omitempty"`
	AttentionBias          bool     `json:"attention_bias"`
	AttentionHeadDim       int      `json:"attention_head_dim"`
	CaptionChannels        int      `json:"caption_channels"`
	CrossAttentionDim      int      `json:"cross_attention_dim"`
	CrossAttentionHeadDim  int      `json:"cross_attention_head_dim"`
	Dropout                float64  `json:"dropout"`
	GuidanceEmbeds         bool     `json:"guidance_embeds"`
	GuidanceEmbedsScale    float64  `json:"guidance_embeds_scale"`
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
	QKNorm                 *string  `json:"qk_norm"`
	SampleSize             int      `json:"sample_size"`
	TimestepScale          float64  `json:"timestep_scale"`
}

// diffusersLinearAttnEps is the ε of diffusers' SanaLinearAttnProcessor2_0 (out = Σv(k·q) /
// (Σk·q + 1e-15)); a model described by a diffusers config.json computes with it, so that a
// forward matches diffusers' (SANA's own SanaMSBlock uses 1e-8, the model default).
const diffusersLinearAttnEps = 1e-15

// sanaCaptionLen is SANA's padded prompt length (Gemma, 300 tokens), used when a config.json
// (which does not record it) is turned into a model config.
const sanaCaptionLen = 300

// qkNormAcrossHeads is diffusers' name for RMSNorm over the full width of q and k.
const qkNormAcrossHeads = "rms_norm_across_heads"

// DiffusersConfigFor describes (cfg, role) as a SanaTransformer2DModel config. diffusers has
// one qk_norm switch for both attentions, so qk_norm and cross_norm must agree. The time
// scale follows the pipelines: SanaSprintPipeline feeds the flow time t ∈ [0,1] directly (a
// student therefore needs dense_time), SanaPipeline feeds 1000·t times timestep_scale (0.001
// for a dense-time teacher, 1 otherwise).
func DiffusersConfigFor(cfg model.Config, role model.Role) (DiffusersConfig, error) {
	cfg, err := cfg.Resolved()
	if err != nil {
		return DiffusersConfig{}, err
	}
	if cfg.QKNorm != cfg.CrossNorm {
		return DiffusersConfig{}, fmt.Errorf("diffusers has a single qk_norm switch: model.qk_norm=%v and model.cross_norm=%v cannot be expressed", cfg.QKNorm, cfg.CrossNorm)
	}
	ts := 1.0
	switch {
	case role == model.Student && !cfg.DenseTime:
		return DiffusersConfig{}, fmt.Errorf("diffusers' SanaSprintPipeline feeds the flow time t ∈ [0,1] to the transformer: a student with model.dense_time=false cannot be exported faithfully")
	case role == model.Teacher && cfg.DenseTime:
		ts = 0.001
	}
	dc := DiffusersConfig{
		ClassName:              "SanaTransformer2DModel",
		DiffusersVersion:       diffusersVersion,
		AttentionHeadDim:       cfg.SelfHeadDim,
		CaptionChannels:        cfg.CaptionDim,
		CrossAttentionDim:      cfg.HiddenSize,
		CrossAttentionHeadDim:  cfg.HiddenSize / cfg.CrossHeads,
		GuidanceEmbeds:         role == model.Student,
		GuidanceEmbedsScale:    cfg.GuidanceEmbedScale,
		InChannels:             cfg.InChannels,
		MLPRatio:               cfg.FFNRatio,
		NormEps:                1e-6,
		NumAttentionHeads:      cfg.SelfHeads(),
		NumCrossAttentionHeads: cfg.CrossHeads,
		NumLayers:              cfg.Depth,
		OutChannels:            cfg.InChannels,
		PatchSize:              cfg.PatchSize,
		SampleSize:             cfg.LatentSize,
		TimestepScale:          ts,
	}
	if cfg.QKNorm {
		s := qkNormAcrossHeads
		dc.QKNorm = &s
	}
	if cfg.UsePE {
		s := cfg.PEInterpolation
		dc.InterpolationScale = &s
	}
	return dc, nil
}

// ModelConfig turns a diffusers config into the model section (shape fields, qk norm, time
// convention, guidance scale; caption_len 300 as in SANA; the rest at its defaults) and the
// role it describes.
func (dc DiffusersConfig) ModelConfig() (model.Config, model.Role, error) {
	if dc.ClassName != "" && dc.ClassName != "SanaTransformer2DModel" {
		return model.Config{}, 0, fmt.Errorf("config is for %q, not SanaTransformer2DModel", dc.ClassName)
	}
	if dc.OutChannels != 0 && dc.OutChannels != dc.InChannels {
		return model.Config{}, 0, fmt.Errorf("out_channels=%d differs from in_channels=%d, which the model does not support", dc.OutChannels, dc.InChannels)
	}
	if dc.AttentionBias || dc.NormElementwiseAffine {
		return model.Config{}, 0, fmt.Errorf("attention_bias and norm_elementwise_affine are not supported")
	}
	role := model.Teacher
	if dc.GuidanceEmbeds {
		role = model.Student
	}
	c := model.DefaultConfig()
	c.Preset = ""
	D := dc.NumAttentionHeads * dc.AttentionHeadDim
	c.InChannels, c.PatchSize, c.LatentSize = dc.InChannels, dc.PatchSize, dc.SampleSize
	c.HiddenSize, c.Depth, c.SelfHeadDim = D, dc.NumLayers, dc.AttentionHeadDim
	c.CrossHeads, c.CaptionDim, c.FFNRatio = dc.NumCrossAttentionHeads, dc.CaptionChannels, dc.MLPRatio
	c.CaptionLen = sanaCaptionLen     // not in config.json: the text encoder's padded length
	if dc.InterpolationScale != nil { // diffusers adds the sin-cos positional embedding then
		c.UsePE, c.PEInterpolation = true, *dc.InterpolationScale
	}
	c.LinearAttnEps = diffusersLinearAttnEps
	if dc.CrossAttentionDim != 0 && dc.CrossAttentionDim != D {
		return model.Config{}, 0, fmt.Errorf("cross_attention_dim=%d differs from the hidden size %d", dc.CrossAttentionDim, D)
	}
	if dc.CrossAttentionHeadDim*dc.NumCrossAttentionHeads != D {
		return model.Config{}, 0, fmt.Errorf("cross attention %d heads × %d does not make the hidden size %d", dc.NumCrossAttentionHeads, dc.CrossAttentionHeadDim, D)
	}
	switch {
	case dc.QKNorm == nil:
		c.QKNorm, c.CrossNorm = false, false
	case *dc.QKNorm == qkNormAcrossHeads:
		c.QKNorm, c.CrossNorm = true, true
		c.CrossNormEps = 1e-5 // diffusers uses 1e-5 in both attentions
	default:
		return model.Config{}, 0, fmt.Errorf("qk_norm %q is not supported (want %q or null)", *dc.QKNorm, qkNormAcrossHeads)
	}
	if dc.GuidanceEmbedsScale > 0 {
		c.GuidanceEmbedScale = dc.GuidanceEmbedsScale
	}
	switch {
	case role == model.Student:
		c.DenseTime = true
	case dc.TimestepScale == 0 || dc.TimestepScale == 1:
		c.DenseTime = false
	case math.Abs(dc.TimestepScale-0.001) < 1e-12:
		c.DenseTime = true
	default:
		return model.Config{}, 0, fmt.Errorf("timestep_scale %g is neither 1 nor 0.001", dc.TimestepScale)
	}
	if err := c.Validate(); err != nil {
		return model.Config{}, 0, err
	}
	return c, role, nil
}

// WriteDiffusersConfig writes config.json atomically.
func WriteDiffusersConfig(path string, dc DiffusersConfig) error {
	return atomicfile.WriteJSON(atomicfile.OS{}, path, dc)
}

// ReadDiffusersConfig reads a config.json (or the one in a model folder).
func ReadDiffusersConfig(path string) (DiffusersConfig, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, DiffusersConfigFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return DiffusersConfig{}, fmt.Errorf("diffusers config: %w", err)
	}
	var dc DiffusersConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dc); err != nil {
		return DiffusersConfig{}, fmt.Errorf("diffusers config %s: %w", path, err)
	}
	return dc, nil
}

// ConvertTensor returns t converted to the floating-point dtype dt on the host (t itself when
// it already has that dtype). Sources may be F64, F32, F16, BF16, or (for masks) I64, I32, U8
// and BOOL.
func ConvertTensor(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dt {
		return t, nil
	}
	if !dt.IsFloat() {
		return nil, fmt.Errorf("cannot convert %s to non-float %s", t.DType(), dt)
	}
	return tensorconv.Convert(t, dt)
}
