package vae

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The released DC-AE configs (mit-han-lab/<name>-diffusers on the Hugging Face Hub), with the
// values of their config.json files as diffusers' scripts/convert_dcae_to_diffusers.py builds
// them. They let `sprint vae info` count parameters and tests check key names without weights.

func sanaConfig() Config {
	c := DefaultConfig()
	c.LatentChannels = 32
	c.EncoderBlockTypes = strList{ResBlock, ResBlock, ResBlock, EfficientViTBlock, EfficientViTBlock, EfficientViTBlock}
	c.DecoderBlockTypes = slices.Clone(c.EncoderBlockTypes)
	c.EncoderBlockOutChannels = []int{128, 256, 512, 512, 1024, 1024}
	c.DecoderBlockOutChannels = []int{128, 256, 512, 512, 1024, 1024}
	c.EncoderQKVMultiscales = [][]int{{}, {}, {}, {5}, {5}, {5}}
	c.DecoderQKVMultiscales = [][]int{{}, {}, {}, {5}, {5}, {5}}
	c.EncoderLayersPerBlock = []int{2, 2, 2, 3, 3, 3}
	c.DecoderLayersPerBlock = []int{3, 3, 3, 3, 3, 3}
	c.DownsampleBlockType = "Conv"
	c.UpsampleBlockType = UpInterpolate
	c.DecoderNormTypes = strList{RMSNorm}
	c.DecoderActFns = strList{"silu"}
	c.ScalingFactor = 0.41407
	return c
}

// inMixConfig is the f32c32/f64c128/f128c512 "in" and "mix" family: stage 0 without layers
// (conv_in and conv_out are sampling blocks), batch norm and ReLU in the decoder's first three
// stages, single-scale attention, pixel (un)shuffle sampling.
func inMixConfig(latent int, channels []int, scale float64) Config {
	n := len(channels)
	c := DefaultConfig()
	c.LatentChannels = latent
	types := strList{ResBlock, ResBlock, ResBlock}
	norms := strList{BatchNorm, BatchNorm, BatchNorm}
	acts := strList{"relu", "relu", "relu"}
	for len(types) < n {
		types = append(types, EfficientViTBlock)
		norms = append(norms, RMSNorm)
		acts = append(acts, "silu")
	}
	c.EncoderBlockTypes, c.DecoderBlockTypes = types, slices.Clone(types)
	c.EncoderBlockOutChannels, c.DecoderBlockOutChannels = slices.Clone(channels), slices.Clone(channels)
	c.EncoderLayersPerBlock = append([]int{0, 4, 8}, slices.Repeat([]int{2}, n-3)...)
	c.DecoderLayersPerBlock = append([]int{0, 5, 10}, slices.Repeat([]int{2}, n-3)...)
	c.EncoderQKVMultiscales = make([][]int, n)
	c.DecoderQKVMultiscales = make([][]int, n)
	for i := range n {
		c.EncoderQKVMultiscales[i], c.DecoderQKVMultiscales[i] = []int{}, []int{}
	}
	c.DecoderNormTypes, c.DecoderActFns = norms, acts
	c.ScalingFactor = scale
	return c
}

var presets = map[string]func() Config{
	// SANA's autoencoder; 1.1 retrained the weights on the same architecture and latent space.
	"dc-ae-f32c32-sana-1.0": sanaConfig,
	"dc-ae-f32c32-sana-1.1": sanaConfig,
	"dc-ae-f32c32-in-1.0": func() Config {
		return inMixConfig(32, []int{128, 256, 512, 512, 1024, 1024}, 0.3189)
	},
	"dc-ae-f32c32-mix-1.0": func() Config {
		return inMixConfig(32, []int{128, 256, 512, 512, 1024, 1024}, 0.4552)
	},
	"dc-ae-f64c128-in-1.0": func() Config {
		return inMixConfig(128, []int{128, 256, 512, 512, 1024, 1024, 2048}, 0.2889)
	},
	"dc-ae-f64c128-mix-1.0": func() Config {
		return inMixConfig(128, []int{128, 256, 512, 512, 1024, 1024, 2048}, 0.4538)
	},
	"dc-ae-f128c512-in-1.0": func() Config {
		return inMixConfig(512, []int{128, 256, 512, 512, 1024, 1024, 2048, 2048}, 0.4883)
	},
	"dc-ae-f128c512-mix-1.0": func() Config {
		return inMixConfig(512, []int{128, 256, 512, 512, 1024, 1024, 2048, 2048}, 0.3620)
	},
}

// PresetNames lists the released configs Preset knows, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a released config by name, with or without the "mit-han-lab/" prefix and the
// "-diffusers" suffix (e.g. "dc-ae-f32c32-sana-1.1").
func Preset(name string) (Config, error) {
	n := strings.TrimSuffix(strings.TrimPrefix(name, "mit-han-lab/"), "-diffusers")
	f, ok := presets[n]
	if !ok {
		return Config{}, fmt.Errorf("DC-AE preset %q: want one of %s", name, strings.Join(PresetNames(), ", "))
	}
	return f(), nil
}
