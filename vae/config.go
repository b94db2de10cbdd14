package vae

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Block types of a stage (diffusers' get_block).
const (
	ResBlock          = "ResBlock"
	EfficientViTBlock = "EfficientViTBlock"
)

// Normalisation layers (diffusers' get_normalization) used by the residual blocks and the
// attention output of a decoder stage.
const (
	RMSNorm   = "rms_norm"
	BatchNorm = "batch_norm"
)

// Sampling block types: the encoder's DCDownBlock2d is a stride-2 3×3 convolution ("Conv") or a
// 3×3 convolution followed by pixel unshuffle ("pixel_unshuffle"); the decoder's DCUpBlock2d is
// nearest-neighbour ×2 interpolation followed by a 3×3 convolution ("interpolate") or a 3×3
// convolution followed by pixel shuffle ("pixel_shuffle").
const (
	DownConv           = "conv"
	DownPixelUnshuffle = "pixel_unshuffle"
	UpInterpolate      = "interpolate"
	UpPixelShuffle     = "pixel_shuffle"
)

// Config is a DC-AE autoencoder's config.json as diffusers' AutoencoderDC writes it. Fields
// missing from the file take diffusers' defaults (DefaultConfig); fields given as one string
// where diffusers accepts a string or a list (block types, decoder norms and activations) apply
// to every stage. Read it with ReadConfig or ParseConfig, which also validate it.
type Config struct {
	InChannels              int      `json:"in_channels"`
	LatentChannels          int      `json:"latent_channels"`
	AttentionHeadDim        int      `json:"attention_head_dim"`
	EncoderBlockTypes       strList  `json:"encoder_block_types"`
	DecoderBlockTypes       strList  `json:"decoder_block_types"`
	EncoderBlockOutChannels []int    `json:"encoder_block_out_channels"`
	DecoderBlockOutChannels []int    `json:"decoder_block_out_channels"`
	EncoderLayersPerBlock   []int    `json:"encoder_layers_per_block"`
	DecoderLayersPerBlock   []int    `json:"decoder_layers_per_block"`
	EncoderQKVMultiscales   [][]int  `json:"encoder_qkv_multiscales"`
	DecoderQKVMultiscales   [][]int  `json:"decoder_qkv_multiscales"`
	UpsampleBlockType       string   `json:"upsample_block_type"`
	DownsampleBlockType     string   `json:"downsample_block_type"`
	DecoderNormTypes        strList  `json:"decoder_norm_types"`
	DecoderActFns           strList  `json:"decoder_act_fns"`
	EncoderOutShortcut      bool     `json:"encoder_out_shortcut"`
	DecoderInShortcut       bool     `json:"decoder_in_shortcut"`
	DecoderConvActFn        string   `json:"decoder_conv_act_fn"`
	ScalingFactor           float64  `json:"scaling_factor"`
	ignoredKeys             []string // "_class_name" and the like, kept for Info
}

// strList is a JSON string or list of strings (null entries become ""), diffusers'
// `str | tuple[str]` config fields.
type strList []string

// UnmarshalJSON accepts "x", ["x", "y"] and [null, "y"].
func (s *strList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = strList{one}
		return nil
	}
	var many []*string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	out := make(strList, len(many))
	for i, p := range many {
		if p != nil {
			out[i] = *p
		}
	}
	*s = out
	return nil
}

// MarshalJSON writes one entry as a plain string (diffusers applies it to every stage) and more
// as a list.
func (s strList) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// perStage expands a one-string list to n stages.
func (s strList) perStage(n int) []string {
	if len(s) == 1 {
		return slices.Repeat([]string{s[0]}, n)
	}
	return slices.Clone(s)
}

// DefaultConfig is diffusers' AutoencoderDC default config (the values a config.json may omit).
func DefaultConfig() Config {
	return Config{
		InChannels:              3,
		LatentChannels:          32,
		AttentionHeadDim:        32,
		EncoderBlockTypes:       strList{ResBlock},
		DecoderBlockTypes:       strList{ResBlock},
		EncoderBlockOutChannels: []int{128, 256, 512, 512, 1024, 1024},
		DecoderBlockOutChannels: []int{128, 256, 512, 512, 1024, 1024},
		EncoderLayersPerBlock:   []int{2, 2, 2, 3, 3, 3},
		DecoderLayersPerBlock:   []int{3, 3, 3, 3, 3, 3},
		EncoderQKVMultiscales:   [][]int{{}, {}, {}, {5}, {5}, {5}},
		DecoderQKVMultiscales:   [][]int{{}, {}, {}, {5}, {5}, {5}},
		UpsampleBlockType:       UpPixelShuffle,
		DownsampleBlockType:     DownPixelUnshuffle,
		DecoderNormTypes:        strList{RMSNorm},
		DecoderActFns:           strList{"silu"},
		EncoderOutShortcut:      true,
		DecoderInShortcut:       true,
		DecoderConvActFn:        "relu",
		ScalingFactor:           1,
	}
}

// configKeys are the config.json keys Config reads.
var configKeys = func() map[string]bool {
	m := map[string]bool{}
	t := []string{"in_channels", "latent_channels", "attention_head_dim", "encoder_block_types",
		"decoder_block_types", "encoder_block_out_channels", "decoder_block_out_channels",
		"encoder_layers_per_block", "decoder_layers_per_block", "encoder_qkv_multiscales",
		"decoder_qkv_multiscales", "upsample_block_type", "downsample_block_type", "decoder_norm_types",
		"decoder_act_fns", "encoder_out_shortcut", "decoder_in_shortcut", "decoder_conv_act_fn", "scaling_factor"}
	for _, k := range t {
		m[k] = true
	}
	return m
}()

// ParseConfig reads a config.json. Keys starting with "_" (diffusers' bookkeeping such as
// _class_name) are ignored, but _class_name, when present, must be AutoencoderDC; any other
// unknown key is an error naming it. The result is validated.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("DC-AE config: %w", err)
	}
	var unknown, ignored []string
	for k, v := range raw {
		if strings.HasPrefix(k, "_") {
			ignored = append(ignored, k)
			if k == "_class_name" {
				var name string
				if err := json.Unmarshal(v, &name); err != nil || name != "AutoencoderDC" {
					return Config{}, fmt.Errorf("DC-AE config: _class_name is %s, want \"AutoencoderDC\"", string(v))
				}
			}
			continue
		}
		if !configKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Config{}, fmt.Errorf("DC-AE config: unknown key(s) %s", strings.Join(unknown, ", "))
	}
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("DC-AE config: %w", err)
	}
	sort.Strings(ignored)
	cfg.ignoredKeys = ignored
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ReadConfig reads and validates path, a config.json or a diffusers folder holding one.
func ReadConfig(path string) (Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, fmt.Errorf("DC-AE config %s not found: %s", path, getHelp)
		}
		return Config{}, fmt.Errorf("DC-AE config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// getHelp says where released weights come from; the errors of missing files end with it.
const getHelp = "download a released DC-AE in the diffusers layout (config.json and " +
	"diffusion_pytorch_model.safetensors), e.g. mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers, to a local folder " +
	"and pass that folder (sprint never downloads)"

// JSON returns the config as diffusers writes it (lists for per-stage fields), with
// _class_name set.
func (c Config) JSON() ([]byte, error) {
	type plain Config // drops the methods, keeps the tags
	b, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["_class_name"] = "AutoencoderDC"
	return json.MarshalIndent(m, "", "  ")
}

// NumStages is the number of encoder stages (len(encoder_block_out_channels)).
func (c Config) NumStages() int { return len(c.EncoderBlockOutChannels) }

// SpatialCompression is the image-to-latent size ratio, 2^(stages−1) (32 for f32c32).
func (c Config) SpatialCompression() int { return 1 << (len(c.EncoderBlockOutChannels) - 1) }

// Stage is one resolved encoder or decoder stage.
type Stage struct {
	BlockType   string // ResBlock or EfficientViTBlock
	Channels    int    // block_out_channels[i]
	Layers      int    // layers_per_block[i]
	Multiscales []int  // qkv_multiscales[i]: kernel sizes of the extra attention scales
	Norm        string // rms_norm or batch_norm (the encoder always uses rms_norm)
	Act         string // activation of the residual blocks (encoder: silu); "" is the identity
}

// EncoderStages lists the encoder stages with per-stage values filled in.
func (c Config) EncoderStages() []Stage {
	n := len(c.EncoderBlockOutChannels)
	types := c.EncoderBlockTypes.perStage(n)
	out := make([]Stage, n)
	for i := range out {
		out[i] = Stage{BlockType: types[i], Channels: c.EncoderBlockOutChannels[i], Layers: c.EncoderLayersPerBlock[i],
			Multiscales: c.EncoderQKVMultiscales[i], Norm: RMSNorm, Act: "silu"}
	}
	return out
}

// DecoderStages lists the decoder stages with per-stage values filled in.
func (c Config) DecoderStages() []Stage {
	n := len(c.DecoderBlockOutChannels)
	types := c.DecoderBlockTypes.perStage(n)
	norms := c.DecoderNormTypes.perStage(n)
	acts := c.DecoderActFns.perStage(n)
	out := make([]Stage, n)
	for i := range out {
		out[i] = Stage{BlockType: types[i], Channels: c.DecoderBlockOutChannels[i], Layers: c.DecoderLayersPerBlock[i],
			Multiscales: c.DecoderQKVMultiscales[i], Norm: norms[i], Act: acts[i]}
	}
	return out
}

// downsamplePixelUnshuffle reports whether DCDownBlock2d is conv + pixel unshuffle (else a
// stride-2 conv). diffusers compares with "pixel_unshuffle" exactly; released configs write "Conv".
func (c Config) downsamplePixelUnshuffle() bool {
	return strings.EqualFold(c.DownsampleBlockType, DownPixelUnshuffle)
}

// upsampleInterpolate reports whether DCUpBlock2d is nearest ×2 + conv (else conv + pixel shuffle).
func (c Config) upsampleInterpolate() bool {
	return strings.EqualFold(c.UpsampleBlockType, UpInterpolate)
}

// knownAct lists the activations of diffusers' get_activation; "" is no activation.
var knownAct = map[string]bool{"": true, "silu": true, "swish": true, "relu": true, "gelu": true, "mish": true}

// Validate checks that the config describes a network diffusers would build and that every
// channel split (shortcut averaging and duplication, heads) is exact.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.InChannels <= 0 || c.LatentChannels <= 0 {
		bad("in_channels %d and latent_channels %d must be > 0", c.InChannels, c.LatentChannels)
	}
	if c.AttentionHeadDim <= 0 {
		bad("attention_head_dim %d must be > 0", c.AttentionHeadDim)
	}
	if c.ScalingFactor <= 0 {
		bad("scaling_factor %v must be > 0", c.ScalingFactor)
	}
	switch strings.ToLower(c.DownsampleBlockType) {
	case DownConv, DownPixelUnshuffle:
	default:
		bad("downsample_block_type %q: want %q or %q", c.DownsampleBlockType, "Conv", DownPixelUnshuffle)
	}
	switch strings.ToLower(c.UpsampleBlockType) {
	case UpInterpolate, UpPixelShuffle:
	default:
		bad("upsample_block_type %q: want %q or %q", c.UpsampleBlockType, UpInterpolate, UpPixelShuffle)
	}
	if !knownAct[strings.ToLower(c.DecoderConvActFn)] {
		bad("decoder_conv_act_fn %q: want silu, swish, relu, gelu or mish", c.DecoderConvActFn)
	}
	for _, part := range []struct {
		name         string
		ch, layers   []int
		ms           [][]int
		types, norms strList
		acts         strList
		dec          bool
	}{
		{name: "encoder", ch: c.EncoderBlockOutChannels, layers: c.EncoderLayersPerBlock, ms: c.EncoderQKVMultiscales,
			types: c.EncoderBlockTypes},
		{name: "decoder", ch: c.DecoderBlockOutChannels, layers: c.DecoderLayersPerBlock, ms: c.DecoderQKVMultiscales,
			types: c.DecoderBlockTypes, norms: c.DecoderNormTypes, acts: c.DecoderActFns, dec: true},
	} {
		n := len(part.ch)
		if n == 0 {
			bad("%s_block_out_channels is empty", part.name)
			continue
		}
		if len(part.layers) != n {
			bad("%s_layers_per_block has %d entries for %d stages", part.name, len(part.layers), n)
		}
		if len(part.ms) != n {
			bad("%s_qkv_multiscales has %d entries for %d stages", part.name, len(part.ms), n)
		}
		if len(part.types) != 1 && len(part.types) != n {
			bad("%s_block_types has %d entries for %d stages", part.name, len(part.types), n)
		}
		if part.dec {
			if len(part.norms) != 1 && len(part.norms) != n {
				bad("decoder_norm_types has %d entries for %d stages", len(part.norms), n)
			}
			if len(part.acts) != 1 && len(part.acts) != n {
				bad("decoder_act_fns has %d entries for %d stages", len(part.acts), n)
			}
		}
		if len(errs) > 0 {
			continue
		}
		types := part.types.perStage(n)
		for i := range n {
			if part.ch[i] <= 0 || part.layers[i] < 0 {
				bad("%s stage %d: %d channels, %d layers", part.name, i, part.ch[i], part.layers[i])
				continue
			}
			switch types[i] {
			case ResBlock:
			case EfficientViTBlock:
				if part.ch[i]/c.AttentionHeadDim < 1 {
					bad("%s stage %d: %d channels give no attention head of width %d", part.name, i, part.ch[i], c.AttentionHeadDim)
				}
			default:
				bad("%s stage %d: block type %q: want %s or %s", part.name, i, types[i], ResBlock, EfficientViTBlock)
			}
			for _, k := range part.ms[i] {
				if k <= 0 || k%2 == 0 {
					bad("%s stage %d: qkv multiscale kernel %d must be odd and > 0", part.name, i, k)
				}
			}
			if part.dec {
				if norm := part.norms.perStage(n)[i]; norm != RMSNorm && norm != BatchNorm {
					bad("decoder stage %d: norm type %q: want %s or %s", i, norm, RMSNorm, BatchNorm)
				}
				if act := part.acts.perStage(n)[i]; !knownAct[strings.ToLower(act)] {
					bad("decoder stage %d: activation %q: want silu, swish, relu, gelu or mish", i, act)
				}
			}
		}
		if part.layers[0] == 0 && n < 2 {
			bad("%s: stage 0 without layers needs a second stage", part.name)
		}
		// Sampling blocks between stages i and i+1 (present when stage i has layers).
		for i := 0; i+1 < n; i++ {
			if part.layers[i] == 0 {
				continue
			}
			lo, hi := part.ch[i], part.ch[i+1]
			if !part.dec {
				if c.downsamplePixelUnshuffle() && hi%4 != 0 {
					bad("encoder stage %d: pixel-unshuffle downsampling to %d channels needs a multiple of 4", i, hi)
				}
				if (4*lo)%hi != 0 {
					bad("encoder stage %d: shortcut averages 4·%d channels in groups onto %d channels: not exact", i, lo, hi)
				}
			} else if (4*lo)%hi != 0 {
				bad("decoder stage %d: shortcut duplicates %d channels onto 4·%d: not exact", i, hi, lo)
			}
		}
		last := part.ch[n-1]
		if last%c.LatentChannels != 0 {
			bad("%s: %d channels of the last stage are not a multiple of latent_channels %d (shortcut)", part.name, last, c.LatentChannels)
		}
		if part.layers[0] == 0 && n >= 2 {
			// conv_in / conv_out are sampling blocks without shortcut.
			if !part.dec && c.downsamplePixelUnshuffle() && part.ch[1]%4 != 0 {
				bad("encoder conv_in: pixel unshuffle to %d channels needs a multiple of 4", part.ch[1])
			}
		}
	}
	if len(c.EncoderBlockOutChannels) != len(c.DecoderBlockOutChannels) && len(errs) == 0 {
		bad("encoder has %d stages, decoder %d: the compression ratios differ", len(c.EncoderBlockOutChannels), len(c.DecoderBlockOutChannels))
	}
	if len(errs) > 0 {
		return fmt.Errorf("DC-AE config: %w", errors.Join(errs...))
	}
	return nil
}
