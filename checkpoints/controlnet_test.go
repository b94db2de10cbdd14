package checkpoints

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// controlModel is the tiny model with depth 3 (a ControlNet of 2 blocks fits).
func controlModel(t *testing.T) model.Config {
	cfg := tinyModel(t)
	cfg.Depth = 3
	return cfg
}

// randomControlParams fills every parameter of a ControlNet of N blocks with random values.
func randomControlParams(cfg model.Config, layers int, seed uint64) model.Params {
	return randomSpecs(model.ControlParamSpecs(cfg, layers), seed, 2)
}

// TestControlNetExportLoadRoundTrip: an exported ControlNet loads back bit for bit, its
// config.json names SanaControlNetModel with the model's shape and N, and ControlNetLayers
// reads N from the folder and from the bare weights file.
func TestControlNetExportLoadRoundTrip(t *testing.T) {
	cfg := controlModel(t)
	p := randomControlParams(cfg, 2, 1)
	dir := filepath.Join(t.TempDir(), "controlnet")
	if err := ExportControlNet(dir, cfg, 2, p, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := LoadControlNet(dir, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(p) {
		t.Fatalf("%d tensors back, want %d", len(back), len(p))
	}
	for name, want := range p {
		a, _ := tensors.CopyFlatData[float32](want)
		b, _ := tensors.CopyFlatData[float32](back[name])
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %v, want %v", name, i, b[i], a[i])
			}
		}
	}
	var cc ControlNetConfig
	if err := readJSON(filepath.Join(dir, DiffusersConfigFile), &cc); err != nil {
		t.Fatal(err)
	}
	r, _ := cfg.Resolved()
	if cc.ClassName != ControlNetClass || cc.NumLayers != 2 || cc.InChannels != r.InChannels ||
		cc.NumAttentionHeads*cc.AttentionHeadDim != r.HiddenSize || cc.CaptionChannels != r.CaptionDim || cc.PatchSize != r.PatchSize {
		t.Errorf("config.json %+v does not describe the model %+v with 2 layers", cc, r)
	}
	for _, path := range []string{dir, filepath.Join(dir, DiffusersWeightsFile)} {
		if n, err := ControlNetLayers(path); err != nil || n != 2 {
			t.Errorf("ControlNetLayers(%s) = %d, %v; want 2", path, n, err)
		}
	}
}

// TestLoadControlNetListsBadKeys: a missing, an unexpected and a mis-shaped tensor are all
// named, with the file; N >= depth is refused naming control.num_layers.
func TestLoadControlNetListsBadKeys(t *testing.T) {
	cfg := controlModel(t)
	p := randomControlParams(cfg, 2, 2)
	delete(p, "controlnet_blocks.1.bias")
	p["controlnet_blocks.7.weight"] = p["input_block.weight"]
	p["input_block.bias"] = tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2)
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.WriteFile(path, p, nil); err != nil {
		t.Fatal(err)
	}
	_, err := LoadControlNet(path, cfg, 2)
	if err == nil {
		t.Fatal("bad keys accepted")
	}
	for _, want := range []string{path, "1 missing, 1 unexpected, 1 mis-shaped", "controlnet_blocks.1.bias", "controlnet_blocks.7.weight", "input_block.bias: have [2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := LoadControlNet(path, cfg, 3); err == nil || !strings.Contains(err.Error(), "control.num_layers") {
		t.Errorf("N = depth: err = %v", err)
	}
	if err := ExportControlNet(t.TempDir(), cfg, 2, p, ExportOptions{}); err == nil || !strings.Contains(err.Error(), "controlnet_blocks.1.bias") {
		t.Errorf("export of bad parameters: err = %v", err)
	}
	if _, err := ControlNetLayers(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("ControlNetLayers of a missing path succeeded")
	}
}
