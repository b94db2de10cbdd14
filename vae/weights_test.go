package vae

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/internal/tensortest"
	"github.com/sprint-distill/sprint/safetensors"
)

// saveTiny writes a tiny random DC-AE folder and returns it with its params.
func saveTiny(t *testing.T, dtype dtypes.DType) (string, Config, Params) {
	t.Helper()
	dir := t.TempDir()
	c := tinyConfig()
	p := RandomParams(c, BothParts, 7)
	if err := Save(dir, c, p, dtype); err != nil {
		t.Fatal(err)
	}
	return dir, c, p
}

// TestLoadRoundTrip: a saved folder loads back with the same config and values, in float32 and
// in bfloat16 (values rounded to bfloat16, computed in float32).
func TestLoadRoundTrip(t *testing.T) {
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		dir, c, p := saveTiny(t, dt)
		c2, p2, err := Load(dir, BothParts)
		if err != nil {
			t.Fatal(err)
		}
		if c2.ScalingFactor != c.ScalingFactor || c2.AttentionHeadDim != c.AttentionHeadDim || c2.DownsampleBlockType != "Conv" {
			t.Errorf("%s: config %+v", dt, c2)
		}
		if len(p2) != len(p) {
			t.Fatalf("%s: %d tensors, want %d", dt, len(p2), len(p))
		}
		for name, want := range p {
			got := p2[name]
			if got.DType() != dtypes.Float32 {
				t.Fatalf("%s: %s loaded as %s", dt, name, got.DType())
			}
			a, b := tensortest.Floats(t, got), tensortest.Floats(t, want)
			tol := 0.0
			if dt == dtypes.BFloat16 {
				tol = 1.0 / 128 // 8 significant bits
			}
			for i := range a {
				if math.Abs(a[i]-b[i]) > tol*math.Abs(b[i]) {
					t.Fatalf("%s: %s[%d] = %v, want %v", dt, name, i, a[i], b[i])
				}
			}
		}
		// Only the decoder.
		_, pd, err := Load(dir, DecoderPart)
		if err != nil {
			t.Fatal(err)
		}
		if len(pd) != len(DecoderParamSpecs(c)) {
			t.Errorf("decoder-only load: %d tensors, want %d", len(pd), len(DecoderParamSpecs(c)))
		}
		for n := range pd {
			if !strings.HasPrefix(n, "decoder.") {
				t.Errorf("decoder-only load holds %s", n)
			}
		}
	}
}

// TestLoadStrict: missing, unexpected and mis-shaped keys are listed; missing folders and files
// say what to download; a bad config names its key.
func TestLoadStrict(t *testing.T) {
	dir, _, p := saveTiny(t, dtypes.Float32)
	wpath := filepath.Join(dir, WeightsFile)
	rewrite := func(edit func(map[string]*tensors.Tensor)) {
		t.Helper()
		m := map[string]*tensors.Tensor{}
		for k, v := range p {
			m[k] = v
		}
		edit(m)
		if err := safetensors.WriteFile(wpath, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(func(m map[string]*tensors.Tensor) {
		delete(m, "decoder.up_blocks.1.0.attn.to_q.weight")
		delete(m, "encoder.conv_in.bias")
		m["decoder.extra.weight"] = tensors.FromFlatDataAndDimensions([]float32{1}, 1)
		m["encoder.conv_out.weight"] = tensors.FromFlatDataAndDimensions(make([]float32, 4*8*9), 4, 8, 9)
	})
	_, _, err := Load(dir, BothParts)
	if err == nil {
		t.Fatal("a broken checkpoint loaded")
	}
	for _, s := range []string{"2 missing", "decoder.up_blocks.1.0.attn.to_q.weight [8 8]", "encoder.conv_in.bias [4]",
		"1 unexpected", "decoder.extra.weight", "1 mis-shaped", "encoder.conv_out.weight: shape [4 8 9], want [4 8 3 3]", wpath} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	rewrite(func(m map[string]*tensors.Tensor) {
		m["encoder.conv_in.bias"] = tensors.FromFlatDataAndDimensions([]int32{1, 2, 3, 4}, 4)
	})
	if _, _, err := Load(dir, BothParts); err == nil || !strings.Contains(err.Error(), "dtype I32, want a float") {
		t.Errorf("integer weights: %v", err)
	}
	rewrite(func(map[string]*tensors.Tensor) {})
	if _, _, err := Load(dir, BothParts); err != nil {
		t.Fatalf("restored checkpoint: %v", err)
	}

	if _, _, err := Load(filepath.Join(dir, "nope"), BothParts); err == nil || !strings.Contains(err.Error(), "mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers") {
		t.Errorf("missing folder: %v", err)
	}
	if err := os.Remove(wpath); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, BothParts); err == nil || !strings.Contains(err.Error(), "diffusion_pytorch_model.safetensors") ||
		!strings.Contains(err.Error(), "download") {
		t.Errorf("missing weights file: %v", err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	var raw map[string]any
	b, _ := os.ReadFile(cfgPath)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["decoder_block_typo"] = "x"
	b, _ = json.Marshal(raw)
	_ = os.WriteFile(cfgPath, b, 0o644)
	if _, _, err := Load(dir, BothParts); err == nil || !strings.Contains(err.Error(), "unknown key(s) decoder_block_typo") ||
		!strings.Contains(err.Error(), cfgPath) {
		t.Errorf("unknown config key: %v", err)
	}
	_ = os.Remove(cfgPath)
	if _, _, err := Load(dir, BothParts); err == nil || !strings.Contains(err.Error(), "config.json not found") {
		t.Errorf("missing config: %v", err)
	}
}

// TestBatchNormBuffers: batch-norm running statistics are required, num_batches_tracked (an int64
// scalar PyTorch saves with them) is accepted and ignored.
func TestBatchNormBuffers(t *testing.T) {
	cfg, p, err := Load(filepath.Join("testdata", "in_tiny"), BothParts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(dir, cfg, p, dtypes.Float32); err != nil {
		t.Fatal(err)
	}
	named, _, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	bn := 0
	for _, s := range ParamSpecs(cfg) {
		if s.Optional {
			named[s.Name] = tensors.FromScalar(int64(1000))
			bn++
		}
	}
	if bn != 2 { // two decoder ResBlocks with batch norm
		t.Fatalf("%d batch norms", bn)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), named, nil); err != nil {
		t.Fatal(err)
	}
	if _, p2, err := Load(dir, BothParts); err != nil || len(p2) != len(p) {
		t.Fatalf("with num_batches_tracked: %v (%d tensors, want %d)", err, len(p2), len(p))
	}
	delete(named, "decoder.up_blocks.1.1.norm.running_var")
	_ = safetensors.WriteFile(filepath.Join(dir, WeightsFile), named, nil)
	if _, _, err := Load(dir, BothParts); err == nil || !strings.Contains(err.Error(), "decoder.up_blocks.1.1.norm.running_var [8]") {
		t.Errorf("missing running_var: %v", err)
	}
}

// TestParseConfig: strings or lists per stage, defaults for absent keys, validation messages, and
// the JSON written back parses to the same config.
func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"_class_name": "AutoencoderDC", "_diffusers_version": "0.32.0",
		"decoder_norm_types": ["batch_norm", "batch_norm", "batch_norm", "rms_norm", "rms_norm", "rms_norm"],
		"decoder_act_fns": "relu", "scaling_factor": 0.3}`))
	if err != nil {
		t.Fatal(err)
	}
	st := c.DecoderStages()
	if len(st) != 6 || st[0].Norm != BatchNorm || st[5].Norm != RMSNorm || st[4].Act != "relu" || c.InChannels != 3 ||
		c.DecoderConvActFn != "relu" || !c.EncoderOutShortcut || c.SpatialCompression() != 32 {
		t.Errorf("parsed %+v", c)
	}
	js, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseConfig(js)
	if err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if len(ParamSpecs(c2)) != len(ParamSpecs(c)) || c2.ScalingFactor != 0.3 {
		t.Errorf("round trip differs:\n%s", js)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"_class_name": "AutoencoderKL"}`, "want \"AutoencoderDC\""},
		{`{"decoder_act_fns": ["relu", "relu"]}`, "decoder_act_fns has 2 entries for 6 stages"},
		{`{"encoder_block_types": "Transformer"}`, "block type \"Transformer\""},
		{`{"latent_channels": 48}`, "not a multiple of latent_channels 48"},
		{`{"upsample_block_type": "bilinear"}`, "upsample_block_type \"bilinear\""},
		{`{"encoder_qkv_multiscales": [[], [], [], [4], [5], [5]]}`, "kernel 4 must be odd"},
		{`{"decoder_norm_types": "layer_norm"}`, "norm type \"layer_norm\""},
		{`[1, 2]`, "DC-AE config"},
	} {
		if _, err := ParseConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.json, err, tc.want)
		}
	}
}
