package checkpoints

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

func tinyModel(t *testing.T) model.Config {
	t.Helper()
	cfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// randomParams fills every parameter of (cfg, role) with random float32 values.
func randomParams(t *testing.T, cfg model.Config, role model.Role, seed uint64) model.Params {
	t.Helper()
	return randomSpecs(model.ParamSpecs(cfg, role), seed, 1)
}

// randomSpecs fills a tensor per spec with float32 values drawn from the stream (seed, stream).
func randomSpecs(specs []model.ParamSpec, seed, stream uint64) model.Params {
	rng := rand.New(rand.NewPCG(seed, stream))
	p := model.Params{}
	for _, s := range specs {
		vals := make([]float32, s.Size())
		for i := range vals {
			vals[i] = float32(rng.NormFloat64())
		}
		p[s.Name] = tensors.FromFlatDataAndDimensions(vals, s.Dims...)
	}
	return p
}

func TestDiffusersExportLoadRoundTrip(t *testing.T) {
	cfg := tinyModel(t)
	for _, role := range []model.Role{model.Teacher, model.Student} {
		p := randomParams(t, cfg, role, 3)
		dir := filepath.Join(t.TempDir(), role.String())
		if err := ExportDiffusers(dir, cfg, p, ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		// The logvar head is not exported.
		infos, md, err := safetensors.ReadHeader(filepath.Join(dir, DiffusersWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if strings.HasPrefix(in.Name, "logvar") {
				t.Errorf("%s: exported %s", role, in.Name)
			}
		}
		if md["format"] != "pt" {
			t.Errorf("metadata %v lacks format=pt", md)
		}
		if got, err := DiffusersRole(dir); err != nil || got != role {
			t.Errorf("DiffusersRole = %v, %v; want %v", got, err, role)
		}
		back, err := LoadDiffusers(dir, cfg, role)
		if err != nil {
			t.Fatal(err)
		}
		if err := model.CheckParams(cfg, role, back); err != nil {
			t.Fatal(err)
		}
		for name, want := range p {
			if !model.IsDiffusersParam(name) {
				continue
			}
			if !back[name].Equal(want) {
				t.Errorf("%s %s changed in the round trip", role, name)
			}
		}
		// config.json describes the same model.
		dc, err := ReadDiffusersConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		mc, gotRole, err := dc.ModelConfig()
		if err != nil {
			t.Fatal(err)
		}
		if gotRole != role || mc.HiddenSize != cfg.HiddenSize || mc.Depth != cfg.Depth || mc.CrossHeads != cfg.CrossHeads ||
			mc.CaptionDim != cfg.CaptionDim || mc.PatchSize != cfg.PatchSize || mc.InChannels != cfg.InChannels ||
			!mc.QKNorm || !mc.DenseTime || mc.GuidanceEmbedScale != 0.1 {
			t.Errorf("%s: config.json gives %+v (role %v)", role, mc, gotRole)
		}
		if _, err := LoadDiffusers(dir, mc, role); err != nil {
			t.Errorf("loading with the config from config.json: %v", err)
		}
	}
}

// TestDiffusersConfigJSON pins the fields diffusers reads, for the released 1.6B student.
func TestDiffusersConfigJSON(t *testing.T) {
	cfg, err := model.PresetConfig(model.PresetSana16B)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := DiffusersConfigFor(cfg, model.Student)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(dc)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_class_name": "SanaTransformer2DModel", "attention_head_dim": 32.0, "num_attention_heads": 70.0,
		"num_layers": 20.0, "num_cross_attention_heads": 20.0, "cross_attention_head_dim": 112.0,
		"cross_attention_dim": 2240.0, "caption_channels": 2304.0, "in_channels": 32.0, "out_channels": 32.0,
		"mlp_ratio": 2.5, "patch_size": 1.0, "sample_size": 32.0, "guidance_embeds": true,
		"guidance_embeds_scale": 0.1, "qk_norm": "rms_norm_across_heads", "timestep_scale": 1.0,
		"attention_bias": false, "norm_eps": 1e-6, "interpolation_scale": nil,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("config.json %s = %v, want %v", k, got, v)
		}
	}
	teacher, _ := DiffusersConfigFor(cfg, model.Teacher)
	if teacher.TimestepScale != 0.001 || teacher.GuidanceEmbeds {
		t.Errorf("dense-time teacher: timestep_scale %g, guidance_embeds %v", teacher.TimestepScale, teacher.GuidanceEmbeds)
	}
	cfg.CrossNorm = false
	if _, err := DiffusersConfigFor(cfg, model.Student); err == nil {
		t.Error("qk_norm != cross_norm accepted")
	}
}

// TestDiffusersPosEmbed: model.use_pe is diffusers' non-null interpolation_scale, both ways.
func TestDiffusersPosEmbed(t *testing.T) {
	cfg := tinyModel(t)
	cfg.UsePE, cfg.PEInterpolation = true, 2
	dc, err := DiffusersConfigFor(cfg, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	if dc.InterpolationScale == nil || *dc.InterpolationScale != 2 {
		t.Fatalf("interpolation_scale = %v, want 2", dc.InterpolationScale)
	}
	path := filepath.Join(t.TempDir(), DiffusersConfigFile)
	if err := WriteDiffusersConfig(path, dc); err != nil {
		t.Fatal(err)
	}
	back, err := ReadDiffusersConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := back.ModelConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !m.UsePE || m.PEInterpolation != 2 {
		t.Errorf("read back use_pe %v, pe_interpolation %g; want true, 2", m.UsePE, m.PEInterpolation)
	}
	back.InterpolationScale = nil
	if m, _, _ = back.ModelConfig(); m.UsePE {
		t.Error("interpolation_scale null read as use_pe")
	}
}

// TestLoadDiffusersListsBadKeys: a file with a missing, an unexpected and a mis-shaped tensor
// gives one error naming all three.
func TestLoadDiffusersListsBadKeys(t *testing.T) {
	cfg := tinyModel(t)
	p := randomParams(t, cfg, model.Teacher, 4)
	named := maps.Clone(p)
	delete(named, "transformer_blocks.1.attn2.to_k.bias")
	named["transformer_blocks.0.attn1.to_q.bias"] = tensors.FromShape(shapes.Make(dtypes.Float32, cfg.HiddenSize))
	named["proj_out.weight"] = tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3))
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.WriteFile(path, named, nil); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDiffusers(path, cfg, model.Teacher)
	if err == nil {
		t.Fatal("bad weights accepted")
	}
	for _, want := range []string{"bad.safetensors", "transformer_blocks.1.attn2.to_k.bias", "transformer_blocks.0.attn1.to_q.bias",
		"proj_out.weight: have [3 3], want [12 32]", "1 missing, 1 unexpected, 1 mis-shaped"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	// A student file loaded as a teacher: its guidance embedder is unexpected, its time
	// embedder keys missing.
	sdir := t.TempDir()
	if err := ExportDiffusers(sdir, cfg, randomParams(t, cfg, model.Student, 5), ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = LoadDiffusers(sdir, cfg, model.Teacher)
	if err == nil || !strings.Contains(err.Error(), "time_embed.guidance_embedder.linear_1.weight") ||
		!strings.Contains(err.Error(), "time_embed.emb.timestep_embedder.linear_1.weight") {
		t.Errorf("student as teacher: err = %v", err)
	}
	if _, err := LoadDiffusers(filepath.Join(t.TempDir(), "none.safetensors"), cfg, model.Teacher); err == nil {
		t.Error("missing file accepted")
	}
}

// TestLoadDiffusersConvertsDTypes: bf16-stored weights load as float32 (exactly, since bf16 ⊂
// f32), and a sharded checkpoint loads through its index.
func TestLoadDiffusersConvertsDTypes(t *testing.T) {
	cfg := tinyModel(t)
	p := randomParams(t, cfg, model.Teacher, 6)
	dir := t.TempDir()
	if err := ExportDiffusers(dir, cfg, p, ExportOptions{DType: "bfloat16"}); err != nil {
		t.Fatal(err)
	}
	infos, _, _ := safetensors.ReadHeader(filepath.Join(dir, DiffusersWeightsFile))
	if infos[0].DType != dtypes.BFloat16 {
		t.Fatalf("exported dtype %s, want BF16", infos[0].DType)
	}
	back, err := LoadDiffusers(dir, cfg, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	name := "transformer_blocks.0.ff.conv_depth.weight"
	want, _ := ConvertTensor(p[name], dtypes.BFloat16)
	want, _ = ConvertTensor(want, dtypes.Float32)
	if back[name].DType() != dtypes.Float32 || !back[name].Equal(want) {
		t.Errorf("%s not the bf16-rounded float32 values", name)
	}

	// Shard the bf16 file into two and load through the index.
	all, _, err := safetensors.ReadFile(filepath.Join(dir, DiffusersWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	sdir := t.TempDir()
	shards := [2]map[string]*tensors.Tensor{{}, {}}
	idx := safetensors.Index{WeightMap: map[string]string{}}
	for name, tt := range all {
		k := 0
		if strings.HasPrefix(name, "transformer_blocks.1.") {
			k = 1
		}
		shards[k][name] = tt
		idx.WeightMap[name] = []string{"a.safetensors", "b.safetensors"}[k]
	}
	for k, f := range []string{"a.safetensors", "b.safetensors"} {
		if err := safetensors.WriteFile(filepath.Join(sdir, f), shards[k], nil); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(sdir, DiffusersWeightsFile+".index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sharded, err := LoadDiffusers(sdir, cfg, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	for name := range back {
		if !sharded[name].Equal(back[name]) {
			t.Errorf("sharded %s differs", name)
		}
	}
}

// TestLoadDiffusersRejectsNonFinite: a NaN in a weight is named (file and tensor) at load time.
func TestLoadDiffusersRejectsNonFinite(t *testing.T) {
	cfg := tinyModel(t)
	p := randomParams(t, cfg, model.Teacher, 5)
	named := maps.Clone(p)
	w := named["proj_out.bias"]
	vals, err := tensors.CopyFlatData[float32](w)
	if err != nil {
		t.Fatal(err)
	}
	vals[3] = float32(math.NaN())
	named["proj_out.bias"] = tensors.FromFlatDataAndDimensions(vals, w.Shape().Dimensions...)
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := safetensors.WriteFile(path, named, nil); err != nil {
		t.Fatal(err)
	}
	_, err = LoadDiffusers(path, cfg, model.Teacher)
	if err == nil || !strings.Contains(err.Error(), "nan.safetensors") || !strings.Contains(err.Error(), `tensor "proj_out.bias" holds 1 non-finite value(s)`) ||
		!strings.Contains(err.Error(), "flat index 3") {
		t.Fatalf("NaN weight: %v", err)
	}
}
